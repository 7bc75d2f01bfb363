"""Figures of the mini-batch chapter: stochastic steps keep GD's implicit bias only for isotropic ``K``."""

from __future__ import annotations

import numpy as np

from ..minibatch import minibatch_solve
from ..plotting import color_of, label_of, new_figure
from ..preconditioners import Preconditioner, adam, clip_norm, clip_value, diagonal, gd, normalized
from ..problem import gaussian_problem
from ..solver import solve
from ..theory import diagonal_limit, gd_limit, relative_distance
from . import Figure, register
from .small_step import _D_LOW, small_step_weights

CHAPTER = "chapters/11_minibatch"


def _setup() -> list[tuple[Preconditioner, float]]:
    """Preconditioners and one learning rate each, stable down to batch size 1."""
    return [
        (gd(), 0.05),
        (normalized(0.5), 0.025),
        (clip_norm(1.0), 0.05),
        (adam(0.1), 0.005),
        (clip_value(0.1), 0.05),
    ]


@register("minibatch-limit", chapter=CHAPTER, title="Mini-batch DSPGD: the limit against the batch size",
          alt="Four panels against the batch size: the limits of the three isotropic preconditioners stay at "
              "rounding-level distance from the GD solution for every batch size and seed, while those of Adam "
              "and of clipping by value land far from it, at a distance that changes with the batch size and the "
              "seed and differs from their full-batch limits; the full residual of every run shown falls at a "
              "linear rate to the tolerance.")
