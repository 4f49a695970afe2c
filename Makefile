# One entry point for people, hooks and CI alike.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck format check bench clean

$(BIN)/loyalty-progress: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

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
