"""Figures of the chapter "The small-step limit" (``eta -> 0`` and the gradient flow)."""

from __future__ import annotations

import numpy as np

from ..flow import flow_limit
from ..plotting import color_of, new_figure
from ..preconditioners import Preconditioner, adam, clip_value, diagonal
from ..problem import Problem, gaussian_problem
from ..solver import solve
from ..sweeps import loglog_slope
from ..theory import diagonal_limit, gd_limit, stable_lr
from . import Figure, register

__all__ = ["small_step_weights", "small_step_preconditioners", "small_step"]

_CHAPTER = "chapters/10_small_step"


_D_LOW = 0.25


def small_step_weights(d: int, seed: int = 1, low: float = _D_LOW) -> np.ndarray:
    """The fixed diagonal ``D`` of the chapter: i.i.d. uniform on ``[low, 1]``, shape ``(d, 1)``."""
    if not 0 < low <= 1:
        raise ValueError(f"low must lie in (0, 1], got {low!r}")
    return np.random.default_rng(seed).uniform(low, 1.0, (d, 1))


def small_step_preconditioners(d: int, eps: float = 0.01, c: float = 0.2) -> list[Preconditioner]:
    """``adam(eps)``, ``clip_value(c)`` and the fixed diagonal of :func:`small_step_weights`."""
    return [adam(eps), clip_value(c), diagonal(small_step_weights(d))]


@register("small-step", chapter=_CHAPTER,
          title="Distance of the DSPGD limit to the gradient-flow limit against the learning rate",
          alt="Log-log plot against the learning rate of the distance from the DSPGD limit to the end point of "
              "the gradient flow: for Adam and for clipping by value it shrinks in proportion to the step, while "
              "the distances of their flow limits to the GD solution (dashed lines) stay large, and for the fixed "
              "diagonal it stays at the floor set by the stopping tolerance at every step.")
