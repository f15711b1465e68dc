# The two commands the README names: `make demo` and `make test`.
# Each sets everything up on a fresh machine with Python 3.11+.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck check bench clean system-libs

# WeasyPrint (receipts) needs pango, harfbuzz and a font from the system. Installed with
# apt-get when missing and we may; otherwise the PDF tests say why they skip.
SYSTEM_LIBS := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core

$(STAMP): setup.py setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "conservancy needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check --editable '.[dev]'
	touch $(STAMP)

system-libs: $(STAMP)
	@$(BIN)/python -W error::DeprecationWarning -c 'import weasyprint' 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing $(SYSTEM_LIBS) for WeasyPrint"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_LIBS) >/dev/null; \
	  else \
	    echo "note: WeasyPrint lacks system libraries; install $(SYSTEM_LIBS) (receipt PDFs need them, and harfbuzz-subset makes them 4x faster)"; \
	  fi; }

demo: system-libs
	CONSERVANCY_ENV=demo $(BIN)/conservancy demo

# One test process per core (pytest-xdist): each has its own PostgreSQL database and
# temp dirs, and the suite takes about half as long on two cores.
test: system-libs
	$(BIN)/pytest -n auto

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
