# newsrag: `make run` (install, build the index, start the app) and `make test` (the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: setup setup-test setup-bench run ingest test test-fast lint format bench clean

setup: $(STAMP)

# The LLM engine's end-to-end tests need a real llama.cpp server: llama-cpp-python builds from
# source the first time (~10 min on 2 cores); pip caches the built wheel for later installs.
setup-test: $(TEST_STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The benchmarks' extra packages (bench/llamaindex_baseline.py's plain llama-index pipeline).
setup-bench: $(BENCH_STAMP)

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	touch $(BENCH_STAMP)

$(TEST_STAMP): $(STAMP)
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(PY) -m pip install --quiet -e ".[dev,llm-test]"
	touch $(TEST_STAMP)

run: setup
	$(PY) app.py

ingest: setup
	$(VENV)/bin/newsrag ingest corpus/

test: setup-test
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

# Retrieval recall on rtqa-dev; the other benchmarks and their commands: docs/benchmarks.md.
bench: setup-bench
	$(PY) bench/retrieval.py

clean:
	rm -rf $(VENV) index .pytest_cache .mypy_cache .ruff_cache test-artifacts
