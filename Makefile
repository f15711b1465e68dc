# The two commands the README names: `make demo` and `make test`.
# Each sets everything up on a fresh machine with Python 3.11+.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/pip --disable-pip-version-check
CONSTRAINTS := requirements/constraints.txt

.PHONY: demo test test-fast lint typecheck check bench clean system-libs constraints upgrade

# WeasyPrint (receipts) needs pango, harfbuzz and a font from the system. Installed with
# apt-get when missing and we may; otherwise the PDF tests say why they skip.
SYSTEM_LIBS := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
# Noto, so that a name in any script prints on a receipt (Chinese, Japanese and Korean from
# fonts-noto-cjk; Arabic, Devanagari and most others from fonts-noto-core), not as boxes.
FONTS := fonts-noto-core fonts-noto-cjk

# The venv holds exactly the tested set in requirements/constraints.txt (pinned, with hashes:
# pip refuses any file whose hash is not listed there), pip, setuptools and wheel included;
# then the project itself, editable, with nothing more fetched. `pip check` catches a setup.cfg
# that asks for more than the constraints hold: `make constraints` re-compiles them.
$(STAMP): setup.py setup.cfg pyproject.toml $(CONSTRAINTS)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "conservancy needs Python 3.11 or newer")'
	$(PYTHON) -m venv --clear $(VENV)
	$(PIP) install --quiet --require-hashes --no-deps --requirement $(CONSTRAINTS)
	$(PIP) install --quiet --no-deps --no-build-isolation --editable .
	@$(PIP) check >/dev/null || { $(PIP) check; \
	  echo "$(CONSTRAINTS) does not cover setup.cfg: run 'make constraints' (README, Upgrading dependencies)"; exit 1; }
	touch $(STAMP)

# Re-compile the constraints from setup.cfg (with the dev extra) and requirements/build.in, for
# Python 3.11 on Linux x86_64. `make constraints` keeps today's pins where they still fit and adds
# what is new; `make upgrade` moves every package to its newest release that setup.cfg allows.
# requirements/production.txt is the same set without the dev extra (the README's production
# install), held to the same releases.
UV = $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-unknown-linux-gnu --custom-compile-command 'make constraints'
UV_COMPILE = $(UV) --extra dev setup.cfg requirements/build.in --output-file $(CONSTRAINTS)
UV_PRODUCTION = $(UV) setup.cfg requirements/build.in --constraint $(CONSTRAINTS) \
	--output-file requirements/production.txt

# uv comes from the venv; when setup.cfg has just asked for something new, the venv's `pip check`
# fails, but uv is installed by then, and this is what mends it.
UV_READY = test -x $(BIN)/uv || $(MAKE) --no-print-directory $(STAMP) || test -x $(BIN)/uv

constraints:
	@$(UV_READY)
	$(UV_COMPILE)
	$(UV_PRODUCTION)

upgrade:
	@$(UV_READY)
	$(UV_COMPILE) --upgrade
	$(UV_PRODUCTION) --upgrade

system-libs: $(STAMP)
	@$(BIN)/python -W error::DeprecationWarning -c 'import weasyprint' 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing $(SYSTEM_LIBS) for WeasyPrint"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_LIBS) >/dev/null; \
	  else \
	    echo "note: WeasyPrint lacks system libraries; install $(SYSTEM_LIBS) (receipt PDFs need them, and harfbuzz-subset makes them 4x faster)"; \
	  fi; }
	@fc-list 2>/dev/null | grep -q "Noto Sans CJK" || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing $(FONTS) for receipts in every script"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(FONTS) >/dev/null; \
	  else \
	    echo "note: install $(FONTS), or names in scripts DejaVu lacks print as boxes on receipts"; \
	  fi; }

demo: system-libs
	CONSERVANCY_ENV=demo $(BIN)/conservancy demo

# One test process per core and one more (pytest-xdist), each with its own PostgreSQL database
# and temp dirs. A test waiting on a server it started, a subprocess or the stand-in leaves its
# core idle, and the spare process takes it: on the 2-core VM three ran the suite in 7:34 where
# two took 8:14. With worksteal, a process that runs out takes tests queued for another, so
# they all end together. `make test TEST_WORKERS=1` runs one.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
test: system-libs
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal

# The inner loop: SQLite only, without the tests that spawn processes, drive a browser or
# run a whole year. `make test-fast ARGS=--lf` runs what failed last; ARGS=tests/staff a folder.
test-fast: system-libs
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal -m "not postgresql and not slow and not browser" $(ARGS)

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
