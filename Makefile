# Two entry points, each self-contained on a fresh machine:
#   make demo   -> virtualenv + install + the end-to-end run on built-in phantom data
#   make test   -> virtualenv + install + the import contracts (pyproject.toml) + the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[dev]"
	$(BIN)/python -m cxr.envcheck
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cxr demo

test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check cxr tests benchmarks
	$(BIN)/mypy cxr

clean:
	rm -rf $(VENV) runs demo
