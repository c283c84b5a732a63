# Every target sets up what it needs: a virtual environment in .venv from requirements-dev.txt.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Without DATA_DIR (or DATABASE_URL) every command finds the data where `python -m app` and
# plain `alembic` do: ./.data from the repository root (services/config.py default_data_dir).
DATA_ARG = $(if $(DATA_DIR),--data-dir $(DATA_DIR))
PYTEST_ARGS ?= -n 2

.DEFAULT_GOAL := help
CLIENT_DIR ?= client
OPENAPI_TS ?= @hey-api/openapi-ts@0.80.0

.PHONY: help install run test ts-deps parity migrate downgrade downgrade-to-empty openapi generate-client rust-deps sidecar bench-core bench-api bench-startup bench-seed bench-sync bench-browse bench-memory bench wrk chromium lint coverage clean console-test

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(STAMP) ## Create .venv and install the pinned requirements

# Benchmarks only: the FastAPI + SQLModel peer and matplotlib, on top of requirements-dev.txt.
BENCH_STAMP := $(VENV)/.bench-installed-stamp
$(BENCH_STAMP): $(STAMP) requirements-bench.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	touch $@

run: $(STAMP) ## Migrate and serve on http://127.0.0.1:1430 with data in ./.data (SQLite; DATA_DIR=... elsewhere)
	$(PY) -m app serve $(DATA_ARG)

test: $(STAMP) chromium ts-deps rust-deps ## Run the whole suite (parity included) on SQLite, PostgreSQL and MariaDB where reachable
	$(PY) -m pytest $(PYTEST_ARGS)

TS_DIR := tests/ts
ts-deps: ## Install the TypeScript client check's pinned npm packages (tests/ts) where Node is present
	@if command -v npm >/dev/null 2>&1; then \
		if [ ! $(TS_DIR)/node_modules/.package-lock.json -nt $(TS_DIR)/package-lock.json ]; then \
			npm ci --prefix $(TS_DIR) --no-audit --no-fund; fi; \
	else echo "npm not found: the TypeScript client type-check will be skipped"; fi

parity: $(STAMP) ## Check models, migrations, database and PyDAL tables agree (DATA_DIR or DATABASE_URL)
	$(PY) -m app parity $(DATA_ARG)

migrate: $(STAMP) ## Migrate the database in DATA_DIR (or DATABASE_URL) to head
	$(PY) -m app migrate $(DATA_ARG)

downgrade: $(STAMP) ## Go back one revision (the database in DATA_DIR or DATABASE_URL)
	$(PY) -m app downgrade -1 $(DATA_ARG)

downgrade-to-empty: $(STAMP) ## Downgrade to base: drops every table and its rows (asks first; CONFIRM=yes skips)
	@if [ "$(CONFIRM)" != yes ]; then \
	  printf 'This drops every table of the database and all its rows. Type yes to go on: '; \
	  read answer; [ "$$answer" = yes ] || { echo "nothing changed"; exit 1; }; \
	fi
	$(PY) -m app downgrade base $(DATA_ARG)

openapi: $(STAMP) ## Print the OpenAPI document
	$(PY) -m app openapi

# MODEL=ID: the client of that app database (its document read from DATA_DIR / DATABASE_URL).
MODEL ?=
GEN_DIR = $(CLIENT_DIR)$(if $(MODEL),/$(MODEL))
RUST_DEBS := librust-serde-dev librust-serde-derive-dev librust-serde-json-dev librust-ureq-dev
generate-client: $(STAMP) ## Write the OpenAPI document, a TypeScript client (where Node is present) and a Rust crate into $(CLIENT_DIR) (MODEL=ID: one app database's)
	mkdir -p $(GEN_DIR)
	$(PY) -m app openapi $(if $(MODEL),--model $(MODEL) $(DATA_ARG)) --output $(GEN_DIR)/openapi.json
	@if command -v npx >/dev/null 2>&1; then \
		npx --yes $(OPENAPI_TS) -i $(GEN_DIR)/openapi.json -o $(GEN_DIR)/src; \
	else echo "npx not found: no TypeScript client"; fi
	$(PY) -m services.clients.rust $(GEN_DIR)/openapi.json $(GEN_DIR)/rust $(if $(MODEL),$(MODEL),local_data_service)

