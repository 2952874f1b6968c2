# Shared by scripts/run.sh and scripts/test.sh: find Python, make the venv, install the project, the map's
# JavaScript (npm) and, for the tests, a headless browser.
# shellcheck shell=bash
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${TWIN_VENV:-$ROOT/.venv}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The shared mirror of public sources, when this checkout sits beside it (as in CI).
if [ -z "${TWIN_SOURCES_DIR:-}" ] && [ -f "$ROOT/../shared/data/README.md" ]; then
  export TWIN_SOURCES_DIR="$(cd "$ROOT/../shared/data" && pwd)"
fi

python_ok() { "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

find_python() {
  for candidate in ${PYTHON:-} python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then
      command -v "$candidate"; return 0
    fi
  done
  return 1
}

ensure_python() {
  if PY="$(find_python)"; then return 0; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Python 3 with venv from Debian's packages"
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3 python3-venv python3-pip
    PY="$(find_python)" || die "Python >= 3.11 with venv is still missing after apt-get install"
  else
    die "Python >= 3.11 with the venv module is required: sudo apt-get install python3 python3-venv"
  fi
}

ensure_venv() {
  local stamp="$VENV/.twin-installed" want
  want="$(cat pyproject.toml requirements/dev.lock | sha256sum | cut -c1-16)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/twin" ]; then
    return 0
  fi
  ensure_python
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating the virtual environment in $VENV"
    "$PY" -m venv "$VENV"
  fi
  say "installing the twin and its dependencies into $VENV (the versions and hashes of requirements/dev.lock)"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # Every package exactly as locked, each file checked against its sha256; then the twin itself,
  # whose dependencies are all in the lock already.
  "$VENV/bin/python" -m pip install --quiet --require-hashes --no-deps -r requirements/dev.lock
  "$VENV/bin/python" -m pip install --quiet --no-deps -e .
  echo "$want" > "$stamp"
}

# apt-get install as root; when it fails (no package lists yet, as in a fresh container), update and retry.
apt_install() {
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"; then
    say "refreshing Debian's package lists"
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
  fi
}

can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

# The map page's JavaScript (MapLibre GL JS, pinned in package-lock.json) into node_modules/.
ensure_node_modules() {
  local stamp="$ROOT/node_modules/.twin-npm-installed"
  if [ -f "$ROOT/node_modules/maplibre-gl/package.json" ] && [ -f "$stamp" ] \
    && ! [ "$ROOT/package-lock.json" -nt "$stamp" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    if can_apt; then
      say "installing Node.js and npm from Debian's packages"
      apt_install nodejs npm
    else
      die "npm is required for the map page (MapLibre GL JS): sudo apt-get install nodejs npm"
    fi
  fi
  say "installing the map's JavaScript dependencies (npm ci)"
  npm ci --no-audit --no-fund
  touch "$stamp"
}

# Headless Chromium and its WebDriver, for the map's browser test.
ensure_browser() {
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    return 0
  fi
  if can_apt; then
    say "installing Chromium and chromedriver from Debian's packages (for the map's browser test)"
    apt_install chromium chromium-driver
  else
    die "the map's browser test needs Chromium and chromedriver: sudo apt-get install chromium chromium-driver"
  fi
}

# The Python packages only the benchmarks use (the `bench` extra: gtfs-kit, the GTFS import's reference).
ensure_bench_extra() {
  if ! "$VENV/bin/python" -c "import gtfs_kit" 2>/dev/null; then
    say "installing the benchmarks' extra packages into $VENV"
    "$VENV/bin/python" -m pip install --quiet -e ".[dev,bench]"
  fi
}

# The load generators of bench/: wrk, and pgbench (shipped with postgresql-client).
ensure_bench_tools() {
  local tool package
  for tool in wrk pgbench; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      package="$tool"
      [ "$tool" = pgbench ] && package=postgresql-client
      can_apt || die "$tool is required: sudo apt-get install $package"
      say "installing $package from Debian's packages"
      apt_install "$package"
    fi
  done
}
