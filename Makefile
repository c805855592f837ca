# Everything sets itself up: a fresh clone with only python3 can run `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test run lint typecheck check-generated pytest generate bench venv clean

test: lint typecheck check-generated pytest

$(STAMP): requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check dispatch_client tests tools bench
	$(BIN)/ruff format --check dispatch_client tests tools bench

typecheck: $(STAMP)
	# dispatch_client/_generated is generated/ seen through its installed name;
	# the second run checks generated/ on its own.
	$(BIN)/mypy dispatch_client tests tools
	$(BIN)/mypy bench
	$(BIN)/mypy generated

check-generated: $(STAMP)
	$(BIN)/python tools/generate.py --check

pytest: $(STAMP)
	$(BIN)/pytest

# The demo: against a local server started for the run, or LIVEKIT_URL etc. when set.
run: $(STAMP)
	$(BIN)/dispatch-client demo

# Not part of `make test`: prints the ratio table and rewrites bench/RESULTS.md.
bench: $(STAMP)
	$(BIN)/python bench/bench.py --write

generate: $(STAMP)
	$(BIN)/python tools/generate.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info
