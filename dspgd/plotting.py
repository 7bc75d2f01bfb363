"""One plotting style for the whole book: colours, labels and shared plot primitives.

Every preconditioner family has one colour (seaborn's colorblind palette)
and one label everywhere in the book.
"""

from __future__ import annotations

from typing import Iterable

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from .preconditioners import Preconditioner
from .solver import Result

__all__ = ["FAMILIES", "use_style", "color_of", "label_of", "plot_history", "new_figure"]

#: Families in a fixed order; each gets one colour of the colorblind palette.
FAMILIES: tuple[str, ...] = (
    "gd", "normalized", "clip_norm", "adam", "clip_value", "spectral",
    "power", "diagonal", "sign", "mirror", "adam_memory", "flat_ball",
)
_PALETTE = sns.color_palette("colorblind", 10) + [(0.2, 0.2, 0.2), (0.55, 0.55, 0.55)]
_COLORS = dict(zip(FAMILIES, _PALETTE))
# the palette's vermillion is too close to normalized GD's orange: Adam gets a dark red;
# the last grey would repeat the fixed diagonal's: the flat ball gets an indigo
_COLORS["adam"] = (0.70, 0.09, 0.17)
_COLORS["flat_ball"] = (0.29, 0.0, 0.51)
_STYLE_SET = False


def use_style() -> None:
    """Apply the book's style (seaborn ``ticks``, colorblind palette, readable sizes)."""
    global _STYLE_SET
    sns.set_theme(context="notebook", style="ticks", palette="colorblind", font_scale=0.95)
    plt.rcParams.update({
        "figure.dpi": 110,
        "savefig.dpi": 150,
        "savefig.bbox": "tight",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "legend.frameon": False,
        "figure.constrained_layout.use": True,
    })
    _STYLE_SET = True


def new_figure(nrows: int = 1, ncols: int = 1, width: float = 7.0, height: float = 3.6, **kw):
    """``plt.subplots`` in the book's style; returns ``(fig, axes)``."""
    if not _STYLE_SET:
        use_style()
    return plt.subplots(nrows, ncols, figsize=(width, height), **kw)


def color_of(p: Preconditioner | str):
    """The colour of a preconditioner family (or of a family name)."""
    name = p if isinstance(p, str) else p.name
    if name not in _COLORS:
        raise KeyError(f"no colour for family {name!r}; known: {', '.join(FAMILIES)}")
    return _COLORS[name]


def label_of(p: Preconditioner) -> str:
    """The plot label of a preconditioner (its LaTeX ``label``)."""
    return p.label


def plot_history(ax, result: Result, *, what: str = "residual", relative: bool = True,
                 color=None, label: str | None = None, **kw) -> None:
    """Draw a residual (or loss) history on a log scale.

    Parameters
    ----------
    ax : matplotlib Axes
    result : Result
        A scalar result, or a batched one (one line per member).
    what : {"residual", "loss"}
    relative : bool
        Divide by the first value.
    """
    if what not in ("residual", "loss"):
        raise ValueError(f"what must be 'residual' or 'loss', got {what!r}")
    h = result.residual_history if what == "residual" else result.loss_history
    h = h if h.ndim == 2 else h[:, None]
    steps = result.history_steps
    for j in range(h.shape[1]):
        y = h[:, j] / h[0, j] if relative and h[0, j] > 0 else h[:, j]
        ok = np.isfinite(y) & (y > 0)
        ax.semilogy(steps[ok], y[ok], color=color, label=label if j == 0 else None, **kw)
    ax.set_xlabel("step $t$")
    name = r"\|XW_t-Y\|_F" if what == "residual" else r"\mathcal{L}(W_t)"
    ax.set_ylabel(rf"${name}$" + (" (relative)" if relative else ""))


def legend_outside(ax, **kw) -> None:
    """A legend to the right of the axes."""
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), **kw)


def families(ps: Iterable[Preconditioner]) -> list[str]:
    """The distinct family names, in book order."""
    names = {p.name for p in ps}
    return [f for f in FAMILIES if f in names]
