# payloom: `make run` (main job) and `make test` (all tests) on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: setup run test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: setup
	$(BIN)/payloom run

test: setup
	$(BIN)/python -m pytest -n 2

bench: setup
	$(BIN)/python bench/bench_build.py

clean:
	rm -rf build bench/work dbt_project/target dbt_project/logs
