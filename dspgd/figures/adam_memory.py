"""Figures of the chapter "Adam with memory" (full Adam is not a DSPGD method)."""

from __future__ import annotations

import numpy as np

from ..adam_memory import MomentumRule, adam_sweep, run_stateful
from ..plotting import color_of, new_figure
from ..preconditioners import adam
from ..problem import gaussian_problem
from ..theory import bound_constant, distance_ratio, gd_limit, relative_distance, stable_lr
from . import Figure, register

__all__ = ["BETAS", "eps_key", "run_key", "adam_runs", "adam_memory_curves", "adam_memory_bias", "adam_memory_table",
           "adam_memory_seeds", "adam_memory_seed_table"]

_CHAPTER = "chapters/08_adam_memory"

#: The betas of the chapter; ``(0, 0)`` is the DSPGD method ``adam(eps)``.
BETAS: tuple[tuple[float, float], ...] = ((0.9, 0.999), (0.9, 0.99), (0.5, 0.9), (0.0, 0.999), (0.0, 0.0))
_LS = ("-", "--", "-.", ":", "-")
_MK = ("o", "s", "^", "v", "D")


def eps_key(e: float) -> str:
    """The key of an ``eps`` in the figures' data: ``1e-08`` as ``"eps1e-08"``."""
    return f"eps{e:g}"


def run_key(b: tuple[float, float], e: float) -> str:
    """The key of a run in the figures' data: ``(0.9, 0.999)`` and ``1e-08`` as ``"beta0.9_0.999-eps1e-08"``.

    Made of letters, digits, ``.``, ``_`` and ``-`` only, so that it is
    also the readable part of the run's glue names (:mod:`dspgd.gluing`).
    """
    return f"beta{b[0]:g}_{b[1]:g}-{eps_key(e)}"


def _label(b: tuple[float, float]) -> str:
    if b == (0.0, 0.0):
        return r"$\beta=(0,0)$: DSPGD Adam$_{\beta=0}$"
    return rf"$\beta=({b[0]:g},\,{b[1]:g})$"


def _style(i: int, b: tuple[float, float]) -> dict:
    fam = "adam" if b == (0.0, 0.0) else "adam_memory"
    return {"color": color_of(fam), "ls": _LS[i], "marker": _MK[i]}


def _short(x: float) -> str:
    """``0.001`` as ``1e-3``, ``0.00316`` as ``3e-3``."""
    return f"{x:.0e}".replace("e-0", "e-").replace("e+0", "e")


def _eps_tex(e: float) -> str:
    ex = int(round(np.log10(e)))
    return rf"10^{{{ex}}}" if abs(e - 10.0**ex) < 1e-12 * e else f"{e:g}"


def adam_runs(*, n: int = 20, d: int = 100, seed: int = 0,
              betas: tuple[tuple[float, float], ...] = BETAS, eps: tuple[float, ...] = (1e-8, 1e-3),
              lrs: tuple[float, ...] = tuple(np.geomspace(1e-4, 1e-2, 5)), curve_lr: float = 1e-3,
              tol: float = 1e-10, patience: int = 20, max_steps: int = 20_000,
              curve_steps: int = 20_000) -> dict:
    """The computations of the chapter, shared by its figures.

    Two batched runs of :func:`dspgd.adam_memory.adam_sweep`: the grid
    ``betas x eps x lrs`` with the stopping rule (``tol``), and the same
    ``betas x eps`` at ``curve_lr`` for ``curve_steps`` steps without
    stopping (``tol = 0``), to see what happens after a run has converged.
    Plus gradient descent with Adam's first moment only
    (:class:`~dspgd.adam_memory.MomentumRule`), which must land on ``W_GD``.

    Returns
    -------
    dict
        ``problem``, ``grid`` (the batched Result), ``curves`` (the
        unstopped Result), ``momentum`` (Result) and the settings.
    """
    prob = gaussian_problem(n=n, d=d, seed=seed)
    lrs = tuple(float(x) for x in lrs)
    if curve_lr not in lrs:
        raise ValueError(f"curve_lr = {curve_lr!r} must be one of lrs, to compare with the stopped run")
    grid = adam_sweep(prob, np.array(lrs), list(betas), list(eps), tol=tol, patience=patience,
                      max_steps=max_steps)
    curves = adam_sweep(prob, curve_lr, list(betas), list(eps), tol=0.0, max_steps=curve_steps,
                        n_record=600)
    mom = run_stateful(prob, MomentumRule(0.9), np.array([0.1, 0.3, 1.0]), tol=tol, patience=patience,
                       max_steps=max_steps)
    return {"problem": prob, "grid": grid, "curves": curves, "momentum": mom, "betas": tuple(betas),
            "eps": tuple(eps), "lrs": lrs, "curve_lr": curve_lr, "tol": tol, "patience": patience,
            "max_steps": max_steps,
            "curve_steps": curve_steps, "n": n, "d": d, "seed": seed}


