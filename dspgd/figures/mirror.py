"""Figures of the mirror-descent chapter: a step-size-free limit, next to DSPGD's step-size-dependent one."""

from __future__ import annotations

import numpy as np

from ..mirror import Potential, dual_residual, mirror_descent, mirror_limit, mirror_path, pnorm, weighted_quadratic
from ..plotting import color_of, label_of, new_figure
from ..preconditioners import adam
from ..problem import Problem, gaussian_problem
from ..solver import solve
from ..sweeps import loglog_slope
from ..theory import diagonal_limit, gd_limit, relative_distance, stable_lr
from . import Figure, register

CHAPTER = "chapters/09_mirror_descent"

_MARKERS = {"pnorm3": "o", "pnorm1.5": "s", "weighted_quadratic": "^"}


def _potentials(d: int) -> dict[str, Potential]:
    return {
        "pnorm3": pnorm(3.0),
        "pnorm1.5": pnorm(1.5),
        "weighted_quadratic": weighted_quadratic(np.geomspace(0.5, 2.0, d)),
    }


def _short(key: str) -> str:
    return {"pnorm3": r"mirror, $\ell_3$ potential", "pnorm1.5": r"mirror, $\ell_{1.5}$ potential",
            "weighted_quadratic": r"mirror, weighted quadratic"}[key]


@register("mirror-vs-dspgd", chapter=CHAPTER, title="Mirror descent's limit does not depend on the step size; DSPGD's does",
          alt="Two log-log panels against the step size: (a) the limits of mirror descent with three potentials "
              "stay at rounding-level distance from their Bregman projections at every step size, while the limit "
              "of DSPGD with Adam moves away from its small-step limit as the step grows; (b) the part of the "
              "displacement outside the row space of X is at rounding level for mirror descent and a large "
              "fraction for Adam.")
