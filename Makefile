# The two set-up commands in the README are `make serve` and `make test`.
# Everything installs into .venv; llama-cpp-python compiles once and pip caches the wheel.

VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DMTMD_BUILD=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
	-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF

.PHONY: install serve test lint bench browser docs

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed pyproject.toml examples/support_desk/pyproject.toml
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m pip install --quiet -e examples/support_desk
	touch $@

install: $(VENV)/.installed

serve: $(VENV)/.installed
	$(VENV)/bin/llmops serve

# The browser tests drive Debian's Chromium (Playwright never downloads a browser of its own).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
		else \
			echo "Install Debian's chromium (sudo apt-get install chromium) to run the browser tests."; \
		fi; \
	fi

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test: $(VENV)/.test-installed browser lint
	$(VENV)/bin/pytest

# Rewrite the generated pages of the manual (docs/cli.md, docs/configuration.md) from the code.
docs: $(VENV)/.installed
	$(PY) docs/generate.py

bench: $(VENV)/.test-installed
	for script in bench/bench_*.py; do $(PY) $$script || exit 1; done