_CACHE: dict = {}


def _runs(**kw) -> dict:
    key = tuple(sorted((k, str(v)) for k, v in kw.items()))
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = adam_runs(**kw)
    return _CACHE[key]


def _summary(R: dict) -> dict:
    """Per (betas, eps, lr): status, relative residual, distances; plus the after-convergence drift."""
    prob, grid, curves = R["problem"], R["grid"], R["curves"]
    W_gd = gd_limit(prob)
    r0 = float(np.linalg.norm(prob.residual(prob.W0)))
    nb, ne, nl = grid.extra["grid"]
    rel = relative_distance(grid.W, prob, W_gd)
    rat = distance_ratio(grid.W, prob, W_gd)
    runs = {}
    for i, b in enumerate(R["betas"]):
        for j, e in enumerate(R["eps"]):
            sl = slice((i * ne + j) * nl, (i * ne + j + 1) * nl)
            rel_res = [float(x / r0) for x in grid.residual[sl]]
            runs[run_key(b, e)] = {
                "betas": list(b), "eps": e, "lr": list(R["lrs"]),
                "status": [str(s) for s in grid.status[sl]],
                "steps": [int(s) for s in grid.steps[sl]],
                "rel_residual": rel_res, "rel_residual_min": min(rel_res), "rel_residual_max": max(rel_res),
                "rel_distance": [float(x) for x in rel[sl]],
                "ratio": [float(x) for x in rat[sl]],
                "bound_c": [float(bound_constant(prob, adam(e), lr)) for lr in R["lrs"]],
            }
    # after convergence: the unstopped runs at curve_lr against the stopped ones
    l0 = R["lrs"].index(R["curve_lr"])
    h = curves.residual_history / r0
    steps = curves.history_steps
    late = {}
    for i, b in enumerate(R["betas"]):
        for j, e in enumerate(R["eps"]):
            m = i * ne + j
            g = (i * ne + j) * nl + l0
            hit = np.flatnonzero(h[:, m] <= R["tol"])
            entry = {"final_rel_residual": float(curves.residual[m] / r0),
                     "stopped_status": str(grid.status[g]),
                     "drift": float(np.linalg.norm(curves.W[m] - grid.W[g])
                                    / np.linalg.norm(W_gd - prob.W0)),
                     "rel_distance_end": float(relative_distance(curves.W[m], prob, W_gd)),
                     "first_below_tol": int(steps[hit[0]]) if hit.size else -1}
            after = h[hit[0]:, m] if hit.size else np.array([np.nan])
            entry["max_after_tol"] = float(np.nanmax(after)) if hit.size else float("nan")
            late[run_key(b, e)] = entry
    mom = R["momentum"]
    return {"runs": runs, "late": late, "momentum_rel_distance_max": float(np.max(relative_distance(mom.W, prob, W_gd))),
            "momentum_status": [str(s) for s in mom.status], "momentum_lr": [float(x) for x in mom.lr]}


@register("adam-memory-curves", chapter=_CHAPTER,
          title="Full Adam: relative residual against the step, for several betas",
          alt="Two panels of the relative residual of full Adam against the step, one line per pair of "
              "betas: with torch's default epsilon (left) the runs with memory fall below the stopping "
              "tolerance to round-off and later climb back up, one never gets below it, and the "
              "memoryless method hovers far above it; with a larger epsilon (right) every run falls to "
              "round-off and stays there.")