def mirror_vs_dspgd(*, n: int = 20, d: int = 200, k: int = 1, seed: int = 1,
                    lr_min: float = 3e-3, lr_max: float = 0.3, n_lr: int = 9,
                    adam_eps: float = 0.1, adam_lr_min: float = 1e-3, adam_lr_max: float = 0.1,
                    adam_ref_factor: float = 0.25, tol: float = 1e-13, max_steps: int = 60_000,
                    hover_lr: float = 1.0, hover_steps: int = 3000) -> Figure:
    """Relative distance of each limit to its step-size-free reference, against the step size.

    Mirror descent (three potentials): distance of ``W_inf(lr)`` to the
    Bregman projection computed by :func:`dspgd.mirror.mirror_limit`
    (scipy, on the dual). DSPGD with ``adam(eps)``: distance of ``W_inf(lr)``
    to its own limit at the smaller step ``adam_ref_factor * adam_lr_min``.
    The right panel shows the conservation law of mirror descent at the
    limit (the part of ``grad psi(W_inf) - grad psi(W0)`` outside the row
    space of ``X``), and the analogous quantity ``W_inf - W0`` for Adam.
    """
    prob = gaussian_problem(n, d, k, seed)
    pots = _potentials(d)
    lrs = np.geomspace(lr_min, lr_max, n_lr)
    data: dict = {"n": n, "d": d, "k": k, "seed": seed, "tol": tol, "lrs": lrs.tolist(), "n_lr": len(lrs),
                  "lr_min": float(lrs.min()), "lr_max": float(lrs.max()),
                  "lr_decades": float(np.log10(lr_max / lr_min)), "mirror": {}}
    fig, (ax, ax2) = new_figure(1, 2, width=8.0, height=4.3)
    worst = 0.0
    worst_cons = 0.0
    r0 = float(np.linalg.norm(prob.residual(prob.W0)))
    for key, pot in pots.items():
        ref = mirror_limit(prob, pot)
        res = mirror_descent(prob, pot, lrs, tol=tol, max_steps=max_steps)
        dist = relative_distance(res.W, prob, ref)
        cons = dual_residual(prob, pot, res.W)
        ok = res.converged
        entry = {
            "label": pot.label, "status": res.status.tolist(), "steps": res.steps.tolist(),
            "steps_min": int(res.steps.min()), "steps_max": int(res.steps.max()),
            "distance": [float(x) for x in dist], "max_distance": float(np.max(dist[ok])) if ok.any() else float("nan"),
            "conservation": [float(x) for x in cons],
            "final_rel_residual": [float(x) for x in np.atleast_1d(res.residual) / r0],
            "scipy_constraint_residual": float(np.linalg.norm(prob.residual(ref)) / np.linalg.norm(prob.Y)),
            "ratio_to_gd": float(np.linalg.norm(ref - prob.W0) / np.linalg.norm(gd_limit(prob) - prob.W0)),
            "all_converged": bool(ok.all()),
        }
        if key == "weighted_quadratic":
            entry["closed_form_distance"] = float(relative_distance(ref, prob, diagonal_limit(prob, pot.params["D"])))
            entry["stable_lr"] = float(2.0 / (float(np.max(pot.params["D"])) * prob.op_norm**2))
        data["mirror"][key] = entry
        worst = max(worst, entry["max_distance"])
        worst_cons = max(worst_cons, float(np.max(cons)))
        c = color_of("mirror")
        ax.loglog(lrs[ok], dist[ok], marker=_MARKERS[key], color=c, label=_short(key), lw=1.2, ms=5,
                  mfc="white" if key == "pnorm1.5" else c)
        ax2.loglog(lrs, cons, marker=_MARKERS[key], color=c, lw=1.2, ms=5,
                   mfc="white" if key == "pnorm1.5" else c)
    data["mirror_max_distance"] = worst
    data["mirror_max_conservation"] = worst_cons
    data["scipy_constraint_residual_max"] = max(v["scipy_constraint_residual"] for v in data["mirror"].values())
    # the slight drift of the mirror curves with the step size: the distance follows the final
    # residual, which the stopping rule leaves further below tol when a step contracts more
    M = data["mirror"].values()
    ratio = [dd / rr for v in M for dd, rr, s_ in zip(v["distance"], v["final_rel_residual"], v["status"])
             if s_ == "converged"]
    data.update({
        "mirror_distance_first_max": float(max(v["distance"][0] for v in M)),
        "mirror_distance_last_max": float(max(v["distance"][-1] for v in M)),
        "mirror_distance_last_min": float(min(v["distance"][-1] for v in M)),
        "mirror_distance_over_residual_min": float(min(ratio)),
        "mirror_distance_over_residual_max": float(max(ratio)),
        "mirror_conservation_first_max": float(max(v["conservation"][0] for v in M)),
        "mirror_conservation_last_max": float(max(v["conservation"][-1] for v in M)),
        "mirror_steps_first_max": int(max(v["steps"][0] for v in M)),
        "mirror_steps_last_max": int(max(v["steps"][-1] for v in M)),
    })

    # DSPGD with adam: no step-size-free limit
    P = adam(adam_eps)
    alrs = np.geomspace(adam_lr_min, adam_lr_max, n_lr)
    lr_ref = adam_ref_factor * adam_lr_min
    res = solve(prob, P, alrs, tol=tol, max_steps=max_steps)
    ref = solve(prob, P, lr_ref, tol=tol, max_steps=int(max_steps / adam_ref_factor))
    okA = res.converged
    distA = relative_distance(res.W, prob, ref.W)
    Q, _ = prob._qr
    V = res.W - prob.W0
    perpA = np.linalg.norm(V - Q @ (Q.T @ V), axis=(1, 2)) / np.linalg.norm(V, axis=(1, 2))
    slope = loglog_slope(alrs[okA], distA[okA])
    data["adam"] = {
        "eps": adam_eps, "lrs": alrs.tolist(), "lr_ref": lr_ref, "ref_status": ref.status,
        "status": res.status.tolist(), "distance": [float(x) for x in distA],
        "min_distance": float(np.min(distA[okA])), "max_distance": float(np.max(distA[okA])),
        "distance_to_gd": [float(x) for x in relative_distance(res.W, prob)],
        "out_of_row_space": [float(x) for x in perpA], "loglog_slope": float(slope),
        "lr_min": float(alrs.min()), "lr_max": float(alrs.max()),
        "stable_lr": float(stable_lr(prob, P)), "all_converged": bool(okA.all()) and ref.status == "converged",
        "lr_decades": float(np.log10(adam_lr_max / adam_lr_min)),
    }
    A = data["adam"]
    A.update({"distance_to_gd_min": min(A["distance_to_gd"]), "distance_to_gd_max": max(A["distance_to_gd"]),
              "out_of_row_space_min": min(A["out_of_row_space"])})
    ax.loglog(alrs[okA], distA[okA], marker="D", color=color_of(P), lw=1.6, ms=5,
              label=rf"DSPGD, {label_of(P)} (to its limit at $\eta={lr_ref:g}$)")
    ax2.loglog(alrs, perpA, marker="D", color=color_of(P), lw=1.6, ms=5)
    ax.axhspan(1e-17, 1e-11, color="0.85", alpha=0.5, lw=0, zorder=0)
    ax.set_ylim(1e-15, 1.0)
    ax.set_xlabel(r"step size $\eta$")
    ax.set_ylabel(r"$\|W_\infty(\eta) - W_{\mathrm{ref}}\|_F / \|W_0 - W_{\mathrm{ref}}\|_F$", fontsize=9)
    ax.set_title(r"(a) distance to the reference", fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=8.5)
    ax2.set_ylim(1e-17, 2.0)
    ax2.set_xlabel(r"step size $\eta$")
    ax2.set_ylabel(r"relative part outside $\mathrm{range}(X^\top)$", fontsize=9)
    ax2.set_title(r"(b) outside the row space", fontsize=10)

    # the l3 potential at a large step: the inverse mirror map is not Lipschitz at 0
    hov = mirror_descent(prob, pots["pnorm3"], hover_lr, tol=tol, max_steps=hover_steps)
    refh = mirror_limit(prob, pots["pnorm3"])
    data["hover"] = {
        "lr": hover_lr, "steps": hover_steps, "status": hov.status,
        "relative_residual": float(hov.residual / np.linalg.norm(prob.residual(prob.W0))),
        "distance": float(relative_distance(hov.W, prob, refh)),
        "conservation": float(dual_residual(prob, pots["pnorm3"], hov.W)),
    }
    data["all_converged"] = all(v["all_converged"] for v in data["mirror"].values()) and A["all_converged"]
    return Figure(fig, data)


