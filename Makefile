# The two commands of the README: `make run` and `make test`. Everything else is a step of theirs.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
export PATH := $(BIN):$(PATH)

.PHONY: run test setup install lock system-packages lint format clean bench audit

# Installs exactly the lock (hash-checked), then Seatmeter itself (editable, no dependency
# resolution). A changed lock or pyproject.toml reinstalls.
$(VENV)/.installed: pyproject.toml requirements/dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

install: $(VENV)/.installed

# The lock files from pyproject.toml: requirements/dev.txt (everything `make` installs) first, then
# requirements/runtime.txt (what the Docker image installs) within the same pins. Pins already in
# the files are kept unless UPGRADE=1; UV_OFFLINE=1 resolves from uv's cache alone.
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 --generate-hashes \
	$(if $(UPGRADE),--upgrade)
lock: install
	$(UV_COMPILE) --extra test --extra dev --output-file requirements/dev.txt
	$(UV_COMPILE) --constraint requirements/dev.txt --output-file requirements/runtime.txt

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

# lint-imports: the import contracts in pyproject.toml ([tool.importlinter]); mypy: [tool.mypy];
# bandit: the product's code ([tool.bandit]; exceptions carry `# nosec Bxxx  # why`).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo
	$(BIN)/mypy
	$(BIN)/bandit --quiet --configfile pyproject.toml --recursive portal provisioning metering sandbox

# Known vulnerabilities in the locked runtime dependencies: pip-audit asks PyPI's JSON API for each
# pinned release. The probe asks it for the lock's first pin; where that is out of reach (offline,
# or a mirror without the API) it prints one line and succeeds, so a build without it stays green.
AUDIT_PROBE = import re, urllib.request; \
	pin = re.search(r"^([A-Za-z0-9._-]+)==([^ ]+)", open("requirements/runtime.txt").read(), re.M); \
	urllib.request.urlopen(f"https://pypi.org/pypi/{pin[1]}/{pin[2]}/json", timeout=10)
audit: install
	@if $(BIN)/python -c '$(AUDIT_PROBE)' >/dev/null 2>&1; then 	  $(BIN)/pip-audit --strict --disable-pip --require-hashes --requirement requirements/runtime.txt; 	else 	  echo "pip-audit skipped: vulnerability database unreachable (pypi.org); run make audit online"; 	fi

# One pytest worker process per core (pytest-xdist; docs/testing.md). PYTEST_XDIST_AUTO_NUM_WORKERS=N
# sets another number; 0 runs the suite in one process.
test: install system-packages lint
	$(BIN)/pytest --numprocesses auto

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .import_linter_cache

# The benchmarks (bench/*.py) on PostgreSQL: each makes its own scratch database on the server of
# BENCH_DATABASE_URL and drops it afterwards. Tables go to bench/history.md with machine, date, load.
BENCH_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/seatmeter_bench
BENCH_ARGS ?=
bench: install
	psql "$(subst +psycopg,,$(BENCH_DATABASE_URL))" -c 'SELECT 1' >/dev/null 2>&1 || createdb -h 127.0.0.1 -U postgres seatmeter_bench
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python bench/pages.py --history bench/history.md $(BENCH_ARGS)
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python bench/month_close.py --clients 1000 10000 --history bench/history.md