def minibatch_limit(*, n: int = 20, d: int = 100, k: int = 1, problem_seed: int = 0,
                    batch_sizes: tuple[int, ...] = (1, 2, 5, 10, 20), seeds: tuple[int, ...] = (0, 1, 2),
                    tol: float = 1e-13, max_steps: int = 50_000,
                    curve_batches: tuple[int, ...] = (1, 5, 20)) -> Figure:
    """Relative distance ``||W_inf - W_GD|| / ||W0 - W_GD||`` of mini-batch DSPGD against the batch size.

    Left: every (preconditioner, batch size, seed); isotropic ``K`` stay at
    rounding level, coordinate-wise ``K`` land elsewhere, at a point that
    moves with the batch size and (less) with the seed. ``batch_size = n`` is
    full-batch DSPGD. Right: relative full residual along the run (seed
    ``seeds[0]``) for Adam and GD at a few batch sizes.
    """
    prob = gaussian_problem(n, d, k, problem_seed)
    if max(batch_sizes) > n:
        raise ValueError(f"batch sizes must be <= n = {n}, got {max(batch_sizes)}")
    W_gd = gd_limit(prob)
    fig, axes = new_figure(2, 2, width=8.0, height=7.0)
    (ax, axz), (ax2, axf) = axes
    data: dict = {"n": n, "d": d, "k": k, "batch_sizes": list(batch_sizes), "seeds": list(seeds),
                  "batch_size_min": min(batch_sizes), "n_batch_sizes": len(batch_sizes), "n_seeds": len(seeds),
                  "tol": tol, "runs": {}}
    bs = np.array(batch_sizes, dtype=float)
    nb = len(batch_sizes)
    offsets = np.linspace(-0.06, 0.06, len(seeds))
    curves = {}
    iso_max = 0.0
    all_conv = True
    for P, lr in _setup():
        dist = np.empty((nb, len(seeds)))
        limits = np.empty((nb, len(seeds), d, k))
        steps = np.empty((nb, len(seeds)), dtype=int)
        for i, b in enumerate(batch_sizes):
            for j, s in enumerate(seeds):
                res = minibatch_solve(prob, P, lr, b, seed=s, tol=tol, max_steps=max_steps)
                all_conv &= bool(res.converged)
                limits[i, j] = res.W
                steps[i, j] = res.steps
                dist[i, j] = relative_distance(res.W, prob, W_gd)
                if j == 0 and b in curve_batches and P.name in ("adam", "gd"):
                    curves[(P.name, b)] = (P, res)
        full = solve(prob, P, lr, tol=tol, max_steps=max_steps)
        to_full = np.linalg.norm(limits - full.W, axis=(-2, -1)) / np.linalg.norm(prob.W0 - W_gd)
        # spread over seeds at each batch size: largest pairwise distance, relative
        spread = [float(max((np.linalg.norm(limits[i, a] - limits[i, c]) for a in range(len(seeds))
                             for c in range(a + 1, len(seeds))), default=0.0) / np.linalg.norm(prob.W0 - W_gd))
                  for i in range(nb)]
        partial = bs < n
        median = np.median(dist, axis=1)  # over seeds, per batch size
        entry = {
            "label": P.label, "lr": lr, "isotropic": P.isotropic,
            "distance": dist.tolist(), "steps": steps.tolist(),
            "max_distance": float(dist.max()), "min_distance": float(dist.min()),
            "median_by_batch": median.tolist(),
            # the median over seeds at the first batch size, and its smallest value with where it is reached
            "median_first_batch": float(median[0]), "median_min": float(median.min()),
            "median_min_batch_size": int(batch_sizes[int(np.argmin(median))]),
            "full_batch_distance": float(relative_distance(full.W, prob, W_gd)),
            "full_batch_status": full.status,
            "distance_to_full_batch": to_full.tolist(),
            "min_distance_to_full_batch_partial": float(to_full[partial].min()) if partial.any() else float("nan"),
            "seed_spread": spread,
        }
        data["runs"][P.name] = entry
        if P.isotropic:
            iso_max = max(iso_max, entry["max_distance"])
        c = color_of(P)
        for j in range(len(seeds)):
            ax.scatter(bs * 10 ** offsets[j], dist[:, j], color=c, s=16, alpha=0.75, lw=0,
                       marker="o" if P.isotropic else "D")
        ax.plot(bs, np.median(dist, axis=1), color=c, lw=1.4, label=label_of(P))
        for j in range(len(seeds)):
            axf.scatter(bs * 10 ** offsets[j], np.maximum(to_full[:, j], 1e-16), color=c, s=16, alpha=0.75,
                        lw=0, marker="o" if P.isotropic else "D")
        axf.plot(bs, np.maximum(np.median(to_full, axis=1), 1e-16), color=c, lw=1.4)
        if not P.isotropic:
            for j in range(len(seeds)):
                axz.scatter(bs * 10 ** offsets[j], dist[:, j], color=c, s=18, alpha=0.8, lw=0, marker="D")
            axz.plot(bs, np.median(dist, axis=1), color=c, lw=1.4)
            axz.axhline(entry["full_batch_distance"], color=c, lw=1.0, ls="--")
    data["n_preconditioners"] = len(data["runs"])
    data["isotropic_max_distance"] = iso_max
    data["all_converged"] = all_conv
    co = {k: data["runs"][k] for k in ("adam", "clip_value")}
    data["coordinatewise_min_distance"] = float(min(v["min_distance"] for v in co.values()))
    data["coordinatewise_max_distance"] = float(max(v["max_distance"] for v in co.values()))
    data["coordinatewise_max_seed_spread"] = float(max(max(v["seed_spread"][:-1]) for v in co.values()))
    data["coordinatewise_min_seed_spread"] = float(min(min(v["seed_spread"][:-1]) for v in co.values()))
    data["full_batch_seed_spread_max"] = float(max(v["seed_spread"][-1] for v in data["runs"].values())) \
        if batch_sizes[-1] == n else float("nan")
    for a in (ax, axz, axf):
        a.set_xscale("log")
        a.set_xticks(bs)
        a.set_xticklabels([f"{int(b)}" + (r" (=$n$)" if b == n else "") for b in bs])
        a.minorticks_off()
        a.set_xlabel(r"batch size $b$")
    for a in (ax, axf):
        a.axhspan(1e-17, 1e-11, color="0.85", alpha=0.5, lw=0, zorder=0)
        a.set_yscale("log")
        a.set_ylim(1e-16, 3.0)
    axz.set_ylim(0, None)
    axz.set_ylabel(r"$\|W_\infty - W_{\mathrm{GD}}\|_F \,/\, \|W_0 - W_{\mathrm{GD}}\|_F$", fontsize=9)
    axz.set_title(r"(b) non-quadratic coordinate-wise $K$, linear scale", fontsize=9)
    axf.set_ylabel(r"$\|W_\infty(b) - W_\infty(n)\|_F \,/\, \|W_0 - W_{\mathrm{GD}}\|_F$", fontsize=9)
    axf.set_title(r"(d) distance to the full-batch limit of the same $K$", fontsize=9)
    ax.set_ylabel(r"$\|W_\infty - W_{\mathrm{GD}}\|_F \,/\, \|W_0 - W_{\mathrm{GD}}\|_F$", fontsize=9)
    ax.set_title(rf"(a) all $K$, log scale ({len(seeds)} seeds each)", fontsize=9)
    ax.legend(loc="center left", fontsize=8)

    styles = {b: ls for b, ls in zip(curve_batches, [":", "--", "-", "-."])}
    curve_data = {}
    for (name, b), (P, res) in sorted(curves.items(), key=lambda kv: (kv[0][0] != "adam", kv[0][1])):
        h = res.residual_history / res.residual_history[0]
        ok = np.isfinite(h) & (h > 0)
        ax2.semilogy(res.history_steps[ok], h[ok], color=color_of(P), ls=styles[b], lw=1.4,
                     label=rf"{'Adam' if name == 'adam' else 'GD'}, $b={b}$")
        curve_data[f"{name}_b{b}"] = {"steps": int(res.steps), "status": res.status}
    data["curves"] = curve_data
    ax2.axhline(tol, color="0.4", lw=0.8, ls=(0, (1, 2)))
    ax2.set_xlabel(r"step $t$")
    ax2.set_ylabel(r"$\|XW_t - Y\|_F \,/\, \|XW_0 - Y\|_F$ (full residual)", fontsize=9)
    ax2.set_title(rf"(c) full residual (seed {seeds[0]})", fontsize=9)
    ax2.set_ylim(1e-17, 3.0)
    ax2.legend(fontsize=8, ncol=2, loc="lower left")
    return Figure(fig, data)


