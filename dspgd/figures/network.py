"""Figures of the chapter "A two-layer network" (DSPGD on a non-linear model)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from matplotlib.lines import Line2D

from ..network import NetworkProblem, network_problem, project_to_interpolant, reference_lr, train
from ..plotting import color_of, new_figure
from ..solver import solve
from ..sweeps import loglog_slope, nearest_interpolator
from ..theory import gd_limit, stable_lr
from . import Figure, register
from .digits import FAMILY_NAMES, scaled_preconditioners, set_log_ticks

__all__ = ["end_points", "endpoint_distances", "network_eta", "network_width"]

_CHAPTER = "chapters/13_network"



def end_points(problem: NetworkProblem, fractions: tuple[float, ...], tol: float = 1e-6,
               max_steps: int = 50_000) -> dict:
    """End points of GD and of the four other maps of :func:`~dspgd.figures.digits.scaled_preconditioners`.

    Every map runs at ``fraction * reference_lr / L_K`` for each fraction,
    all runs in one stacked :func:`dspgd.network.train`; each end point is
    then polished by :func:`dspgd.network.project_to_interpolant`.

    Returns
    -------
    dict
        ``family -> {"precond", "V" (F, m, p), "steps", "status"}``.

    Raises
    ------
    RuntimeError
        If a run did not converge (a distance between end points would mean nothing).
    """
    G0, _ = problem.gradient(problem.V0)
    Ks = scaled_preconditioners(G0)
    fr = np.asarray(fractions, dtype=float)
    eta = reference_lr(problem)
    precs = [K for K in Ks for _ in fr]
    lrs = np.array([f * eta / K.lipschitz for K in Ks for f in fr])
    res = train(problem, precs, lrs, tol=tol, max_steps=max_steps)
    if not np.all(res.status == "converged"):
        bad = [m for m, s in zip(res.message, res.status) if s != "converged"]
        raise RuntimeError(f"a network run did not converge: {bad[0]}")
    V = project_to_interpolant(problem, res.W)
    F = fr.size
    return {K.name: {"precond": K, "V": V[i * F:(i + 1) * F], "steps": res.steps[i * F:(i + 1) * F],
                     "status": res.status[i * F:(i + 1) * F]} for i, K in enumerate(Ks)}


def endpoint_distances(problem: NetworkProblem, V: np.ndarray, V_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances of end points ``V`` to reference end points ``V_ref`` (same shape), relative.

    Parameter space: ``||V - V_ref||_F / ||V_ref - V0||_F``. Function space,
    on the held-out inputs: ``rms(f_V - f_ref) / rms(f_ref - f_0)``, i.e.
    compared with how much training changed the function there.
    """
    par = np.linalg.norm(V - V_ref, axis=(-2, -1)) / np.linalg.norm(V_ref - problem.V0, axis=(-2, -1))
    f_ref = problem.predict(V_ref, problem.X_test)
    f0 = problem.predict(problem.V0, problem.X_test)
    fun = (np.sqrt(np.mean((problem.predict(V, problem.X_test) - f_ref) ** 2, axis=-1))
           / np.sqrt(np.mean((f_ref - f0) ** 2, axis=-1)))
    return par, fun


@lru_cache(maxsize=2)
def _eta_runs(n: int, p: int, m: int, seed: int, fractions: tuple[float, ...], tol: float):
    prob = network_problem(n=n, p=p, m=m, seed=seed)
    return prob, end_points(prob, fractions, tol=tol)


@register("network-eta", chapter=_CHAPTER,
          title="Two-layer network: distance of each end point to GD's, against the step size")
