# GovGrid: `make run` starts the whole app on the embedded default; `make test` runs every check.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# Python 3.12 or newer (Django 6): the first interpreter on PATH, else one that pyenv knows.
PYTHON ?= $(shell for p in python3.12 python3.13 python3.14; do $$p -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null && { echo $$p; exit; }; done; \
	if command -v pyenv >/dev/null 2>&1; then v=$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.1[2-9](\.[0-9]+)?$$' | sort -V | head -1); \
	[ -n "$$v" ] && PYENV_VERSION=$$v pyenv which python && exit; fi; echo python3)

.PHONY: help run test venv dev assets chromium lint migrate demo messages bench clean

help:
	@echo "make run    install, migrate, load the demo city, start web + Celery worker + beat"
	@echo "make test   install test tools, then lint, migration check and the whole test suite"

$(VENV)/.runtime: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c 'import sys; assert sys.version_info >= (3, 12), "GovGrid needs Python 3.12+"'
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.runtime
dev: $(VENV)/.dev

# Bootstrap, htmx and Leaflet are served by the app itself (intranets have no internet).
static/vendor/.stamp: package.json bin/vendor-assets
	@mkdir -p var/npm static/vendor
	cp package.json var/npm/package.json
	cd var/npm && npm install --no-save --no-package-lock --ignore-scripts --no-audit --no-fund --loglevel=error
	bin/vendor-assets var/npm static/vendor
	@touch $@

assets: static/vendor/.stamp

# Browser tests drive Debian's Chromium through Playwright (no browser download).
chromium:
	@command -v chromium >/dev/null 2>&1 || { echo "Installing Debian's chromium for the browser tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver fonts-wqy-zenhei >/dev/null; }

migrate: venv
	DEBUG=1 $(PY) manage.py migrate --noinput

demo: migrate
	DEBUG=1 $(PY) manage.py seed_demo

run: venv assets demo
	@echo
	@echo "GovGrid: http://127.0.0.1:$(PORT)/  (Ctrl-C stops web, worker and beat)"
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" DEBUG=1 PORT=$(PORT) honcho -f Procfile.dev start

lint: dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: dev assets chromium lint
	DEBUG=1 DATABASE_URL=sqlite:///:memory: $(PY) manage.py makemigrations --check --dry-run
	DEBUG=1 DATABASE_URL=sqlite:///:memory: $(PY) manage.py spectacular --validate --fail-on-warn --file var/openapi.yaml
	@set -e; eval "$$($(PY) tests/services.py)"; $(PY) -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

# Translations: extract, then edit locale/zh_Hans/LC_MESSAGES/django.po, then compile (the .mo is committed).
messages: dev
	DEBUG=1 $(PY) manage.py makemessages -l zh_Hans --no-obsolete --ignore=.venv --ignore=var --ignore=static/vendor --ignore=tests --ignore=bench
	DEBUG=1 $(PY) manage.py compilemessages --ignore=.venv

bench: venv
	DEBUG=1 $(PY) manage.py seed_scale --grids 10000 --staff 20000
	DEBUG=1 $(PY) manage.py bench_access

clean:
	rm -rf $(VENV) var static/vendor staticfiles
