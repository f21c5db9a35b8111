# One entry point. `make run` and `make test` work from a fresh clone with Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-search bench-matching asyncapi demo migration clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "city-exchange needs Python 3.11 or newer: run with PYTHON=python3.11 (or newer)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

## Start the broker and the four services on embedded defaults (Ctrl-C stops everything).
run: $(STAMP)
	$(BIN)/python -m shared.devstack --dir var

## Run the whole test suite (starts its own broker; set CX_TEST_POSTGRES_URL to add PostgreSQL).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

## Load the demo data of the source documents into the running system (`make run` first).
demo: $(STAMP)
	$(BIN)/python -m demo

## Throughput and latency: raw aiokafka vs the product's pipeline, on one broker, in one run.
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

## Registry search at 100k cities: each filter with and without its index, in one run.
bench-search: $(STAMP)
	$(BIN)/python -m bench.registry_search $(BENCH_ARGS)

## Matching at scale: global assignment (min-cost flow vs greedy) and top-10 suggestions (bounded vs full scan), in one run.
bench-matching: $(STAMP)
	$(BIN)/python -m bench.matching $(BENCH_ARGS)

## Regenerate the committed AsyncAPI catalogue after changing an event contract.
asyncapi: $(STAMP)
	$(BIN)/python -m shared.contracts.asyncapi > docs/asyncapi.json

## Write a service's next schema migration from its models: make migration SERVICE=funding MESSAGE="..."
migration: $(STAMP)
	@test -n "$(SERVICE)" -a -n "$(MESSAGE)" || \
		{ echo 'usage: make migration SERVICE=<registry|matching|funding|notifications> MESSAGE="what changed"'; exit 2; }
	$(BIN)/python -m shared.migrations revision --service "$(SERVICE)" -m "$(MESSAGE)"

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
