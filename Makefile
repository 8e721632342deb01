# Two commands for a newcomer: `make run` (demo county on SQLite) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test lint bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Minyi needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/minyi init --demo
	$(BIN)/minyi serve

# Two workers (the machine's cores): the suite of ~2,260 tests takes ~6 minutes instead of ~20.
test: $(STAMP_TEST)
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

lint: $(STAMP_TEST)
	$(BIN)/ruff check minyi bot web nlp surveys tests bench

bench: $(STAMP_TEST)
	$(BIN)/python bench/nlp.py
	$(BIN)/python bench/import_ratings.py
	$(BIN)/python bench/concurrency.py
	$(BIN)/python bench/surveys.py

clean:
	rm -rf $(VENV) var .pytest_cache