def network_eta(*, n: int = 32, p: int = 32, m: int = 64, seed: int = 0,
                fractions: tuple[float, ...] = (0.5, 0.25, 0.125, 0.0625), tol: float = 1e-6,
                width: float = 7.6, height: float = 4.2) -> Figure:
    """Distance between the end point of each map and GD's end point at the same step fraction.

    (a) in parameter space, (b) between the learned functions on held-out
    inputs; log-log axes against ``eta / eta_ref`` with
    ``eta_ref = reference_lr / L_K``. The fitted log-log slopes of the
    isotropic maps are in ``data``.

    Returns
    -------
    Figure
        ``data["methods"][family]``: distances (both kinds), slopes
        (isotropic maps), steps; plus the problem's sizes and summaries.
    """
    prob, ends = _eta_runs(n, p, m, seed, tuple(fractions), tol)
    fr = np.asarray(fractions, dtype=float)
    V_gd = ends["gd"]["V"]
    fig, (a1, a2) = new_figure(1, 2, width=width, height=height)
    data: dict = {"n": n, "p": p, "m": m, "params": prob.n_params, "seed": seed, "tol": tol,
                  "fractions": fr.tolist(), "eta_ref": reference_lr(prob), "methods": {},
                  "steps_max": int(max(int(np.max(e["steps"])) for e in ends.values())),
                  "gd_move": float(np.linalg.norm(V_gd[-1] - prob.V0) / np.linalg.norm(prob.V0))}
    for fam, e in ends.items():
        if fam == "gd":
            continue
        par, fun = endpoint_distances(prob, e["V"], V_gd)
        K = e["precond"]
        entry = {"label": K.label, "isotropic": bool(K.isotropic), "parameter": par.tolist(),
                 "function": fun.tolist(), "steps": np.asarray(e["steps"]).tolist()}
        style = {"color": color_of(K), "marker": "o" if K.isotropic else "s", "ms": 4.5, "lw": 1.6}
        name = FAMILY_NAMES[fam]
        if K.isotropic:
            entry["slope_parameter"] = loglog_slope(fr, par)
            entry["slope_function"] = loglog_slope(fr, fun)
            entry["halving_ratios"] = (par[:-1] / par[1:]).tolist()
            a1.loglog(fr, par, label=name, **style)
            a2.loglog(fr, fun, **style)
        else:
            a1.loglog(fr, par, label=name, ls="--", **style)
            a2.loglog(fr, fun, ls="--", **style)
        data["methods"][fam] = entry
    lo = min(min(v["parameter"]) for v in data["methods"].values())
    for a in (a1, a2):
        a.plot(fr, 0.5 * lo * fr / fr.min(), color="0.4", ls=":", lw=1.2)
        a.annotate("slope 1", xy=(fr[1], 0.5 * lo * fr[1] / fr.min()), xytext=(4, -12),
                   textcoords="offset points", fontsize=8.5, color="0.35")
        a.set_xlabel(r"$\eta / \eta_{\mathrm{ref}}$")
        set_log_ticks(a, fr)
    fig.legend(loc="outside lower center", ncol=4, fontsize=8.5)
    a1.set_ylabel(r"$\|V_\infty^K - V_\infty^{\mathrm{GD}}\|_F \,/\, \|V_\infty^{\mathrm{GD}} - V_0\|_F$", fontsize=9)
    a2.set_ylabel(r"$\mathrm{rms}(f^K - f^{\mathrm{GD}}) \,/\, \mathrm{rms}(f^{\mathrm{GD}} - f_0)$, held out",
                  fontsize=9)
    a1.set_title("(a) end points, parameter space", fontsize=10)
    a2.set_title("(b) learned functions, held-out inputs", fontsize=10)
    M = data["methods"]
    iso = [v for v in M.values() if v["isotropic"]]
    non = [v for v in M.values() if not v["isotropic"]]
    data.update({
        "slope_min": float(min(min(v["slope_parameter"], v["slope_function"]) for v in iso)),
        "slope_max": float(max(max(v["slope_parameter"], v["slope_function"]) for v in iso)),
        "iso_smallest": float(max(v["parameter"][-1] for v in iso)),
        "iso_largest": float(max(v["parameter"][0] for v in iso)),
        "halving_min": float(min(min(v["halving_ratios"]) for v in iso)),
        "halving_max": float(max(max(v["halving_ratios"]) for v in iso)),
        "gap_min": float(min(min(v["parameter"]) for v in non)),
        "gap_max": float(max(max(v["parameter"]) for v in non)),
        "gap_fun_min": float(min(min(v["function"]) for v in non)),
        "gap_fun_max": float(max(max(v["function"]) for v in non)),
        "gap_change_max": float(max(abs(v["parameter"][0] - v["parameter"][-1]) / v["parameter"][-1] for v in non)),
    })
    return Figure(fig, data)


@register("network-width", chapter=_CHAPTER,
          title="Two-layer network: the lazy regime, end points against the width")
