"""Figures of the chapter "The implicit bias depends on the learning rate" (claim C2)."""

from __future__ import annotations

import numpy as np

from ..plotting import color_of, new_figure
from ..problem import gaussian_problem
from ..sweeps import Spec, diagonal_weights, halving_increments, loglog_slope, run_limits, spec
from ..theory import diagonal_limit
from . import Figure, register

__all__ = ["default_fractions", "lr_specs", "lr_dependence", "lr_vs_eps"]

_CHAPTER = "chapters/04_lr_dependence"
_FLOOR = 1e-17  # plotted in place of an exact zero on a log axis


def default_fractions(top: float = 0.96, halvings: int = 7) -> tuple[float, ...]:
    """``top * 2^-j`` for ``j = 0..halvings``: learning rates as fractions of the stable step."""
    if not 0 < top < 1:
        raise ValueError(f"top must be in (0, 1), got {top!r}")
    if int(halvings) != halvings or halvings < 1:
        raise ValueError(f"halvings must be a positive integer, got {halvings!r}")
    return tuple(float(top * 2.0**-j) for j in range(int(halvings) + 1))


def lr_specs() -> list[Spec]:
    """The preconditioners of the figure, isotropic first."""
    return [
        spec("gd"), spec("normalized", eps=0.5), spec("clip_norm", c=0.5),
        spec("adam", eps=0.1), spec("adam", eps=0.03), spec("clip_value", c=0.05),
        spec("power", q=1.5, eps=0.01), spec("diagonal", spread=3.0),
    ]


_MARKERS = {"gd": "o", "normalized": "s", "clip_norm": "^", "adam": "o", "clip_value": "D",
            "power": "v", "diagonal": "P"}


def _style(sp: Spec, nth: int) -> dict:
    """Colour of the family; a second member of a family is dashed with open markers."""
    st = {"color": color_of(sp.family), "marker": _MARKERS.get(sp.family, "o"), "ms": 4.5}
    if nth:
        st.update(ls="--", mfc="white")
    return st


def _label(sp: Spec, d: int) -> str:
    if sp.family == "diagonal":
        return rf"fixed diagonal ($D_{{\max}}/D_{{\min}}={sp.get('spread'):g}$)"
    return sp.make(d).label


@register("lr-dependence", chapter=_CHAPTER,
          title="Distance of the DSPGD limit to the GD solution against the learning rate",
          alt="Three panels against the learning rate as a fraction of the stable step: (a) the relative "
              "distance of the limit to W_GD sits at machine precision for the three isotropic "
              "preconditioners and far above it, nearly flat, for the others; (b) that distance minus its "
              "extrapolated small-step value grows along straight lines for Adam without momentum and "
              "clipping by value, stays nearly flat for the power map and at zero for the fixed diagonal; "
              "(c) the change of the limit when the step doubles follows the slope-one guide for the "
              "non-linear preconditioners and stays at the solver's accuracy floor for the fixed diagonal.")
