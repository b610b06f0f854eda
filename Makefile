# iclab — the two set-up commands are `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
# Where pip finds PyTorch. Empty: pip's configured index (here: a CPU wheel). On a stock
# Linux machine set TORCH_INDEX=https://download.pytorch.org/whl/cpu for the CPU build
# (about 200 MB instead of a multi-GB CUDA build), or .../whl/cu126 for a CUDA build.
TORCH_INDEX ?=
TORCH_INDEX_ARG := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint venv clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0 $(TORCH_INDEX_ARG)
	$(BIN)/python -m pip install -q -e ".[dev,llm,ray]"
	touch $(STAMP)

venv: $(STAMP)

## Reproduce the quick variant of every registered figure on CPU; figures and a report in results/
demo: $(STAMP)
	$(BIN)/iclab demo --quick --out results --workers 2

## Run the test suite (ruff + pytest)
test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

## Speed benchmarks (print tables of ratios; see docs/benchmarks.md)
bench: $(STAMP)
	for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf results .pytest_cache
