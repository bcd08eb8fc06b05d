# Quick start (fresh machine):  make demo   |   make test
# `demo` installs the package with its runtime dependencies only; `test` (and lint, typecheck,
# bench) add the `dev` extra: the test, lint, notebook and browser toolchain.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
DEV     := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck unit browser notebooks bench system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUNTIME)

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(RUNTIME) $(DEV)

## The main job: the built-in emulator -> fetch with a progress bar -> reports + Parquet in ./leadping-demo/
demo: $(RUNTIME)
	$(BIN)/leadping-nb demo

## Everything CI runs: system packages (Chromium), the venv, lint, types, the whole test suite
test: $(DEV) system-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: sudo apt-get install chromium (browser tests will be skipped)"; fi; }

lint: $(DEV)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck: $(DEV)
	$(BIN)/mypy

bench: $(DEV)
	$(BIN)/python bench/paging.py
	$(BIN)/python bench/frame.py
	$(BIN)/python bench/metrics.py
	$(BIN)/python bench/widgets.py

clean:
	rm -rf $(VENV) leadping-demo