def lr_dependence(*, n: int = 20, d: int = 200, seeds: tuple[int, ...] = (0, 1, 2),
                  fractions: tuple[float, ...] | None = None, tol: float = 1e-10,
                  width: float = 7.6, height: float = 7.0) -> Figure:
    """Relative distance ``||W_inf - W_GD|| / ||W0 - W_GD||`` against ``lr``, and how it changes.

    (a) the relative distance against ``lr / stable_lr`` on log axes, for
    isotropic and non-isotropic preconditioners (faint: each seed; bold: the
    mean over seeds). (b) the change of that distance from its extrapolated
    ``lr -> 0`` value, on linear axes (a straight line = first order in
    ``lr``). (c) ``||W_inf(lr) - W_inf(lr/2)|| / ||W0 - W_GD||`` on log axes,
    with a slope-1 guide.

    Returns
    -------
    Figure
        ``data`` holds, per preconditioner (key ``family`` or
        ``family_param``), the relative distances per seed, the increments,
        fitted log-log slopes per seed (and their extremes, ``slope_min``,
        ``slope_max``, ``distance_slope_min``, ``distance_slope_max``), and
        the summary numbers the chapter quotes, among them ``n_fractions``,
        the number of learning rates.
    """
    fr = default_fractions() if fractions is None else tuple(float(f) for f in fractions)
    specs = lr_specs()
    fig, axs = new_figure(2, 2, width=width, height=height)
    ax, lx, bx, gx = axs[0, 0], axs[0, 1], axs[1, 0], axs[1, 1]
    data: dict = {"n": n, "d": d, "seeds": list(seeds), "n_seeds": len(seeds), "fractions": list(fr),
                  "n_fractions": len(fr), "fraction_min": min(fr), "fraction_max": max(fr),
                  "decades": float(np.log10(max(fr) / min(fr))), "tol": tol, "methods": {}}
    seen: dict[str, int] = {}
    all_conv = True
    iso_max = 0.0
    handles = []
    for sp in specs:
        nth = seen.get(sp.family, 0)
        seen[sp.family] = nth + 1
        st = _style(sp, nth)
        runs = [run_limits(sp, n, d, s, fr, tol=tol) for s in seeds]
        all_conv &= all(r.all_converged for r in runs)
        order = np.argsort(runs[0].fractions)
        x = runs[0].fractions[order]
        rd = np.array([r.rel_distance[order] for r in runs])  # (seeds, B), lr increasing
        iso = runs[0].spec.make(d).isotropic
        for r in rd:
            ax.plot(x, np.maximum(r, _FLOOR), color=st["color"], lw=0.8, alpha=0.3, ls=st.get("ls", "-"))
        h, = ax.plot(x, np.maximum(rd.mean(axis=0), _FLOOR), lw=1.8, label=_label(sp, d), **st)
        handles.append(h)
        key = sp.family + ("_" + "_".join(f"{v:g}" for _, v in sp.params)
                           if sp.family in ("adam", "clip_value") else "")
        entry: dict = {"label": _label(sp, d), "isotropic": bool(iso), "rel_distance": rd.tolist(),
                       "rel_distance_min": float(rd.min()), "rel_distance_max": float(rd.max()),
                       "steps_max": int(max(r.steps.max() for r in runs))}
        if iso:
            iso_max = max(iso_max, float(rd.max()))
        incs, slopes = [], []
        for r in runs:
            xf, inc = halving_increments(r)
            incs.append(inc)
            if not iso and sp.family != "diagonal":
                slopes.append(loglog_slope(xf, inc))
        incs = np.array(incs)
        entry.update(increments=incs.tolist(), increment_fractions=xf.tolist(),
                     increment_max=float(incs.max()))
        if not iso:
            # distance minus its first-order extrapolation to lr -> 0: 2 d(h) - d(2h)
            d0 = 2 * rd[:, 0] - rd[:, 1]
            dd = rd - d0[:, None]
            for row in dd:
                lx.plot(x, row, color=st["color"], lw=0.8, alpha=0.3, ls=st.get("ls", "-"))
            lx.plot(x, dd.mean(axis=0), lw=1.8, **st)
            for inc in incs:
                bx.plot(xf, np.maximum(inc, _FLOOR), color=st["color"], lw=0.8, alpha=0.3, ls=st.get("ls", "-"))
            bx.plot(xf, np.exp(np.log(np.maximum(incs, _FLOOR)).mean(axis=0)), lw=1.8, **st)
            entry["distance_limit"] = d0.tolist()
        if slopes:
            dslopes = [loglog_slope(x[1:], np.abs(row[1:])) for row in dd]
            entry.update(slopes=[float(v) for v in slopes], distance_slopes=[float(v) for v in dslopes],
                         slope_min=float(min(slopes)), slope_max=float(max(slopes)),
                         distance_slope_min=float(min(dslopes)), distance_slope_max=float(max(dslopes)))
            # the whole effect over the grid (vector change), and its direction
            span = [float(np.linalg.norm(r.W[np.argmax(r.fractions)] - r.W[np.argmin(r.fractions)]) / r.scale)
                    for r in runs]
            entry["eta_span"] = span
            entry["eta_span_over_distance"] = [float(s / row[0]) for s, row in zip(span, rd)]
            entry["farther_at_larger_lr"] = int(np.sum(rd[:, -1] > rd[:, 0]))
        if sp.family == "diagonal":
            D = diagonal_weights(d, sp.get("spread"))
            entry["closed_form_error"] = float(max(
                np.max(np.linalg.norm(r.W - diagonal_limit(r.problem, D), axis=(-2, -1))) / r.scale
                for r in runs))
            entry["eta_spread"] = float(max(np.ptp(row) for row in rd))
        data["methods"][key] = entry

    # slope-1 guide above the adam increments
    xs = np.array(data["methods"]["adam_0.1"]["increment_fractions"])
    ys = np.exp(np.log(np.array(data["methods"]["adam_0.1"]["increments"])).mean(axis=0))
    guide = 4 * ys[0] * xs / xs[0]
    bx.plot(xs, guide, color="0.3", ls=":", lw=1.2)
    bx.annotate("slope 1", xy=(xs[2], guide[2]), xytext=(-6, 6), textcoords="offset points",
                ha="right", color="0.3", fontsize=9)

    eps_m = np.finfo(float).eps
    for a in (ax, bx):
        a.set_xscale("log")
        a.set_yscale("log")
        a.axhline(eps_m, color="0.5", lw=0.8, ls=":")
        a.set_ylim(3e-18, 3)
        a.set_xlabel(r"$\eta/\eta_{\mathrm{stable}}$")
    ax.text(x[0], eps_m * 2.2, "machine epsilon", color="0.4", fontsize=8, va="bottom")
    lx.axhline(0, color="0.5", lw=0.8)
    lx.set_xlim(0, 1)
    lx.set_xlabel(r"$\eta/\eta_{\mathrm{stable}}$ (linear axis)")
    ax.set_ylabel(r"$\|W_\infty - W_{\mathrm{GD}}\|_F \,/\, \|W_0 - W_{\mathrm{GD}}\|_F$")
    lx.set_ylabel(r"distance minus its $\eta\to 0$ value")
    bx.set_ylabel(r"$\|W_\infty(\eta) - W_\infty(\eta/2)\|_F \,/\, \|W_0 - W_{\mathrm{GD}}\|_F$", fontsize=9.5)
    ax.set_title("(a) distance to the GD solution", fontsize=10)
    lx.set_title("(b) its change with $\\eta$, non-isotropic $K$", fontsize=10)
    bx.set_title(r"(c) change of $W_\infty$ when $\eta$ doubles", fontsize=10)
    gx.axis("off")
    gx.legend(handles=handles, loc="center", fontsize=10, title="preconditioner", title_fontsize=10.5)

    nonlin = [v for v in data["methods"].values() if "slopes" in v]
    all_slopes = [s for v in nonlin for s in v["slopes"]]
    dist_slopes = [s for v in nonlin for s in v["distance_slopes"]]
    dg = data["methods"]["diagonal"]
    data.update({
        "all_converged": bool(all_conv),
        "isotropic_max": iso_max,
        "machine_epsilon": float(eps_m),
        "isotropic_max_in_eps": float(iso_max / eps_m),
        "slope_min": float(min(all_slopes)), "slope_max": float(max(all_slopes)),
        "distance_slope_min": float(min(dist_slopes)), "distance_slope_max": float(max(dist_slopes)),
        "eta_span_max": float(max(s for v in nonlin for s in v["eta_span"])),
        "eta_span_min": float(min(s for v in nonlin for s in v["eta_span"])),
        "eta_span_over_distance_max": float(max(s for v in nonlin for s in v["eta_span_over_distance"])),
        "eta_span_over_distance_min": float(min(s for v in nonlin for s in v["eta_span_over_distance"])),
        "nonlinear_distance_min": float(min(v["rel_distance_min"] for v in nonlin)),
        "nonlinear_distance_max": float(max(v["rel_distance_max"] for v in nonlin)),
        "farther_count": int(sum(v["farther_at_larger_lr"] for v in nonlin)),
        "nonlinear_runs": int(len(nonlin) * len(seeds)),
        "diagonal_eta_spread": dg["eta_spread"],
        "diagonal_closed_form_error": dg["closed_form_error"],
        "diagonal_increment_max": dg["increment_max"],
        "diagonal_distance_min": dg["rel_distance_min"], "diagonal_distance_max": dg["rel_distance_max"],
        "steps_max": int(max(v["steps_max"] for v in data["methods"].values())),
        # the slopes of panel (c) are fitted over the larger step of each halving pair
        "increment_decades": float(np.log10(max(xs) / min(xs))),
    })
    return Figure(fig, data)


