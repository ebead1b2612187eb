# Two commands: `make demo` runs the main job, `make test` the whole suite
# (`make test-fast`: the edit-test loop, without the load, chaos and browser runs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo serve test test-fast lint typecheck loadtest chaos deploy-check rolling-deploy clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/onsale demo

serve: $(STAMP)
	$(BIN)/onsale serve

lint: $(STAMP)
	$(BIN)/ruff check src tests loadtests
	$(BIN)/ruff format --check src tests loadtests

typecheck: $(STAMP)
	$(BIN)/mypy

# Everything: the unit, integration and slow tests on two pytest-xdist workers,
# then the browser and load runs one at a time (they start servers and
# Chromium of their own and measure time).
test: $(STAMP) lint typecheck
	$(BIN)/pytest -n 2 -m "not e2e and not load"
	$(BIN)/pytest -m "e2e or load"

# Unit and integration tests only, on two pytest-xdist workers (each its own
# test database and Redis index); the markers come from tests/conftest.py
# (tests/load: load, tests/e2e: e2e; the longest integration runs: slow).
test-fast: $(STAMP)
	$(BIN)/pytest -n 2 -m "not slow and not e2e and not load"

loadtest: $(STAMP)
	$(BIN)/python loadtests/run_sellout.py

chaos: $(STAMP)
	$(BIN)/python loadtests/chaos.py $(CHAOS_ARGS)

# A rolling deploy during a sell-out: 3 nodes on a Redis Cluster behind HAProxy,
# each SIGTERMed and restarted in turn (loadtests/rolling_deploy.py).
rolling-deploy: $(STAMP)
	$(BIN)/python loadtests/rolling_deploy.py $(ROLLING_ARGS)

# deploy/ checked offline: hadolint, compose schema, haproxy -c, Kubernetes schemas.
deploy-check: $(STAMP)
	$(BIN)/pytest -q tests/deploy

clean:
	rm -rf $(VENV) .onsale .pytest_cache .mypy_cache .ruff_cache
