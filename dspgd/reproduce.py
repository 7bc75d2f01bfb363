"""Regenerate the book's figures from the command line, without building the book.

``python -m dspgd reproduce`` calls every registered figure function of
:mod:`dspgd.figures` with its defaults (the book's settings), saves each figure
as PNG and PDF, and writes the numbers behind them to ``figures.json``.

``figures.json`` is the mark of a finished run: a run first removes the
``figures.json`` of an earlier run in the same directory, writes every file
under a temporary name and renames it into place (so no file is ever left
half written), and writes ``figures.json`` last. A run that fails or is
interrupted therefore leaves no manifest that would describe figures it did
not finish.

The output is deterministic: the experiments use fixed seeds, the JSON has
sorted keys, floats are written with at most :data:`SIGNIFICANT_DIGITS`
significant digits, and neither the JSON nor the PDF carries a timestamp, so
two runs on the same software write byte-identical files.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Sequence

__all__ = [
    "ReproduceError",
    "FigureFailed",
    "WriteFailed",
    "MANIFEST",
    "SIGNIFICANT_DIGITS",
    "FORMATS",
    "PNG_DPI",
    "Produced",
    "to_jsonable",
    "dumps",
    "select",
    "prepare_out",
    "reproduce",
    "list_figures",
]

#: Significant digits kept for every float in ``figures.json``.
SIGNIFICANT_DIGITS = 12

#: File formats written for every figure.
FORMATS = ("png", "pdf")

#: Dots per inch of the PNGs, twice the 110 dpi of the figures on the book's
#: pages, so that a figure enlarged on a phone stays legible.
PNG_DPI = 220

#: Packages whose versions are recorded in ``figures.json``.
_SOFTWARE = ("dspgd", "numpy", "scipy", "matplotlib", "seaborn")

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ReproduceError(Exception):
    """A problem with the request (an unknown figure, an unusable directory)."""


class FigureFailed(RuntimeError):
    """A figure function raised, or returned numbers that are not JSON-serializable."""


class WriteFailed(OSError):
    """A file could not be written; the message names its path."""


#: Name of the manifest, written last by a run that finished.
MANIFEST = "figures.json"


@dataclass
class Produced:
    """What :func:`reproduce` wrote.

    Attributes
    ----------
    out : pathlib.Path
        The output directory.
    files : list of pathlib.Path
        Every file written, ``figures.json`` last.
    seconds : dict
        Wall-clock seconds spent on each figure, by name (not written to disk:
        it differs from run to run).
    """

    out: Path
    files: list[Path] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def _round(x: float) -> float | str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return 0.0
    return float(f"{x:.{SIGNIFICANT_DIGITS}g}")


def to_jsonable(obj: Any, where: str = "data") -> Any:
    """A copy of ``obj`` made of JSON types only, with floats rounded.

    Parameters
    ----------
    obj : object
        Nested dicts, lists and tuples of strings, booleans, integers, floats,
        ``None``, numpy scalars and numpy arrays.
    where : str
        Where ``obj`` sits, for error messages.

    Returns
    -------
    object
        Dicts (with string keys), lists, strings, booleans, integers, floats
        rounded to :data:`SIGNIFICANT_DIGITS` significant digits and ``None``.
        Non-finite floats become the strings ``"NaN"``, ``"Infinity"`` and
        ``"-Infinity"``.

    Raises
    ------
    TypeError
        For any other type, naming where it sits.
    """
    import numpy as np

    if obj is None or isinstance(obj, (str, bool)):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _round(float(obj))
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist(), where)
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, (str, int, np.integer)):
                raise TypeError(f"{where}: key {k!r} is a {type(k).__name__}; use str keys")
            out[str(k)] = to_jsonable(v, f"{where}[{k!r}]")
        return out
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    raise TypeError(f"{where} is a {type(obj).__name__}, which is not JSON-serializable")


def dumps(obj: Any) -> str:
    """Canonical JSON text of ``obj``: sorted keys, two-space indent, final newline."""
    return json.dumps(to_jsonable(obj), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def select(only: Sequence[str] | None = None) -> list[Any]:
    """The registry entries to produce, in name order.

    Parameters
    ----------
    only : sequence of str, optional
        Figure names; default: every registered figure.

    Returns
    -------
    list of dspgd.figures.Entry

    Raises
    ------
    ReproduceError
        If a name is not registered; the message lists the known names.
    """
    from . import figures

    registry = figures.load_all()
    if not only:
        return [registry[n] for n in sorted(registry)]
    unknown = [n for n in only if n not in registry]
    if unknown:
        known = ", ".join(sorted(registry)) or "(none registered)"
        plural = "s" if len(unknown) > 1 else ""
        raise ReproduceError(
            f"unknown figure{plural} {', '.join(map(repr, unknown))}; known figures: {known}"
        )
    return [registry[n] for n in sorted(set(only))]


def prepare_out(out: str | Path) -> Path:
    """Create the output directory if needed and check that it is writable.

    Raises
    ------
    ReproduceError
        If ``out`` exists and is not a directory, cannot be created, or cannot
        be written to.
    """
    if not isinstance(out, (str, os.PathLike)):
        raise ReproduceError(f"--out must be a directory name, got {out!r}")
    if str(out).strip() == "":
        raise ReproduceError("--out is empty: name a directory (use --out . for the current one)")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ReproduceError(f"--out {str(out)!r} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ReproduceError(f"--out {str(out)!r}: cannot create the directory ({e.strerror or e})") from e
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ReproduceError(f"--out {str(out)!r}: the directory is not writable ({e.strerror or e})") from e
    return path


def _software() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for dist in _SOFTWARE:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return versions


def _atomic_write(path: Path, write: Any) -> Path:
    """Call ``write(tmp)`` on a temporary file next to ``path``, then rename it to ``path``.

    A reader (or an interrupted run) never sees a half-written ``path``.

    Raises
    ------
    WriteFailed
        Naming ``path``, if the file cannot be written or renamed.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as e:
        raise WriteFailed(f"cannot write {path}: {e.strerror or e}") from e
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _save(fig: Any, stem: Path) -> list[Path]:
    """Save ``fig`` as ``stem.png`` and ``stem.pdf`` without timestamps."""
    written = []
    for fmt in FORMATS:
        # A PDF carries its creation date unless told not to; PNGs carry none.
        meta = {"CreationDate": None} if fmt == "pdf" else {}
        extra = {"dpi": PNG_DPI} if fmt == "png" else {}
        written.append(_atomic_write(
            stem.with_suffix(f".{fmt}"),
            lambda tmp, fmt=fmt, meta=meta, extra=extra: fig.savefig(tmp, format=fmt, metadata=meta, **extra)))
    return written


