# The two commands of the README. Each creates the virtual environment and installs what it needs.
VENV ?= .venv
PYTHON ?= python3
# torch first, pinned: a plain range can pull a multi-GB CUDA build; 2.13.0 is the local CPU wheel
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.turngym-installed

.PHONY: demo test lint install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev,alfworld]"
	touch $(STAMP)

install: $(STAMP)

## make demo: build a tiny model offline, warm-start it on expert plans and train it with GiGPO on ALFWorld-Gen, print before/after
demo: $(STAMP)
	$(BIN)/turngym train configs/quickstart.yaml

## make test: the whole test suite
test: $(STAMP)
	$(BIN)/ruff check envs agents algos rewards turngym_pkg tests bench
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check envs agents algos rewards turngym_pkg tests bench
	$(BIN)/ruff format --check envs agents algos rewards turngym_pkg tests bench

clean:
	rm -rf $(VENV) runs build *.egg-info
