"""Figure of the claims ledger page: how far each row's measured number is from its threshold."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from .. import ledger
from ..ledger import Row
from ..plotting import new_figure
from . import Figure, register

CHAPTER = "chapters/ledger"

#: Colour of each source of a row (book-wide palette: seaborn's colorblind).
_SOURCE_COLORS = {
    "paper": (0.0, 0.0, 0.0),
    "book: proposition": (0.0, 0.447, 0.698),
    "book: observation": (0.835, 0.369, 0.0),
    "book: counterexample": (0.8, 0.475, 0.655),
}
_FAIL = (0.8, 0.0, 0.0)
_RATIO_LIM = (1e-2, 4.0)  # ratios below (0 included) are drawn at the left edge, above at the right edge
_BAND_LIM = (-0.4, 1.4)
_OP_TEXT = {"<=": "\u2264", ">=": "\u2265", "in": "\u2208"}


@functools.cache
def checked_rows() -> tuple[Row, ...]:
    """Every check of the ledger, run once in this process: :func:`dspgd.ledger.run_all`.

    The ledger page and :func:`ledger_margins` share these rows, so the
    checks run once per build. ``checked_rows.cache_clear()`` makes the next
    call run them again.
    """
    return tuple(ledger.run_all())


def _chapter_title(chapter: str) -> str:
    """``"chapters/04_lr_dependence"`` -> ``"ch. 4, lr dependence"``."""
    stem = chapter.rsplit("/", 1)[-1]
    num, _, name = stem.partition("_")
    return f"ch. {int(num)}, {name.replace('_', ' ')}" if num.isdigit() else stem.replace("_", " ")


def _verdict(r: Row) -> str:
    """``measured op threshold`` as plain text with 3 significant digits, e.g. ``6.61e-15 ≤ 3e-14``."""
    c = r.claim
    thr = f"[{c.threshold[0]:.3g}, {c.threshold[1]:.3g}]" if c.op == "in" else f"{c.threshold:.3g}"
    return f"{r.measured:.3g} {_OP_TEXT[c.op]} {thr}"


def draw_margins(rows: Sequence[Row]) -> Figure:
    """One line per row, grouped by chapter: where its measured number sits against its threshold.

    Left panel, the one-sided rows (``<=``, ``>=``): the ratio of
    :func:`dspgd.ledger.margin` on a log scale, 1 at the threshold, failing
    beyond it (shaded); a ratio of 0 or below (a number on the far side of
    zero, or exactly zero against a positive bound) is drawn at the left edge.
    Right panel, the band rows (``in``): the position inside the band,
    0 at its lower end and 1 at its upper end. Right column: the row's
    verdict, measured against threshold. Markers are coloured by the row's
    source; a failing row is a red cross.

    Parameters
    ----------
    rows : sequence of dspgd.ledger.Row
        For example :func:`checked_rows`.

    Returns
    -------
    Figure
        ``data``: the counts of rows, passed and failed; the one-sided row
        with the largest ratio and the band row nearest an end of its band;
        and, per row, its key, chapter, source, comparison, threshold,
        measured number, verdict and margin.
    """
    if not rows:
        raise ValueError("draw_margins needs at least one ledger row")
    chapters: dict[str, list[Row]] = {}
    for r in rows:
        chapters.setdefault(r.claim.chapter, []).append(r)
    # y slots from the top: a header per chapter, then its rows
    slots: list[tuple[str, object]] = []
    for ch, rs in chapters.items():
        slots.append(("chapter", ch))
        slots += [("row", r) for r in rs]
    height = 1.0 + 0.19 * len(slots)
    fig, (ax, axb, axt) = new_figure(1, 3, width=7.6, height=height, sharey=True,
                                     gridspec_kw={"width_ratios": [3.0, 1.9, 1.75]})
    ax.set_xscale("log")
    ax.set_xlim(*_RATIO_LIM)
    axb.set_xlim(*_BAND_LIM)
    ax.axvspan(1.0, _RATIO_LIM[1], color=_FAIL, alpha=0.08, lw=0)
    ax.axvline(1.0, color="0.25", lw=1.0)
    axb.axvspan(_BAND_LIM[0], 0.0, color=_FAIL, alpha=0.08, lw=0)
    axb.axvspan(1.0, _BAND_LIM[1], color=_FAIL, alpha=0.08, lw=0)
    for x in (0.0, 1.0):
        axb.axvline(x, color="0.25", lw=1.0)
    text = blended_transform_factory(axt.transAxes, axt.transData)
    records, ticks, labels = [], [], []
    for i, (kind, item) in enumerate(slots):
        y = -i
        if kind == "chapter":
            for a in (ax, axb):
                a.axhline(y + 0.5, color="0.6", lw=0.6)
            ax.text(_RATIO_LIM[0] * 1.1, y, _chapter_title(item), fontsize=8.5, style="italic",
                    va="center", ha="left", color="0.3")
            continue
        r: Row = item  # type: ignore[assignment]
        c, m = r.claim, ledger.margin(r)
        ticks.append(y)
        labels.append(c.key)
        color = _SOURCE_COLORS.get(c.source, (0.4, 0.4, 0.4)) if r.passed else _FAIL
        axis, lim = (axb, _BAND_LIM) if c.op == "in" else (ax, _RATIO_LIM)
        for a in (ax, axb):
            a.axhline(y, color="0.88", lw=0.5, zorder=0)
        if np.isnan(m):
            axis.text(np.sqrt(lim[0] * lim[1]) if axis is ax else np.mean(lim), y, "no number",
                      color=_FAIL, fontsize=8, va="center", ha="center")
        else:
            shown = min(max(m, lim[0]), lim[1])
            marker = ("<" if m < lim[0] else ">") if shown != m else ("o" if r.passed else "X")
            axis.plot([shown], [y], marker=marker, ms=5.5, color=color, ls="none", zorder=3,
                      clip_on=False)
        axt.text(0.02, y, _verdict(r), transform=text, fontsize=8, va="center",
                 ha="left", color="0.15" if r.passed else _FAIL)
        thr = list(c.threshold) if c.op == "in" else float(c.threshold)
        records.append({"key": c.key, "chapter": c.chapter, "source": c.source, "op": c.op, "threshold": thr,
                        "measured": float(r.measured), "passed": bool(r.passed), "margin": float(m)})
    ax.set_ylim(-len(slots) + 0.5, 0.6)
    ax.set_yticks(ticks, labels, fontsize=8.5)
    for lab in ax.get_yticklabels():
        if lab.get_text().startswith("C"):
            lab.set_fontweight("bold")
    ax.tick_params(axis="y", length=0)
    axb.tick_params(axis="y", length=0)
    for a in (ax, axb):
        a.grid(False, axis="y")
    ax.set_xlabel("ratio to the threshold\n(1: at the threshold; beyond: fails)", fontsize=9)
    axb.set_xlabel("position in the band\n(0: lower end, 1: upper end)", fontsize=9)
    ax.set_title("(a) rows $m \\leq \\vartheta$ and $m \\geq \\vartheta$", fontsize=10)
    axb.set_title("(b) rows $m \\in [a, b]$", fontsize=10)
    axt.set_title("measured", fontsize=10)
    axt.axis("off")
    handles = [Line2D([], [], marker="o", ls="none", color=col, ms=5.5, label=src)
               for src, col in _SOURCE_COLORS.items() if any(r.claim.source == src for r in rows)]
    handles.append(Line2D([], [], marker="X", ls="none", color=_FAIL, ms=5.5, label="fails"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8.5,
               handletextpad=0.2, columnspacing=1.0)

    ratios = [(rec["margin"], rec["key"]) for rec in records if rec["op"] != "in" and np.isfinite(rec["margin"])]
    bands = [(min(abs(rec["margin"]), abs(1.0 - rec["margin"])), rec["key"], rec["margin"])
             for rec in records if rec["op"] == "in" and np.isfinite(rec["margin"])]
    n_pass = sum(r.passed for r in rows)
    data: dict = {"n_rows": len(rows), "n_passed": n_pass, "n_failed": len(rows) - n_pass,
                  "n_one_sided": sum(r.claim.op != "in" for r in rows),
                  "n_band": sum(r.claim.op == "in" for r in rows), "rows": records}
    if ratios:
        m, key = max(ratios)
        data["largest_ratio"] = {"key": key, "ratio": m}
    if bands:
        _, key, pos = min(bands)
        data["nearest_band_end"] = {"key": key, "position": pos}
    return Figure(fig, data)


@register("ledger-margins", chapter=CHAPTER,
          title="Claims ledger: each row's measured number against its threshold",
          alt="One line per row of the claims ledger, grouped by chapter: a dot shows how close the row's "
              "measured number is to its threshold, as a ratio on a log scale (left panel, one-sided rows) "
              "or as the position inside its band (right panel, band rows), with the failing side shaded.")
def ledger_margins() -> Figure:
    """:func:`draw_margins` of the rows of :func:`checked_rows` (the checks run once per process)."""
    return draw_margins(checked_rows())
