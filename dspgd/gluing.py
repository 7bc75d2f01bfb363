"""Glue numbers and figures into the book's pages; show them when a chapter runs in Jupyter.

A chapter computes its numbers in code cells and quotes them in the prose
with ``{glue:text}`` roles (myst-nb's *glue*). This module is the chapters'
one entry point for gluing, and it behaves differently in the two places a
chapter runs:

* **In the book build** (the book's Sphinx extension sets the environment
  variable :data:`BOOK_BUILD_ENV`, which the build's kernels inherit), it
  glues exactly as ``myst_nb.glue`` does, so that the page can paste the
  values and figures where the prose places them.
* **Anywhere else** (a reader running the chapter in Jupyter, or the
  notebook downloaded from the book), nothing is glued: a glue output would
  show in JupyterLab as "No renderer could be found". Figures are displayed
  inline instead, and the values are kept in :data:`GLUED` (see
  :func:`glued`), so a reader can look at them.

Naming rule of :func:`glue_values` (and of :meth:`dspgd.figures.Figure.glue`):
a value at the key path ``k1, k2, ..., km`` of a nested dict is glued as
``prefix-k1-k2-...-km``. Each key is written as ``str(key)`` with every
character other than ASCII letters, digits, ``.``, ``_`` and ``-``
replaced by ``_`` (a glue name must not contain ``:``, which starts the
format spec of ``{glue:text}``, nor spaces or backticks). Only scalars are
glued: ``int``, ``float``, ``bool``, ``str`` and their numpy counterparts
(converted to Python scalars, so that format specs such as ``:.3f`` apply).
Lists, arrays and ``None`` are skipped: quote a list's entry by gluing it
explicitly. Two paths that map to the same name raise ``ValueError``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "BOOK_BUILD_ENV",
    "FIGURE_DIR_ENV",
    "GLUED",
    "in_book_build",
    "figure_dir",
    "flatten",
    "glue",
    "glue_values",
    "glued",
    "show",
]

#: Set (to any non-empty value) by the book's Sphinx extension in the build's
#: process; the kernels that execute the chapters inherit it.
BOOK_BUILD_ENV = "DSPGD_BOOK_BUILD"

#: Directory where, in the book build, every glued registered figure is saved
#: (PNG and PDF) with its numbers (JSON), to be published with the site.
FIGURE_DIR_ENV = "DSPGD_FIGURE_DIR"

#: Values glued in this process outside the book build, by name.
GLUED: dict[str, Any] = {}

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def in_book_build() -> bool:
    """Whether this process runs inside the book build (see :data:`BOOK_BUILD_ENV`)."""
    return bool(os.environ.get(BOOK_BUILD_ENV))


def figure_dir() -> str | None:
    """The directory of :data:`FIGURE_DIR_ENV` in the book build, else ``None``."""
    path = os.environ.get(FIGURE_DIR_ENV)
    return path if path and in_book_build() else None


def _scalar(value: Any) -> Any:
    """``value`` as a Python scalar, or ``None`` if it is not a scalar."""
    import numpy as np

    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, str):
        return value
    return None


def _part(key: Any) -> str:
    part = _UNSAFE.sub("_", str(key))
    if not part:
        raise ValueError(f"empty key {key!r} cannot be part of a glue name")
    return part


def flatten(data: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """Every scalar of a nested dict, under the names of the module's naming rule.

    Parameters
    ----------
    data : mapping
        Nested dicts whose leaves are scalars, lists, arrays or ``None``.
    prefix : str
        The first part of every name (itself subject to the naming rule).

    Returns
    -------
    dict
        ``{"prefix-k1-...-km": scalar}`` in the order of ``data``.

    Raises
    ------
    ValueError
        If two key paths give the same name, or a key is empty.
    TypeError
        If ``data`` is not a mapping.
    """
    if not isinstance(data, Mapping):
        raise TypeError(f"flatten needs a mapping, got {type(data).__name__}")
    out: dict[str, Any] = {}
    where: dict[str, tuple] = {}

    def walk(node: Mapping[str, Any], name: str, path: tuple) -> None:
        for key, value in node.items():
            sub, p = f"{name}-{_part(key)}", path + (key,)
            if isinstance(value, Mapping):
                walk(value, sub, p)
                continue
            scalar = _scalar(value)
            if scalar is None:
                continue
            if sub in out:
                raise ValueError(f"glue name {sub!r} is given by two key paths: {where[sub]!r} and {p!r}")
            out[sub], where[sub] = scalar, p

    walk(data, _part(prefix), ())
    return out


def glue(name: str, value: Any, display: bool = True) -> None:
    """Glue ``value`` under ``name`` in the book build; elsewhere keep (and maybe show) it.

    A drop-in replacement for ``myst_nb.glue``, with the same arguments.

    Parameters
    ----------
    name : str
        The glue name, used in the page as ``{glue:text}`name```.
    value : object
        A scalar, a string, a table, a figure: anything Jupyter can display.
    display : bool
        Also show the value as an output of the cell (in the book build, on
        the page too).
    """
    scalar = _scalar(value)
    value = value if scalar is None else scalar
    if in_book_build():
        from myst_nb import glue as nb_glue

        nb_glue(name, value, display=display)
        return
    GLUED[name] = value
    if display:
        show(value)


def glue_values(prefix: str, data: Mapping[str, Any]) -> None:
    """Glue every scalar of ``data`` (nested dicts allowed) under ``prefix``, not displayed.

    Parameters
    ----------
    prefix : str
        For example ``"ch10"``: ``data["n"]`` is glued as ``ch10-n`` and
        ``data["methods"]["adam"]["slope"]`` as ``ch10-methods-adam-slope``.
    data : mapping
        See :func:`flatten` for what is glued and how names are formed
        (``flatten(data, prefix)`` lists them). Nothing is returned, so that
        a call ending a cell adds no output to it.
    """
    for name, value in flatten(data, prefix).items():
        glue(name, value, display=False)


def glued(prefix: str = "") -> dict[str, Any]:
    """The values glued so far in this process outside the book build whose names start with ``prefix``."""
    return {k: v for k, v in GLUED.items() if k.startswith(prefix)}


def show(value: Any) -> None:
    """Display ``value`` as a cell output when running under IPython; do nothing otherwise."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the book, not of the package
        return
    if get_ipython() is None:
        return
    from IPython.display import display

    display(value)