def adam_memory_curves(*, n: int = 20, d: int = 100, seed: int = 0, curve_lr: float = 1e-3,
                       curve_steps: int = 20_000, width: float = 7.2, height: float = 4.4) -> Figure:
    """Relative residual ``||XW_t - Y|| / ||XW_0 - Y||`` of full Adam at one learning rate.

    One panel per ``eps`` (torch's default ``1e-8`` and ``1e-3``), one line
    per ``betas``; the runs are not stopped at convergence (``tol = 0``), so
    what happens after the residual reaches round-off is visible.

    Returns
    -------
    Figure
        ``data["late"]`` has, per run (key :func:`run_key`, e.g.
        ``"beta0.9_0.999-eps1e-08"``): the final relative residual, the first
        recorded step below ``tol``, the largest relative residual recorded
        after it, and ``drift``, the distance (relative to ``||W_GD - W0||``)
        between the end of the unstopped run and the iterate at which the
        stopping rule stops. ``data["late_max"]`` has, per ``eps`` (key
        :func:`eps_key`), the largest of these over the ``betas``, and
        ``data["step_cap"]`` the cap ``curve_lr / eps`` of Adam's
        coordinate-wise step.
    """
    R = _runs(n=n, d=d, seed=seed, curve_lr=curve_lr, curve_steps=curve_steps)
    S = _summary(R)
    curves, prob = R["curves"], R["problem"]
    r0 = float(np.linalg.norm(prob.residual(prob.W0)))
    ne = len(R["eps"])
    fig, axs = new_figure(1, ne, width=width, height=height, sharey=True)
    for j, e in enumerate(R["eps"]):
        ax = axs[j]
        for i, b in enumerate(R["betas"]):
            st = _style(i, b)
            y = curves.residual_history[:, i * ne + j] / r0
            ok = np.isfinite(y) & (y > 0)
            ax.semilogy(curves.history_steps[ok], y[ok], color=st["color"], ls=st["ls"], lw=1.4,
                        label=_label(b), alpha=0.9 if b != (0.0, 0.0) else 1.0)
        ax.axhline(R["tol"], color="0.5", lw=0.8, ls=":")
        ax.text(curves.history_steps[-1], R["tol"] * 1.6, "tol", color="0.4", fontsize=8, ha="right")
        ax.set_xlabel("step $t$")
        ax.set_title(rf"$\epsilon = {_eps_tex(e)}$, $\eta = {_eps_tex(curve_lr)}$", fontsize=10)
    axs[0].set_ylabel(r"$\|XW_t - Y\|_F \,/\, \|XW_0 - Y\|_F$")
    axs[0].set_ylim(1e-18, 3)
    handles, labels = axs[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=9)
    late = S["late"]
    # per eps, the largest of each number over every betas (NaN: the run never reached tol)
    late_max = {eps_key(e): {key: float(np.nanmax([late[run_key(b, e)][key] for b in R["betas"]]))
                             for key in ("max_after_tol", "drift", "final_rel_residual")} for e in R["eps"]}
    data = {"late": late, "late_max": late_max, "curve_lr": curve_lr, "curve_steps": curve_steps,
            "tol": R["tol"], "eps": list(R["eps"]), "betas": [list(b) for b in R["betas"]],
            "step_cap": {eps_key(e): curve_lr / e for e in R["eps"]}, "n": n, "d": d, "seed": seed}
    return Figure(fig, data)


@register("adam-memory-bias", chapter=_CHAPTER,
          title="Full Adam: distance to the GD solution and the ratio of claim C4 against the learning rate",
          alt="Four panels against the learning rate, one row per epsilon: on the left the relative "
              "distance of full Adam's final iterate to the GD solution, far from zero for every run, "
              "moving with the learning rate for the settings with memory and above the nearly flat "
              "line of the memoryless method; on the right the ratio of claim C4, a little above 1 "
              "for every run.")
