# Two commands do all the setup: `make demo` (set up and run the app) and `make test` (set up and test).
# Every target is idempotent: a second run reuses the venv, the models, the catalogs and the index.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CATALOG ?= phones
export HF_HUB_OFFLINE ?= 1
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False

.PHONY: demo test install models-demo models-test catalog index lint typecheck check clean-venv browser

# torch and torchvision are pinned in pyproject.toml and installed in the same pip command as
# everything else, so pip never resolves a different torch build.
# llama-cpp-python (the `server` extra, for the OpenAI-compatible server tests) compiles llama.cpp.
# A native build uses every instruction the CPU advertises; on virtual machines that advertise
# AMX or AVX-512 without enabling them, the server then dies with SIGILL on its first request.
# So build for AVX2 (any x86-64 CPU of the last decade), never -march=native.
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet "pip>=24"
	CMAKE_ARGS="$(LLAMA_CMAKE)" $(BIN)/python -m pip install --quiet -e ".[dev,ui-test,server]"
	# pip reuses a llama-cpp-python wheel it built earlier whatever CMAKE_ARGS say now, so a
	# native build left in the pip cache would come back: drop it from the cache and rebuild.
	$(BIN)/python -c "import sys, llama_cpp; sys.exit(b'AVX512 = 1' in llama_cpp.llama_print_system_info())" || { \
	  $(BIN)/python -m pip cache remove llama_cpp_python; \
	  CMAKE_ARGS="$(LLAMA_CMAKE)" $(BIN)/python -m pip install --quiet --force-reinstall --no-deps \
	  "$$(grep -o 'llama-cpp-python\[server\]==[0-9.]*' pyproject.toml | sed 's/\[server\]//')"; }
	touch $(STAMP)

install: $(STAMP)

models-demo: install
	$(BIN)/convrec models fetch qwen2.5-coder-0.5b all-minilm-l6-v2

models-test: install
	$(BIN)/convrec models fetch smollm2-135m all-minilm-l6-v2

catalog: install
	$(BIN)/convrec catalog build $(CATALOG)

index: catalog
	$(BIN)/convrec index $(CATALOG)

demo: models-demo index
	$(MAKE) index CATALOG=movies
	$(BIN)/convrec app --catalog $(CATALOG) --catalog movies

lint: install
	$(BIN)/ruff check convrec tests eval app
	$(BIN)/ruff format --check convrec tests eval app

typecheck: install
	$(BIN)/mypy

# Debian Chromium for the real-browser tests (playwright drives /usr/bin/chromium; never
# `playwright install`, which downloads its own browser). sudo only when not root.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	  chromium chromium-driver fonts-noto-color-emoji; }

test: models-test browser lint typecheck
	$(BIN)/python -m pytest -q

clean-venv:
	rm -rf $(VENV)