rust-deps: ## Install the Debian Rust crates the generated Rust client builds against offline (apt-get, when missing)
	@missing=""; for p in $(RUST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "Rust client build needs (as root): apt-get install -y$$missing"; exit 0; fi; \
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing

sidecar: $(STAMP) ## Build the sidecar: dist/local-data-service-<target triple>/, one executable of that name inside (PyInstaller one-dir)
	$(PY) -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build sidecar.spec
	@ls -l dist/local-data-service-*/local-data-service-*

bench-core: $(STAMP) ## Benchmark PyDAL batch inserts against raw sqlite3, and one parity run
	$(PY) -m bench.bench_core

wrk: ## Install wrk (the HTTP load generator) when missing: apt-get as root, else say how
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "wrk not found; apt-get install -y wrk"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk \
	      || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; } \
	      || echo "installing wrk failed; the Python load generator will be used"; \
	  else \
	    echo "wrk not found (install it as root: apt-get install -y wrk);" \
	      "the Python load generator will be used"; \
	  fi; }

# The console's end-to-end tests (tests/console/) drive Debian's chromium through Playwright's
# pinned Python package; `playwright install` (a download of its own browser build) is never run.
chromium: ## Install Debian's chromium for the console's browser tests when missing: apt-get as root, else say how
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "chromium not found; apt-get install -y chromium"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
	      || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } \
	      || echo "installing chromium failed; the console's browser tests will not run"; \
	  else \
	    echo "chromium not found (install it as root: apt-get install -y chromium);" \
	      "the console's browser tests are skipped (they fail under CI)"; \
	  fi; }

console-test: $(STAMP) chromium ## The console's browser tests only; screenshots in tests/results/console (or CONSOLE_SHOTS)
	$(PY) -m pytest -p no:xdist -q tests/console

bench-api: $(BENCH_STAMP) wrk ## Benchmark the HTTP API (wrk) against the FastAPI+SQLModel peer, a constant Flask endpoint and raw sqlite3
	$(PY) -m bench.bench_api $(BENCH_API_ARGS)

bench-startup: $(BENCH_STAMP) ## Benchmark start-up (spawn to ready line and to health) and idle RSS: python -m app vs the sidecar executable and the peer
	$(PY) -m bench.bench_startup $(BENCH_STARTUP_ARGS)

bench-seed: $(STAMP) ## Benchmark python -m app seed: 100,000 linked rows over 5 entities (time, peak RSS, Faker's share) vs raw sqlite3
	$(PY) -m bench.bench_seed $(BENCH_SEED_ARGS)

bench-sync: $(STAMP) ## Benchmark POST /api/v1/sync: ops/s in batches of 1,000 and catching up 100,000 changes, vs raw sqlite3
	$(PY) -m bench.bench_sync $(BENCH_SYNC_ARGS)

bench-memory: $(STAMP) ## Benchmark RSS after warm-up and after 20,000 mixed requests (target: < 10 MB growth), and the largest allowed definition's create, page and status times
	$(PY) -m bench.bench_memory $(BENCH_MEMORY_ARGS)

bench-browse: $(BENCH_STAMP) wrk ## Benchmark browsing an app database (100,000 rows/entity) against Datasette on the same file, then 100 mixed connections
	$(PY) -m bench.bench_browse $(BENCH_BROWSE_ARGS)

bench: $(BENCH_STAMP) wrk ## Run every benchmark, print one table (service, peer, ceiling, ratios, targets) and chart; BENCH_QUICK=1 for a smoke run
	BENCH_QUICK=$(BENCH_QUICK) $(PY) -m bench.bench_all $(BENCH_ARGS)

