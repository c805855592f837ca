# Everything sets itself up: a fresh clone with only python3 and go can run `make test`.
PYTHON ?= python3
GO ?= go
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# bash, for pipefail: a build piped through its progress filter fails when the build does.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

.PHONY: test run lint typecheck check-generated docs package pytest generate bench venv clean livekit-server chromium

# The real livekit-server the end-to-end and differential tests run: a pinned release built from
# the Go module proxy into a project-local cache, reused when present. Newer releases (v1.13.6 on)
# carry replace directives in go.mod (LiveKit's pion forks), which `go install module@version`
# refuses and the proxy does not serve: `make livekit-server LIVEKIT_VERSION=v1.13.11` says so in a line.
LIVEKIT_VERSION := v1.13.5
LIVEKIT_DIR := .cache/livekit-server/$(LIVEKIT_VERSION)
LIVEKIT_SERVER := $(LIVEKIT_DIR)/livekit-server
export LIVEKIT_SERVER_BIN := $(abspath $(LIVEKIT_SERVER))

# What a first `make test` does, and roughly how long each step takes on two cores (later runs
# reuse the venv, the livekit-server binary and mypy's cache, and take a few minutes in all).
test: lint typecheck check-generated docs package pytest
	@echo "make test: lint, typecheck, generated code, API reference, package and pytest all passed"

$(STAMP): requirements-dev.txt pyproject.toml
	@echo "venv: installing requirements-dev.txt's pinned packages into $(VENV) (the first time: 1 to 3 minutes)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)
	@echo "venv: ready"

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check dispatch_client tests tools bench examples
	$(BIN)/ruff format --check dispatch_client tests tools bench examples

typecheck: $(STAMP)
	# dispatch_client/_generated is generated/ seen through its installed name;
	# the last run checks generated/ on its own.
	@echo "typecheck: mypy --strict on dispatch_client, tests and tools, then examples, bench and generated"
	@echo "typecheck: (a first run takes 2 to 4 minutes with no output; later ones reuse .mypy_cache)"
	$(BIN)/mypy dispatch_client tests tools
	$(BIN)/mypy examples
	$(BIN)/mypy bench
	$(BIN)/mypy generated

check-generated: $(STAMP)
	$(BIN)/python tools/generate.py --check

# The API reference of the public modules, as HTML under docs/api/ (not committed); a warning fails it.
# The first page is the package's (the client, connect, the errors), then the blocking client, the
# stand-in, the fleet and the generated messages on their own page, in this order.
# tests/test_docs.py checks the pages' links, that every public name has a docstring and that no
# page shows a private name; tests/test_docs_browser.py looks at the first page in headless Chromium.
DOC_MODULES := dispatch_client dispatch_client.sync dispatch_client.errors dispatch_client.testing \
	dispatch_client.testing.pytest_plugin dispatch_client.fleet dispatch_client.telemetry dispatch_client.tokens \
	dispatch_client.messages

docs: $(STAMP)
	@echo "docs: building the API reference of $(words $(DOC_MODULES)) modules into docs/api/"
	rm -rf docs/api
	$(BIN)/python -W error tools/api_reference.py --output-directory docs/api $(DOC_MODULES)

# The sdist and wheel as a package index would get them, into dist/, and twine's checks of their
# metadata (the README must render as the index shows it).
package: $(STAMP)
	@echo "package: building the sdist and wheel into dist/, then twine check --strict"
	rm -rf dist
	$(BIN)/python -m build --no-isolation --outdir dist . >/dev/null
	$(BIN)/twine check --strict dist/*

pytest: $(STAMP) $(LIVEKIT_SERVER) chromium
	$(BIN)/pytest

# Headless Chromium, in which tests/test_docs_browser.py looks at the API reference: the one on
# PATH (or CHROMIUM=...), else Debian's chromium package, installed here (needs root, as in CI).
CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser || command -v google-chrome)
export CHROMIUM

chromium:
	@if [ -n "$(CHROMIUM)" ]; then \
		echo "chromium: $(CHROMIUM)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "chromium: installing Debian's chromium package for the browser test (about a minute)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "make: chromium not found: install it (Debian: apt-get install chromium) or set CHROMIUM=/path/to/chromium" >&2; \
		exit 1; \
	fi

livekit-server: $(LIVEKIT_SERVER)

$(LIVEKIT_SERVER):
	@command -v $(GO) >/dev/null 2>&1 || { echo "make: go not found: install Go 1.26 or newer (https://go.dev/dl/) to build livekit-server $(LIVEKIT_VERSION) for the tests" >&2; exit 1; }
	@echo "livekit-server: building $(LIVEKIT_VERSION) into $(LIVEKIT_DIR), for the end-to-end tests"
	@echo "livekit-server: the first time takes 5 to 10 minutes: Go downloads its modules, then compiles"
	@echo "livekit-server: its packages (a line every 50 modules and 100 packages); later builds reuse Go's caches"
	@rm -rf $(LIVEKIT_DIR)/.build && mkdir -p $(LIVEKIT_DIR)/.build
	@GOBIN=$(abspath $(LIVEKIT_DIR))/.build GOFLAGS=-mod=mod $(GO) install -v github.com/livekit/livekit-server/cmd/server@$(LIVEKIT_VERSION) \
		2>&1 | tee $(LIVEKIT_DIR)/.build/go.log | $(PYTHON) tools/go_progress.py livekit-server --quiet || { \
		if grep -q -e 'replace directives' -e '403' -e 'not available' $(LIVEKIT_DIR)/.build/go.log; then \
			echo "make: livekit-server $(LIVEKIT_VERSION) cannot be built here: its go.mod replaces pion modules with LiveKit's forks, which go install refuses and the Go module proxy answers with 403 (the tests use v1.13.5; docs/newer-servers.md)" >&2; \
		else grep -v -e '^go: downloading ' $(LIVEKIT_DIR)/.build/go.log >&2; fi; \
		rm -rf $(LIVEKIT_DIR)/.build; rmdir $(LIVEKIT_DIR) 2>/dev/null; exit 1; }
	@mv $(LIVEKIT_DIR)/.build/server $@ && rm -rf $(LIVEKIT_DIR)/.build
	@echo "livekit-server: built $@"

# The demo: against the real livekit-server started for the run, or LIVEKIT_URL etc. when set.
run: $(STAMP) $(LIVEKIT_SERVER)
	$(BIN)/python tools/run_demo.py

# Not part of `make test`: prints the ratio table and rewrites bench/RESULTS.md.
bench: $(STAMP)
	$(BIN)/python bench/bench.py --write

generate: $(STAMP)
	$(BIN)/python tools/generate.py

clean:
	rm -rf $(VENV) .cache .mypy_cache .pytest_cache .ruff_cache .hypothesis docs/api build dist *.egg-info
