"""Figures of the chapter "Isotropic preconditioners find the GD solution" (claim C3)."""

from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D

from .. import theory
from ..losses import Loss, huber, logcosh, squared
from ..plotting import color_of, new_figure
from ..preconditioners import Preconditioner, adam, clip_norm, gd, normalized, spectral
from ..problem import gaussian_problem
from ..rowspace import rowspace_residual, trace
from ..solver import solve
from . import Figure, register

__all__ = ["sweep_preconditioners", "isotropic_gd", "isotropic_trace"]

_CHAPTER = "chapters/05_isotropic"
_EPS = float(np.finfo(float).eps)
_LOSSES = {"squared": squared, "huber": huber, "logcosh": logcosh}
_MARKERS = {"squared": "o", "huber": "s", "logcosh": "^"}


def sweep_preconditioners(norm_eps: tuple[float, ...] = (0.05, 0.5), clip: tuple[float, ...] = (0.1, 1.0),
                          spectral_eps: float = 0.1, adam_eps: float = 0.1) -> list[Preconditioner]:
    """The preconditioners of the sweep: GD, normalized GD and clip-by-norm (two parameters each),
    smoothed spectral, and Adam (beta = 0) as the non-isotropic contrast."""
    return ([gd()] + [normalized(e) for e in norm_eps] + [clip_norm(c) for c in clip]
            + [spectral(spectral_eps), adam(adam_eps)])


def _loss(name: str) -> Loss:
    if name not in _LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose from {', '.join(_LOSSES)}")
    return _LOSSES[name]()


@register("isotropic-gd", chapter=_CHAPTER, title="Isotropic DSPGD lands on the GD solution",
          alt="A scatter plot on a log scale of the relative distance from the limit of each run to the "
              "GD solution, one column of points per preconditioner: the isotropic ones and the "
              "spectral one lie at rounding level, below a dashed line at 100 machine epsilons, while "
              "Adam with beta equal to zero lies far above it.")
