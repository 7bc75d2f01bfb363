"""Every figure of the book, registered by name.

A figure function takes keyword arguments only (all with defaults, the
book's settings) and returns a :class:`Figure`: the matplotlib figure and
the numbers behind it. The chapters call these functions and glue the
numbers into the prose; ``python -m dspgd reproduce`` calls the same
functions, so the book and the command line cannot drift apart.
"""

from __future__ import annotations

import base64
import importlib
import io
import pkgutil
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import matplotlib.figure

__all__ = ["Figure", "Entry", "register", "REGISTRY", "get", "names", "load_all"]


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
        Registry name (set by :func:`register`; empty for an unregistered figure).
    kwargs : dict
        The keyword arguments the figure function was called with (empty:
        the book's defaults, which ``python -m dspgd reproduce`` uses too).
    """

    fig: matplotlib.figure.Figure
    data: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def entry(self) -> Entry | None:
        """The registry entry of this figure (``None`` if it is not registered)."""
        return REGISTRY.get(self.name) if self.name else None

    def glue(self, key: str, prefix: str | None = None) -> None:
        """Glue the figure under ``key`` and every scalar of :attr:`data` under ``prefix``.

        One call per figure in a chapter: ``out.glue("fig-ch10-small-step", "ch10")``
        glues the figure as ``fig-ch10-small-step`` (place it with
        ``{glue:figure}``) and, for example, ``data["methods"]["adam"]["slope"]``
        as ``ch10-methods-adam-slope`` (quote it with ``{glue:text}``); the
        naming rule is that of :mod:`dspgd.gluing`.

        In the book build the figure is glued, not shown in the cell; a
        registered figure is also saved (PNG, PDF and its numbers) for the
        site, and the glued output carries what the page needs to describe it
        (alt text, the function, the command that regenerates it). Outside the
        build (a reader running the chapter), the figure is shown inline and
        nothing is glued. Either way the figure is then closed, so that it is
        not shown a second time.

        Parameters
        ----------
        key : str
            The figure's glue name.
        prefix : str, optional
            Prefix of the names of the scalars; default ``key``. The names
            glued are those of ``dspgd.gluing.flatten(self.data, prefix)``.
        """
        import matplotlib.pyplot as plt

        from .. import gluing

        gluing.glue_values(key if prefix is None else prefix, self.data)
        if gluing.in_book_build():
            _glue_in_book(self, key)
        else:
            gluing.show(self.fig)
        plt.close(self.fig)


def _glue_in_book(out: Figure, key: str) -> None:
    """Glue ``out.fig`` as myst-nb does, with the figure's description in the output's metadata."""
    import IPython
    from IPython.core.pylabtools import print_figure
    from IPython.display import display
    from myst_nb.ext.glue import GLUE_PREFIX

    from ..reproduce import PNG_DPI

    metadata: dict[str, Any] = {"scrapbook": {"name": key, "mime_prefix": GLUE_PREFIX}}
    entry, png = out.entry, None
    if entry is not None:
        shell = IPython.get_ipython()  # None outside a kernel
        metadata["dspgd"] = {
            "figure": entry.name,
            "title": entry.title,
            "alt": entry.alt,
            "function": entry.qualname,
            "command": entry.command if not out.kwargs else None,
            "arguments": sorted(out.kwargs),
            # the running cell's number: IPython counts the cell before running it
            "execution_count": shell.execution_count - 1 if shell is not None else None,
        }
        # saved before anything else draws the figure: the files are then exactly
        # those that `python -m dspgd reproduce` writes
        png = _save_for_site(out, entry)
    if entry is not None and png is not None:
        # the page shows the saved PNG at the size of the inline figure (sharper, and one drawing fewer)
        data = png.read_bytes()
        width = struct.unpack(">I", data[16:20])[0]
        # the width only: a fixed height would stretch the image on a narrow screen
        metadata["image/png"] = {"width": round(width * out.fig.dpi / PNG_DPI)}
        image = base64.b64encode(data).decode("ascii")
    else:
        # what Jupyter's inline backend shows, whatever the backend of this process
        image = print_figure(out.fig, "png", bbox_inches="tight", base64=True)
    # the same figure as a vector PDF, which the LaTeX builder of the PDF edition picks (the
    # HTML pages use the PNG); the saved file where there is one, else drawn cropped like the
    # PNG, without a creation date so that two builds give the same bytes
    pdf = png.with_suffix(".pdf") if png is not None else None
    if pdf is not None and pdf.is_file():
        pdf_bytes = pdf.read_bytes()
    else:
        buf = io.BytesIO()
        out.fig.savefig(buf, format="pdf", bbox_inches="tight", metadata={"CreationDate": None})
        pdf_bytes = buf.getvalue()
    bundle = {"image/png": image, "application/pdf": base64.b64encode(pdf_bytes).decode("ascii"),
              "text/plain": repr(out.fig)}
    display({GLUE_PREFIX + k: v for k, v in bundle.items()}, raw=True, metadata=metadata)


def _save_for_site(out: Figure, entry: Entry) -> Path | None:
    """Save a registered figure and its numbers where the book's extension publishes them; the PNG's path."""
    from .. import gluing
    from ..reproduce import _save, dumps, to_jsonable

    where = gluing.figure_dir()
    if where is None:
        return None
    folder = Path(where)
    folder.mkdir(parents=True, exist_ok=True)
    files = _save(out.fig, folder / entry.name)
    record = entry.record()
    record.update(files=[f.name for f in files], arguments=to_jsonable(out.kwargs),
                  data=to_jsonable(out.data, f"figure {entry.name!r} data"))
    (folder / f"{entry.name}.json").write_text(dumps(record), encoding="utf-8")
    return folder / f"{entry.name}.png"


@dataclass(frozen=True)
class Entry:
    """A registered figure: its name, function, chapter, title and alt text."""

    name: str
    func: Callable[..., Figure]
    chapter: str
    title: str
    alt: str = ""

    @property
    def qualname(self) -> str:
        """The figure function's full name, ``dspgd.figures.module.function``."""
        return f"{self.func.__module__}.{self.func.__name__}"

    @property
    def command(self) -> str:
        """The shell command that regenerates this figure with the book's settings."""
        return f"python -m dspgd reproduce --only {self.name}"

    def record(self) -> dict[str, Any]:
        """What the figures manifest says about this figure (without its files and numbers)."""
        return {"chapter": self.chapter, "title": self.title, "alt": self.alt,
                "function": self.qualname, "command": self.command}


REGISTRY: dict[str, Entry] = {}


def _check_alt(name: str, title: str, alt: str | None) -> str:
    if alt is None:
        return title
    alt = " ".join(alt.split())
    if not alt or alt[-1] not in ".!?":
        raise ValueError(f"figure {name!r}: alt must be a sentence ending with a full stop, got {alt!r}")
    return alt


def register(name: str, chapter: str, title: str,
             alt: str | None = None) -> Callable[[Callable[..., Figure]], Callable[..., Figure]]:
    """Register a figure function under ``name`` (unique across the book).

    Parameters
    ----------
    name : str
        The figure's name (``python -m dspgd reproduce --only NAME``).
    chapter : str
        The page that shows it, e.g. ``"chapters/10_small_step"``.
    title : str
        A short title (the figure list of ``reproduce --list``).
    alt : str
        One sentence saying what the figure shows, for readers who cannot see
        it (the image's alt text on the page). Default: ``title``, allowed
        only for figures outside the book (the tests check that every
        figure of the book has its own sentence).

    Raises
    ------
    ValueError
        If ``alt`` is given but is not a sentence (it must end with ``.``,
        ``!`` or ``?``), or ``name`` is registered twice.
    """
    alt = _check_alt(name, title, alt)

    def deco(func: Callable[..., Figure]) -> Callable[..., Figure]:
        if name in REGISTRY and REGISTRY[name].func.__qualname__ != func.__qualname__:
            raise ValueError(f"figure name {name!r} is registered twice")

        def wrapped(**kw: Any) -> Figure:
            out = func(**kw)
            if not isinstance(out, Figure):
                raise TypeError(f"figure function {name!r} must return a dspgd.figures.Figure")
            out.name = name
            out.kwargs = dict(kw)
            return out

        wrapped.__name__ = func.__name__
        wrapped.__qualname__ = func.__qualname__
        wrapped.__module__ = func.__module__
        wrapped.__doc__ = func.__doc__
        wrapped.__wrapped__ = func  # type: ignore[attr-defined]
        REGISTRY[name] = Entry(name, wrapped, chapter, title, alt)
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