def network_width(*, n: int = 32, p: int = 32, widths: tuple[int, ...] = (16, 48, 144, 432), seed: int = 0,
                  fraction: float = 0.125, tol: float = 1e-6,
                  width: float = 7.6, height: float = 4.4) -> Figure:
    """End points against the width ``m`` (same data, NTK scaling), at one step fraction.

    (a) distance of the isotropic end points to GD's (parameter space), with
    the fitted slope in ``m``. (b) for the non-isotropic maps: the gap to GD's
    end point on the network (solid) and on the model linearized at ``V0``
    (dashed; :meth:`~dspgd.network.NetworkProblem.linearized`, solved by
    :func:`dspgd.solve` to the same tolerance and projected on its interpolators, where claims C2
    and C4 apply), and the distance
    between the network's end point and the linearized model's (dotted).

    Returns
    -------
    Figure
        ``data["widths"]`` and, per family, the series against ``m``.
    """
    ms = np.asarray(widths, dtype=float)
    fig, (a1, a2) = new_figure(1, 2, width=width, height=height)
    series: dict = {}
    for m in widths:
        prob = network_problem(n=n, p=p, m=int(m), seed=seed)
        ends = end_points(prob, (fraction,), tol=tol)
        V_gd = ends["gd"]["V"]
        scale = float(np.linalg.norm(V_gd[0] - prob.V0))
        lin = prob.linearized()
        V_gd_lin = gd_limit(lin).reshape(prob.m, prob.p)
        for fam, e in ends.items():
            if fam == "gd":
                continue
            K = e["precond"]
            s = series.setdefault(fam, {"label": K.label, "isotropic": bool(K.isotropic), "gap": [],
                                        "gap_linear": [], "net_vs_linear": [], "steps": []})
            s["gap"].append(float(np.linalg.norm(e["V"][0] - V_gd[0]) / scale))
            s["steps"].append(int(e["steps"][0]))
            if not K.isotropic:
                r = solve(lin, K, fraction * stable_lr(lin, K), tol=tol, max_steps=200_000)
                if r.status != "converged":
                    raise RuntimeError(f"the linearized run did not converge: {r.message}")
                V_lin = nearest_interpolator(lin, r.W).reshape(prob.m, prob.p)
                s["gap_linear"].append(float(np.linalg.norm(V_lin - V_gd_lin) / np.linalg.norm(V_gd_lin - prob.V0)))
                s["net_vs_linear"].append(float(np.linalg.norm(e["V"][0] - V_lin) / scale))
    data: dict = {"n": n, "p": p, "widths": [int(m) for m in widths], "seed": seed, "fraction": fraction,
                  "params": [int(m) * p for m in widths], "methods": series}
    for fam, s in series.items():
        col = color_of(fam)
        name = FAMILY_NAMES[fam]
        if s["isotropic"]:
            s["slope_m"] = loglog_slope(ms, np.asarray(s["gap"]))
            a1.loglog(ms, s["gap"], color=col, marker="o", ms=4.5, lw=1.6, label=name)
        else:
            s["slope_net_vs_linear"] = loglog_slope(ms, np.asarray(s["net_vs_linear"]))
            a2.semilogx(ms, s["gap"], color=col, marker="s", ms=4.5, lw=1.6)
            a2.semilogx(ms, s["gap_linear"], color=col, marker="s", ms=4.5, lw=1.2, ls="--", mfc="white")
            a2.semilogx(ms, s["net_vs_linear"], color=col, marker="v", ms=4.5, lw=1.2, ls=":")
    guide = np.asarray(series["normalized"]["gap"])[0] * 0.5 * (ms / ms[0]) ** -0.5
    a1.loglog(ms, guide, color="0.4", ls=":", lw=1.2)
    a1.annotate(r"$m^{-1/2}$", xy=(ms[1], guide[1]), xytext=(-4, -14), textcoords="offset points",
                fontsize=9, color="0.35")
    set_log_ticks(a1, ms)
    set_log_ticks(a2, ms)
    a1.set_xlabel("width $m$")
    a1.set_ylabel(r"$\|V_\infty^K - V_\infty^{\mathrm{GD}}\|_F \,/\, \|V_\infty^{\mathrm{GD}} - V_0\|_F$", fontsize=9)
    a1.set_title("(a) isotropic $K$: distance to GD's end point", fontsize=10)
    a2.set_xlabel("width $m$")
    a2.set_ylabel("relative distance", fontsize=9)
    a2.set_ylim(bottom=0)
    a2.set_title("(b) non-isotropic $K$", fontsize=10)
    handles = [Line2D([], [], color=color_of(f), lw=1.6, label=FAMILY_NAMES[f]) for f in series
               if not series[f]["isotropic"]]
    handles += [Line2D([], [], color="0.3", lw=1.6, marker="s", ms=4, label="network: gap to GD"),
                Line2D([], [], color="0.3", lw=1.2, ls="--", marker="s", mfc="white", ms=4,
                       label="linearized: gap to GD"),
                Line2D([], [], color="0.3", lw=1.2, ls=":", marker="v", ms=4, label="network vs linearized")]
    h1, _ = a1.get_legend_handles_labels()
    fig.legend(handles=h1 + handles, loc="outside lower center", ncol=4, fontsize=8)
    non = [s for s in series.values() if not s["isotropic"]]
    iso = [s for s in series.values() if s["isotropic"]]
    data.update({
        "iso_slope_min": float(min(s["slope_m"] for s in iso)),
        "iso_slope_max": float(max(s["slope_m"] for s in iso)),
        "nvl_first_max": float(max(s["net_vs_linear"][0] for s in non)),
        "nvl_last_max": float(max(s["net_vs_linear"][-1] for s in non)),
        "nvl_slope_min": float(min(s["slope_net_vs_linear"] for s in non)),
        "nvl_slope_max": float(max(s["slope_net_vs_linear"] for s in non)),
    })
    return Figure(fig, data)
