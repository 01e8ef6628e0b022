# livekit — two commands: `make demo` and `make test`. Run `make help` for the rest.
#
# Bootstrap needs only Python >= 3.11 and make: a pinned uv is installed into .tools/ with pip,
# then uv installs exactly what uv.lock pins into .venv/ (no Python downloads).

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.DEFAULT_GOAL := help
.PHONY: help setup demo test lint typecheck pytest bench clean

help:  ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "livekit needs Python >= 3.11; set PYTHON=python3.11 (or newer)")'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

setup: $(VENV)/.synced  ## Install the pinned environment into .venv

demo: setup  ## Set everything up and run the main job on the sandbox
	$(BIN)/livekit sync --sandbox --from -29 --to today

lint: setup  ## ruff lint + format check
	$(BIN)/ruff check livekit tests bench
	$(BIN)/ruff format --check livekit tests bench

typecheck: setup  ## mypy --strict on the package
	$(BIN)/mypy

pytest: setup  ## The test suite only
	$(BIN)/pytest

test: lint typecheck pytest  ## Lint, type checks and the tests

bench: setup  ## Benchmarks (print ratios; no pass/fail)
	$(BIN)/python bench/sandbox.py
	$(BIN)/python bench/sync.py

clean:  ## Remove the environments and caches
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