def remove_stale_manifest(path: Path) -> None:
    """Remove the ``figures.json`` of an earlier run in ``path`` (a new run is about to rewrite the figures).

    Raises
    ------
    WriteFailed
        If it cannot be removed.
    """
    manifest = path / MANIFEST
    try:
        manifest.unlink(missing_ok=True)
    except OSError as e:
        raise WriteFailed(f"cannot remove the earlier {manifest}: {e.strerror or e}") from e


def reproduce(
    out: str | Path = "figs",
    only: Sequence[str] | None = None,
    progress: bool = True,
) -> Produced:
    """Regenerate figures as PNG and PDF and write ``figures.json``.

    Parameters
    ----------
    out : str or pathlib.Path
        Output directory, created if needed.
    only : sequence of str, optional
        Names of the figures to produce; default: all. ``figures.json``
        describes exactly the figures produced by this call.
    progress : bool
        Show a progress bar on standard error.

    Returns
    -------
    Produced

    Raises
    ------
    ReproduceError
        For an unknown figure name or an unusable output directory (checked
        before any figure is computed).
    FigureFailed
        If a figure function raises or returns numbers that JSON cannot hold;
        ``figures.json`` is then not written.
    WriteFailed
        If a file cannot be written (the message names it); ``figures.json``
        is then not written.

    Notes
    -----
    An earlier ``figures.json`` in ``out`` is removed before the first
    figure is computed, and the new one is written last, atomically: a run
    that does not finish (an error, Ctrl-C) leaves no manifest.
    """
    import matplotlib.pyplot as plt
    from tqdm.auto import tqdm

    entries = select(only)
    for e in entries:
        if not _SAFE_NAME.match(e.name):
            raise ReproduceError(f"figure name {e.name!r} cannot be used as a file name")
    path = prepare_out(out)
    remove_stale_manifest(path)
    result = Produced(out=path)
    records: dict[str, Any] = {}
    bar = tqdm(entries, desc="figures", unit="fig", disable=not progress, file=sys.stderr)
    for e in bar:
        bar.set_postfix_str(e.name)
        t0 = time.perf_counter()
        try:
            produced = e.func()
            data = to_jsonable(produced.data, f"figure {e.name!r} data")
        except Exception as exc:
            bar.close()
            raise FigureFailed(f"figure {e.name!r} ({e.qualname}) failed: {type(exc).__name__}: {exc}") from exc
        try:
            files = _save(produced.fig, path / e.name)
        except WriteFailed:
            bar.close()
            raise
        finally:
            plt.close(produced.fig)
        result.seconds[e.name] = time.perf_counter() - t0
        result.files += files
        records[e.name] = {**e.record(), "files": [f.name for f in files], "data": data}
    bar.close()
    text = dumps({"figures": records, "software": _software()})
    manifest = _atomic_write(path / MANIFEST, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    result.files.append(manifest)
    return result


def list_figures(entries: Iterable[Any]) -> str:
    """A text table of figures: name, chapter, title and function."""
    rows = [(e.name, e.chapter, e.title, e.qualname) for e in entries]
    if not rows:
        return "no figures registered"
    head = ("name", "chapter", "title", "function")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(3)]
    lines = []
    for r in [head] + rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3])
    return "\n".join(lines)
