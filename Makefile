# The two commands the README names: `make demo` and `make test`.
# Each sets everything up on a fresh machine with Python 3.11+.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck check bench clean

$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "conservancy needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check --editable '.[dev]' --config-settings editable_mode=compat
	touch $(STAMP)

demo: $(STAMP)
	CONSERVANCY_ENV=demo $(BIN)/conservancy demo

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict conservancy

check: test lint typecheck

bench: $(STAMP)
	$(BIN)/python -m bench.ledger_reader

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
