# Two commands on a fresh clone:
#   make book   create .venv, install, build the HTML book into _build/html
#   make test   unit tests, then the book (strict), then every page in headless Chromium
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST := $(BIN)/python -m pytest -q

.PHONY: book test unit browser figures bench clean lab

$(STAMP): requirements.txt pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# --all: every chapter is re-read and re-executed, so the book always shows
# what the current package computes (a package change does not mark a page outdated)
book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going --all

unit: $(STAMP)
	$(PYTEST) -m "not book"

# needs the built book and Chromium (apt-get install chromium)
browser: $(STAMP)
	$(PYTEST) -m book

test: $(STAMP)
	$(MAKE) unit
	$(MAKE) book
	$(MAKE) browser

# every figure as PNG and PDF, and the numbers behind them, into figs/
figures: $(STAMP)
	$(BIN)/python -m dspgd reproduce --out figs

bench: $(STAMP)
	$(BIN)/python benchmarks/sweep.py

# JupyterLab, with the chapters' .md files opening as notebooks (jupytext).
# Options go to `jupyter lab`, e.g. make lab LAB_ARGS="--no-browser --port 8899"
LAB_STAMP := $(VENV)/.lab-installed
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json

$(LAB_STAMP): $(STAMP) requirements-lab.txt
	@echo "installing JupyterLab, jupytext and ipywidgets (requirements-lab.txt) into $(VENV)"
	$(BIN)/python -m pip install --quiet -r requirements-lab.txt
	mkdir -p $(dir $(LAB_SETTINGS))
	printf '%s\n' '{"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"markdown": "Jupytext Notebook", "myst": "Jupytext Notebook"}}}' > $(LAB_SETTINGS)
	touch $(LAB_STAMP)

lab: $(LAB_STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir=. $(LAB_ARGS)

clean:
	rm -rf _build
