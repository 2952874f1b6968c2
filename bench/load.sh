#!/usr/bin/env bash
# The load benchmark in one command: 200 clients mixing stop polls, panned items pages and tiles for up
# to 60 s on loopback, then the same mix at 8 clients; memory sampled throughout.
#   ./bench/load.sh [--seconds N] [--clients N] [--workers N] [--reuse]   (report: bench/results/load.md)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/_common.sh"
ensure_venv

say "database (the private cluster; the benchmark uses its own database twin_bench_load)"
"$VENV/bin/twin" db up

ensure_bench_tools

say "load benchmark"
exec "$VENV/bin/python" -m bench.load "$@"
