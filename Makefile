# payloom: `make run` (main job) and `make test` (all tests) on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: setup run test bench clean redis wrk

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: setup
	$(BIN)/payloom run

test: setup redis
	$(BIN)/python -m pytest -n 2 --dist loadgroup

# A real redis-server for the Redis online-store tests (they start their own on a free port).
# Debian's package; root installs it, otherwise say how.
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get install -y -q redis-server >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q redis-server >/dev/null; }; \
	  elif command -v sudo >/dev/null 2>&1; then \
	    sudo apt-get install -y -q redis-server >/dev/null 2>&1 || { sudo apt-get update -q >/dev/null && sudo apt-get install -y -q redis-server >/dev/null; }; \
	  else echo "redis-server is needed for the Redis tests: install Debian's redis-server package" >&2; exit 1; fi; }
	@command -v redis-server >/dev/null 2>&1

# wrk, the independent HTTP load generator of bench/bench_service_wrk.py (Debian's package; wrk2
# and vegeta are not packaged there). Root installs it, otherwise say how.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get install -y -q wrk >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }; \
	  elif command -v sudo >/dev/null 2>&1; then \
	    sudo apt-get install -y -q wrk >/dev/null 2>&1 || { sudo apt-get update -q >/dev/null && sudo apt-get install -y -q wrk >/dev/null; }; \
	  else echo "wrk is needed for bench/bench_service_wrk.py: install Debian's wrk package" >&2; exit 1; fi; }
	@command -v wrk >/dev/null 2>&1

# Every benchmark in turn (long: see bench/RESULTS.md for each one's time and options), or one
# of them: `make bench-scoring` runs bench/bench_scoring.py with its defaults.
BENCHES = $(patsubst bench/bench_%.py,%,$(wildcard bench/bench_*.py))

bench: $(addprefix bench-,$(BENCHES))

bench-%: setup
	$(BIN)/python bench/bench_$*.py

# The independent load generator first.
bench-service_wrk: setup wrk
	$(BIN)/python bench/bench_service_wrk.py

clean:
	rm -rf build bench/work dbt_project/target dbt_project/logs dist