def small_step(*, n: int = 20, d: int = 100, seed: int = 0, eps: float = 0.01, c: float = 0.2,
               fractions: tuple[float, ...] = tuple(np.geomspace(5e-3, 0.5, 9)), tol: float = 1e-12,
               max_steps: int = 60_000, width: float = 7.0, height: float = 5.0) -> Figure:
    """``||W_inf(eta) - W_flow|| / ||W0 - W_GD||`` against ``eta / eta_stable`` on log-log axes.

    For ``adam(eps)`` and ``clip_value(c)``, ``W_flow`` is the end point of
    the gradient flow (:func:`dspgd.flow.flow_limit`); the dashed lines are
    ``||W_flow - W_GD|| / ||W0 - W_GD||``, what is left when ``eta -> 0``.
    For the fixed diagonal ``K``, the reference is its closed-form limit
    (:func:`dspgd.diagonal_limit`), which is also its flow limit.

    Returns
    -------
    Figure
        ``data["methods"][family]``: learning rates, fractions of the stable
        step, statuses, steps, distances to the flow limit, the fitted
        log-log slope, the flow limit's distance to ``W_GD`` and the flow's
        own diagnostics; plus a Richardson check (extrapolating the two
        smallest steps to ``eta = 0``).
    """
    prob: Problem = gaussian_problem(n=n, d=d, seed=seed)
    fr = np.array(sorted(float(f) for f in fractions))
    W_gd = gd_limit(prob)
    scale = float(np.linalg.norm(W_gd - prob.W0))
    fig, ax = new_figure(width=width, height=height)
    data: dict = {"n": n, "d": d, "k": prob.k, "seed": seed, "tol": tol, "eps": eps, "c": c, "fractions": fr.tolist(),
                  "decades": float(np.log10(fr[-1] / fr[0])), "methods": {}}
    for p in small_step_preconditioners(d, eps, c):
        eta_s = stable_lr(prob, p)
        lrs = fr * eta_s
        res = solve(prob, p, lrs, tol=tol, max_steps=max_steps)
        fl = flow_limit(prob, p)
        col = color_of(p)
        entry: dict = {"label": p.label, "stable_lr": float(eta_s), "lr": lrs.tolist(),
                       "status": [str(s) for s in res.status], "steps": [int(s) for s in res.steps],
                       "all_converged": bool(np.all(res.status == "converged")),
                       "flow_status": fl.status, "flow_time": fl.t, "flow_nfev": fl.nfev,
                       "flow_rel_residual": fl.relative_residual,
                       "flow_to_gd": float(np.linalg.norm(fl.W - W_gd) / scale)}
        if p.name == "diagonal":
            W_ref = diagonal_limit(prob, p.params["D"])
            entry["flow_vs_closed_form"] = float(np.linalg.norm(fl.W - W_ref) / scale)
        else:
            W_ref = fl.W
        err = np.linalg.norm(res.W - W_ref, axis=(-2, -1)) / scale
        entry["distance"] = err.tolist()
        entry["distance_min"], entry["distance_max"] = float(err.min()), float(err.max())
        entry["rel_distance_gd"] = (np.linalg.norm(res.W - W_gd, axis=(-2, -1)) / scale).tolist()
        if p.name == "diagonal":
            ax.plot(fr, err, "P-", color=col, ms=5, lw=1.5,
                    label=r"fixed diagonal $D$: $\|W_\infty(\eta) - W_D\|$ (closed form)")
            ax.annotate("floor set by the stopping tolerance", xy=(fr[0], err[0]), xytext=(0, 8),
                        textcoords="offset points", fontsize=8.5, color=col)
        else:
            slope = loglog_slope(fr, err)
            entry["slope"] = slope
            # Richardson: W(eta) ~ W_flow + eta A, so (r W(eta1) - W(eta2)) / (r - 1) ~ W_flow + O(eta^2)
            r = lrs[1] / lrs[0]
            W_rich = (r * res.W[0] - res.W[1]) / (r - 1)
            entry["richardson_to_flow"] = float(np.linalg.norm(W_rich - fl.W) / scale)
            ax.plot(fr, err, "o-", color=col, ms=4.5, lw=1.5,
                    label=rf"{p.label}: slope {slope:.2f}")
            ax.axhline(entry["flow_to_gd"], color=col, ls="--", lw=1.2,
                       label=rf"{p.label}: $\|W_{{\mathrm{{flow}}}} - W_{{\mathrm{{GD}}}}\|$")
        data["methods"][p.name] = entry
    # slope-1 guide under the lowest curve
    lo = min(data["methods"][k]["distance"][0] for k in ("adam", "clip_value"))
    ax.plot(fr, 0.3 * lo * fr / fr[0], color="0.4", ls=":", lw=1.2)
    ax.annotate("slope 1", xy=(fr[4], 0.3 * lo * fr[4] / fr[0]), xytext=(6, -12),
                textcoords="offset points", color="0.35", fontsize=9)
    top = max(data["methods"][k]["flow_to_gd"] for k in ("adam", "clip_value"))
    ax.annotate(r"$\eta \to 0$ limit is not $W_{\mathrm{GD}}$", xy=(fr[-1], top), xytext=(0, 5),
                textcoords="offset points", ha="right", va="bottom", fontsize=8.5, color="0.3")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$\eta / \eta_{\mathrm{stable}}$,  $\eta_{\mathrm{stable}} = 2/(L_K\,\|X\|_{\mathrm{op}}^2)$")
    ax.set_ylabel(r"$\|W_\infty(\eta) - W_{\mathrm{flow}}\|_F \,/\, \|W_0 - W_{\mathrm{GD}}\|_F$")
    ax.set_ylim(1e-15, 20)
    fig.legend(loc="outside lower center", ncol=2, fontsize=8.5)
    m = data["methods"]
    data.update({
        "slope_min": float(min(m[k]["slope"] for k in ("adam", "clip_value"))),
        "slope_max": float(max(m[k]["slope"] for k in ("adam", "clip_value"))),
        "flow_to_gd_min": float(min(m[k]["flow_to_gd"] for k in ("adam", "clip_value"))),
        "flow_to_gd_max": float(max(m[k]["flow_to_gd"] for k in ("adam", "clip_value"))),
        "steps_max": int(max(max(v["steps"]) for v in m.values())),
        "all_converged": bool(all(v["all_converged"] for v in m.values())),
        "flows_converged": bool(all(v["flow_status"] == "converged" for v in m.values())),
        "D_low": _D_LOW,
    })
    return Figure(fig, data)