def minibatch_diagonal(*, n: int = 20, d: int = 100, k: int = 1, problem_seed: int = 0,
                       batch_sizes: tuple[int, ...] = (1, 5, 20), seeds: tuple[int, ...] = (0, 1),
                       lr: float = 0.05, d_low: float = _D_LOW, tol: float = 1e-13,
                       max_steps: int = 50_000) -> dict:
    """Mini-batch DSPGD with the fixed diagonal ``K(G) = 1/2 sum D_ij g_ij^2``: its limit is ``W_D``.

    ``D`` is :func:`dspgd.figures.small_step.small_step_weights` (uniform on
    ``[d_low, 1]``, as in the small-step chapter). For every batch size and seed, one
    :func:`dspgd.minibatch.minibatch_solve` run; its limit is compared with
    the closed form ``W_D`` (:func:`dspgd.theory.diagonal_limit`), the
    full-batch limit, and with ``W_GD``.

    Returns
    -------
    dict
        ``runs``: per ``(batch size, seed)`` the status, steps, the distance
        to ``W_D`` and to ``W_GD`` (relative to ``||W0 - W_D||`` and
        ``||W0 - W_GD||``); plus their extremes and the settings.
    """
    prob = gaussian_problem(n, d, k, problem_seed)
    if max(batch_sizes) > n:
        raise ValueError(f"batch sizes must be <= n = {n}, got {max(batch_sizes)}")
    D = np.broadcast_to(small_step_weights(d, low=d_low), (d, k))
    P = diagonal(D)
    W_D = diagonal_limit(prob, D)
    runs = []
    for b in batch_sizes:
        for seed in seeds:
            res = minibatch_solve(prob, P, lr, b, seed=seed, tol=tol, max_steps=max_steps)
            runs.append({"batch_size": int(b), "seed": int(seed), "status": str(res.status), "steps": int(res.steps),
                         "distance_to_WD": float(relative_distance(res.W, prob, W_D)),
                         "distance_to_WGD": float(relative_distance(res.W, prob))})
    return {"n": n, "d": d, "k": k, "lr": lr, "tol": tol, "D_low": float(d_low), "batch_sizes": list(batch_sizes),
            "seeds": list(seeds), "n_seeds": len(seeds),
            "runs": runs, "all_converged": all(r["status"] == "converged" for r in runs),
            "max_distance_to_WD": max(r["distance_to_WD"] for r in runs),
            "min_distance_to_WGD": min(r["distance_to_WGD"] for r in runs),
            "WD_to_WGD": float(relative_distance(W_D, prob))}