def isotropic_gd(*, n: int = 20, ratios: tuple[int, ...] = (2, 5, 10), ks: tuple[int, ...] = (1, 3),
                 seeds: tuple[int, ...] = (0, 1), losses: tuple[str, ...] = ("squared", "huber", "logcosh"),
                 lr_fractions: tuple[float, ...] = (0.3, 0.55, 0.8, 0.95),
                 norm_eps: tuple[float, ...] = (0.05, 0.5), clip: tuple[float, ...] = (0.1, 1.0),
                 spectral_eps: float = 0.1, adam_eps: float = 0.1, tol: float = 3e-15,
                 max_steps: int = 10_000, patience: int = 5, eps_multiple: float = 100.0,
                 width: float = 7.2, height: float = 4.4) -> Figure:
    """Relative distance ``||W_inf - W_GD|| / ||W0 - W_GD||`` over a grid of runs.

    For every preconditioner of :func:`sweep_preconditioners`, loss, number of
    outputs ``k``, ratio ``d/n`` (with ``d = ratio * n``) and seed, one
    batched :func:`dspgd.solver.solve` runs the learning rates
    ``lr_fractions * stable_lr`` to relative residual ``tol``.

    Returns
    -------
    Figure
        ``data`` holds the settings (with their counts and the range of
        ``lr_fractions``), per-run records (family, label, loss, ``k``,
        ratio, seed, lr, status, steps, distance, row-space residual), and
        summaries: the largest distance over the isotropic runs (also per
        ratio, with the largest condition number ``kappa(X)`` per ratio),
        over the spectral runs, the range over the Adam runs, the largest
        final row-space residual over the isotropic runs and the numbers of
        runs.
    """
    if not ratios or not ks or not seeds or not losses or not lr_fractions:
        raise ValueError("ratios, ks, seeds, losses and lr_fractions must all be non-empty")
    if any(not 0 < f < 1 for f in lr_fractions):
        raise ValueError(f"lr_fractions must lie in (0, 1) (fractions of the stable step), got {lr_fractions}")
    preconds = sweep_preconditioners(norm_eps, clip, spectral_eps, adam_eps)
    runs: list[dict] = []
    kappa: dict[int, float] = {}
    for ratio in ratios:
        for k in ks:
            for seed in seeds:
                prob = gaussian_problem(n, int(ratio * n), k, seed=seed)
                W_gd = theory.gd_limit(prob)
                kappa[int(ratio)] = max(kappa.get(int(ratio), 0.0), prob.condition_number)
                for lname in losses:
                    loss = _loss(lname)
                    for p in preconds:
                        lrs = np.asarray(lr_fractions) * theory.stable_lr(prob, p, loss)
                        res = solve(prob, p, lrs, loss=loss, tol=tol, max_steps=max_steps,
                                    patience=patience)
                        dist = theory.relative_distance(res.W, prob, W_gd)
                        row = rowspace_residual(res.W, prob, W_gd)
                        for b in range(lrs.size):
                            runs.append({
                                "family": p.name, "label": p.label, "isotropic": bool(p.isotropic),
                                "loss": lname, "k": int(k), "ratio": int(ratio), "seed": int(seed),
                                "lr": float(lrs[b]), "status": str(res.status[b]),
                                "steps": int(res.steps[b]), "distance": float(dist[b]),
                                "rowspace": float(row[b]),
                            })

    iso = [r for r in runs if r["isotropic"]]
    spec = [r for r in runs if r["family"] == "spectral"]
    ada = [r for r in runs if r["family"] == "adam"]
    line = eps_multiple * _EPS

    fig, ax = new_figure(width=width, height=height)
    labels = [p.label for p in preconds]
    rng = np.random.default_rng(0)
    for i, p in enumerate(preconds):
        for lname in losses:
            ys = np.array([r["distance"] for r in runs if r["label"] == p.label and r["loss"] == lname])
            ys = np.maximum(ys, _EPS / 100)  # an exact zero would vanish from a log axis
            xs = i + rng.uniform(-0.3, 0.3, ys.size)
            ax.scatter(xs, ys, s=14, marker=_MARKERS.get(lname, "o"), color=color_of(p), alpha=0.6,
                       linewidths=0)
    ax.axhline(line, color="0.3", ls="--", lw=1.2)
    ax.text(len(preconds) - 0.5, line * 1.8, rf"${eps_multiple:g}\,\epsilon_{{\mathrm{{mach}}}}$",
            ha="right", va="bottom", fontsize=9, color="0.3")
    ax.set_yscale("log")
    ax.set_ylim(_EPS / 20, 3.0)
    ax.set_xticks(range(len(preconds)))
    ax.set_xticklabels(labels, rotation=25, ha="right", fontsize=8.5)
    ax.set_xlim(-0.6, len(preconds) - 0.4)
    ax.set_ylabel(r"$\|W_\infty - W_{\mathrm{GD}}\|_F \,/\, \|W_0 - W_{\mathrm{GD}}\|_F$")
    ax.grid(axis="x", visible=False)
    handles = [Line2D([], [], ls="", marker=_MARKERS.get(l, "o"), color="0.35", label=_loss(l).label)
               for l in losses]
    ax.legend(handles=handles, title="loss", loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9)
    ax.set_title(r"Distance of the DSPGD limit to $W_{\mathrm{GD}}$", fontsize=11)

    data = {
        "n": int(n), "ratios": [int(r) for r in ratios], "ks": [int(k) for k in ks],
        "seeds": [int(s) for s in seeds], "n_seeds": len(seeds), "losses": list(losses),
        "lr_fractions": [float(f) for f in lr_fractions], "n_lr_fractions": len(lr_fractions),
        "lr_fraction_min": float(min(lr_fractions)), "lr_fraction_max": float(max(lr_fractions)),
        "tol": float(tol), "preconditioners": labels, "n_preconditioners": len(labels),
        "eps_mach": _EPS, "eps_multiple": float(eps_multiple),
        "line": float(line),
        "n_runs": len(runs), "n_isotropic": len(iso), "n_spectral": len(spec), "n_adam": len(ada),
        "n_configs": len(ratios) * len(ks) * len(seeds) * len(losses),
        "all_converged": bool(all(r["status"] == "converged" for r in runs)),
        "n_converged": int(sum(r["status"] == "converged" for r in runs)),
        "max_iso": float(max(r["distance"] for r in iso)),
        "max_iso_over_eps": float(max(r["distance"] for r in iso) / _EPS),
        "max_iso_rowspace": float(max(r["rowspace"] for r in iso)),
        "max_spectral": float(max(r["distance"] for r in spec)) if spec else float("nan"),
        "min_adam": float(min(r["distance"] for r in ada)) if ada else float("nan"),
        "max_adam": float(max(r["distance"] for r in ada)) if ada else float("nan"),
        "min_adam_rowspace": float(min(r["rowspace"] for r in ada)) if ada else float("nan"),
        "max_steps_taken": int(max(r["steps"] for r in runs)),
        "max_iso_by_ratio": [float(max(r["distance"] for r in iso if r["ratio"] == int(q))) for q in ratios],
        "kappa_by_ratio": [float(kappa[int(q)]) for q in ratios],
        "runs": runs,
    }
    return Figure(fig, data)


