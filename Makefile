# Every target installs what it needs into .venv first, so each works on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
MODEL_CREATED := 2026-11-27T00:00:00+00:00

.PHONY: install test lint typecheck bench quality model demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev,dask]"
	touch $(STAMP)

install: $(STAMP)

## demo: set up and scan the example filings with the shipped default model
demo: $(STAMP)
	$(BIN)/scan examples/

## test: set up and run the whole test suite
test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check scanner tests bench
	$(BIN)/ruff format --check scanner tests bench

typecheck: $(STAMP)
	$(BIN)/mypy scanner

## model: rebuild the shipped default model from data/ (deterministic)
model: $(STAMP)
	$(BIN)/scanner train data/corpus.csv --out models/default --name default --version 1.0.0 --created $(MODEL_CREATED) --no-select --no-baseline

## bench: speed and memory figures against baselines measured in the same run
bench: $(STAMP)
	$(BIN)/python bench/run.py

## quality: the README's quality figures, on the real development sets in ../shared/data
quality: $(STAMP)
	$(BIN)/python bench/quality.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
