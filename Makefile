# One entry point for people, hooks and CI alike.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck format check bench clean constraints

# Every dependency at the version pinned in constraints.txt (the Dockerfile uses the same
# file), so a venv or an image built next month holds what CI tested.
$(BIN)/loyalty-progress: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --constraint constraints.txt -e '.[dev]'
	$(BIN)/pip check
	@touch $@

## constraints: re-pin every dependency to its newest allowed version (after changing
## pyproject.toml's dependencies), resolved in a fresh venv
FREEZE_VENV ?= /tmp/loyalty-progress-constraints-venv
constraints:
	rm -rf $(FREEZE_VENV)
	$(PYTHON) -m venv $(FREEZE_VENV)
	$(FREEZE_VENV)/bin/pip install --quiet --upgrade pip
	$(FREEZE_VENV)/bin/pip install --quiet '.[dev,tracing]'
	{ echo "# Pinned versions of every dependency (runtime, dev and tracing extras), used by"; \
	  echo "# the Makefile's install step, CI and deploy/Dockerfile. Regenerate: make constraints"; \
	  $(FREEZE_VENV)/bin/pip freeze --exclude loyalty-progress; } > constraints.txt
	rm -rf $(FREEZE_VENV)

## run: the worker (embedded PostgreSQL and Redis when LOYALTY_DATABASE_URL/LOYALTY_REDIS_URL are unset)
run: $(BIN)/loyalty-progress
	$(BIN)/loyalty-progress run

## test: the whole test suite against real PostgreSQL and Redis
test: $(BIN)/loyalty-progress
	$(BIN)/python -m pytest

lint: $(BIN)/loyalty-progress
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(BIN)/loyalty-progress
	$(BIN)/mypy

format: $(BIN)/loyalty-progress
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

check: lint typecheck test

bench: $(BIN)/loyalty-progress
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .mypy_cache .ruff_cache .pytest_cache
