# Conveniences over scripts/: the scripts are the source of truth (they need only bash).
.PHONY: run test db-up db-down lint format lock audit

run:
	./scripts/run.sh

test:
	./scripts/test.sh

db-up:
	./.venv/bin/twin db up

db-down:
	./.venv/bin/twin db down

lint:
	./.venv/bin/ruff check . && ./.venv/bin/ruff format --check . && ./.venv/bin/mypy && ./.venv/bin/lint-imports

format:
	./.venv/bin/ruff check --fix . && ./.venv/bin/ruff format .

# requirements/dev.lock from pyproject.toml: every version pinned, every file's sha256 (uv, fetched on demand).
lock:
	./.venv/bin/python -m pip install --quiet uv && ./.venv/bin/uv pip compile pyproject.toml --extra dev \
	  --universal --python-version 3.11 --generate-hashes --no-header -o requirements/dev.lock.new && \
	  { sed -n 1,4p requirements/dev.lock; cat requirements/dev.lock.new; } > requirements/dev.lock.tmp && \
	  mv requirements/dev.lock.tmp requirements/dev.lock && rm requirements/dev.lock.new && \
	  ./.venv/bin/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes --no-header \
	  -o requirements/main.lock.new && { sed -n 1,4p requirements/main.lock; cat requirements/main.lock.new; } \
	  > requirements/main.lock.tmp && mv requirements/main.lock.tmp requirements/main.lock && rm requirements/main.lock.new

# Known vulnerabilities in the locked versions (pip-audit, PyPI's advisory data; fetched on demand).
audit:
	./.venv/bin/python -m pip install --quiet pip-audit && ./.venv/bin/pip-audit -r requirements/dev.lock \
	  --require-hashes --disable-pip --progress-spinner off --strict
