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

# The sandbox platforms, migrations and demo data, then portal, worker and beat (sandbox/run.py).
# Quiet: logs go to instance/logs/. Ctrl-C stops every process and exits 0. PORT=5001 moves the portal.
run: install
	@$(BIN)/python -m sandbox.run

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
