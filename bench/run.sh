#!/usr/bin/env bash
# The benchmark in one command: the twin vs tipg vs PostGIS alone, on tables it generates itself.
#   ./bench/run.sh [--seconds N]      (N ≤ 20; the report goes to bench/results/report.md)
set -euo pipefail

# _common.sh moves to the repository root and defines VENV, say, die, ensure_venv, ensure_bench_tools.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/_common.sh"
ensure_venv

say "database (the private cluster; the benchmark uses its own database twin_bench)"
"$VENV/bin/twin" db up

ensure_bench_tools

say "benchmark"
exec "$VENV/bin/python" -m bench.run "$@"