def adam_memory_bias(*, n: int = 20, d: int = 100, seed: int = 0, curve_lr: float = 1e-3,
                     curve_steps: int = 20_000, width: float = 7.4, height: float = 7.0) -> Figure:
    """Relative distance to ``W_GD`` and ratio ``||W - W0|| / ||W_GD - W0||`` of full Adam against ``lr``.

    Rows: ``eps``; columns: relative distance, ratio. Filled markers: runs
    that met the stopping rule; open markers: runs that did not (their
    last iterate is shown, with its residual in the data). ``betas = (0, 0)``
    is the DSPGD method ``adam(eps)``. The constant ``c`` of
    :func:`dspgd.bound_constant` for ``adam(eps)`` is in the data (not in
    the figure): the theory behind it does not cover Adam with memory.

    Returns
    -------
    Figure
        ``data["runs"]`` per run (key :func:`run_key`, e.g.
        ``"beta0.9_0.999-eps1e-08"``): statuses, steps, relative residuals
        (and their range), relative distances, ratios, and ``bound_c`` per
        ``lr``; ``data["stable_lr"]`` per ``eps`` (key :func:`eps_key`); plus
        the settings with their counts and ranges, and the summary numbers
        the chapter quotes.
    """
    R = _runs(n=n, d=d, seed=seed, curve_lr=curve_lr, curve_steps=curve_steps)
    S = _summary(R)
    prob = R["problem"]
    lrs = np.array(R["lrs"])
    ne = len(R["eps"])
    fig, axs = new_figure(ne, 2, width=width, height=height, sharex=True)
    handles = []
    for j, e in enumerate(R["eps"]):
        da, ra = axs[j, 0], axs[j, 1]
        for i, b in enumerate(R["betas"]):
            st = _style(i, b)
            run = S["runs"][run_key(b, e)]
            conv = np.array([s == "converged" for s in run["status"]])
            for ax, yv in ((da, run["rel_distance"]), (ra, run["ratio"])):
                yv = np.array(yv)
                h, = ax.plot(lrs, yv, color=st["color"], ls=st["ls"], lw=1.3, label=_label(b))
                ax.plot(lrs[conv], yv[conv], st["marker"], color=st["color"], ms=5, ls="none")
                ax.plot(lrs[~conv], yv[~conv], st["marker"], color=st["color"], ms=5, ls="none",
                        mfc="white")
            if j == 0:
                handles.append(h)
        ra.axhline(1.0, color="0.5", lw=0.8, ls=":")
        ra.set_ylim(0.98, None)
        slr = stable_lr(prob, adam(e))
        for ax in (da, ra):
            ax.set_xscale("log")
            if lrs.min() <= slr <= lrs.max():
                ax.axvline(slr, color=color_of("adam"), lw=0.8, ls=":")
        if lrs.min() <= slr <= lrs.max():
            da.text(slr / 1.1, 0.97, r"$\eta_{\mathrm{stable}}$ of Adam$_{\beta=0}$",
                    transform=da.get_xaxis_transform(), fontsize=8, color=color_of("adam"), va="top", ha="right")
        da.set_ylabel(rf"$\epsilon={_eps_tex(e)}$" + "\n" + r"$\|W - W_{\mathrm{GD}}\|_F / \|W_0 - W_{\mathrm{GD}}\|_F$",
                      fontsize=9.5)
        ra.set_ylabel(r"$\|W - W_0\|_F / \|W_{\mathrm{GD}} - W_0\|_F$", fontsize=9.5)
    for ax in axs[-1]:
        ax.set_xlabel(r"learning rate $\eta$")
    axs[0, 0].set_title("distance to the GD solution", fontsize=10)
    axs[0, 1].set_title("ratio of claim C4", fontsize=10)
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=9,
               title="filled: converged (tol); open: not converged", title_fontsize=8.5)

    runs = S["runs"]
    conv_rat = [r for v in runs.values() for r, s in zip(v["ratio"], v["status"]) if s == "converged"]
    mem = {k: v for k, v in runs.items() if v["betas"] != [0.0, 0.0]}
    dsp = {k: v for k, v in runs.items() if v["betas"] == [0.0, 0.0]}

    def _pick(dd, f):
        return [x for v in dd.values() for x, s in zip(v[f], v["status"]) if s == "converged"]

    not_conv = [{"betas": v["betas"], "eps": v["eps"], "lr": lr, "status": s, "rel_residual": rr,
                 "rel_distance": rd}
                for v in runs.values() for lr, s, rr, rd in zip(v["lr"], v["status"], v["rel_residual"], v["rel_distance"])
                if s != "converged"]
    cmin = min((c for v in runs.values() for c in v["bound_c"] if np.isfinite(c)), default=float("inf"))
    # runs above the stable step of Adam_{beta=0}, for the eps whose stable step lies in the sweep
    slrs = {e: stable_lr(prob, adam(e)) for e in R["eps"]}
    inside = {e for e, v in slrs.items() if lrs.min() <= v <= lrs.max()}

    def _above(dd):
        return [s for v in dd.values() if v["eps"] in inside
                for lr, s in zip(v["lr"], v["status"]) if lr > slrs[v["eps"]]]

    above, dsp_above = _above(mem), _above(dsp)
    n_runs = int(sum(len(v["status"]) for v in runs.values()))
    n_conv = int(sum(s == "converged" for v in runs.values() for s in v["status"]))
    data = {
        "runs": runs, "lrs": [float(x) for x in lrs], "n_lrs": int(lrs.size),
        "lr_min": float(lrs.min()), "lr_max": float(lrs.max()), "eps": list(R["eps"]),
        "betas": [list(b) for b in R["betas"]], "n_betas": len(R["betas"]), "tol": R["tol"],
        "patience": R["patience"], "max_steps": R["max_steps"], "momentum_beta1": 0.9,
        "n": n, "d": d, "k": prob.k, "seed": seed,
        "n_runs": n_runs, "n_converged": n_conv, "n_not_converged": n_runs - n_conv,
        "n_diverged": int(sum(s == "diverged" for v in runs.values() for s in v["status"])),
        "not_converged": not_conv,
        "ratio_min": float(min(conv_rat)), "ratio_max": float(max(conv_rat)),
        "memory_rel_distance_min": float(min(_pick(mem, "rel_distance"))),
        "memory_rel_distance_max": float(max(_pick(mem, "rel_distance"))),
        "dspgd_rel_distance_min": float(min(_pick(dsp, "rel_distance"))),
        "dspgd_rel_distance_max": float(max(_pick(dsp, "rel_distance"))),
        "dspgd_rel_distance_spread": float(max(_pick(dsp, "rel_distance")) - min(_pick(dsp, "rel_distance"))),
        "bound_c_min": float(cmin),
        "bound_c_max": float(max((c for v in runs.values() for c in v["bound_c"] if np.isfinite(c)),
                                 default=float("inf"))),
        "memory_above_stable": len(above),
        "memory_above_stable_converged": int(sum(s == "converged" for s in above)),
        "dspgd_above_stable": len(dsp_above),
        "dspgd_above_stable_converged": int(sum(s == "converged" for s in dsp_above)),
        "momentum_rel_distance_max": S["momentum_rel_distance_max"],
        "momentum_status": S["momentum_status"], "momentum_lr": S["momentum_lr"],
        "momentum_n_lrs": len(S["momentum_lr"]), "momentum_lr_min": min(S["momentum_lr"]),
        "momentum_lr_max": max(S["momentum_lr"]),
        "momentum_n_converged": int(sum(s == "converged" for s in S["momentum_status"])),
        "stable_lr": {eps_key(e): float(stable_lr(prob, adam(e))) for e in R["eps"]},
        "gd_threshold": float(2.0 / prob.op_norm**2),
    }
    return Figure(fig, data)


