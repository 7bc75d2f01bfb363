"""Figures of the chapter "Spectral (Muon-type) preconditioners share GD's implicit bias"."""

from __future__ import annotations

import numpy as np

from .. import theory
from ..plotting import color_of, new_figure
from ..preconditioners import spectral
from ..problem import gaussian_problem
from ..rowspace import bfloat16_spacing, muon_trace, rowspace_residual, trace
from ..solver import solve
from . import Figure, register

__all__ = ["spectral_gd", "muon_rowspace"]

_CHAPTER = "chapters/07_spectral"
_EPS = float(np.finfo(float).eps)
_MARKERS = ("o", "s", "D", "v")


def _shade(base, t: float):
    """``base`` colour mixed with white (``t = 0``: base, ``t = 1``: white)."""
    return tuple((1 - t) * np.asarray(base) + t)


@register("spectral-gd", chapter=_CHAPTER,
          title="Spectral preconditioners: smoothed ones land on W_GD, the exact one hovers around it")
def spectral_gd(*, n: int = 20, d: int = 100, k: int = 3, seed: int = 0,
                eps_values: tuple[float, ...] = (0.01, 0.1, 1.0),
                lr_fractions: tuple[float, ...] = (0.1, 0.3, 0.6, 0.95), tol: float = 1e-15,
                max_steps: int = 20_000, patience: int = 5,
                exact_lrs: tuple[float, ...] = (0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128),
                exact_steps: int = 6000, every: int = 50, eps_multiple: float = 100.0,
                width: float = 7.4, height: float = 3.5) -> Figure:
    """Left: smoothed ``spectral(eps)`` run to convergence; right: exact ``U V^T`` steps.

    Left panel: for each ``eps``, one batched :func:`dspgd.solver.solve` with
    ``lr = lr_fractions * stable_lr`` (``stable_lr = 2 eps / ||X||^2``) to
    relative residual ``tol``; the relative distance of the limit to
    ``W_GD``. Right panel: ``spectral(0)`` with constant step ``lr`` for
    ``exact_steps`` steps (:func:`dspgd.rowspace.trace`); the relative
    distance to ``W_GD``, the relative residual and the row-space residual
    at the last step, against ``lr``, with a least-squares slope on log-log
    axes.

    Returns
    -------
    Figure
        ``data`` holds the settings, the smoothed runs (per ``eps``: lrs,
        statuses, distances, row-space residuals), the exact runs (lrs, final
        distance, residual, row-space residual, largest row-space residual
        along the run, the two-cycle ratio) and the fitted slopes.
    """
    if k < 2:
        raise ValueError(f"k must be >= 2 for the spectral map to differ from normalized GD, got {k}")
    if len(exact_lrs) < 2:
        raise ValueError("exact_lrs needs at least two step sizes to fit a slope")
    prob = gaussian_problem(n, d, k, seed=seed)
    W_gd = theory.gd_limit(prob)
    base = color_of("spectral")
    fig, (a1, a2) = new_figure(1, 2, width=width, height=height)

    smooth = []
    for i, eps in enumerate(eps_values):
        p = spectral(eps)
        lrs = np.asarray(lr_fractions) * theory.stable_lr(prob, p)
        res = solve(prob, p, lrs, tol=tol, max_steps=max_steps, patience=patience)
        dist = np.asarray(theory.relative_distance(res.W, prob, W_gd))
        row = np.asarray(rowspace_residual(res.W, prob, W_gd))
        shade = 0.4 * i / max(len(eps_values) - 1, 1)
        a1.loglog(lrs, np.maximum(dist, _EPS / 100), "-", marker=_MARKERS[i % len(_MARKERS)],
                  color=_shade(base, shade), label=p.label, ms=5.5)
        smooth.append({"eps": float(eps), "label": p.label, "lr": lrs.tolist(),
                       "status": [str(s) for s in res.status], "steps": [int(s) for s in res.steps],
                       "distance": dist.tolist(), "rowspace": row.tolist()})
    line = eps_multiple * _EPS
    a1.axhline(line, color="0.3", ls="--", lw=1.1)
    a1.text(a1.get_xlim()[0] * 1.2, line * 1.8, rf"${eps_multiple:g}\,\epsilon_{{\mathrm{{mach}}}}$",
            fontsize=9, color="0.3", va="bottom")
    a1.set_ylim(_EPS / 20, 3.0)
    a1.set_xlabel(r"step size $\eta$")
    a1.set_ylabel(r"$\|W_\infty - W_{\mathrm{GD}}\|_F \,/\, \|W_0 - W_{\mathrm{GD}}\|_F$", fontsize=9.5)
    a1.set_title(r"smoothed: $G\,(G^\top G+\epsilon^2 I)^{-1/2}$", fontsize=10.5)
    a1.legend(loc="center left", fontsize=8.5)

    p0 = spectral(0.0)
    lrs = np.asarray(exact_lrs, dtype=float)
    tr = trace(prob, p0, lrs, steps=exact_steps, every=every)
    dist, resid, row = tr.distance[:, -1], tr.residual[:, -1], tr.rowspace[:, -1]
    # two more steps: after arrival the iterates alternate between two points
    W1 = tr.W - lrs[:, None, None] * p0.grad(prob.X.T @ (prob.X @ tr.W - prob.Y))
    W2 = W1 - lrs[:, None, None] * p0.grad(prob.X.T @ (prob.X @ W1 - prob.Y))
    cycle = np.linalg.norm(W2 - tr.W, axis=(-2, -1)) / np.linalg.norm(W1 - tr.W, axis=(-2, -1))
    slope_d, icpt_d = np.polyfit(np.log(lrs), np.log(dist), 1)
    slope_r, _ = np.polyfit(np.log(lrs), np.log(resid), 1)
    a2.loglog(lrs, dist, "o", color=base, ms=6, label=r"$\|W_N - W_{\mathrm{GD}}\|$ (rel.)")
    a2.loglog(lrs, np.exp(icpt_d) * lrs**slope_d, "-", color=base, lw=1.2,
              label=rf"fit: slope ${slope_d:.2f}$")
    a2.loglog(lrs, resid, "s", color="0.35", ms=5, mfc="none", label=r"$\|XW_N - Y\|$ (rel.)")
    a2.loglog(lrs, np.maximum(row, _EPS / 100), "^", color=_shade(base, 0.45), ms=6,
              label=r"$\|P_{\mathrm{null}}(W_N - W_0)\|$ (rel.)")
    a2.axhline(line, color="0.3", ls="--", lw=1.1)
    a2.set_ylim(_EPS / 20, 3.0)
    a2.set_xlabel(r"step size $\eta$")
    a2.set_title(rf"exact $UV^\top$, after $N={exact_steps}$ steps", fontsize=10.5)
    a2.legend(loc="center right", fontsize=8, bbox_to_anchor=(1.0, 0.42))

    data = {
        "n": int(n), "d": int(d), "k": int(k), "seed": int(seed), "tol": float(tol),
        "eps_values": [float(e) for e in eps_values], "lr_fractions": [float(f) for f in lr_fractions],
        "eps_mach": _EPS, "eps_multiple": float(eps_multiple), "line": float(line),
        "smooth": smooth,
        "smooth_all_converged": bool(all(s == "converged" for r in smooth for s in r["status"])),
        "smooth_max_distance": float(max(max(r["distance"]) for r in smooth)),
        "smooth_max_rowspace": float(max(max(r["rowspace"]) for r in smooth)),
        "smooth_n_runs": int(sum(len(r["lr"]) for r in smooth)),
        "exact_steps": int(exact_steps), "n_exact": int(lrs.size), "exact_lr": lrs.tolist(), "exact_distance": dist.tolist(),
        "exact_residual": resid.tolist(), "exact_rowspace": row.tolist(),
        "exact_rowspace_max_along": float(tr.rowspace.max()),
        "exact_cycle_ratio_max": float(cycle.max()),
        "exact_lr_min": float(lrs.min()), "exact_lr_max": float(lrs.max()),
        "exact_distance_min": float(dist.min()), "exact_distance_max": float(dist.max()),
        "slope_distance": float(slope_d), "slope_residual": float(slope_r),
        "distance_over_lr_min": float((dist * np.linalg.norm(prob.W0 - W_gd) / lrs).min()),
        "distance_over_lr_max": float((dist * np.linalg.norm(prob.W0 - W_gd) / lrs).max()),
    }
    return Figure(fig, data)


