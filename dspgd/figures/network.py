"""Figures of the chapter "A two-layer network" (DSPGD on a non-linear model)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from matplotlib.lines import Line2D

from ..network import NetworkProblem, network_problem, project_to_interpolant, reference_lr, train
from .._threads import on_one_blas_thread
from ..plotting import color_of, new_figure
from ..solver import solve
from ..sweeps import loglog_slope, nearest_interpolator
from ..theory import gd_limit, stable_lr
from . import Figure, register
from .digits import FAMILY_NAMES, scaled_preconditioners, set_log_ticks

__all__ = ["end_points", "endpoint_distances", "network_eta", "network_width"]

_CHAPTER = "chapters/13_network"



def end_points(problem: NetworkProblem, fractions: tuple[float, ...], tol: float = 1e-6,
               max_steps: int = 50_000, families: tuple[str, ...] | None = None) -> dict:
    """End points of GD and of the four other maps of :func:`~dspgd.figures.digits.scaled_preconditioners`.

    Every map runs at ``fraction * reference_lr / L_K`` for each fraction,
    all runs in one stacked :func:`dspgd.network.train`; each end point is
    then polished by :func:`dspgd.network.project_to_interpolant`.
    ``families`` (names such as ``"gd"``, ``"normalized"``) restricts the
    maps; default: all five.

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
    if families is not None:
        unknown = set(families) - {K.name for K in Ks}
        if unknown:
            raise ValueError(f"unknown families {sorted(unknown)}; choose from {[K.name for K in Ks]}")
        Ks = [K for K in Ks if K.name in families]
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
@on_one_blas_thread
def _eta_runs(n: int, p: int, m: int, seed: int, fractions: tuple[float, ...], tol: float):
    prob = network_problem(n=n, p=p, m=m, seed=seed)
    return prob, end_points(prob, fractions, tol=tol)


@register("network-eta", chapter=_CHAPTER,
          title="Two-layer network: distance of each end point to GD's, against the step size",
          alt="Two log-log panels against the step size: the distance from the end points of normalized GD and "
              "of clipping by norm to gradient descent's end point falls along a line of slope about one, in "
              "parameters and in held-out function values, while for Adam and clipping by value it stays flat "
              "at a sizeable fraction of how far gradient descent moved.")
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
    data: dict = {"n": n, "p": p, "m": m, "params": prob.n_params, "n_test": prob.X_test.shape[0], "seed": seed,
                  "tol": tol, "fractions": fr.tolist(), "n_fractions": fr.size, "fraction_min": float(fr.min()),
                  "fraction_max": float(fr.max()), "eta_ref": reference_lr(prob), "methods": {},
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
            # halving the step at the largest and at the smallest steps (fractions given largest first)
            entry["halving_ratio_largest"] = entry["halving_ratios"][0]
            entry["halving_ratio_smallest"] = entry["halving_ratios"][-1]
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
          title="Two-layer network: the lazy regime, end points against the width",
          alt="Two panels against the width of the network: on log-log axes the distance of the isotropic end "
              "points to gradient descent's falls roughly like one over the square root of the width, parallel "
              "to the relative change of the Jacobian during training, with the single initializations "
              "scattered around their mean; and for Adam and clipping by value the gap to gradient descent "
              "stays roughly constant, on the network and on its linearization alike, while the distance "
              "between the network's end point and the linearized model's falls.")
