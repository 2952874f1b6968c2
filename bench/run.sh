#!/usr/bin/env bash
# The benchmark in one command: the twin vs tipg vs PostGIS alone, on tables it generates itself.
#   ./bench/run.sh [--seconds N]      (N ≤ 20; the report goes to bench/results/report.md)
set -euo pipefail

# _common.sh moves to the repository root and defines VENV, say, die, can_apt, apt_install, ensure_venv.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/_common.sh"
ensure_venv

say "database (the private cluster; the benchmark uses its own database twin_bench)"
"$VENV/bin/twin" db up

for tool in wrk pgbench; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    # Both are Debian packages (pgbench ships with postgresql-client).
    package="$tool"
    [ "$tool" = pgbench ] && package=postgresql-client
    can_apt || die "$tool is required: sudo apt-get install $package"
    say "installing $package from Debian's packages"
    apt_install "$package"
  fi
done

say "benchmark"
exec "$VENV/bin/python" -m bench.run "$@"
