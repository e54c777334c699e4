# newsrag: `make run` (install, build the index, start the app) and `make test` (the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run ingest test test-fast lint format bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: setup
	$(PY) app.py

ingest: setup
	$(VENV)/bin/newsrag ingest corpus/

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not browser and not server and not slow"

lint: setup
	$(VENV)/bin/ruff check newsrag tests bench app.py
	$(VENV)/bin/ruff format --check newsrag tests bench app.py
	$(VENV)/bin/mypy

format: setup
	$(VENV)/bin/ruff check --fix newsrag tests bench app.py
	$(VENV)/bin/ruff format newsrag tests bench app.py

bench: setup
	$(PY) bench/retrieval.py

clean:
	rm -rf $(VENV) index .pytest_cache .mypy_cache .ruff_cache test-artifacts
