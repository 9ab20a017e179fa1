# Developer tasks for django-channels-mcp.
#
#   make venv    create .venv and install the package with its test extras (editable)
#   make node    install Node 22 + the MCP Inspector CLI into node_modules (npm ci)
#   make demo    run the example project on http://127.0.0.1:8000 (SQLite, in-memory layer)
#   make test    run the whole test suite (unit + end-to-end)
#   make lint    ruff check, ruff format --check, mypy
#   make bench   run the benchmark against the official SDK (docs/performance.md)
#
# Extra arguments: make test PYTEST_ARGS="-k inspector -x", make bench BENCH_ARGS=--quick

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
PYTEST_ARGS ?=
BENCH_ARGS ?=
DEMO_HOST ?= 127.0.0.1
DEMO_PORT ?= 8000

.PHONY: help venv node demo test lint bench

help:
	@sed -n '1,10p' Makefile | sed 's/^# \{0,1\}//'

venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml
	test -x $(VENV_PY) || $(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet -e '.[test]'
	touch $@

node: $(NODE_STAMP)

# package.json pins @modelcontextprotocol/inspector and the `node` package (Node 22),
# so node_modules/.bin/node is Node 22 whatever the machine's own node is.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	test -x node_modules/.bin/node
	touch $@

demo: venv
	@cd example_project; \
	unset DJANGO_SETTINGS_MODULE; \
	export EXAMPLE_DB=sqlite EXAMPLE_CHANNEL_LAYER=memory; \
	../$(VENV_PY) manage.py migrate --noinput; \
	out="$$(../$(VENV_PY) manage.py demo_setup)"; \
	printf '%s\n' "$$out"; \
	token="$$(printf '%s\n' "$$out" | awk 'NF { last = $$0 } END { print last }')"; \
	url="http://$(DEMO_HOST):$(DEMO_PORT)/mcp/sse"; \
	echo; \
	echo "MCP endpoint (HTTP+SSE): $$url"; \
	echo "API token:               $$token"; \
	echo "Header:                  Authorization: Bearer $$token"; \
	echo "Inspector (after make node):"; \
	echo "  node_modules/.bin/node node_modules/@modelcontextprotocol/inspector/clients/cli/build/index.js \\"; \
	echo "    --transport sse --server-url $$url --header 'Authorization: Bearer $$token' --method tools/list"; \
	echo; \
	exec ../$(VENV)/bin/daphne -b $(DEMO_HOST) -p $(DEMO_PORT) config.asgi:application

# `python -m pytest` puts the repo root on sys.path, so `tests.settings` imports.
test: venv node
	$(VENV_PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy django_mcp

# Starts its own servers (daphne, the SDK's server on uvicorn, nginx); see bench/run.py.
# uvloop only speeds up the load generator (the servers keep asyncio's loop); optional.
bench: venv
	$(VENV_PY) -c 'import uvloop' 2>/dev/null || $(VENV_PY) -m pip install --quiet 'uvloop>=0.19' \
		|| echo "uvloop unavailable: the load generator runs on asyncio's loop"
	$(VENV_PY) -m bench $(BENCH_ARGS)