@register("muon-rowspace", chapter=_CHAPTER,
          title="Muon with momentum stays in the row space in float64, not in bfloat16")
def muon_rowspace(*, n: int = 20, d: int = 100, k: int = 3, seed: int = 0, lr: float = 0.01,
                  momentum: float = 0.95, steps: int = 1000, exact_lr: float = 0.05, ns_steps: int = 5,
                  width: float = 7.4, height: float = 3.3) -> Figure:
    """Row-space residual and distance to ``W_GD`` along three runs.

    The exact orthogonalized DSPGD step ``U V^T`` (``spectral(0)``, step
    ``exact_lr``), and Muon with Nesterov momentum and no weight decay
    (:func:`dspgd.rowspace.muon_trace`, learning rate ``lr``, ``ns_steps``
    Newton-Schulz iterations) twice: in float64 (``backend="numpy"``), and
    with its Newton-Schulz iteration in emulated bfloat16 arithmetic as in
    ``torch.optim.Muon``
    (``backend="bfloat16"``, :func:`dspgd.rowspace.newton_schulz_bfloat16`).
    Numpy only.

    Returns
    -------
    Figure
        ``data`` holds the settings, float64's and bfloat16's machine
        epsilons, and per run the largest and final row-space residual, the
        final distance and the final relative residual.
    """
    prob = gaussian_problem(n, d, k, seed=seed)
    base = color_of("spectral")
    eps_bf16 = bfloat16_spacing(1.0)
    muon = dict(lr=lr, steps=steps, momentum=momentum, ns_steps=ns_steps)
    runs = {
        "exact": (r"DSPGD, exact $UV^\top$ (float64)", trace(prob, spectral(0.0), exact_lr, steps=steps),
                  dict(color=base, lw=1.8)),
        "muon64": ("Muon, momentum (float64)", muon_trace(prob, backend="numpy", **muon),
                   dict(color=tuple(0.55 * np.asarray(base)), lw=1.5, ls="--")),
        "muon_bf16": (r"Muon, bfloat16 Newton$-$Schulz (as in torch)",
                      muon_trace(prob, backend="bfloat16", **muon), dict(color="0.25", lw=1.4)),
    }
    fig, (a1, a2) = new_figure(1, 2, width=width, height=height)
    out: dict = {"n": n, "d": d, "k": k, "seed": seed, "lr": lr, "exact_lr": exact_lr, "momentum": momentum,
                 "steps": steps, "ns_steps": ns_steps, "eps_mach": _EPS, "eps_bf16": eps_bf16, "runs": {}}
    for key, (label, tr, kw) in runs.items():
        t = tr.steps[1:]
        row, dist = tr.rowspace[0, 1:], tr.distance[0, 1:]
        a1.loglog(t, np.maximum(row, _EPS / 100), label=label, **kw)
        a2.loglog(t, dist, label=label, **kw)
        out["runs"][key] = {"label": label, "max_rowspace": float(row.max()),
                            "final_rowspace": float(row[-1]), "final_distance": float(dist[-1]),
                            "final_residual": float(tr.residual[0, -1])}
    for ax in (a1, a2):
        ax.set_xlabel("step $t$")
    a1.set_ylim(_EPS / 20, 3.0)
    a2.set_ylim(1e-4, 3.0)
    a1.axhline(eps_bf16, color="0.5", ls=":", lw=1)
    a1.text(1.2, eps_bf16 * 1.6, r"$\epsilon_{\mathrm{bf16}}$", fontsize=9, color="0.4")
    a1.set_ylabel(r"$\|P_{\mathrm{null}}(W_t - W_0)\|_F \,/\, \|W_0 - W_{\mathrm{GD}}\|_F$", fontsize=9.5)
    a2.set_ylabel(r"$\|W_t - W_{\mathrm{GD}}\|_F \,/\, \|W_0 - W_{\mathrm{GD}}\|_F$", fontsize=9.5)
    a1.set_title("outside the row space", fontsize=10.5)
    a2.set_title(r"distance to $W_{\mathrm{GD}}$", fontsize=10.5)
    a2.legend(loc="lower left", fontsize=8)
    return Figure(fig, out)
