# Two entry points, both working on a fresh machine with only Python 3.11+:
#   make demo   set up .venv and run the whole pipeline on the simulated cohort
#   make test   set up .venv, then ruff, mypy and pytest
# and two for dependency versions:
#   make test-min     the test suite in .venv-min, with every direct dependency at its
#                     declared floor (pyproject's ">=" bounds, pinned by .ci/pins.py)
#   make constraints  record the versions of a green .venv in constraints/ci.txt
# .venv installs the versions in constraints/ci.txt (the last ones the suite passed with);
# `make setup CONSTRAINTS=` resolves the newest instead.
PYTHON ?= python3
PYTHON_MIN ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONSTRAINTS ?= constraints/ci.txt
VENV_MIN := .venv-min
MIN_STAMP := $(VENV_MIN)/.installed-stamp
MIN_PYTEST_ARGS ?= -n 2 --dist loadfile
DEMO_OUT ?= demo-output

.PHONY: demo test setup lint typecheck pytest bench clean test-min constraints

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
	touch $(STAMP)

$(MIN_STAMP): pyproject.toml .ci/pins.py
	$(PYTHON_MIN) -m venv $(VENV_MIN)
	$(VENV_MIN)/bin/python -m pip install --quiet --upgrade pip
	$(PYTHON_MIN) .ci/pins.py min --extra test > $(VENV_MIN)/floors.txt
	$(VENV_MIN)/bin/python -m pip install --quiet --only-binary=:all: -e '.[test]' \
		-c $(VENV_MIN)/floors.txt
	touch $(MIN_STAMP)

test-min: $(MIN_STAMP)
	$(VENV_MIN)/bin/python -m pytest -q $(MIN_PYTEST_ARGS)

constraints: $(STAMP)
	$(BIN)/python .ci/pins.py freeze --extra dev > constraints/ci.txt

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/crsscore demo --out $(DEMO_OUT)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

test: lint typecheck pytest

clean:
	rm -rf $(VENV) $(VENV_MIN) $(DEMO_OUT) .pytest_cache .mypy_cache .ruff_cache
