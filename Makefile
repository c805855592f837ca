# Everything sets itself up: a fresh clone with only python3 and go can run `make test`.
PYTHON ?= python3
GO ?= go
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test run lint typecheck check-generated docs pytest generate bench venv clean livekit-server

# The real livekit-server the end-to-end and differential tests run: a pinned release built from
# the Go module proxy into a project-local cache, reused when present. Newer releases (v1.13.6 on)
# carry replace directives in go.mod (LiveKit's pion forks), which `go install module@version`
# refuses and the proxy does not serve: `make livekit-server LIVEKIT_VERSION=v1.13.11` says so in a line.
LIVEKIT_VERSION := v1.13.5
LIVEKIT_DIR := .cache/livekit-server/$(LIVEKIT_VERSION)
LIVEKIT_SERVER := $(LIVEKIT_DIR)/livekit-server
export LIVEKIT_SERVER_BIN := $(abspath $(LIVEKIT_SERVER))

test: lint typecheck check-generated docs pytest

$(STAMP): requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check dispatch_client tests tools bench examples
	$(BIN)/ruff format --check dispatch_client tests tools bench examples

typecheck: $(STAMP)
	# dispatch_client/_generated is generated/ seen through its installed name;
	# the second run checks generated/ on its own.
	$(BIN)/mypy dispatch_client tests tools
	$(BIN)/mypy examples
	$(BIN)/mypy bench
	$(BIN)/mypy generated

check-generated: $(STAMP)
	$(BIN)/python tools/generate.py --check

# The API reference of the public modules, as HTML under docs/api/ (not committed); a warning fails it.
# tests/test_docs.py checks the pages' links and that every public name has a docstring.
DOC_MODULES := dispatch_client dispatch_client.sync dispatch_client.errors dispatch_client.fleet dispatch_client.telemetry \
	dispatch_client.tokens dispatch_client.testing dispatch_client.testing.pytest_plugin

docs: $(STAMP)
	rm -rf docs/api
	$(BIN)/python -W error -m pdoc --docformat restructuredtext --template-directory docs/pdoc \
		--output-directory docs/api $(DOC_MODULES)

pytest: $(STAMP) $(LIVEKIT_SERVER)
	$(BIN)/pytest

livekit-server: $(LIVEKIT_SERVER)

$(LIVEKIT_SERVER):
	@command -v $(GO) >/dev/null 2>&1 || { echo "make: go not found: install Go 1.26 or newer (https://go.dev/dl/) to build livekit-server $(LIVEKIT_VERSION) for the tests" >&2; exit 1; }
	@echo "building livekit-server $(LIVEKIT_VERSION) into $(LIVEKIT_DIR) (the first time takes a few minutes)"
	@rm -rf $(LIVEKIT_DIR)/.build && mkdir -p $(LIVEKIT_DIR)/.build
	@GOBIN=$(abspath $(LIVEKIT_DIR))/.build GOFLAGS=-mod=mod $(GO) install github.com/livekit/livekit-server/cmd/server@$(LIVEKIT_VERSION) \
		>$(LIVEKIT_DIR)/.build/go.log 2>&1 || { \
		if grep -q -e 'replace directives' -e '403' -e 'not available' $(LIVEKIT_DIR)/.build/go.log; then \
			echo "make: livekit-server $(LIVEKIT_VERSION) cannot be built here: its go.mod replaces pion modules with LiveKit's forks, which go install refuses and the Go module proxy answers with 403 (the tests use v1.13.5; docs/newer-servers.md)" >&2; \
		else cat $(LIVEKIT_DIR)/.build/go.log >&2; fi; \
		rm -rf $(LIVEKIT_DIR)/.build; rmdir $(LIVEKIT_DIR) 2>/dev/null; exit 1; }
	@mv $(LIVEKIT_DIR)/.build/server $@ && rm -rf $(LIVEKIT_DIR)/.build

# The demo: against the real livekit-server started for the run, or LIVEKIT_URL etc. when set.
run: $(STAMP) $(LIVEKIT_SERVER)
	$(BIN)/python tools/run_demo.py

# Not part of `make test`: prints the ratio table and rewrites bench/RESULTS.md.
bench: $(STAMP)
	$(BIN)/python bench/bench.py --write

generate: $(STAMP)
	$(BIN)/python tools/generate.py

clean:
	rm -rf $(VENV) .cache .mypy_cache .pytest_cache .ruff_cache .hypothesis docs/api build *.egg-info
