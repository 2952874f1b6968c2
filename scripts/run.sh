#!/usr/bin/env bash
# Serve the twin with Lozenets loaded: venv + install, database up, migrate, fetch + load, serve.
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
ensure_venv
ensure_node_modules
TWIN="$VENV/bin/twin"
say "database"
"$TWIN" db up
say "migrations"
"$TWIN" migrate
say "sources (${TWIN_SOURCES_DIR:-downloaded from their public URLs})"
"$TWIN" fetch
say "imports"
"$TWIN" load
say "serving on http://${TWIN_HOST:-127.0.0.1}:${TWIN_PORT:-8000} (Ctrl-C stops; \`$TWIN db down\` stops the database)"
exec "$TWIN" serve "$@"
