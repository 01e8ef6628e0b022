# livekit — two commands: `make demo` and `make test`. Run `make help` for the rest.
#
# Bootstrap needs only Python >= 3.11 and make: a pinned uv is installed into .tools/ with pip,
# then uv installs exactly what uv.lock pins into .venv/ (no Python downloads), and the Jupyter
# kernel `livekit` (this .venv) is registered inside .venv for papermill, nbval and JupyterLab.

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
KERNEL := $(VENV)/share/jupyter/kernels/livekit/kernel.json
# JupyterLab never reaches the internet unasked: the settings default (jupyter/overrides.json,
# installed into .venv) answers "no" to news and update checks, so Lab does not even ask, and
# the server runs with no news feed, no update check and no PyPI extension manager.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
LAB_OFFLINE := --LabApp.news_url=None \
	--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate \
	--LabApp.extension_manager=readonly
# Tests never touch ~/.livekit: their store, tokens and sandbox data live here (gitignored).
TEST_HOME := $(CURDIR)/.cache/test-home
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Compiled once at install: every notebook kernel imports polars, altair, scipy … from .pyc
# instead of recompiling them (PYTHONDONTWRITEBYTECODE environments never cache them).
export UV_COMPILE_BYTECODE := 1

.DEFAULT_GOAL := help
.PHONY: help setup demo lab test lint typecheck layers pytest test-scale nbval bench clean

help:  ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "livekit needs Python >= 3.11; set PYTHON=python3.11 (or newer)")'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

$(KERNEL): $(VENV)/.synced
	$(BIN)/python -m ipykernel install --sys-prefix --name livekit --display-name "livekit (.venv)"
	@touch $@

$(LAB_SETTINGS): jupyter/overrides.json $(VENV)/.synced
	mkdir -p $(dir $@)
	cp jupyter/overrides.json $@

setup: $(VENV)/.synced $(KERNEL) $(LAB_SETTINGS)  ## Install the pinned environment into .venv and register its kernel

demo: setup  ## Sync the sandbox's last 30 days, render every report, print where the index is
	$(BIN)/livekit sync --sandbox --from -29 --to today
	$(BIN)/livekit report run --all --jobs 2

lab: setup  ## JupyterLab on notebooks/ with the project's kernel (livekit)
	$(BIN)/jupyter lab notebooks/ --MultiKernelManager.default_kernel_name=livekit $(LAB_OFFLINE) \
		$(if $(filter 0,$(shell id -u)),--allow-root)

lint: setup  ## ruff lint + format check
	$(BIN)/ruff check livekit tests bench
	$(BIN)/ruff format --check livekit tests bench

typecheck: setup  ## mypy --strict on the package
	$(BIN)/mypy

layers: setup  ## The import-layer contract (import-linter; [tool.importlinter] in pyproject.toml)
	$(BIN)/lint-imports --no-logo --cache-dir .cache/import-linter

# Two workers (pytest-xdist), whole files each: module fixtures stay whole, and rate-bound tests
# (a sync against a sandbox allowing 4 requests a second) wait while the other worker computes.
# The notebooks execute here, once each: tests/test_reports_notebooks.py renders every report
# through papermill in the kernel livekit on the notebook's defaults (params/NAME.yaml holds
# exactly them, a test checks) and checks the offline HTML. `pytest -m "not slow"` skips the
# slow tests for a quick local run; make test runs them all. The tests marked scale (many
# shops on real Airflow, Redis and S3, started by the tests) are their own target, below.
PYTEST_WORKERS ?= 2
pytest: setup  ## The test suite only (LIVEKIT_HOME=.cache/test-home, a folder per worker)
	LIVEKIT_HOME=$(TEST_HOME) $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile -m "not scale"

# Issue 15's runs on real parts the tests start: Airflow 3 (SQLite, LocalExecutor through the
# execution API server) over a sandbox of five shops with redis-server and moto's S3, and the
# crash runs on the object store. A few minutes; the slowest tests and the total are printed.
test-scale: setup  ## The scale-out tests (Airflow end to end, crash safety on S3), timed
	LIVEKIT_HOME=$(TEST_HOME)-scale $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile -m scale \
		--durations=10

# Not part of make test: the render above already executes every notebook on its defaults in
# the kernel livekit, and a second execution would only double the time. Kept for people
# checking a notebook they edit, the way Jupyter users know.
nbval: setup  ## Every notebook in notebooks/ runs on its defaults (nbval, kernel livekit)
	@# exit code 5 is "no notebooks collected": nothing to check yet, not a failure
	LIVEKIT_HOME=$(TEST_HOME) $(BIN)/pytest --nbval-lax --nbval-kernel-name livekit notebooks/ \
		|| test $$? -eq 5

test: lint typecheck layers pytest test-scale  ## Lint, type checks, import layers, the tests (notebooks included), then the scale-out tests

bench: setup  ## Benchmarks (print ratios; no pass/fail)
	$(BIN)/python bench/sandbox.py
	$(BIN)/python bench/sync.py
	$(BIN)/python bench/reports.py
	$(BIN)/python bench/monitor.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/forecast.py
	$(BIN)/python bench/shops.py

clean:  ## Remove the environments and caches
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache .cache
