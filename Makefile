# fleet: the two commands of the README's Quick start, and the pieces they use.
# Needs only Python >= 3.11, git and make; everything else goes into .venv.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test lint typecheck layers unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "fleet needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@# pykustomize is the in-process Kustomize; its wheel declares Python >= 3.14 but
	@# works on 3.11 (see docs/dependencies). Without it fleet falls back to a binary.
	-$(BIN)/python -m pip install --quiet --ignore-requires-python 'pykustomize==0.1.4'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/fleet demo

lint: $(STAMP)
	$(BIN)/ruff check fleet tests bench
	$(BIN)/ruff format --check fleet tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

# The engine's line coverage must stay at 95 % or more (issue 3).
unit: $(STAMP)
	$(BIN)/pytest --cov=fleet/engine --cov-report=term:skip-covered --cov-fail-under=95

test: lint typecheck layers unit

bench: $(STAMP)
	$(BIN)/python -m bench.all

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