@register("lr-vs-eps", chapter=_CHAPTER,
          title="The learning-rate effect next to the effect of the preconditioner's own parameter",
          alt="(a) and (b) The relative distance of the limit to W_GD falls steadily as Adam's epsilon or the "
              "clipping level tau grows, with one curve per learning rate and the curves nearly on top of "
              "each other except at the largest clipping levels; (c) the learning-rate effect divided by the "
              "bias grows with the threshold on log-log axes, faster for clipping by value than for Adam.")
def lr_vs_eps(*, n: int = 20, d: int = 200, seeds: tuple[int, ...] = (0, 1, 2),
              fractions: tuple[float, ...] | None = None, tol: float = 1e-10,
              adam_eps: tuple[float, ...] = (1.0, 0.3, 0.1, 0.03, 0.01),
              clip_c: tuple[float, ...] = (0.4, 0.2, 0.1, 0.05, 0.02),
              width: float = 7.6, height: float = 6.8) -> Figure:
    """Relative distance against Adam's ``eps`` and the clipping level ``c``, one curve per ``lr``.

    (a), (b): mean over seeds of
    ``||W_inf - W_GD|| / ||W0 - W_GD||`` against ``eps`` (Adam with
    ``beta = 0``) and against ``c`` (clipping by value), one curve for each
    learning rate of the grid (as a fraction of each method's stable step).
    (c): the whole learning-rate effect ``||W_inf(lr_max) - W_inf(lr_min)||``
    divided by the bias itself ``||W_inf(lr_min) - W_GD||``, against the
    threshold (``eps`` or ``c``; both are gradient magnitudes at which the
    map bends from linear to sign-like); faint lines: each seed.

    Returns
    -------
    Figure
        ``data`` holds the distances ``[param][seed][lr]`` per family and the
        summary numbers quoted by the chapter; per family also ``grid_min``,
        ``grid_max``, ``n_grid`` and, at the largest parameter value,
        ``eta_spread_at_grid_max`` (the learning-rate spread of the distance,
        worst seed, as ``eta_spread``), ``distance_small_lr_at_grid_max`` (the
        distance at the smallest learning rate, mean over seeds, as
        ``distance_small_lr``) and ``distance_small_lr_at_grid_max_worst_seed``
        (the same distance for the seed of ``eta_spread_at_grid_max``).
    """
    fr = default_fractions() if fractions is None else tuple(float(f) for f in fractions)
    fig, grid_axes = new_figure(2, 2, width=width, height=height)
    axes = [grid_axes[0, 0], grid_axes[0, 1], grid_axes[1, 0]]
    lg = grid_axes[1, 1]
    import matplotlib as mpl

    cmap = mpl.colormaps["viridis"]
    order = np.argsort(fr)[::-1]
    colors = {i: cmap(0.05 + 0.85 * j / max(len(fr) - 1, 1)) for j, i in enumerate(order)}
    data: dict = {"n": n, "d": d, "seeds": list(seeds), "fractions": list(fr), "families": {}}
    all_conv = True
    for ax, family, key, grid, xlabel in (
        (axes[0], "adam", "eps", adam_eps, r"Adam$_{\beta=0}$ $\epsilon$"),
        (axes[1], "clip_value", "c", clip_c, r"clipping level $\tau$"),
    ):
        D = np.empty((len(grid), len(seeds), len(fr)))
        rel_effect = np.empty((len(grid), len(seeds)))
        for i, v in enumerate(grid):
            for j, s in enumerate(seeds):
                r = run_limits(spec(family, **{key: v}), n, d, s, fr, tol=tol)
                all_conv &= r.all_converged
                D[i, j] = r.rel_distance
                lo, hi = np.argmin(r.fractions), np.argmax(r.fractions)
                # ||W(lr_max) - W(lr_min)|| / ||W(lr_min) - W_GD||
                rel_effect[i, j] = np.linalg.norm(r.W[hi] - r.W[lo]) / (r.rel_distance[lo] * r.scale)
        g = np.asarray(grid, dtype=float)
        for b in order:
            ax.plot(g, D[:, :, b].mean(axis=1), color=colors[b], marker="o", ms=3.5, lw=1.3,
                    label=rf"${fr[b]:.3g}$")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(mpl.ticker.NullFormatter())
        ax.set_xticks(g, [f"{v:g}" for v in g])
        ax.set_xlabel(xlabel)
        ax.set_ylim(bottom=0)
        eta_spread = np.ptp(D, axis=2).max(axis=1)  # worst seed, per parameter value
        lowest = D[:, :, int(np.argmin(fr))].mean(axis=1)
        effect_mean = np.exp(np.log(rel_effect).mean(axis=1))  # geometric mean over seeds, as drawn
        axes[2].plot(g, effect_mean, color=color_of(family),
                     marker="o", lw=1.6, label=r"Adam$_{\beta=0}$, $x=\epsilon$" if family == "adam"
                     else r"clip by value, $x=\tau$")
        for j in range(len(seeds)):
            axes[2].plot(g, rel_effect[:, j], color=color_of(family), lw=0.7, alpha=0.35)
        data["families"][family] = {
            "param": key, "grid": g.tolist(), "distance": D.tolist(),
            "distance_small_lr": lowest.tolist(),
            "param_range": float(lowest.max() - lowest.min()),
            "eta_spread": eta_spread.tolist(),
            "eta_spread_max": float(eta_spread.max()),
            "rel_effect": rel_effect.tolist(),
            "rel_effect_max": float(rel_effect.max()), "rel_effect_min": float(rel_effect.min()),
            "rel_effect_mean": effect_mean.tolist(),
            "rel_effect_mean_at_min": float(effect_mean[np.argmin(g)]),
            "rel_effect_mean_at_max": float(effect_mean[np.argmax(g)]),
            "distance_small_lr_min": float(lowest.min()), "distance_small_lr_max": float(lowest.max()),
            "param_at_min": float(g[np.argmin(lowest)]), "param_at_max": float(g[np.argmax(lowest)]),
        }
        fam = data["families"][family]
        fam["param_over_eta"] = float(fam["param_range"] / fam["eta_spread_max"])
        top = int(np.argmax(g))
        worst = int(np.argmax(np.ptp(D[top], axis=1)))  # the seed whose distance the learning rate moves most
        fam.update(grid_min=float(g.min()), grid_max=float(g.max()), n_grid=int(g.size),
                   eta_spread_at_grid_max=float(eta_spread[top]), distance_small_lr_at_grid_max=float(lowest[top]),
                   distance_small_lr_at_grid_max_worst_seed=float(D[top, worst, int(np.argmin(fr))]))
    axes[0].set_ylabel(r"$\|W_\infty - W_{\mathrm{GD}}\|_F \,/\, \|W_0 - W_{\mathrm{GD}}\|_F$")
    axes[0].set_title(r"(a) Adam$_{\beta=0}$", fontsize=10)
    axes[1].set_title("(b) clipping by value", fontsize=10)
    lg.axis("off")
    h, lab = axes[0].get_legend_handles_labels()
    lg.legend(h, lab, title=r"curves in (a), (b): $\eta/\eta_{\mathrm{stable}}$", fontsize=10.5,
              title_fontsize=10.5, loc="center", ncol=2)
    axes[2].set_xscale("log")
    axes[2].set_yscale("log")
    axes[2].xaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    axes[2].set_xlabel(r"threshold $x$ ($\epsilon$ or $\tau$)")
    axes[2].set_ylabel(r"$\|W_\infty(\eta_{\max}) - W_\infty(\eta_{\min})\| \,/\, \|W_\infty(\eta_{\min}) - W_{\mathrm{GD}}\|$",
                       fontsize=9)
    axes[2].set_title(r"(c) $\eta$ effect relative to the bias", fontsize=10)
    axes[2].legend(fontsize=8, loc="best")
    # typical size of a gradient entry at the start: the scale the thresholds eps and c compare with
    rms = []
    for s_ in seeds:
        prob = gaussian_problem(n=n, d=d, seed=s_)
        G0 = prob.X.T @ prob.residual(prob.W0)
        rms.append(float(np.sqrt(np.mean(G0**2))))
    data["grad_rms"] = float(np.mean(rms))
    data["all_converged"] = bool(all_conv)
    data["rel_effect_max"] = float(max(f["rel_effect_max"] for f in data["families"].values()))
    data["rel_effect_min"] = float(min(f["rel_effect_min"] for f in data["families"].values()))
    return Figure(fig, data)