def adam_memory_table(data: dict):
    """A table of every run of :func:`adam_memory_bias`: the relative distance to ``W_GD``.

    A run that did not meet the stopping rule shows its final relative
    residual in parentheses.

    Parameters
    ----------
    data : dict
        ``Figure.data`` of :func:`adam_memory_bias`.

    Returns
    -------
    pandas.DataFrame
        Rows ``(betas, eps)``, columns the learning rates.
    """
    import pandas as pd

    rows, index = [], []
    for v in data["runs"].values():
        cells = []
        for s, rd, rr in zip(v["status"], v["rel_distance"], v["rel_residual"]):
            cells.append(f"{rd:.3f}" if s == "converged" else f"{rd:.3f} (res. {rr:.0e})")
        rows.append(cells)
        b = v["betas"]
        index.append((f"({b[0]:g}, {b[1]:g})" + (" DSPGD" if b == [0.0, 0.0] else ""), _short(v["eps"])))
    cols = [f"η={_short(lr)}" for lr in data["lrs"]]
    return pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["β", "ε"]), columns=cols)


def adam_memory_seeds(*, seeds: tuple[int, ...] = (1, 2, 3), n: int = 20, d: int = 100, eps: float = 1e-3,
                      lrs: tuple[float, ...] = tuple(np.geomspace(1e-4, 1e-2, 5)[2:]),
                      betas: tuple[tuple[float, float], ...] = BETAS, tol: float = 1e-10, patience: int = 20,
                      max_steps: int = 6000) -> dict:
    """The experiment of :func:`adam_memory_bias` on more problems: one ``eps``, fewer learning rates.

    For each seed, one batched :func:`dspgd.adam_memory.adam_sweep` on
    ``gaussian_problem(n, d, seed=seed)`` over ``betas x lrs``.

    Returns
    -------
    dict
        ``per_seed``: for each seed, the number of runs and of converged
        runs, the range of the relative distance to ``W_GD`` of the
        converged runs with memory, the relative distance of the converged
        memoryless runs (``betas = (0, 0)``), and the range of the ratio of
        claim C4 over the converged runs; plus the same ranges over all seeds
        and the settings (with their counts and ranges).
    """
    lrs = np.asarray(lrs, dtype=np.float64)
    per_seed = []
    for seed in seeds:
        prob = gaussian_problem(n=n, d=d, seed=seed)
        g = adam_sweep(prob, lrs, list(betas), [eps], tol=tol, patience=patience, max_steps=max_steps)
        conv = np.asarray(g.status) == "converged"
        memoryless = np.repeat([tuple(b) == (0.0, 0.0) for b in betas], lrs.size)
        rel = relative_distance(g.W, prob)
        rat = distance_ratio(g.W, prob)
        mem, dsp = conv & ~memoryless, conv & memoryless
        per_seed.append({
            "seed": int(seed), "n_runs": int(conv.size), "n_converged": int(conv.sum()),
            "memory_min": float(rel[mem].min()), "memory_max": float(rel[mem].max()),
            "dspgd_min": float(rel[dsp].min()) if dsp.any() else float("nan"),
            "dspgd_max": float(rel[dsp].max()) if dsp.any() else float("nan"),
            "ratio_min": float(rat[conv].min()), "ratio_max": float(rat[conv].max()),
        })
    out = {"seeds": [int(s) for s in seeds], "n_seeds": len(seeds), "seed_min": int(min(seeds)),
           "seed_max": int(max(seeds)), "n": n, "d": d, "eps": eps, "lrs": lrs.tolist(), "n_lrs": int(lrs.size),
           "lr_min": float(lrs.min()), "lr_max": float(lrs.max()), "tol": tol, "max_steps": max_steps,
           "per_seed": per_seed}
    for key in ("memory", "dspgd", "ratio"):
        out[f"{key}_min"] = float(min(r[f"{key}_min"] for r in per_seed))
        out[f"{key}_max"] = float(max(r[f"{key}_max"] for r in per_seed))
    out["n_runs"] = int(sum(r["n_runs"] for r in per_seed))
    out["n_converged"] = int(sum(r["n_converged"] for r in per_seed))
    return out