@register("mirror-plane", chapter=CHAPTER, title="Mirror descent in the plane: every step size lands on the Bregman projection",
          alt="Three panels, one per potential (the sum of |w_i|^3/3, gradient descent's half squared norm, the "
              "sum of |w_i|^1.5/1.5), each with the line of interpolators of one equation in two unknowns, the "
              "Bregman ball around w0 that touches the line at a star, and mirror-descent paths at three step "
              "sizes that take different routes but all end at the star.")
def mirror_plane(*, x: tuple[float, float] = (1.0, 0.6), y: float = 1.0,
                 w0: tuple[float, float] = (-0.6, -0.4), lrs: tuple[float, ...] = (0.05, 0.3, 0.8),
                 steps: int = 1500) -> Figure:
    """One sample, two weights: the interpolators form a line.

    One panel per potential (``|w|^3/3``, ``w^2/2`` i.e. gradient descent,
    ``|w|^{1.5}/1.5``): mirror-descent paths at three step sizes, the Bregman
    projection of ``W0`` onto the line computed by scipy (star), and the
    Bregman "ball" ``{W : D_psi(W, W0) = D_psi(W_proj, W0)}`` that touches
    the line there (dotted).
    """
    prob = Problem(np.array([x]), np.array([[y]]), np.array(w0, dtype=float)[:, None])
    pots = {"pnorm3": pnorm(3.0), "gd": weighted_quadratic(1.0), "pnorm1.5": pnorm(1.5)}
    styles = {"pnorm3": ("mirror", r"$\ell_3$: $\psi(w)=\sum_i |w_i|^3/3$"),
              "gd": ("gd", r"GD: $\psi(w)=\frac{1}{2}\|w\|^2$"),
              "pnorm1.5": ("mirror", r"$\ell_{1.5}$: $\psi(w)=\sum_i |w_i|^{1.5}/1.5$")}
    fig, axes = new_figure(1, 3, width=7.4, height=3.9, sharey=True)
    lo, hi = -1.0, 1.6
    g = np.linspace(lo, hi, 401)
    A, Bg = np.meshgrid(g, g)
    grid = np.stack([A.ravel(), Bg.ravel()], axis=1)[:, :, None]
    data: dict = {"x": list(x), "y": y, "w0": list(w0), "lrs": list(lrs), "lr_min": min(lrs), "lr_max": max(lrs),
                  "steps": steps, "limits": {}}
    shades = ["0.5", "0.3", "0.0"]
    lstyles = [(0, (1, 1.2)), "--", "-"]
    widths = [2.2, 1.5, 1.1]
    t = np.linspace(lo, hi, 2)
    for ax, (key, pot) in zip(axes, pots.items()):
        fam, title = styles[key]
        c = color_of(fam)
        ref = mirror_limit(prob, pot)
        level = pot.divergence(ref, prob.W0)
        div = pot.divergence(grid, np.broadcast_to(prob.W0, grid.shape)).reshape(A.shape)
        ax.contourf(A, Bg, div, levels=[0, level], colors=[c], alpha=0.18)
        ax.contour(A, Bg, div, levels=[level], colors=[c], linewidths=1.2)
        ax.plot(t, (y - x[0] * t) / x[1], color="black", lw=2.4,
                label=r"interpolators $x^\top w = y$")
        ends = []
        for shade, ls, lw, lr in zip(shades, lstyles, widths, lrs):
            path = mirror_path(prob, pot, lr, steps)[:, :, 0]
            ax.plot(path[:, 0], path[:, 1], color=shade, ls=ls, lw=lw, marker=".", ms=3.5,
                    label=rf"path, $\eta={lr:g}$")
            ends.append(float(np.linalg.norm(path[-1] - ref[:, 0]) / np.linalg.norm(prob.W0[:, 0] - ref[:, 0])))
        ax.plot(*ref[:, 0], marker="*", ms=15, color=c, mec="black", mew=0.7, zorder=5, ls="none",
                label=r"$\arg\min_{x^\top w=y} D_\psi(w, w_0)$ (scipy)")
        ax.plot(*w0, marker="o", ms=7, color="black", ls="none", label=r"$w_0$", zorder=5)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.set_xlabel(r"$w_1$", fontsize=11)
        ax.set_xticks([-1, 0, 1])
        ax.tick_params(labelsize=10.5)
        ax.set_title(title, fontsize=10)
        data["limits"][key] = {"W": ref[:, 0].tolist(), "path_end_distance": ends,
                               "max_path_end_distance": max(ends)}
    axes[0].set_ylabel(r"$w_2$", fontsize=11)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=10)
    data["max_path_end_distance"] = max(v["max_path_end_distance"] for v in data["limits"].values())
    data["gd_point"] = gd_limit(prob)[:, 0].tolist()
    return Figure(fig, data)
