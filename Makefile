# The two commands of the README: `make run` and `make test`. Everything else is a step of theirs.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
export PATH := $(BIN):$(PATH)

.PHONY: run test setup install system-packages lint format clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# Debian packages the test suite starts as real processes (Kamailio, SIPp); installed when missing.
system-packages:
	bash .ci/system-packages

setup: install
	$(FLASK) db upgrade
	$(FLASK) catalog seed
	$(FLASK) demo

run: setup
	@echo "Seatmeter: portal on http://127.0.0.1:5000, with a Celery worker and beat (Ctrl-C stops all)."
	$(BIN)/honcho --procfile Procfile start

# lint-imports: the import contracts in pyproject.toml ([tool.importlinter]); mypy: [tool.mypy].
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo
	$(BIN)/mypy

test: install system-packages lint
	$(BIN)/pytest

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .import_linter_cache
