# Two commands on a fresh clone:
#   make book   create .venv, install, build the HTML book into _build/html (always re-executes every chapter)
#   make test   unit tests; the book, rebuilt only if a source changed since it was last built;
#               the PDF edition (where TeX Live is installed); every page in headless Chromium
# and the PDF edition (needs TeX Live, see README.md):
#   make pdf    _build/latex/dspgd-book.pdf, also copied to _build/html/dspgd-book.pdf
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST := $(BIN)/python -m pytest -q
JB     := $(BIN)/jupyter-book build . -W -n --keep-going
# the configuration of the kernels that execute the chapters (see the file)
KERNEL_CONFIG := $(VENV)/etc/ipython/ipython_kernel_config.py

# What the book is built from. The stamp records a build that succeeded; it is
# dated from the start of that build, so an edit made while it ran counts as newer.
BOOK_SOURCES := intro.md references.bib _toc.yml _config.yml \
	$(wildcard chapters/*.md) \
	$(shell find dspgd _static _ext -type f -not -path '*/__pycache__/*' -not -name '*.pyc' 2>/dev/null)
BOOK_STAMP := _build/.book-stamp

# The PDF edition: Sphinx's LaTeX builder on the doctrees of the HTML build, XeLaTeX through latexmk.
PDF_NAME := dspgd-book.pdf
PDF      := _build/latex/$(PDF_NAME)
SITE_PDF := _build/html/$(PDF_NAME)
TEX_PACKAGES := texlive-xetex texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended fonts-freefont-otf latexmk
HAVE_TEX := command -v xelatex >/dev/null 2>&1 && command -v latexmk >/dev/null 2>&1

.PHONY: book test unit browser pdf figures bench clean print-tex-packages lab

$(STAMP): requirements.txt pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@echo "Installing the book's Python packages (requirements.txt, pinned) into $(VENV): about a minute ..."
	@$(BIN)/python -m pip install --quiet --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

$(KERNEL_CONFIG): _ext/ipython_kernel_config.py $(STAMP)
	@mkdir -p $(dir $@)
	@cp $< $@

# --all: every chapter is re-read and re-executed, so the book always shows
# what the current package computes (a package change does not mark a page outdated)
book: $(STAMP) $(KERNEL_CONFIG)
	@mkdir -p _build
	@touch $(BOOK_STAMP).new
	$(JB) --all
	@mv $(BOOK_STAMP).new $(BOOK_STAMP)

$(BOOK_STAMP): $(STAMP) $(KERNEL_CONFIG) $(BOOK_SOURCES)
	@$(MAKE) --no-print-directory book

unit: $(STAMP)
	$(PYTEST) -m "not book"

# needs the built book and Chromium (apt-get install chromium)
browser: $(STAMP)
	$(PYTEST) -m book

pdf: $(SITE_PDF)

$(SITE_PDF): $(BOOK_STAMP)
	@$(HAVE_TEX) || { echo "make pdf needs XeLaTeX and latexmk (TeX Live): apt-get install --no-install-recommends $(TEX_PACKAGES)"; exit 1; }
	@echo "The PDF edition: LaTeX from the doctrees of the HTML build (nothing is executed again), then XeLaTeX ..."
	$(JB) --builder latex --quiet
	@echo "XeLaTeX (latexmk, in _build/latex; its output in _build/latex/latexmk.out) ..."
	@$(MAKE) --no-print-directory -C _build/latex $(PDF_NAME) LATEXMKOPTS="-silent" \
	  LATEXOPTS="-interaction=batchmode -halt-on-error" > _build/latex/latexmk.out 2>&1 \
	  || { grep -A4 '^!' $(PDF:.pdf=.log) | head -30; echo "XeLaTeX failed: see $(PDF:.pdf=.log)"; exit 1; }
	@cp $(PDF) $(SITE_PDF)
	@echo "The PDF edition: $(PDF), $$(grep -o '[0-9]* pages' $(PDF:.pdf=.log) | tail -1), $$(du -k $(PDF) | cut -f1) kB; linked from the book as $(SITE_PDF)"

# The book is rebuilt here only if a source is newer than the last build (make
# book always rebuilds). The PDF edition is built where TeX Live is installed,
# and always in CI (CI set), where a missing TeX Live is an error.
test: $(STAMP)
	@$(MAKE) --no-print-directory unit
	@if $(MAKE) -q $(BOOK_STAMP) 2>/dev/null; then \
	  echo "The book in _build/html is up to date with its sources: not rebuilt (make book rebuilds it)."; \
	else $(MAKE) --no-print-directory book; fi
	@if $(HAVE_TEX); then $(MAKE) --no-print-directory pdf; \
	elif [ -n "$$CI" ]; then echo "CI builds the PDF edition, but XeLaTeX/latexmk are missing: apt-get install --no-install-recommends $(TEX_PACKAGES)"; exit 1; \
	else echo "Skipped the PDF edition (make pdf): TeX Live is not installed (apt-get install --no-install-recommends $(TEX_PACKAGES))."; fi
	@$(MAKE) --no-print-directory browser

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

# the Debian packages of TeX Live that make pdf needs (.ci/run installs them)
print-tex-packages:
	@echo $(TEX_PACKAGES)
