# Conveniences over scripts/: the scripts are the source of truth (they need only bash).
.PHONY: run test db-up db-down lint format

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