lint: $(STAMP) ## Check formatting (ruff format --check) and lint (ruff check) over the whole tree
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .

# Every Python process the suite starts writes its own .coverage.* file (patch = subprocess in
# pyproject.toml); a process ended by SIGKILL writes none. The report runs even when a test fails.
coverage: $(STAMP) ## Run the suite under line and branch coverage of app/ and services/ (spawned service processes too); print the table and the totals, fail under the threshold
	$(PY) -m coverage erase
	@status=0; $(PY) -m coverage run -m pytest $(PYTEST_ARGS) || status=1; \
	$(PY) -m coverage combine --quiet; \
	$(PY) -m coverage report || status=1; \
	echo "services/ total: $$($(PY) -m coverage report --include='services/*' --format=total)%"; \
	exit $$status

.PHONY: stress stress-harness
STRESS_KILLS ?= 20
STRESS_SYNC_KILLS ?= 10
# Issue 14's attacks, each round a fresh session (fresh main databases) on every backend:
# concurrent PUTs, writes racing deletes, case-variant creates, deleted-then-recreated ids,
# damaged files and dropped tables, MariaDB kill -9 during schema changes, 64-connection bursts.
STRESS_APPDB_ROUNDS ?= 10
APPDB_STRESS_TESTS := tests/appdb/test_schema_changes.py tests/appdb/test_owners.py \
	tests/appdb/test_damage.py tests/appdb/test_shadow.py tests/appdb/test_type_changes.py \
	tests/test_app_db_burst.py
# Counts (requests, errors, acked vs found, lost, doubled, kills, fuzz cases, failures) go to
# $STRESS_REPORT_DIR/harness-*.jsonl (a temporary dir when unset); the table adds them up.
stress: $(STAMP) ## Everything at length: kill -9 rounds (writes, sync batches), the full harness (fuzzing, hostile corpus, auth matrix, load, faults), app-database races and damage (STRESS_APPDB_ROUNDS), then one table
	@dir="$${STRESS_REPORT_DIR:-$$(mktemp -d -t stress-XXXXXX)}"; start=$$(date +%s); status=0; \
	STRESS_REPORT_DIR="$$dir" STRESS_KILLS=$(STRESS_KILLS) STRESS_SYNC_KILLS=$(STRESS_SYNC_KILLS) \
	  $(PY) -m pytest -q $(PYTEST_ARGS) tests/test_crash_durability.py tests/test_sync_processes.py \
	  || status=1; \
	STRESS_REPORT_DIR="$$dir" HARNESS_PROFILE=full $(PY) -m pytest -q $(PYTEST_ARGS) tests/harness \
	  || status=1; \
	HARNESS_PROFILE=full $(PY) -m pytest -q $(PYTEST_ARGS) tests/appdb/test_handles.py || status=1; \
	failed=0; for round in $$(seq $(STRESS_APPDB_ROUNDS)); do \
	  $(PY) -m pytest -q $(PYTEST_ARGS) $(APPDB_STRESS_TESTS) || failed=$$((failed + 1)); \
	done; \
	echo "app-database races and damage: $$failed of $(STRESS_APPDB_ROUNDS) rounds failed"; \
	[ $$failed = 0 ] || status=1; \
	$(PY) -m tests.harness.report "$$dir" || status=1; \
	echo "make stress: $$(( $$(date +%s) - start )) s, counts in $$dir"; exit $$status

stress-harness: $(STAMP) ## The full harness only (HARNESS_PROFILE=full): fuzzing, hostile corpus, auth matrix, load, faults
	@dir="$${STRESS_REPORT_DIR:-$$(mktemp -d -t stress-XXXXXX)}"; \
	HARNESS_PROFILE=full STRESS_REPORT_DIR="$$dir" $(PY) -m pytest $(PYTEST_ARGS) tests/harness; \
	status=$$?; $(PY) -m tests.harness.report "$$dir" || status=1; exit $$status

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .hypothesis .coverage .coverage.* htmlcov
