# Two entry points, each self-contained on a fresh machine:
#   make demo   -> virtualenv + runtime install + the end-to-end run on built-in phantom data
#   make test   -> virtualenv + runtime and dev install (pytest, ruff, mypy, ray, import-linter)
#                  + the import contracts (pyproject.toml) + the test suite
# `make demo` installs only what the demo needs; the dev tools come with `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEV    := $(VENV)/.installed-dev

.PHONY: demo test lint bench bench-gpu clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e .
	$(BIN)/python -m cxr.runtime.envcheck
	touch $(STAMP)

$(DEV): $(STAMP)
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(DEV)

demo: $(STAMP)
	$(BIN)/cxr demo

test: $(DEV)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

lint: $(DEV)
	$(BIN)/ruff check cxr tests benchmarks
	$(BIN)/mypy cxr

# the prepared GPU run (benchmarks/gpu_suite.py): at most 8 minutes on one GPU, start-up
# included; writes bench-gpu/gpu_suite.json and .md. Without a GPU it says so and exits 0.
bench-gpu: $(STAMP)
	$(BIN)/python benchmarks/gpu_suite.py --out bench-gpu

clean:
	rm -rf $(VENV) runs demo demo-fast