@register("isotropic-trace", chapter=_CHAPTER,
          title="Along a run: the component of W_t - W0 outside the row space of X",
          alt="Two log-log panels against the step: on the left, the part of W_t - W0 outside the row "
              "space of X stays near machine epsilon for GD, normalized GD and clipping by norm, while "
              "for Adam it is far above rounding level from the first step on and levels off; on the "
              "right, the distance to the GD solution falls to rounding level for the three isotropic "
              "runs and levels off for Adam at the height of its curve on the left.")
def isotropic_trace(*, n: int = 10, d: int = 50, k: int = 3, seed: int = 3, steps: int = 2000,
                    lr_fraction: float = 0.5, norm_eps: float = 0.05, clip: float = 0.1,
                    adam_eps: float = 0.1, width: float = 7.2, height: float = 3.3) -> Figure:
    """Null-space component and distance to ``W_GD`` along one run per preconditioner.

    Uses :func:`dspgd.rowspace.trace` (every iterate, no stopping rule) with
    ``lr = lr_fraction * stable_lr`` for GD, normalized GD, clip-by-norm and
    Adam (beta = 0).

    Returns
    -------
    Figure
        ``data`` holds the settings and, per family, the largest row-space
        residual along the run, its final value, and the final distance.
    """
    prob = gaussian_problem(n, d, k, seed=seed)
    methods = [gd(), normalized(norm_eps), clip_norm(clip), adam(adam_eps)]
    fig, (a1, a2) = new_figure(1, 2, width=width, height=height)
    out: dict = {"n": n, "d": d, "k": k, "seed": seed, "steps": steps, "lr_fraction": lr_fraction,
                 "eps_mach": _EPS, "runs": {}}
    for p in methods:
        lr = lr_fraction * theory.stable_lr(prob, p)
        tr = trace(prob, p, lr, steps=steps)
        t = tr.steps[1:]
        row, dist = tr.rowspace[0, 1:], tr.distance[0, 1:]
        kw = dict(color=color_of(p), label=p.label, lw=1.6)
        a1.loglog(t, np.maximum(row, _EPS / 100), **kw)
        a2.loglog(t, np.maximum(dist, _EPS / 100), **kw)
        out["runs"][p.name] = {
            "label": p.label, "lr": float(lr), "max_rowspace": float(row.max()),
            "first_rowspace": float(row[0]),
            "final_rowspace": float(row[-1]), "final_distance": float(dist[-1]),
        }
    for ax in (a1, a2):
        ax.set_xlabel("step $t$")
        ax.set_ylim(_EPS / 20, 3.0)
        ax.axhline(_EPS, color="0.5", ls=":", lw=1)
    a1.set_ylabel(r"$\|P_{\mathrm{null}}(W_t - W_0)\|_F \,/\, \|W_0 - W_{\mathrm{GD}}\|_F$", fontsize=9.5)
    a2.set_ylabel(r"$\|W_t - W_{\mathrm{GD}}\|_F \,/\, \|W_0 - W_{\mathrm{GD}}\|_F$", fontsize=9.5)
    a1.set_title("outside the row space", fontsize=10.5)
    a2.set_title(r"distance to $W_{\mathrm{GD}}$", fontsize=10.5)
    a1.legend(loc="center right", fontsize=8.5)
    iso = [v for kname, v in out["runs"].items() if kname != "adam"]
    out["max_iso_rowspace"] = float(max(v["max_rowspace"] for v in iso))
    out["max_iso_rowspace_over_eps"] = out["max_iso_rowspace"] / _EPS
    out["adam_final_rowspace"] = out["runs"]["adam"]["final_rowspace"]
    out["adam_first_rowspace"] = out["runs"]["adam"]["first_rowspace"]
    out["adam_final_distance"] = out["runs"]["adam"]["final_distance"]
    return Figure(fig, out)
