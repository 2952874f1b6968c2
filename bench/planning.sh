#!/usr/bin/env bash
# The urban-planning benchmark in one command: indicators per zone, neighbourhood and hexagon next to
# PostGIS alone, a proposal's report with 1 and 50 new buildings, 15-minute kindergarten access for the
# district next to a PostGIS KNN, and the same access at city scale (150,000 generated homes).
#   ./bench/planning.sh [--runs N]     (report: bench/results/planning.md)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/_common.sh"
ensure_venv

say "database (the private cluster; the benchmark uses its own database)"
"$VENV/bin/twin" db up

"$VENV/bin/python" -m bench.planning "$@"
say "report: bench/results/planning.md"
