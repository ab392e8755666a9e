# Foyer — two commands for a newcomer:  make demo   and   make test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench bench-smoke clean messages

$(STAMP): pyproject.toml tests/e2e/package-lock.json
	$(PYTHON) -c 'import sys; sys.exit("Foyer needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[embedded,dev]"
	@# axe-core for the browser tests (skipped when npm or Chromium is missing)
	if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/e2e --no-audit --no-fund --silent; fi
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/python manage.py run_demo

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# The layers (.importlinter, README "Where code goes"): a backwards import fails here.
	PYTHONPATH=platform $(BIN)/lint-imports --no-cache

bench: setup
	$(BIN)/python bench/provisioning.py

# Every benchmark at tiny sizes: correctness only, so a change that breaks one fails CI.
bench-smoke: setup
	$(BIN)/python bench/smoke.py

clean:
	rm -rf .data .pytest_cache .ruff_cache

# The French catalogue (locale/fr): every msgstr repeats its msgid, for French plurals.
messages: setup
	rm -f locale/fr/LC_MESSAGES/django.po  # fresh: msgmerge's fuzzy matches would be wrong
	$(BIN)/python manage.py makemessages -l fr --no-location --ignore=.venv --ignore=node_modules --ignore=tests --ignore=bench --ignore=staticfiles --ignore=.data
	msgen locale/fr/LC_MESSAGES/django.po -o locale/fr/LC_MESSAGES/django.po
	$(BIN)/python locale/fix_header.py locale/fr/LC_MESSAGES/django.po
	$(BIN)/python manage.py compilemessages -l fr --ignore=.venv
