"""Figures of the chapter "General preconditioners stay within a constant" (claim C4)."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..plotting import color_of, new_figure
from ..sweeps import Spec, bound_factors, run_limits, spec
from . import Figure, register

__all__ = ["bound_specs", "bound_ratio"]

_CHAPTER = "chapters/06_general_bound"
_MARKERS = ("o", "s", "^", "D", "v")
_NAMES = {"gd": "GD", "normalized": "normalized GD", "clip_norm": "clip by norm",
          "adam": r"Adam$_{\beta=0}$", "clip_value": "clip by value", "power": "power",
          "diagonal": "fixed diagonal"}


def bound_specs(adam_eps: tuple[float, ...] = (1.0, 0.3, 0.1, 0.03, 0.01),
                clip_c: tuple[float, ...] = (0.4, 0.1, 0.025)) -> list[Spec]:
    """The preconditioners of the sweep: three isotropic ones, then Adam, clipping, power, diagonal."""
    return ([spec("gd"), spec("normalized", eps=0.5), spec("clip_norm", c=0.5)]
            + [spec("adam", eps=e) for e in adam_eps]
            + [spec("clip_value", c=c) for c in clip_c]
            + [spec("power", q=1.5, eps=0.01), spec("diagonal", spread=3.0)])


def _describe(sp: Spec) -> str:
    ps = ", ".join(f"{k}={v:g}" for k, v in sp.params)
    return f"{sp.family}({ps})"


@register("bound-ratio", chapter=_CHAPTER,
          title="Observed ratio ||W0 - W_inf|| / ||W0 - W_GD|| against the computed constant c")
def bound_ratio(*, n: int = 20, d_over_n: tuple[int, ...] = (2, 5, 10), seeds: tuple[int, ...] = (0, 1),
                fractions: tuple[float, ...] = (0.9, 0.3, 0.1), tol: float = 1e-10,
                adam_eps: tuple[float, ...] = (1.0, 0.3, 0.1, 0.03, 0.01),
                clip_c: tuple[float, ...] = (0.4, 0.1, 0.025),
                width: float = 7.6, height: float = 7.2) -> Figure:
    """Scatter of the observed ratio against this book's constant ``c``, and the ratio against ``eps``.

    Every combination of preconditioner (:func:`bound_specs`), ``d/n``, seed
    and learning rate (as a fraction of the stable step) is one point.
    (a) observed ``||W0 - W_inf|| / ||W0 - W_GD||`` (y) against
    ``dspgd.bound_constant`` (x), log axes; the shaded band is
    ``1 <= y <= x``, where claim C4 and the lower bound put every point.
    (b) the same points with a linear ``y`` axis near 1.
    (c) the ratio for Adam (``beta = 0``) against ``eps``, one line per
    ``d/n`` (mean over seeds and learning rates; band: their range).

    Returns
    -------
    Figure
        ``data`` holds every point and the summary numbers the chapter
        quotes (largest ratio, smallest slack ``c / ratio``, violations,
        the factors of ``c`` at the tightest point, path lengths).
    """
    specs = bound_specs(adam_eps, clip_c)
    fr = tuple(float(f) for f in fractions)
    fig, axs = new_figure(2, 2, width=width, height=height)
    ax, zx, bx, lg = axs[0, 0], axs[0, 1], axs[1, 0], axs[1, 1]
    points = []
    adam_ratio: dict[int, np.ndarray] = {}
    all_conv = True
    pyth = 0.0
    kappa2 = []
    for m, q in enumerate(d_over_n):
        d = int(q * n)
        A = np.empty((len(adam_eps), len(seeds), len(fr)))
        for j, s in enumerate(seeds):
            for sp in specs:
                r = run_limits(sp, n, d, s, fr, tol=tol)
                all_conv &= r.all_converged
                pyth = max(pyth, float(np.max(np.abs(r.ratio**2 - 1 - r.rel_distance**2))))
                if sp is specs[0]:
                    kappa2.append((int(q), float(r.problem.condition_number**2)))
                for b in range(len(fr)):
                    points.append({
                        "method": _describe(sp), "family": sp.family, "d_over_n": int(q), "d": d,
                        "seed": int(s), "fraction": float(r.fractions[b]), "ratio": float(r.ratio[b]),
                        "c": float(r.bound[b]), "path_ratio": float(r.path_length[b] / r.scale),
                        "rel_distance": float(r.rel_distance[b]),
                    })
                if sp.family == "adam":
                    A[list(adam_eps).index(sp.get("eps")), j] = r.ratio
        adam_ratio[int(q)] = A

    # (a) the scatter
    c = np.array([p["c"] for p in points])
    y = np.array([p["ratio"] for p in points])
    if not np.all(np.isfinite(c)):
        bad = [p["method"] for p in points if not np.isfinite(p["c"])]
        raise ValueError(f"the route gives no constant for {sorted(set(bad))}: pick smooth preconditioners")
    xlo, xhi = 10 ** np.floor(np.log10(c.min()) - 0.3), 10 ** np.ceil(np.log10(c.max()) + 0.3)
    xx = np.geomspace(min(xlo, 0.8), xhi, 200)
    ax.fill_between(xx, 1.0, np.maximum(xx, 1.0), color="0.85", alpha=0.6, lw=0)
    ax.plot(xx, xx, color="0.35", lw=1, ls="--")
    ax.axhline(1.0, color="0.35", lw=1)
    ax.text(xhi / 3, xhi / 3 / 12, r"ratio $= c$", ha="left", va="top", color="0.3", fontsize=9)
    fams = []
    for p in points:
        if p["family"] not in fams:
            fams.append(p["family"])
    for fam in fams:
        for m, q in enumerate(d_over_n):
            sel = [i for i, p in enumerate(points) if p["family"] == fam and p["d_over_n"] == q]
            for a in (ax, zx):
                a.scatter(c[sel], y[sel], s=22, marker=_MARKERS[m % len(_MARKERS)], facecolor="none",
                          edgecolor=color_of(fam), lw=1.0, alpha=0.9)
    fam_handles = [Line2D([], [], ls="", marker="o", mfc="none", mec=color_of(f), label=_NAMES[f])
                   for f in fams]
    dn_handles = [Line2D([], [], ls="", marker=_MARKERS[m % len(_MARKERS)], mfc="none", mec="0.3",
                                   label=rf"$d/n={q}$") for m, q in enumerate(d_over_n)]
    ylab = r"$\|W_0 - W_\infty\|_F \,/\, \|W_0 - W_{\mathrm{GD}}\|_F$"
    ax.set_yscale("log")
    ax.set_ylim(0.8, xhi)
    ax.set_title(r"(a) every run lies in $[1, c]$", fontsize=10)
    top = float(y.max()) + 0.25 * (float(y.max()) - 1) + 1e-3
    zx.fill_between(xx, 1.0, np.minimum(np.maximum(xx, 1.0), top), color="0.85", alpha=0.6, lw=0)
    zx.plot(xx, xx, color="0.35", lw=1, ls="--")
    zx.axhline(1.0, color="0.35", lw=1)
    zx.set_ylim(1 - 0.08 * (top - 1), top)
    zx.set_title(r"(b) the same, linear $y$ axis near 1", fontsize=10)
    zx.annotate(r"ratio $= c$", xy=(1.06, 1 + 0.55 * (top - 1)), xytext=(12, 0), textcoords="offset points",
                color="0.3", fontsize=9, va="center", arrowprops={"arrowstyle": "->", "color": "0.4"})
    for a in (ax, zx):
        a.set_xscale("log")
        a.set_xlim(xx[0], xhi)
        a.set_xlabel(r"computed constant $c$")
        a.set_ylabel(ylab)
    lg.axis("off")
    leg1 = lg.legend(handles=fam_handles, loc="upper center", fontsize=10.5, title="preconditioner",
                     title_fontsize=10.5, ncol=1, bbox_to_anchor=(0.5, 1.02))
    lg.add_artist(leg1)
    lg.legend(handles=dn_handles + [Patch(color="0.85", label=r"$1 \leq$ ratio $\leq c$")],
              loc="lower center", fontsize=10.5, title="shape, shading", title_fontsize=10.5, ncol=2,
              bbox_to_anchor=(0.5, -0.08))

    # (c) ratio against adam eps
    e = np.asarray(adam_eps, dtype=float)
    lines = ("-", "--", ":", "-.")
    for m, q in enumerate(d_over_n):
        A = adam_ratio[int(q)].reshape(len(e), -1)
        col = color_of("adam")
        bx.fill_between(e, A.min(axis=1), A.max(axis=1), color=col, alpha=0.12, lw=0)
        bx.plot(e, A.mean(axis=1), color=col, marker=_MARKERS[m % len(_MARKERS)], mfc="white",
                ls=lines[m % len(lines)], lw=1.6, label=rf"$d/n={q}$")
    bx.axhline(1.0, color="0.35", lw=1)
    bx.set_xscale("log")
    bx.xaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    bx.set_xticks(e, [f"{v:g}" for v in e])
    bx.set_xlabel(r"Adam$_{\beta=0}$ $\epsilon$")
    bx.set_ylabel(r"$\|W_0 - W_\infty\|_F \,/\, \|W_0 - W_{\mathrm{GD}}\|_F$")
    bx.set_title(r"(c) Adam$_{\beta=0}$: ratio against $\epsilon$", fontsize=10)
    bx.legend(fontsize=8.5, loc="upper right")

    # summary numbers
    slack = c / y
    inside = (y >= 1 - 1e-12) & (y <= c)
    i_max, i_slack = int(np.argmax(y)), int(np.argmin(slack))
    non_iso = np.array([p["family"] not in ("gd", "normalized", "clip_norm") for p in points])
    i_slack_ni = int(np.flatnonzero(non_iso)[np.argmin(slack[non_iso])])
    path = np.array([p["path_ratio"] for p in points])

    def factors(i: int) -> dict:
        p = points[i]
        sp = next(s for s in specs if _describe(s) == p["method"])
        r = run_limits(sp, n, p["d"], p["seed"], fr, tol=tol)
        b = int(np.argmin(np.abs(r.fractions - p["fraction"])))
        return {**p, **bound_factors(r.problem, sp.make(p["d"]), float(r.lrs[b]))}

    iso_y = y[~non_iso]
    data = {
        "n": n, "d_over_n": [int(q) for q in d_over_n], "seeds": list(seeds), "n_seeds": len(seeds),
        "fractions": list(fr), "adam_eps": list(e), "clip_c": list(clip_c), "tol": tol,
        "n_methods": len(specs), "n_points": len(points), "n_inside": int(inside.sum()),
        "violations": [points[i] for i in np.flatnonzero(~inside)],
        "all_converged": bool(all_conv),
        "ratio_max": float(y.max()), "ratio_max_point": points[i_max],
        "ratio_min": float(y.min()),
        "isotropic_ratio_dev": float(np.max(np.abs(iso_y - 1))),
        "slack_min": float(slack.min()), "slack_min_point": factors(i_slack),
        "slack_min_nonisotropic": float(slack[i_slack_ni]),
        "slack_min_nonisotropic_point": factors(i_slack_ni),
        "slack_median": float(np.median(slack)), "slack_max": float(slack.max()),
        "c_min": float(c.min()), "c_max": float(c.max()),
        "path_ratio_max": float(path.max()),
        "path_over_ratio_max": float(np.max(path / y)),
        "c_over_path_min": float(np.min(c / path)),
        "kappa2_min": min(kappa2, key=lambda t: t[1])[1], "kappa2_min_dn": min(kappa2, key=lambda t: t[1])[0],
        "kappa2_max": max(kappa2, key=lambda t: t[1])[1], "kappa2_max_dn": max(kappa2, key=lambda t: t[1])[0],
        "path_over_ratio_max_point": points[int(np.argmax(path / y))],
        "pythagoras_max_error": pyth,
        "adam_ratio_mean": {str(q): adam_ratio[int(q)].mean(axis=(1, 2)).tolist() for q in d_over_n},
        "points": points,
    }
    return Figure(fig, data)
