# mentorflow — every target sets up what it needs (venv, packages, Kafka jars, services) and is idempotent.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MF := $(VENV)/bin/mentorflow
INSTALLED := $(VENV)/.installed

.PHONY: help venv test test-unit fuzz test-workflow test-integration test-e2e test-long chaos lint format demo browser services-up services-down services-status bench bench-smoke clean

help:
	@echo "make demo          run a realistic mentoring program through all four stages"
	@echo "make test          start the stack if needed and run the whole test suite (the four tiers below)"
	@echo "make test-unit     tests/unit: pure, no services"
	@echo "make test-workflow tests/workflow: the time-skipping test server only (no dev server, no Kafka)"
	@echo "make test-integration  tests/integration: the real dev server, Kafka, SQLite/PostgreSQL"
	@echo "make test-e2e      tests/e2e: the whole stack, processes, HTTP API and the dashboard in a browser"
	@echo "make test-long     the property and continue-as-new tests at their large size (minutes)"
	@echo "make fuzz          the API fuzzers with FUZZ_EXAMPLES (200) per operation, in-process and live (long)"
	@echo "make chaos         kill -9 every part of a private stack under load, prove nothing lost (docs/reliability.md)"
	@echo "make lint          ruff, mypy (--strict on domain/), import-linter contracts"
	@echo "make services-up   start Temporal dev server, Kafka broker, PostgreSQL under .run/"

venv: $(INSTALLED)

# Re-installs only when pyproject.toml changes; the second run is a no-op.
$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,api]'
	@touch $@

services-up: venv
	$(MF) services up --with-postgres

services-down: venv
	$(MF) services down

services-status: venv
	$(MF) services status

# The unit tier (pure, no services, ~1,600 tests) runs on both cores (pytest-xdist): 126 s -> 70 s. The service tiers
# stay in one process: they share the one Temporal, Kafka and PostgreSQL. Both parts always run; the first failure's
# exit code is make's.
test: services-up browser
	@unit=0; $(PY) -m pytest tests/unit -q -n 2 --durations=10 || unit=$$?; \
	$(PY) -m pytest --ignore=tests/unit --durations=40 || exit $$?; exit $$unit

# One folder per tier; each tier runs alone.
test-unit: venv
	$(PY) -m pytest tests/unit -q -n 2

# The API fuzzers with many more examples than the CI-sized run: in-process over the in-memory backend, then over the
# live stack (worker, projector and API as real processes), then the stateful one over the live stack (relationships
# through every stage among hostile commands). Long: tens of minutes.
FUZZ_EXAMPLES ?= 200
fuzz: services-up
	MENTORFLOW_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q tests/unit/api/test_openapi_fuzz.py \
		tests/e2e/test_live_api.py::test_no_server_error_against_the_live_spec tests/e2e/test_live_stateful.py

# Addresses that answer nothing: a workflow test that reached for the dev server, Kafka or a database would fail.
test-workflow: venv
	MENTORFLOW_TEMPORAL__ADDRESS=127.0.0.1:1 MENTORFLOW_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:1 \
	MENTORFLOW_DATABASE__URL=sqlite:////nonexistent/mentorflow.db $(PY) -m pytest tests/workflow -q

test-integration: services-up
	$(PY) -m pytest tests/integration -q

test-e2e: services-up browser
	$(PY) -m pytest tests/e2e -q

# The CI-sized tests at their large size: the property tests' many more and longer random interleavings, and the
# 5,100-command continue-as-new on the shared dev server at Temporal's default suggestion (CI: 600 commands on a
# dev server of its own that suggests it early); the Kafka outage at 60 s (CI: 30 s).
LONG_TESTS := tests/integration/audit/test_property.py tests/unit/projections/test_canonical.py \
	tests/integration/devserver/test_continue_as_new.py tests/integration/devserver/test_kafka_outage.py
test-long: services-up
	MENTORFLOW_TEST_LONG=1 $(PY) -m pytest $(LONG_TESTS) -q --timeout 3600 --hypothesis-show-statistics

# The chaos run at full size (about 7 minutes): its own Temporal, Kafka and PostgreSQL on free ports (the shared ones
# are never touched); writes its table to docs/reliability.md. The CI-sized run is tests/e2e/test_chaos.py.
chaos: venv
	$(PY) -m benchmarks.chaos --size full

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy domain
	$(VENV)/bin/mypy matching workflows activities projections workers api service audit benchmarks
	$(VENV)/bin/lint-imports

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Keeps worker, projector and API running so the printed dashboard address works; `mentorflow demo --stop` ends them.
demo: services-up
	$(MF) demo --keep-running

# Debian's chromium + chromium-driver for the dashboard's browser test (apt-get, only when missing).
browser:
	@tests/e2e/browser/ensure-chromium.sh

bench: services-up
	$(PY) -m benchmarks

bench-smoke: services-up
	$(PY) -m benchmarks --smoke

clean: services-down
	rm -rf .run $(VENV)
