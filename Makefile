# Fleetwatch: `make up` runs the fleet on this machine, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STATIC_VENDOR := build/static/vendor

.PHONY: up install install-dev assets migrate admin run test lint schema-check bench clean help

help:  ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/activate  ## Install the server into .venv
	$(BIN)/pip install --quiet -e . -e ./agent

install-dev: $(BIN)/activate  ## Install the server and the test/lint tools into .venv
	$(BIN)/pip install --quiet -e '.[dev]' -e ./agent

assets:  ## Install the browser packages from the npm registry and copy them into static
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(STATIC_VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js $(STATIC_VENDOR)/htmx.min.js
	cp node_modules/htmx-ext-ws/dist/ws.min.js $(STATIC_VENDOR)/htmx-ext-ws.min.js
	cp node_modules/@xterm/xterm/lib/xterm.js $(STATIC_VENDOR)/xterm.js
	cp node_modules/@xterm/xterm/css/xterm.css $(STATIC_VENDOR)/xterm.css
	cp node_modules/@xterm/addon-fit/lib/addon-fit.js $(STATIC_VENDOR)/xterm-addon-fit.js

migrate: install
	$(PY) manage.py upgrade
	$(PY) manage.py build_agent

admin: migrate  ## Create the first administrator (its password is printed once)
	$(PY) manage.py create_first_admin

up: install assets migrate admin  ## From a bare clone to a running fleet on http://127.0.0.1:8000/
	$(PY) manage.py run_fleet --with-local-agent

test: install-dev assets  ## Run the whole test suite (embedded, or on PostgreSQL + Redis when their URLs are set)
	$(BIN)/pytest

lint: install-dev  ## ruff, the migrations check and the committed GraphQL schema check
	$(BIN)/ruff check .
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py export_schema --check

clean:  ## Remove the virtualenv, built assets and the local data directory
	rm -rf $(VENV) build node_modules var

bench: install-dev  ## Print performance figures (embedded, then PostgreSQL + Redis when they answer on 127.0.0.1)
	env -u DATABASE_URL -u REDIS_URL $(PY) -m tests.bench.graphql_devices
	env -u DATABASE_URL -u REDIS_URL $(PY) -m tests.bench.agent_swarm
	env -u DATABASE_URL -u REDIS_URL $(PY) -m tests.bench.action_rollout
	env -u DATABASE_URL -u REDIS_URL $(PY) -m tests.bench.live_latency
	env -u DATABASE_URL -u REDIS_URL $(PY) -m tests.bench.snmp_cycle
	env -u DATABASE_URL -u REDIS_URL $(PY) -m tests.bench.snmp_cycle --poller-only
	env -u DATABASE_URL -u REDIS_URL $(PY) -m tests.bench.connector_sync
	env -u DATABASE_URL -u REDIS_URL $(PY) -m tests.bench.targeting
	env -u DATABASE_URL -u REDIS_URL $(PY) -m tests.bench.patching
	env -u DATABASE_URL -u REDIS_URL $(PY) -m tests.bench.remote_shells
	@if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then \
	  export DATABASE_URL=$${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/fleetwatch_bench} \
	         REDIS_URL=$${BENCH_REDIS_URL:-redis://127.0.0.1:6379/15} FLEETWATCH_CHANNEL_PREFIX=fleetwatch-bench; \
	  $(PY) -m tests.bench.graphql_devices && $(PY) -m tests.bench.agent_swarm --footprint-seconds 0 \
	    && $(PY) -m tests.bench.action_rollout && $(PY) -m tests.bench.live_latency && $(PY) -m tests.bench.snmp_cycle \
	    && $(PY) -m tests.bench.connector_sync && $(PY) -m tests.bench.targeting && $(PY) -m tests.bench.patching \
	    && $(PY) -m tests.bench.remote_shells; \
	else echo "PostgreSQL or Redis not reachable on 127.0.0.1: skipped the scale-out figures"; fi
