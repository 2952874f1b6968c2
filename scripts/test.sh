#!/usr/bin/env bash
# The whole check: lint, format, types, then the test suite against a real PostGIS.
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
# Before installing anything: without the mirror the suite cannot start.
[ -n "${TWIN_SOURCES_DIR:-}" ] && [ -d "$TWIN_SOURCES_DIR" ] ||
  die "the tests need the source mirror: set TWIN_SOURCES_DIR to its folder (e.g. ../shared/data)"
ensure_venv
ensure_node_modules
ensure_browser
say "lint and format (ruff)"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
say "types (mypy)"
"$VENV/bin/mypy"
say "import contracts (import-linter: the core imports no pilot, pilots no other pilot, routers no router)"
"$VENV/bin/lint-imports"
say "database"
"$VENV/bin/twin" db up
say "tests"
exec "$VENV/bin/pytest" "$@"
