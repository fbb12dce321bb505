# The README names these targets; keep the two in step.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run dev devcluster mock-providers test lint typecheck check bench clean

install: $(BIN)/inference-sidecar

$(BIN)/inference-sidecar: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

run: install
	$(BIN)/inference-sidecar serve

dev: install
	$(BIN)/inference-sidecar serve --dev

devcluster: install
	$(BIN)/python -m sidecar.devcluster --port 9200

mock-providers: install
	$(BIN)/python -m sidecar.testing.mock_providers --port 8089

test: install
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

typecheck: install
	$(BIN)/mypy

check: lint test

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache

-include make/deploy.mk
-include make/bench.mk
