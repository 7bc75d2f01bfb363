"""Figures of the chapter "General preconditioners stay within a constant" (claim C4)."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..plotting import color_of, new_figure
from ..preconditioners import Preconditioner, adam, clip_value, gd
from ..problem import Problem, gaussian_problem
from ..solver import solve
from ..sweeps import Spec, bound_factors, nearest_interpolator, run_limits, spec
from ..theory import bound_constant, distance_ratio, stable_lr
from . import Figure, register

__all__ = ["bound_specs", "in_words", "bound_ratio", "scaled_problem", "scaling_methods", "bound_scaling"]

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


#: How the prose names each family, and the symbol of the parameter it quotes.
_WORDS = {"gd": "GD", "normalized": "normalized GD", "clip_norm": "clipping by norm",
          "adam": "Adam (β = 0)", "clip_value": "clipping by value", "power": "the power map",
          "diagonal": "the fixed diagonal"}
_SYMBOLS = {"eps": "ε", "c": "τ"}


def in_words(sp: Spec) -> str:
    """The preconditioner of ``sp`` as the prose names it, e.g. ``"clipping by value with τ = 0.025"``.

    The parameter is named only for the families the sweep varies it for
    (Adam's ``ε``, clipping by value's level ``τ``).
    """
    if sp.family not in _WORDS:
        raise ValueError(f"no words for the family {sp.family!r}")
    if sp.family not in ("adam", "clip_value") or not sp.params:
        return _WORDS[sp.family]
    (key, value), = sp.params
    return f"{_WORDS[sp.family]} with {_SYMBOLS.get(key, key)} = {value:g}"


@register("bound-ratio", chapter=_CHAPTER,
          title="Observed ratio ||W0 - W_inf|| / ||W0 - W_GD|| against the computed constant c",
          alt="Three panels: the observed ratio of every run plotted against this book's constant c on "
              "log axes, all points inside the shaded band between ratio 1 and ratio = c and far below "
              "its top; the same points on a linear axis near 1, with the isotropic methods at 1 and the "
              "others spread a little above it; and Adam's mean ratio, one line per d/n, falling "
              "towards 1 as epsilon grows.")
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
        path lengths, the range of Adam's mean ratio). The points it singles
        out (``ratio_max_point``, ``slack_min_point``,
        ``slack_min_nonisotropic_point``, ``path_over_ratio_max_point``,
        ``adam_loosest_point``: the Adam run with the largest slack) carry
        their preconditioner in words (``description``, :func:`in_words`)
        and their ``slack``; the last three also the factors of ``c``
        (:func:`dspgd.sweeps.bound_factors`).
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

    def spec_of(i: int) -> Spec:
        return next(s for s in specs if _describe(s) == points[i]["method"])

    def described(i: int) -> dict:
        """Point ``i`` with its preconditioner in words and its slack ``c / ratio``."""
        return {**points[i], "description": in_words(spec_of(i)), "slack": float(slack[i])}

    def factors(i: int) -> dict:
        """:func:`described` with the factors of ``c`` (:func:`dspgd.sweeps.bound_factors`)."""
        p, sp = points[i], spec_of(i)
        r = run_limits(sp, n, p["d"], p["seed"], fr, tol=tol)
        b = int(np.argmin(np.abs(r.fractions - p["fraction"])))
        return {**described(i), **bound_factors(r.problem, sp.make(p["d"]), float(r.lrs[b]))}

    is_adam = np.array([p["family"] == "adam" for p in points])
    i_loose = int(np.flatnonzero(is_adam)[np.argmax(slack[is_adam])]) if is_adam.any() else None
    e_small, e_large = int(np.argmin(e)), int(np.argmax(e))
    iso_y = y[~non_iso]
    data = {
        "n": n, "d_over_n": [int(q) for q in d_over_n], "n_d_over_n": len(d_over_n),
        "seeds": list(seeds), "n_seeds": len(seeds), "fractions": list(fr), "n_fractions": len(fr),
        "adam_eps": list(e), "clip_c": list(clip_c), "tol": tol,
        "n_methods": len(specs), "n_points": len(points), "n_inside": int(inside.sum()),
        "violations": [points[i] for i in np.flatnonzero(~inside)], "n_violations": int((~inside).sum()),
        "all_converged": bool(all_conv),
        "ratio_max": float(y.max()), "ratio_max_point": described(i_max),
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
        "path_over_ratio_max_point": described(int(np.argmax(path / y))),
        "adam_loosest_point": factors(i_loose) if i_loose is not None else None,
        "pythagoras_max_error": pyth,
        "adam_ratio_mean": {str(q): adam_ratio[int(q)].mean(axis=(1, 2)).tolist() for q in d_over_n},
        "adam_ratio_mean_max_at_smallest_eps": float(max(adam_ratio[int(q)].mean(axis=(1, 2))[e_small]
                                                         for q in d_over_n)),
        "adam_ratio_mean_min_at_largest_eps": float(min(adam_ratio[int(q)].mean(axis=(1, 2))[e_large]
                                                        for q in d_over_n)),
        "points": points,
    }
    return Figure(fig, data)


# ------------------------------------------------- what the constant depends on


def scaled_problem(problem: Problem, scale: float) -> Problem:
    """The problem with ``W0 - W_GD`` multiplied by ``scale``: same ``X``, ``W0`` and interpolators' directions.

    ``Y`` is replaced by ``X W0 + scale (Y - X W0)``, so the residual at
    ``W0`` and ``W0 - W_GD`` (which lies in the row space of ``X``) are
    multiplied by ``scale`` while ``X`` and ``W0`` stay the same.
    """
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    XW0 = problem.X @ problem.W0
    return Problem(problem.X, XW0 + scale * (problem.Y - XW0), problem.W0)


def scaling_methods(adam_eps: float = 0.1, clip_tau: float = 0.1) -> list[Preconditioner]:
    """GD, Adam (``beta = 0``) and clipping by value: the preconditioners of :func:`bound_scaling`."""
    return [gd(), adam(adam_eps), clip_value(clip_tau)]


def _ratio_and_c(problem: Problem, p: Preconditioner, fractions: np.ndarray, tol: float,
                 max_steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observed ratio, this book's ``c`` and steps, one batched run over ``fractions * stable_lr``."""
    lrs = np.asarray(fractions, dtype=float) * stable_lr(problem, p)
    res = solve(problem, p, lrs, tol=tol, max_steps=max_steps)
    if not np.all(np.asarray(res.status) == "converged"):
        raise RuntimeError(f"{p!r} did not converge on every run: {res.status}")
    W = nearest_interpolator(problem, res.W)
    ratio = np.atleast_1d(distance_ratio(W, problem))
    c = np.array([bound_constant(problem, p, float(lr)) for lr in lrs])
    return ratio, c, np.atleast_1d(res.steps)


