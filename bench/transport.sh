#!/usr/bin/env bash
# The public-transport benchmark in one command: polling stop metrics (twin with and without its
# response cache, with and without If-None-Match) next to PostGIS alone computing the same figures,
# then the GTFS import next to gtfs_kit and the PTAL grid at 100 m and 50 m.
#   ./bench/transport.sh [--seconds N] [--clients N]     (report: bench/results/issue4.md)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/_common.sh"
ensure_venv
ensure_bench_extra

say "database (the private cluster; the benchmark uses its own databases)"
"$VENV/bin/twin" db up

ensure_bench_tools

say "polling benchmark"
"$VENV/bin/python" -m bench.transport "$@"
say "GTFS import next to gtfs_kit"
"$VENV/bin/python" -m bench.gtfs_import
say "PTAL grid at 100 m and 50 m"
"$VENV/bin/python" -m bench.ptal
cat bench/results/transport.md bench/results/gtfs_import.md bench/results/ptal.md > bench/results/issue4.md
say "report: bench/results/issue4.md"
