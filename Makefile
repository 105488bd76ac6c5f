# bayar — the commands a person runs are the commands CI runs (.ci/run calls `make lint` and `make test`).
#
#   make up      run everything in one process (SQLite, in-process bus, sandbox) on HOST:PORT;
#                its first run installs only what running needs (no dev tools)
#   make test    run the test suite (extra pytest arguments: PYTEST_ARGS="-k kiosk -x")
#   make lint    ruff check, ruff format --check, mypy --strict, import-linter, and Biome (the
#                front-end JavaScript's linter and formatter, installed by npm ci into node_modules/)
#   make check   lint, then test
#   make drills  only the fault drills (tests/drills), then their table
#   make screenshots  the browser tests, writing the README's pictures to docs/screenshots
#   make fleet   the production layout on one machine: nginx on FLEET_PORT, 2 bayar serve, a worker,
#                a sandbox, on DATABASE_URL / REDIS_URL (default: local PostgreSQL db bayar_fleet, Redis)
#   make fmt     ruff format + ruff check --fix, biome check --write
#   make messages  bring the translation catalogs (src/bayar/i18n/locales) in step with the code
#   make browsers  install Debian's chromium if /usr/bin/chromium is missing (browser tests use it)
#   make react   build clients/react-shop for the bayar at BAYAR_URL and serve it on REACT_PORT
#                (that bayar needs BAYAR_CORS_ORIGINS=http://HOST:REACT_PORT)

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: `make up` needs only what running needs (RUN_STAMP: pip install -e .); the tools of
# `make test`, `make lint`… come with DEV_STAMP (pip install -e '.[dev]'), which implies the first.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
# Biome, pinned in package.json/package-lock.json: reinstalled (npm ci) when either changes.
NODE_STAMP := node_modules/.installed
BIOME := node_modules/.bin/biome
# Biome colours its report even into a pipe: plain text in CI's log.
BIOME_CI := $(BIOME) ci --error-on-warnings$(if $(CI), --colors=off)
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
FLEET_PORT ?= 8080
REACT_PORT ?= 5173
BAYAR_URL ?= http://$(HOST):$(PORT)
CHROMIUM := /usr/bin/chromium
# Only the directories that exist, so a missing bench/ (or tests/) never makes ruff fail.
LINT_PATHS := $(wildcard src tests bench deploy)
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

export PIP_DISABLE_PIP_VERSION_CHECK := 1

# `make test` installs chromium only when it is missing: no apt-get when it is already there.
TEST_PREREQS := venv
ifeq ($(wildcard $(CHROMIUM)),)
TEST_PREREQS += browsers
endif

.PHONY: help venv runtime up test drills screenshots fleet lint check fmt messages browsers clean node react

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

# The venv is created once; each install re-runs only when pyproject.toml changes.
# `make venv`: the development environment (what CI, tests and linters use).
# `make runtime`: only what `bayar up` needs, the quick first run.
venv: $(DEV_STAMP)

runtime: $(RUN_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e .
	touch $@

# The dev extras include everything running needs: the runtime stamp is brought up to date too.
$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[dev]'
	touch $@ $(RUN_STAMP)

node: $(NODE_STAMP)

$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "!! npm is missing (Debian: $(SUDO) apt-get install -y nodejs npm)"; exit 1; }
	npm ci
	touch $@

up: runtime
	$(BIN)/bayar up --host $(HOST) --port $(PORT)

test: $(TEST_PREREQS)
	$(BIN)/pytest $(PYTEST_ARGS)

# Each drill appends its row to a temporary file (BAYAR_DRILL_REPORT); the table is printed even
# when a drill fails, and make fails with pytest.
# The one run that writes into the tree: the README's pictures (`make test` puts them in a scratch
# folder, and fails if the tree changed).
screenshots: $(TEST_PREREQS)
	BAYAR_SCREENSHOTS=1 $(BIN)/pytest -q -m browser $(PYTEST_ARGS)

drills: venv
	@rows=$$(mktemp -d)/drills.jsonl; \
	BAYAR_DRILL_REPORT=$$rows $(BIN)/pytest -p no:cacheprovider tests/drills $(PYTEST_ARGS); status=$$?; \
	echo; $(BIN)/python tests/drills/report.py $$rows; \
	rm -rf $$(dirname $$rows); exit $$status

# deploy/fleet.py starts it, prints its URLs, restarts any process that exits; Ctrl-C stops it all.
fleet: venv
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || \
		{ echo "!! nginx is missing: $(SUDO) apt-get install -y nginx"; exit 1; }
	$(BIN)/python deploy/fleet.py --port $(FLEET_PORT)

# Runs every linter, then fails if any of them failed, so one run shows all problems.
# Biome's `ci` checks formatting and lint together and writes nothing; warnings fail too.
lint: venv $(NODE_STAMP)
	@status=0; \
	for cmd in "$(BIN)/ruff check --no-cache $(LINT_PATHS)" "$(BIN)/ruff format --check $(LINT_PATHS)" \
		"$(BIN)/mypy" "$(BIN)/lint-imports" "$(BIOME_CI)"; do \
		echo "+ $$cmd"; \
		$$cmd || { status=1; echo "!! FAILED: $$cmd"; }; \
	done; \
	clients/react-shop/scripts/lint.sh || { status=1; echo "!! FAILED: react-shop lint"; }; \
	exit $$status

# npm ci (when package-lock.json changed) and vite build (when the sources or BAYAR_URL changed).
react:
	clients/react-shop/scripts/build.sh $(BAYAR_URL)
	@echo "react-shop: http://$(HOST):$(REACT_PORT) against $(BAYAR_URL) (start it with BAYAR_CORS_ORIGINS=http://$(HOST):$(REACT_PORT))"
	cd clients/react-shop && npx --no-install vite preview --host $(HOST) --port $(REACT_PORT) --strictPort

check:
	$(MAKE) lint
	$(MAKE) test

fmt: venv $(NODE_STAMP)
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)
	$(BIOME) check --write

# Adds the code's new messages to every .po (English filled in), drops the unused ones, and lists
# what is left to translate (tests/i18n fails while anything is).
messages: venv
	$(BIN)/python -m bayar.i18n.extract

browsers:
	@if [ -x $(CHROMIUM) ]; then \
		echo "chromium present: $(CHROMIUM)"; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "!! $(CHROMIUM) is missing and apt-get is not available: browser tests will be skipped (they fail under CI=true)"; \
		[ "$${CI:-}" != true ]; \
	else \
		set -x; \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	fi

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache .import_linter_cache test-results node_modules
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