@register("bound-scaling", chapter=_CHAPTER,
          title="The constant c grows with the distance from W0 to W_GD and near the stable step; the ratio barely moves",
          alt="Three panels for GD, Adam and clipping by value: on log axes against the scale of W0 - W_GD, "
              "GD's constant c is flat while Adam's and clipping's grow in proportion to the scale, and "
              "every observed ratio stays near 1; the observed ratios alone on a linear axis, rising "
              "slightly with the scale; and c against the step size, blowing up near the stable step "
              "while the ratios stay near 1.")
def bound_scaling(*, n: int = 20, d: int = 100, seed: int = 0, scales: tuple[float, ...] = (1.0, 10.0, 100.0),
                  c_scales: tuple[float, float] = (1.0, 1000.0), fraction: float = 0.5,
                  eta_fractions: tuple[float, ...] = (0.5, 0.9, 0.97), c_fraction_max: float = 0.999,
                  adam_eps: float = 0.1, clip_tau: float = 0.1, identity_max_scale: float = 10.0,
                  tol: float = 1e-10, max_steps: int = 100_000,
                  width: float = 7.6, height: float = 6.2) -> Figure:
    """This book's ``c`` and the observed ratio against the scale of ``W0 - W_GD`` and against ``lr``.

    The problem is :func:`dspgd.gaussian_problem` ``(n, d, seed)``, rescaled by
    :func:`scaled_problem`. (a) ``c`` (lines, computed on a fine grid of
    scales between ``c_scales``; no run needed) and the observed ratio
    ``||W0 - W_inf|| / ||W0 - W_GD||`` (markers, runs at ``scales``), at
    ``lr = fraction * stable_lr``, log axes. (b) The observed ratios of (a)
    on a linear axis. (c) ``c`` against ``lr / stable_lr`` up to
    ``c_fraction_max`` (lines) and the observed ratio at ``eta_fractions``
    (markers), unscaled problem.

    Also checks the scaling identity behind (a): a run on the problem scaled
    by ``s`` with Adam at ``eps`` (clipping at ``tau``) is, scaled down by
    ``s``, the run on the original problem with Adam at ``eps / s``
    (clipping at ``tau / s``) at the same fraction of its stable step.

    Returns
    -------
    Figure
        ``data["methods"][family]``: ``scales``, ``ratio``, ``c``, ``steps``
        (the runs of (a)) and their values at the smallest and the largest
        scale (``c_at_scale_min``, ...); ``c_line_scales``, ``c_line``;
        ``c_growth`` (``c`` at the largest over the smallest of
        ``c_scales``); ``eta_fractions``, ``eta_ratio`` (with its range),
        ``eta_c``; ``c_at_max_fraction``; and for Adam and clipping
        ``identity_gap``: the largest ``|ratio(s, eps) - ratio(1, eps / s)|``
        over the scales in ``(1, identity_max_scale]``. Top level: the
        settings, ``scale_max``, ``c_scale_max`` (the largest of
        ``c_scales``), ``ratio_max`` over every run and
        ``identity_gap_max`` over the families.
    """
    base = gaussian_problem(n=n, d=d, seed=seed)
    methods = scaling_methods(adam_eps, clip_tau)
    sc = np.asarray(scales, dtype=float)
    line = np.geomspace(c_scales[0], c_scales[1], 31)
    ef = np.asarray(eta_fractions, dtype=float)
    fline = np.linspace(0.02, c_fraction_max, 200)
    fig, axs = new_figure(2, 2, width=width, height=height)
    ax, zx, ex, lg = axs[0, 0], axs[0, 1], axs[1, 0], axs[1, 1]
    lo, hi = int(np.argmin(sc)), int(np.argmax(sc))
    data: dict = {"n": n, "d": d, "seed": seed, "fraction": fraction, "tol": tol, "adam_eps": adam_eps,
                  "clip_tau": clip_tau, "scale_max": float(sc[hi]), "c_scale_max": float(line[-1]),
                  "identity_scales": [float(v) for v in sc if 1 < v <= identity_max_scale],
                  "methods": {}}
    handles = []
    widths = {"gd": 1.8, "adam": 3.4, "clip_value": 1.4}  # Adam's and clipping's c nearly coincide
    for p in methods:
        col = color_of(p)
        lw = widths.get(p.name, 1.8)
        lab = "GD" if p.name == "gd" else p.label
        ratio, c, steps = [], [], []
        for s_ in sc:
            r, cc, st = _ratio_and_c(scaled_problem(base, s_), p, np.array([fraction]), tol, max_steps)
            ratio.append(float(r[0]))
            c.append(float(cc[0]))
            steps.append(int(st[0]))
        c_line = [bound_constant(scaled_problem(base, float(s_)), p, fraction * stable_lr(base, p))
                  for s_ in line]
        h, = ax.loglog(line, c_line, color=col, lw=lw, label=lab)
        handles.append(h)
        ax.loglog(sc, ratio, color=col, ls="--", marker="o", mfc="white", ms=5)
        zx.plot(sc, ratio, color=col, ls="--", marker="o", mfc="white", ms=5)
        er, ec, _ = _ratio_and_c(base, p, ef, tol, max_steps)
        c_f = [bound_constant(base, p, float(f) * stable_lr(base, p)) for f in fline]
        ex.semilogy(fline, c_f, color=col, lw=lw)
        ex.semilogy(ef, er, color=col, ls="--", marker="o", mfc="white", ms=5)
        rec = {"label": lab, "scales": sc.tolist(), "ratio": ratio, "c": c, "steps": steps,
               "c_at_scale_min": c[lo], "c_at_scale_max": c[hi],
               "ratio_at_scale_min": ratio[lo], "ratio_at_scale_max": ratio[hi],
               "c_line_scales": line.tolist(), "c_line": [float(v) for v in c_line],
               "c_growth": float(c_line[-1] / c_line[0]), "eta_fractions": ef.tolist(),
               "eta_ratio": er.tolist(), "eta_ratio_min": float(er.min()), "eta_ratio_max": float(er.max()),
               "eta_c": ec.tolist(), "c_at_max_fraction": float(c_f[-1]),
               "c_fraction_max": float(fline[-1])}
        if p.name in ("adam", "clip_value"):
            key = "eps" if p.name == "adam" else "c"
            gaps = []
            for s_, r_s in zip(sc, ratio):
                if s_ == 1 or s_ > identity_max_scale:
                    continue
                small = adam(adam_eps / s_) if p.name == "adam" else clip_value(clip_tau / s_)
                r1, _, _ = _ratio_and_c(base, small, np.array([fraction]), tol, max_steps)
                gaps.append(abs(float(r1[0]) - r_s))
            rec["identity_gap"] = float(max(gaps)) if gaps else 0.0
            rec["param"] = key
        data["methods"][p.name] = rec
    for a in (ax, zx):
        a.set_xlabel(r"scale $\xi$ of $W_0 - W_{\mathrm{GD}}$")
    ax.set_ylabel(r"$c$ (lines), observed ratio (markers)")
    ax.set_title(rf"(a) $c$ and ratio against $\xi$, $\eta = {fraction:g}\,\eta_{{\mathrm{{stable}}}}$",
                 fontsize=10)
    zx.set_xscale("log")
    zx.axhline(1.0, color="0.35", lw=1)
    zx.set_ylabel(r"$\|W_0 - W_\infty\|_F \,/\, \|W_0 - W_{\mathrm{GD}}\|_F$")
    zx.set_title("(b) the observed ratio alone", fontsize=10)
    ex.set_xlabel(r"$\eta/\eta_{\mathrm{stable}}$ (scale $\xi = 1$)")
    ex.set_ylabel(r"$c$ (lines), observed ratio (markers)")
    ex.set_xlim(0, 1)
    ex.set_title(r"(c) $c$ and ratio against $\eta$", fontsize=10)
    data["ratio_max"] = float(max(max(m["ratio"] + m["eta_ratio"]) for m in data["methods"].values()))
    data["identity_gap_max"] = float(max((m["identity_gap"] for m in data["methods"].values() if "identity_gap" in m),
                                         default=0.0))
    lg.axis("off")
    extra = [Line2D([], [], color="0.3", lw=1.8, label=r"this book's $c$"),
             Line2D([], [], color="0.3", ls="--", marker="o", mfc="white", label="observed ratio")]
    lg.legend(handles=handles + extra, loc="center", fontsize=10, title="preconditioner", title_fontsize=10.5)
    return Figure(fig, data)
