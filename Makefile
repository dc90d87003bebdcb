# Everything a fresh machine needs, from Python 3.11+ alone.
#   make doctor   diagnose the connection Claude Code would use (creates .venv on first run)
#   make test     the whole test suite (what CI runs)
#   make site     build the knowledge base into site/ ; make serve to browse it
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
STAMP  := $(VENV)/.installed
ARGS   ?=
# four workers; a module whose fixtures batch its rows stays on one (xdist_group)
PARALLEL ?= -n 4 --dist loadgroup
# The real client, pinned, for the tests that point it at the lab (npm ships its native binary).
CLAUDE_CODE_VERSION := 2.1.332
CLAUDE := $(VENV)/claude-code/node_modules/.bin/claude

.PHONY: browser doctor test test-fast lint site serve lab bench examples clean client
.DEFAULT_GOAL := doctor

# uv installs ~10x faster than pip here; bootstrap it with pip inside the venv.
$(UV):
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv

$(STAMP): pyproject.toml | $(UV)
	UV_COMPILE_BYTECODE=1 $(UV) pip install --quiet --python $(BIN)/python -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

doctor: $(STAMP)
	$(BIN)/runbooks doctor $(ARGS)

$(CLAUDE):
	npm install --silent --no-save --no-audit --no-fund --prefix $(VENV)/claude-code \
		@anthropic-ai/claude-code@$(CLAUDE_CODE_VERSION)

client: $(CLAUDE)

# The browser layer drives the built site in Debian's Chromium (no browser download):
# installed here with apt-get when it is missing (as root, or through sudo). Where that is
# impossible the browser tests skip, saying why, and the other layers still run.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests (apt-get)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  { $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      chromium >/dev/null; } || echo "could not install chromium: the browser tests will skip"; }

test: lint $(CLAUDE) browser
	RUNBOOKS_CLAUDE=$(abspath $(CLAUDE)) $(BIN)/python -m pytest $(PARALLEL) $(ARGS)

test-fast: lint
	$(BIN)/python -m pytest $(PARALLEL) -m "not notebook and not site and not client and not browser" $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

site: $(STAMP)
	$(BIN)/mkdocs build --strict

serve: $(STAMP)
	$(BIN)/mkdocs serve

lab: $(STAMP)
	$(BIN)/runbooks lab start $(or $(SCENARIO),healthy)

examples: $(STAMP)
	$(BIN)/python -m runbooks.site.examples

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) site .pytest_cache
