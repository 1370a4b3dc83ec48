# The two set-up commands in the README are `make serve` and `make test`.
# Everything installs into .venv; llama-cpp-python compiles once and pip caches the wheel.

VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
# GGML_NATIVE=OFF builds for the portable x86-64 baseline (AVX2/FMA/F16C), as docker/Dockerfile does: on a
# CPU with AMX (Xeon Sapphire Rapids and later) a native build's AMX matrix kernels crash the process
# (SIGSEGV in ggml_backend_amx_mul_mat, llama-cpp-python 0.3.36), and -march=native cannot be told not to
# use them.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DMTMD_BUILD=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
	-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF -DGGML_NATIVE=OFF

.PHONY: install serve test lint bench browser promtool docs image image-smoke

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

# promtool (and prometheus) check /metrics and deploy/prometheus/rules.yml: Debian's `prometheus` package.
promtool:
	@if ! command -v promtool >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q prometheus; \
		else \
			echo "Install Debian's prometheus (sudo apt-get install prometheus) to run the promtool tests."; \
		fi; \
	fi

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test: $(VENV)/.test-installed browser promtool lint
	$(VENV)/bin/pytest

# Rewrite the generated pages of the manual (docs/cli.md, docs/configuration.md) from the code.
docs: $(VENV)/.installed
	$(PY) docs/generate.py

bench: $(VENV)/.test-installed
	for script in bench/bench_*.py; do $(PY) $$script || exit 1; done

# The container image, built and started with podman (or docker); not part of `make test` (minutes).
# See docs/image.md. `image` reuses the llama-cpp-python wheel `make install` left in pip's cache.
image:
	docker/build-image.sh

image-smoke:
	docker/smoke.sh
