"""A quiet build log: the informational start-up lines of three extensions are off.

At start-up myst-parser and myst-nb each log their whole configuration (two
lines of about 1,500 characters), myst-nb adds "Using jupyter-cache at ...",
a cache that the book's ``execute_notebooks: force`` never reads, and
sphinx-multitoc-numbering logs "Loaded". None of it says anything about the
book. This extension raises the level of exactly those modules' loggers to
WARNING, so their warnings and errors still reach the (strict) build; every
other line of the log is untouched.

The kernel's own start-up warning is silenced elsewhere, by the kernel's
configuration (``_ext/ipython_kernel_config.py``, installed into the virtual
environment by ``make``).
"""

from __future__ import annotations

import logging
from typing import Any

from sphinx.application import Sphinx

# Sphinx's loggers are "sphinx." + the module name (sphinx.util.logging.getLogger).
QUIET_MODULES = (
    "myst_parser.sphinx_ext.main",  # "myst v3...: MdParserConfig(...)"
    "myst_nb.sphinx_ext",  # "myst-nb v1...: NbParserConfig(...)", "Using jupyter-cache at ..."
    "sphinx_multitoc_numbering",  # "sphinx-multitoc-numbering v0...: Loaded"
)


def setup(app: Sphinx) -> dict[str, Any]:
    for module in QUIET_MODULES:
        logging.getLogger(f"sphinx.{module}").setLevel(logging.WARNING)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