def _bias_row(bias: dict, eps: float, lrs: list[float]) -> dict:
    """The numbers of :func:`adam_memory_seeds` for the problem of :func:`adam_memory_bias` (its ``data``)."""
    keep = [i for i, lr in enumerate(bias["lrs"]) if any(abs(lr - x) <= 1e-12 * x for x in lrs)]
    if len(keep) != len(lrs):
        raise ValueError("the learning rates must be among those of the figure")
    mem, dsp, rat, n_runs = [], [], [], 0
    for v in bias["runs"].values():
        if v["eps"] != eps:
            continue
        for i in keep:
            n_runs += 1
            if v["status"][i] != "converged":
                continue
            (dsp if v["betas"] == [0.0, 0.0] else mem).append(v["rel_distance"][i])
            rat.append(v["ratio"][i])
    return {"seed": bias["seed"], "n_runs": n_runs, "n_converged": len(rat),
            "memory_min": min(mem), "memory_max": max(mem),
            "dspgd_min": min(dsp) if dsp else float("nan"), "dspgd_max": max(dsp) if dsp else float("nan"),
            "ratio_min": min(rat), "ratio_max": max(rat)}


def adam_memory_seed_table(data: dict, bias: dict | None = None):
    """One row per problem of :func:`adam_memory_seeds` and, first, the chapter's own problem.

    Parameters
    ----------
    data : dict
        The output of :func:`adam_memory_seeds`.
    bias : dict, optional
        ``Figure.data`` of :func:`adam_memory_bias`: its runs at the same
        ``eps`` and learning rates give the first row.

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    rows = list(data["per_seed"])
    if bias is not None:
        rows.insert(0, _bias_row(bias, data["eps"], data["lrs"]))
    return pd.DataFrame({
        "seed": [r["seed"] for r in rows],
        "converged": [f"{r['n_converged']} of {r['n_runs']}" for r in rows],
        "distance to W_GD, with memory": [f"{r['memory_min']:.3f} to {r['memory_max']:.3f}" for r in rows],
        "distance to W_GD, memoryless": [f"{r['dspgd_min']:.3f}" if abs(r["dspgd_max"] - r["dspgd_min"]) < 5e-4
                                         else f"{r['dspgd_min']:.3f} to {r['dspgd_max']:.3f}" for r in rows],
        "ratio of claim C4": [f"{r['ratio_min']:.3f} to {r['ratio_max']:.3f}" for r in rows],
    })
