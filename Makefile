# The front door: `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench install clean qt-deps screenshots

run: $(STAMP)
	$(BIN)/modelproxy serve

test: $(STAMP) qt-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

qt-deps:
	bash .ci/qt-deps

lint: $(STAMP)
	$(BIN)/ruff check app server gui tests

install: $(STAMP)

# Reinstall whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[gui,dev]'
	touch $(STAMP)

bench: $(STAMP)
	$(BIN)/python tests/bench/run.py

# One PNG per page of the window (and the new-token dialog) in docs/screenshots/.
screenshots: $(STAMP) qt-deps
	QT_QPA_PLATFORM=offscreen $(BIN)/python tests/screenshots.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
