# Two commands on a fresh clone:
#   make book   create .venv, install, build the HTML book into _build/html
#   make test   create .venv if needed, run the unit tests, then build the book
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: book test unit bench clean

$(STAMP): requirements.txt pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going

unit: $(STAMP)
	$(BIN)/python -m pytest -q

test: unit book

bench: $(STAMP)
	$(BIN)/python benchmarks/sweep.py

clean:
	rm -rf _build
