"""Every figure of the book, registered by name.

A figure function takes keyword arguments only (all with defaults, the
book's settings) and returns a :class:`Figure`: the matplotlib figure and
the numbers behind it. The chapters call these functions and glue the
numbers into the prose; ``python -m dspgd reproduce`` calls the same
functions, so the book and the command line cannot drift apart.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable

import matplotlib.figure

__all__ = ["Figure", "register", "REGISTRY", "get", "names", "load_all"]


@dataclass
class Figure:
    """A figure and the numbers behind it.

    Attributes
    ----------
    fig : matplotlib.figure.Figure
    data : dict
        JSON-serializable numbers (floats, ints, strings, lists, dicts) that
        the figure shows and the prose quotes.
    name : str
        Registry name.
    """

    fig: matplotlib.figure.Figure
    data: dict[str, Any] = field(default_factory=dict)
    name: str = ""

    def glue(self, key: str) -> None:
        """Glue the figure into a book page under ``key`` and close it.

        Use ``{glue:figure}`` with ``key`` in the page to place it; closing
        stops the notebook from showing it a second time. The glued output
        holds what the notebook shows (a PNG, used by the HTML pages) and the
        same figure as a vector PDF, which the LaTeX builder of the PDF
        edition picks instead.
        """
        import matplotlib.pyplot as plt
        from myst_nb import glue

        glue(key, _WithPdf(self.fig), display=False)
        plt.close(self.fig)


class _WithPdf:
    """A matplotlib figure's display data plus the figure as a PDF."""

    def __init__(self, fig: matplotlib.figure.Figure) -> None:
        self.fig = fig

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> tuple[dict, dict]:
        import io

        from IPython.core.formatters import format_display_data

        data, metadata = format_display_data(self.fig)
        buf = io.BytesIO()
        # cropped like the notebook's PNG; no creation date, so two builds give the same bytes
        self.fig.savefig(buf, format="pdf", bbox_inches="tight", metadata={"CreationDate": None})
        data["application/pdf"] = buf.getvalue()
        return data, metadata


@dataclass(frozen=True)
class Entry:
    name: str
    func: Callable[..., Figure]
    chapter: str
    title: str

    @property
    def qualname(self) -> str:
        return f"{self.func.__module__}.{self.func.__name__}"


REGISTRY: dict[str, Entry] = {}


def register(name: str, chapter: str, title: str) -> Callable[[Callable[..., Figure]], Callable[..., Figure]]:
    """Register a figure function under ``name`` (unique across the book)."""

    def deco(func: Callable[..., Figure]) -> Callable[..., Figure]:
        if name in REGISTRY and REGISTRY[name].func.__qualname__ != func.__qualname__:
            raise ValueError(f"figure name {name!r} is registered twice")

        def wrapped(**kw: Any) -> Figure:
            out = func(**kw)
            if not isinstance(out, Figure):
                raise TypeError(f"figure function {name!r} must return a dspgd.figures.Figure")
            out.name = name
            return out

        wrapped.__name__ = func.__name__
        wrapped.__qualname__ = func.__qualname__
        wrapped.__module__ = func.__module__
        wrapped.__doc__ = func.__doc__
        wrapped.__wrapped__ = func  # type: ignore[attr-defined]
        REGISTRY[name] = Entry(name, wrapped, chapter, title)
        return wrapped

    return deco


def load_all() -> dict[str, Entry]:
    """Import every figure module so that the registry is complete."""
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")
    return REGISTRY


def names() -> list[str]:
    """All registered figure names, sorted."""
    return sorted(load_all())


def get(name: str) -> Callable[..., Figure]:
    """The figure function registered as ``name``."""
    reg = load_all()
    if name not in reg:
        raise KeyError(f"unknown figure {name!r}; known figures: {', '.join(sorted(reg))}")
    return reg[name].func
