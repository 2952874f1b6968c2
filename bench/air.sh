#!/usr/bin/env bash
# The air-quality benchmark in one command: ingest (batch API, file importer, bare COPY), statistics on
# a generated store of 8.8 M hourly values (cold and warm, next to PostGIS alone), surfaces (one day
# and one year, 50 m and 25 m, kriging and IDW, next to gstools), EDR position at 8 clients.
#   ./bench/air.sh [--runs N] [--seconds N]     (report: bench/results/air.md)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/_common.sh"
ensure_venv

say "database (the private cluster; the benchmark uses its own database)"
"$VENV/bin/twin" db up

ensure_bench_tools

"$VENV/bin/python" -m bench.air "$@"
say "report: bench/results/air.md"