@on_one_blas_thread
def network_width(*, n: int = 32, p: int = 32, widths: tuple[int, ...] = (16, 48, 144, 432), seed: int = 0,
                  fraction: float = 0.25, extra_inits: tuple[int, ...] = (101, 102), tol: float = 1e-6,
                  width: float = 7.6, height: float = 4.4) -> Figure:
    """End points against the width ``m`` (same data, NTK scaling), at one step fraction.

    (a) distance of the isotropic end points to GD's (parameter space), from
    the initialization of :func:`~dspgd.network.network_problem` and from the
    further initializations ``extra_inits`` (its ``init_seed``), with the
    fitted slope in ``m`` of their geometric mean; and the relative change of
    the Jacobian, ``||J(V_GD) - J(V0)||_F / ||J(V0)||_F``, along GD.
    (b) for the non-isotropic maps, from the first initialization: the gap to
    GD's end point on the network (solid) and on the model linearized at
    ``V0`` (dashed; :meth:`~dspgd.network.NetworkProblem.linearized`, solved
    by :func:`dspgd.solve` to the same tolerance and projected on its
    interpolators, where claims C2 and C4 apply), and the distance between
    the network's end point and the linearized model's (dotted).

    Returns
    -------
    Figure
        ``data["widths"]`` and, per family, the series against ``m``; the
        changes of the Jacobian and of the kernel ``J J^T`` along GD.
    """
    ms = np.asarray(widths, dtype=float)
    fig, (a1, a2) = new_figure(1, 2, width=width, height=height)
    series: dict = {}
    jac, ker = [], []
    for m in widths:
        prob = network_problem(n=n, p=p, m=int(m), seed=seed)
        ends = end_points(prob, (fraction,), tol=tol)
        V_gd = ends["gd"]["V"]
        scale = float(np.linalg.norm(V_gd[0] - prob.V0))
        J0, J1 = prob.jacobian(), prob.jacobian(V_gd[0])
        jac.append(float(np.linalg.norm(J1 - J0) / np.linalg.norm(J0)))
        ker.append(float(np.linalg.norm(J1 @ J1.T - J0 @ J0.T) / np.linalg.norm(J0 @ J0.T)))
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
        # the isotropic maps again, from other initializations of the same width
        iso = [f for f in series if series[f]["isotropic"]]
        for init in extra_inits:
            other = network_problem(n=n, p=p, m=int(m), seed=seed, init_seed=int(init))
            more = end_points(other, (fraction,), tol=tol, families=("gd", *iso))
            V_gd2 = more["gd"]["V"][0]
            for fam in iso:
                series[fam].setdefault("gap_extra", []).append(
                    float(np.linalg.norm(more[fam]["V"][0] - V_gd2) / np.linalg.norm(V_gd2 - other.V0)))
    data: dict = {"n": n, "p": p, "widths": [int(m) for m in widths], "seed": seed, "fraction": fraction,
                  "extra_inits": [int(i) for i in extra_inits], "n_inits": 1 + len(extra_inits),
                  "width_min": int(min(widths)), "width_max": int(max(widths)),
                  "params": [int(m) * p for m in widths], "params_max": int(max(widths)) * p,
                  "jacobian_change": jac, "kernel_change": ker,
                  "jacobian_slope": loglog_slope(ms, np.asarray(jac)), "kernel_slope": loglog_slope(ms, np.asarray(ker)),
                  "methods": series}
    for fam, s in series.items():
        col = color_of(fam)
        name = FAMILY_NAMES[fam]
        if s["isotropic"]:
            # gaps[i, j]: width i, initialization j (the first is that of the other maps)
            gaps = np.column_stack([s["gap"], np.reshape(s.pop("gap_extra", []), (len(widths), -1))])
            s["gap_inits"] = gaps.tolist()
            gm = np.exp(np.mean(np.log(gaps), axis=1))
            s["gap_geomean"] = gm.tolist()
            s["gap_geomean_first"], s["gap_geomean_last"] = float(gm[0]), float(gm[-1])
            s["slope_m"] = loglog_slope(ms, gm)
            single = [loglog_slope(ms, gaps[:, j]) for j in range(gaps.shape[1])]
            s["slope_m_inits"] = single
            s["slope_m_init_min"], s["slope_m_init_max"] = float(min(single)), float(max(single))
            s["slope_m_first_init"] = float(single[0])  # the initialization of the other maps alone
            # the scatter between initializations at one width, and the change of the mean between neighbouring widths
            s["init_spread_max"] = float(np.max(gaps.max(axis=1) / gaps.min(axis=1)))
            s["neighbour_change_min"] = float(np.min(gm[:-1] / gm[1:]))
            for j in range(gaps.shape[1]):
                a1.loglog(ms, gaps[:, j], color=col, marker="o", ms=3.5, ls="none", alpha=0.4)
            a1.loglog(ms, gm, color=col, marker="o", ms=4.5, lw=1.6, label=f"{name} (mean of {gaps.shape[1]})")
        else:
            s["slope_net_vs_linear"] = loglog_slope(ms, np.asarray(s["net_vs_linear"]))
            s["gap_last"], s["gap_linear_last"] = s["gap"][-1], s["gap_linear"][-1]
            a2.semilogx(ms, s["gap"], color=col, marker="s", ms=4.5, lw=1.6)
            a2.semilogx(ms, s["gap_linear"], color=col, marker="s", ms=4.5, lw=1.2, ls="--", mfc="white")
            a2.semilogx(ms, s["net_vs_linear"], color=col, marker="v", ms=4.5, lw=1.2, ls=":")
    a1.loglog(ms, jac, color="0.45", marker="x", ms=4.5, lw=1.2, ls="--",
              label=r"$\|J_\infty - J_0\|_F/\|J_0\|_F$ along GD")
    guide = np.asarray(series["normalized"]["gap_geomean"])[0] * 0.5 * (ms / ms[0]) ** -0.5
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
    fig.legend(handles=h1 + handles, loc="outside lower center", ncol=3, fontsize=8)
    non = [s for s in series.values() if not s["isotropic"]]
    iso = [s for s in series.values() if s["isotropic"]]
    data.update({
        "iso_slope_min": float(min(s["slope_m"] for s in iso)),
        "iso_slope_max": float(max(s["slope_m"] for s in iso)),
        "iso_slope_init_min": float(min(s["slope_m_init_min"] for s in iso)),
        "iso_slope_init_max": float(max(s["slope_m_init_max"] for s in iso)),
        "iso_init_spread_max": float(max(s["init_spread_max"] for s in iso)),
        "iso_neighbour_change_min": float(min(s["neighbour_change_min"] for s in iso)),
        "iso_slope_first_init_min": float(min(s["slope_m_first_init"] for s in iso)),
        "iso_slope_first_init_max": float(max(s["slope_m_first_init"] for s in iso)),
        "nvl_first_max": float(max(s["net_vs_linear"][0] for s in non)),
        "nvl_last_max": float(max(s["net_vs_linear"][-1] for s in non)),
        "nvl_slope_min": float(min(s["slope_net_vs_linear"] for s in non)),
        "nvl_slope_max": float(max(s["slope_net_vs_linear"] for s in non)),
    })
    return Figure(fig, data)
