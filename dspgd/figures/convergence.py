"""Figures of the chapter "Convergence (claim C1)".

Every figure runs on the same small problem (``n = 30``, ``d = 150``,
``k = 2``) with every preconditioner of the package: the smooth ones at a
fixed fraction of their step-size bound ``2 / (L_K beta)``, the exact
normalized GD and sign descent (not smooth, no bound) at a fixed step
length.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .. import theory
from ..bregman import Trajectory, trajectory
from ..solver import solve
from ..losses import Loss, huber, logcosh, squared
from ..plotting import color_of, new_figure
from ..preconditioners import (
    Preconditioner,
    adam,
    clip_norm,
    clip_value,
    diagonal,
    flat_ball,
    gd,
    normalized,
    power,
    sign,
    spectral,
)
from ..problem import Problem, gaussian_problem
from . import Figure, register

__all__ = [
    "book_problem",
    "book_preconditioners",
    "book_lr",
    "convergence_curves",
    "iterates_settle",
    "step_size_bound",
    "nonsmooth_hover",
    "flat_ball_stall",
]

_CHAPTER = "chapters/03_convergence"
_LOSSES = {"squared": squared, "huber": huber, "logcosh": logcosh}


def book_problem(n: int = 30, d: int = 150, k: int = 2, seed: int = 0) -> Problem:
    """The chapter's problem: :func:`dspgd.gaussian_problem` with these sizes."""
    return gaussian_problem(n=n, d=d, k=k, seed=seed)


def book_preconditioners(problem: Problem, eps: float = 0.1, clip_norm_c: float = 1.0,
                         clip_value_c: float = 0.1, q: float = 1.5,
                         diag_range: tuple[float, float] = (0.5, 2.0), diag_seed: int = 1
                         ) -> list[Preconditioner]:
    """Every preconditioner of the package, smooth ones first.

    ``eps`` smooths normalized GD, Adam (``beta1 = beta2 = 0``), the power map
    and the spectral map; the fixed diagonal ``D`` has i.i.d. entries uniform
    in ``diag_range``. The last two, exact normalized GD and sign descent,
    are not smooth.
    """
    lo, hi = diag_range
    if not (0 < lo <= hi):
        raise ValueError(f"diag_range must satisfy 0 < low <= high, got {diag_range!r}")
    D = np.random.default_rng(diag_seed).uniform(lo, hi, size=(problem.d, problem.k))
    return [gd(), normalized(eps), clip_norm(clip_norm_c), adam(eps), clip_value(clip_value_c),
            power(q, eps), spectral(eps), diagonal(D), normalized(0.0), sign()]


def _step_length_per_lr(problem: Problem, p: Preconditioner) -> float:
    """``||grad K(G)||_F`` for a non-smooth ``K`` (1 for exact normalized GD, ``sqrt(dk)`` for sign)."""
    if p.name == "sign":
        return float(np.sqrt(problem.d * problem.k))
    if p.name == "normalized" and p.params.get("eps") == 0:
        return 1.0
    raise ValueError(f"{p!r} has no fixed step length")


def book_lr(problem: Problem, p: Preconditioner, loss: Loss, fraction: float = 0.5,
            step_length: float = 0.05) -> float:
    """The learning rate of the chapter's runs.

    ``fraction * stable_lr`` for a smooth ``K``; for exact normalized GD and
    sign descent, the learning rate whose steps have length ``step_length``.
    """
    if p.smooth:
        return fraction * theory.stable_lr(problem, p, loss)
    return step_length / _step_length_per_lr(problem, p)


def _style(p: Preconditioner) -> dict:
    """Colour of the family; the non-smooth preconditioners dashed, the smooth ones solid."""
    return {"color": color_of(p), "ls": "-" if p.smooth else "--", "lw": 1.6}


@lru_cache(maxsize=8)
def _runs(n: int, d: int, k: int, seed: int, loss_name: str, fraction: float, step_length: float,
          eps: float, steps: int, floor: float
          ) -> tuple[Problem, list[Preconditioner], list[float], list[Trajectory]]:
    """All preconditioners on one loss (cached: two figures share these runs).

    A run stops when its relative residual reaches ``floor`` (rounding level)
    or after ``steps`` updates.
    """
    prob = book_problem(n, d, k, seed)
    loss = _LOSSES[loss_name]()
    ps = book_preconditioners(prob, eps=eps)
    lrs = [book_lr(prob, p, loss, fraction, step_length) for p in ps]
    trs = [trajectory(prob, p, lr, steps, loss=loss, tol=floor) for p, lr in zip(ps, lrs)]
    return prob, ps, lrs, trs


def _loss_increases(loss_hist: np.ndarray, loss_floor: float) -> int:
    """Steps with ``L(W_{t+1}) > L(W_t)`` while ``L(W_t) > loss_floor * L(W_0)``.

    Below that level the loss is at the rounding error of its own evaluation
    (``log cosh`` loses digits near 0), and its wiggles are not the method's.
    """
    L = loss_hist
    above = L[:-1] > loss_floor * L[0]
    return int(np.sum((np.diff(L) > 0) & above))


def _first_below(rel: np.ndarray, level: float) -> int:
    """First step at which ``rel <= level`` (``-1`` if never)."""
    hit = np.flatnonzero(rel <= level)
    return int(hit[0]) if hit.size else -1


@register("convergence-curves", chapter=_CHAPTER,
          title="Relative residual against step, every preconditioner, three losses",
          alt="Three panels (squared, Huber and log-cosh loss) plot the relative residual on a log scale "
              "against the step for every preconditioner of the package but the flat ball: the smooth ones "
              "fall along straight lines to rounding level within a few hundred steps, while exact "
              "normalized gradient descent and sign descent (dashed) level off at a relative residual of a "
              "few thousandths.")
def convergence_curves(*, n: int = 30, d: int = 150, k: int = 2, seed: int = 0,
                       losses: tuple[str, ...] = ("squared", "huber", "logcosh"),
                       fraction: float = 0.5, step_length: float = 0.05, eps: float = 0.1,
                       steps: int = 500, floor: float = 1e-14, level: float = 1e-10,
                       loss_floor: float = 1e-12, width: float = 7.4, height: float = 4.6) -> Figure:
    """``||XW_t - Y|| / ||XW_0 - Y||`` against ``t`` for every preconditioner.

    One panel per loss. Smooth preconditioners run at ``fraction`` times
    their bound :func:`dspgd.stable_lr`; exact normalized GD and sign descent
    with steps of length ``step_length``. A run stops at relative residual
    ``floor`` (rounding level) or after ``steps`` updates.

    Returns
    -------
    Figure
        ``data[loss][label]`` holds ``lr``, ``steps_to_level`` (first step
        with relative residual ``<= level``; -1 if never),
        ``final_relative_residual``, ``loss_increases`` (steps with
        ``L(W_{t+1}) > L(W_t)`` while ``L(W_t) > loss_floor L(W_0)``) and
        ``smooth``; ``data["max_steps_smooth"]`` is the largest
        ``steps_to_level`` among the smooth runs, ``data["loss_increases_smooth"]``
        and ``data["loss_increases_nonsmooth"]`` the totals, and
        ``data["hover_range"]`` (also ``hover_min``, ``hover_max``) the
        smallest and largest final relative residual of the non-smooth runs;
        ``op_norm`` and ``sigma_min`` are the extreme singular values of ``X``.
    """
    fig, axes = new_figure(1, len(losses), width=width, height=height, sharey=True, squeeze=False)
    axes = axes[0]
    data: dict = {"n": n, "d": d, "k": k, "fraction": fraction, "step_length": step_length,
                  "eps": eps, "steps": steps, "level": level}
    worst = 0
    all_smooth_reach = True
    total_increases_smooth = 0
    total_increases_nonsmooth = 0
    hover: list[float] = []
    for ax, lname in zip(axes, losses):
        if lname not in _LOSSES:
            raise ValueError(f"unknown loss {lname!r}; known: {', '.join(_LOSSES)}")
        prob, ps, lrs, trs = _runs(n, d, k, seed, lname, fraction, step_length, eps, steps, floor)
        entry = {}
        for p, lr, tr in zip(ps, lrs, trs):
            rel = tr.residual[:, 0] / tr.residual[0, 0]
            t = np.arange(rel.size)
            ok = rel > 0
            ax.semilogy(t[ok], rel[ok], label=p.label, **_style(p))
            hit = _first_below(rel, level)
            inc = _loss_increases(tr.loss[:, 0], loss_floor)
            entry[p.label] = {"family": p.name, "lr": float(lr), "steps_to_level": hit,
                              "final_relative_residual": float(rel[-1]), "loss_increases": inc,
                              "smooth": bool(p.smooth)}
            if p.smooth:
                all_smooth_reach &= hit >= 0
                worst = max(worst, hit)
                total_increases_smooth += inc
            else:
                total_increases_nonsmooth += inc
                hover.append(float(rel[-1]))
        data[lname] = entry
        ax.set_title(_LOSSES[lname]().label)
        ax.set_xlabel("step $t$")
        ax.set_ylim(3e-15, 3)
    axes[0].set_ylabel(r"$\|XW_t-Y\|_F \,/\, \|XW_0-Y\|_F$")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=9)
    data["max_steps_smooth"] = int(worst)
    data["all_smooth_reach_level"] = bool(all_smooth_reach)
    data["loss_increases_smooth"] = int(total_increases_smooth)
    data["loss_increases_nonsmooth"] = int(total_increases_nonsmooth)
    data["hover_range"] = [min(hover), max(hover)] if hover else []
    if hover:
        data["hover_min"], data["hover_max"] = min(hover), max(hover)
    data["op_norm"], data["sigma_min"] = float(prob.op_norm), float(prob.sigma_min)
    data["n_preconditioners"] = len(ps)
    data["n_runs"] = len(ps) * len(losses)
    return Figure(fig, data)


@register("iterates-settle", chapter=_CHAPTER,
          title="Step lengths and path length: the iterates settle",
          alt="Left, the step lengths on a log scale against the step: those of the smooth preconditioners "
              "fall geometrically, gradient descent's below the dotted envelope of the convergence "
              "proposition, while exact normalized gradient descent and sign descent keep a constant step; "
              "right, the path length in units of the distance from W0 to W_GD levels off a little above one "
              "for the smooth preconditioners and grows linearly for the two non-smooth ones.")
def iterates_settle(*, n: int = 30, d: int = 150, k: int = 2, seed: int = 0, fraction: float = 0.5,
                    step_length: float = 0.05, eps: float = 0.1, steps: int = 500, floor: float = 1e-14,
                    envelope_level: float = 1e-12, width: float = 7.4, height: float = 4.8) -> Figure:
    """Step lengths ``||W_{t+1} - W_t||`` and the path length, squared loss.

    Left: the step lengths, with the geometric envelope of the book's
    linear-rate argument (:func:`dspgd.bregman.step_envelope`) for GD.
    Right: the path length ``sum_{s<t} ||W_{s+1} - W_s||`` in units of
    ``||W_GD - W_0||``.

    Returns
    -------
    Figure
        ``data["runs"][label]``: ``path_length`` and ``displacement``
        (``||W_T - W_0||``), both in units of ``||W_GD - W_0||``,
        ``last_step`` (``||W_T - W_{T-1}||``) and ``envelope_ratio`` (largest
        ``step / envelope`` over the steps where the relative residual is
        above ``envelope_level``, i.e. not yet at rounding level; smooth ``K`` only);
        ``data["max_envelope_ratio"]``, ``data["max_path_over_displacement"]``
        (smooth ``K``) and the path lengths of the two non-smooth runs;
        summaries: ``last_step_max_smooth``, ``displacement_min_smooth`` and
        ``displacement_max_smooth``, ``keeps_span_displacement_deviation``
        (largest ``|displacement - 1|`` over the smooth ``K`` that keep the
        span, whose limit is ``W_GD``), ``path_length_max_nonsmooth``, and
        ``rho_gd``, the contraction ``rho`` of the envelope drawn for GD.
    """
    from ..bregman import contraction, step_envelope

    prob, ps, lrs, trs = _runs(n, d, k, seed, "squared", fraction, step_length, eps, steps, floor)
    loss = squared()
    unit = float(np.linalg.norm(theory.gd_limit(prob) - prob.W0))
    fig, (a1, a2) = new_figure(1, 2, width=width, height=height)
    data: dict = {"n": n, "d": d, "k": k, "steps": steps, "unit": unit, "runs": {}}
    env_max, pod_max = 0.0, 0.0
    for p, lr, tr in zip(ps, lrs, trs):
        sn = tr.step_norm[:, 0]
        t = np.arange(sn.size)
        ok = sn > 0
        a1.semilogy(t[ok], sn[ok], label=p.label, **_style(p))
        path = tr.path_length[:, 0] / unit
        a2.plot(np.arange(path.size), path, **_style(p))
        disp = float(np.linalg.norm(tr.W[0] - prob.W0)) / unit
        rec = {"family": p.name, "smooth": bool(p.smooth), "path_length": float(path[-1]),
               "displacement": disp, "last_step": float(sn[-1])}
        if p.smooth:
            env = step_envelope(prob, p, lr, t, loss)
            rel = tr.residual[:-1, 0] / tr.residual[0, 0]
            live = rel > envelope_level
            ratio = float(np.max(sn[live] / env[live]))
            rec["envelope_ratio"] = ratio
            env_max = max(env_max, ratio)
            pod_max = max(pod_max, float(path[-1]) / disp)
            if p.name == "gd":
                a1.semilogy(t, env, color=color_of(p), ls=":", lw=1.4,
                            label=r"GD: envelope $C(1-\rho)^{t/2}$")
                data["rho_gd"] = float(contraction(prob, p, lr, loss))
        data["runs"][p.label] = rec
    a1.set_xlabel("step $t$")
    a1.set_ylabel(r"$\|W_{t+1}-W_t\|_F$")
    a1.set_ylim(1e-14, None)
    a2.set_xlabel("step $t$")
    a2.set_ylabel(r"path length $/\ \|W_{\mathrm{GD}}-W_0\|_F$")
    a2.axhline(1.0, color="0.4", lw=0.8, ls=":")
    handles, labels = a1.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=9)
    data["max_envelope_ratio"] = env_max
    data["max_path_over_displacement"] = pod_max
    smooth = [r for r in data["runs"].values() if r["smooth"]]
    rough = [r for r in data["runs"].values() if not r["smooth"]]
    span = {p.label for p in ps if p.smooth and p.keeps_span}
    data["last_step_max_smooth"] = max(r["last_step"] for r in smooth)
    data["displacement_min_smooth"] = min(r["displacement"] for r in smooth)
    data["displacement_max_smooth"] = max(r["displacement"] for r in smooth)
    data["keeps_span_displacement_deviation"] = max(abs(data["runs"][lab]["displacement"] - 1) for lab in span)
    if rough:
        data["path_length_max_nonsmooth"] = max(r["path_length"] for r in rough)
    return Figure(fig, data)


def _tail_amplitude(rel: np.ndarray, tail: int) -> float:
    """Largest relative residual over the last ``tail`` steps (``inf`` if it blew up)."""
    last = rel[-tail:]
    return float(np.max(last)) if np.all(np.isfinite(last)) else np.inf


def _diagonal_threshold(problem: Problem, p: Preconditioner) -> float:
    """``2 / max_j lambda_max(X diag(D_j) X^T)``: the exact stability limit of a fixed diagonal ``K``."""
    D = np.broadcast_to(p.params["D"], (problem.d, problem.k))
    lam = max(float(np.linalg.eigvalsh((problem.X * D[:, j]) @ problem.X.T)[-1]) for j in range(problem.k))
    return 2.0 / lam


@register("step-size-bound", chapter=_CHAPTER,
          title="The step-size bound 2/(L_K beta), from both sides",
          alt="Three panels: (a) gradient descent's relative residual falls to rounding level just below the "
              "bound eta_stable and blows up just above it; (b) Adam without momentum converges just below the "
              "bound and settles at a constant non-zero residual just above it; (c) over a sweep of "
              "eta / eta_stable, the largest late residual jumps at eta_stable for gradient descent (which "
              "diverges), Adam and clipping by value (which stay bounded), while the fixed diagonal keeps "
              "converging until well above eta_stable.")
def step_size_bound(*, n: int = 30, d: int = 150, k: int = 2, seed: int = 0, eps: float = 0.1,
                    clip_value_c: float = 0.1, diag_range: tuple[float, float] = (0.5, 2.0),
                    multipliers: tuple[float, ...] = (0.9, 0.99, 1.01, 1.1), steps: int = 2000,
                    sweep: tuple[float, float, int] = (0.5, 4.0, 15), sweep_steps: int = 1200,
                    fine: tuple[float, ...] = (0.98, 0.99, 0.995, 1.005, 1.01, 1.02),
                    fine_steps: int = 3000, tail: int = 200, level: float = 1e-10,
                    loss_floor: float = 1e-12, cap: float = 1e6, margin: float = 0.02,
                    width: float = 7.4, height: float = 6.4) -> Figure:
    """Runs at ``m * stable_lr`` just below and just above the bound (squared loss).

    (a) GD and (b) Adam (``beta1 = beta2 = 0``): relative residual against
    step for each multiplier ``m``. (c) A sweep of ``m``: the largest
    relative residual over the last ``tail`` steps, for GD, Adam, clip by
    value and a fixed diagonal ``K``. A run counts as converged when that
    amplitude is ``<= level`` and as diverged when it exceeds ``cap`` (or
    overflows); in between it is oscillating.

    Returns
    -------
    Figure
        ``data["panels"][family][m]``: ``status``, ``tail_amplitude``,
        ``loss_increases`` (below ``loss_floor`` ignored) and, for the runs
        that neither converge nor diverge, ``cycle_gap``
        (``||W_{T+2} - W_T|| / ||W_{T+1} - W_T||``, 0 on a 2-cycle);
        ``data["sweep"][family]``: multipliers, amplitudes and statuses;
        ``data["adam_largest_converging"]``, ``data["adam_smallest_failing"]``
        (multipliers of ``stable_lr`` from the ``fine`` grid, run
        ``fine_steps`` steps); ``data["diagonal_threshold_ratio"]``: the exact
        stability limit ``2 / max_j lambda_max(X diag(D_j) X^T)`` of the
        diagonal ``K`` over its ``stable_lr``, with the statuses of runs a
        fraction ``margin`` below and above it. Summaries:
        ``data["adam_above_bound"]`` (over the ``multipliers`` above 1: the
        smallest and largest, ``multiplier_low`` and ``multiplier_high``,
        the tail amplitudes there, ``amplitude_low`` and ``amplitude_high``,
        and the largest ``cycle_gap_max``), ``sweep_min`` and ``sweep_max``
        (the ends of the sweep), and ``sweep_saturating_max_amplitude``, the
        largest tail amplitude of Adam and clip by value over the sweep.
    """
    from ..bregman import cycle_gap

    prob = book_problem(n, d, k, seed)
    loss = squared()
    ps = {p.name: p for p in book_preconditioners(prob, eps=eps, clip_value_c=clip_value_c,
                                                  diag_range=diag_range)}
    family = {"gd": ps["gd"], "adam": ps["adam"], "clip_value": ps["clip_value"], "diagonal": ps["diagonal"]}
    fig, axd = _new_mosaic(width, height)
    axes = [axd["a"], axd["b"], axd["c"]]
    data: dict = {"n": n, "d": d, "k": k, "eps": eps, "multipliers": list(multipliers), "tail": tail,
                  "level": level, "cap": cap, "steps": steps, "panels": {}, "sweep": {}}

    def status(amp: float) -> str:
        if not np.isfinite(amp) or amp >= cap:
            return "diverged"
        return "converged" if amp <= level else "oscillating"

    mult = np.asarray(multipliers, dtype=float)
    styles = ["-", "-", "--", "--"]
    alphas = [0.45, 1.0, 1.0, 0.45]
    for ax, name in zip(axes[:2], ("gd", "adam")):
        p = family[name]
        slr = theory.stable_lr(prob, p, loss)
        tr = trajectory(prob, p, mult * slr, steps, loss=loss)
        rel = tr.residual / tr.residual[0]
        panel = {}
        for j, m in enumerate(mult):
            y = np.where(np.isfinite(rel[:, j]) & (rel[:, j] <= cap), rel[:, j], np.nan)
            ax.semilogy(np.arange(y.size), y, color=color_of(p), ls=styles[j % 4], alpha=alphas[j % 4],
                        lw=1.5, label=rf"$\eta = {m:g}\,\eta_{{\max}}$")
            amp = _tail_amplitude(rel[:, j], tail)
            st = status(amp)
            rec = {"status": st, "tail_amplitude": amp if np.isfinite(amp) else "inf"}
            if st != "diverged":
                rec["loss_increases"] = _loss_increases(tr.loss[:, j], loss_floor)
            if st == "oscillating":
                rec["cycle_gap"] = cycle_gap(prob, p, float(mult[j] * slr), tr.W[j], loss)
            panel[f"{m:g}"] = rec
        data["panels"][name] = panel
        ax.set_title(("(a) GD" if name == "gd" else f"(b) {p.label}"), fontsize=10)
        ax.set_xlabel("step $t$")
        ax.set_ylim(1e-16, cap * 10)
    axes[0].set_ylabel(r"$\|XW_t-Y\|_F \,/\, \|XW_0-Y\|_F$")
    from matplotlib.lines import Line2D

    keys = [Line2D([], [], color="0.25", ls=styles[j % 4], alpha=alphas[j % 4], lw=1.5)
            for j in range(mult.size)]
    axes[0].legend(keys, [rf"$\eta = {m:g}\,\eta_{{\max}}$" for m in mult], fontsize=8,
                   loc="center right")

    # (c) the sweep
    ax = axes[2]
    ms = np.geomspace(sweep[0], sweep[1], int(sweep[2]))
    for name, p in family.items():
        slr = theory.stable_lr(prob, p, loss)
        tr = trajectory(prob, p, ms * slr, sweep_steps, loss=loss)
        rel = tr.residual / tr.residual[0]
        amps = np.array([_tail_amplitude(rel[:, j], tail) for j in range(ms.size)])
        div = ~(np.isfinite(amps) & (amps < cap))
        shown = np.maximum(np.where(div, cap, amps), 1e-16)
        ax.loglog(ms, shown, "-", lw=1.2, color=color_of(p))
        ax.loglog(ms[~div], shown[~div], "o", ms=4, color=color_of(p),
                  label="GD" if name == "gd" else p.label)
        if div.any():
            ax.loglog(ms[div], shown[div], "x", ms=7, mew=1.8, color=color_of(p))
        data["sweep"][name] = {"multipliers": [float(m) for m in ms],
                               "tail_amplitude": [float(a) if np.isfinite(a) else "inf" for a in amps],
                               "status": [status(a) for a in amps]}
    data["sweep_min"], data["sweep_max"] = float(ms.min()), float(ms.max())
    sat = [a for f in ("adam", "clip_value") for a in data["sweep"][f]["tail_amplitude"]]
    data["sweep_saturating_max_amplitude"] = max(float(a) for a in sat)
    above = [f"{m:g}" for m in mult if m > 1]
    if above:
        pa = data["panels"]["adam"]
        data["adam_above_bound"] = {
            "multiplier_low": float(above[0]), "amplitude_low": pa[above[0]]["tail_amplitude"],
            "multiplier_high": float(above[-1]), "amplitude_high": pa[above[-1]]["tail_amplitude"],
        }
        gaps = [pa[m]["cycle_gap"] for m in above if "cycle_gap" in pa[m]]
        if gaps:
            data["adam_above_bound"]["cycle_gap_max"] = max(gaps)
    ax.axvline(1.0, color="0.3", lw=0.9, ls=":")
    ax.set_xticks([0.5, 1, 2, 4], labels=["0.5", "1", "2", "4"])
    ax.minorticks_off()
    ax.set_xlabel(r"$\eta \,/\, \eta_{\mathrm{stable}}$,   $\eta_{\mathrm{stable}} = 2/(L_K\beta)$")
    ax.set_ylabel(f"largest relative residual,\nlast {tail} steps")
    ax.set_ylim(3e-17, cap * 30)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(r"(c) sweep of $\eta$ (× = diverged)", fontsize=10)

    # the fine grid for Adam, and the exact limit of the diagonal K
    p = family["adam"]
    slr = theory.stable_lr(prob, p, loss)
    fm = np.asarray(fine, dtype=float)
    tr = trajectory(prob, p, fm * slr, fine_steps, loss=loss)
    rel = tr.residual / tr.residual[0]
    amps = np.array([_tail_amplitude(rel[:, j], tail) for j in range(fm.size)])
    conv = amps <= level
    data["adam_fine_multipliers"] = [float(m) for m in fm]
    data["adam_fine_status"] = [status(a) for a in amps]
    data["adam_fine_steps"] = fine_steps
    data["adam_largest_converging"] = float(fm[conv].max()) if conv.any() else 0.0
    data["adam_smallest_failing"] = float(fm[~conv].min()) if (~conv).any() else float("inf")

    pd = family["diagonal"]
    slr_d = theory.stable_lr(prob, pd, loss)
    ratio = _diagonal_threshold(prob, pd) / slr_d
    check = np.array([1 - margin, 1 + margin]) * ratio
    tr = trajectory(prob, pd, check * slr_d, fine_steps, loss=loss)
    rel = tr.residual / tr.residual[0]
    amps = [_tail_amplitude(rel[:, j], tail) for j in range(2)]
    data["diagonal_threshold_ratio"] = float(ratio)
    data["diagonal_check_margin"] = float(margin)
    data["diagonal_below_status"] = status(amps[0])
    data["diagonal_above_status"] = status(amps[1])
    return Figure(fig, data)


def _new_mosaic(width: float, height: float):
    """Two panels on top, one wide panel below, in the book's style."""
    fig, _ = new_figure(1, 1, width=width, height=height)
    fig.clf()
    return fig, fig.subplot_mosaic([["a", "b"], ["c", "c"]], height_ratios=[1, 0.9])


@register("nonsmooth-hover", chapter=_CHAPTER,
          title="Exact normalized GD and sign descent hover at a distance proportional to the step",
          alt="(a) The distance to the set of interpolators on a log scale against the step: exact "
              "normalized gradient descent and sign descent with a fixed step length gamma stall at a "
              "distance of order gamma, while their smoothed versions at the same learning rate fall to "
              "rounding level; (b) the mean hover distance against gamma on log-log axes lies on lines of "
              "slope one for both.")
def nonsmooth_hover(*, n: int = 30, d: int = 150, k: int = 2, seed: int = 0,
                    step_lengths: tuple[float, float, int] = (0.01, 0.3, 7), steps: int = 3000,
                    tail: int = 500, example_step: float = 0.05, example_steps: int = 700,
                    width: float = 7.4, height: float = 3.7) -> Figure:
    """Distance to the interpolators, ``||X^+(XW_t - Y)||_F``, for non-smooth ``K`` (squared loss).

    (a) Against the step, for exact normalized GD and sign descent with
    steps of length ``example_step``, and for their smoothed versions
    (normalized GD and Adam with ``eps = lr * beta``, rounded to two digits,
    so that the same learning rate is about half of the smoothed bound).
    (b) The mean distance over the last ``tail`` of ``steps`` steps against
    the step length ``gamma``, log-log, with least-squares slopes.

    Returns
    -------
    Figure
        ``data["slope"][family]``, ``data["mean_over_gamma"][family]`` (the
        hover distance in units of ``gamma``, per ``gamma``), ``data["cycle_gap"][family]``
        (largest ``||W_{T+2} - W_T|| / ||W_{T+1} - W_T||`` over ``gamma``: 0 on a
        2-cycle), ``data["final_smooth"]`` and ``data["final_exact"]`` (final
        distances in panel (a)) and ``data["smooth_eps"]``. Summaries:
        ``gamma_min``, ``gamma_max``, ``n_gamma`` (the step lengths of panel (b)),
        ``mean_over_gamma_min[family]`` and ``mean_over_gamma_max[family]``,
        ``normalized_half_deviation`` (largest ``|mean / gamma - 1/2|`` of exact
        normalized GD), ``cycle_gap_max``, ``final_smooth_max`` and
        ``final_exact_min``.
    """
    from ..bregman import cycle_gap

    prob = book_problem(n, d, k, seed)
    loss = squared()
    beta = loss.smoothness * prob.op_norm**2
    exact = [normalized(0.0), sign()]
    fig, (a1, a2) = new_figure(1, 2, width=width, height=height)
    data: dict = {"n": n, "d": d, "k": k, "steps": steps, "tail": tail,
                  "example_step": example_step, "slope": {}, "mean_over_gamma": {}, "cycle_gap": {},
                  "final_smooth": {}, "final_exact": {}, "smooth_eps": {}, "smooth_lr_fraction": {}}
    t = np.arange(example_steps + 1)
    for pe in exact:
        lr = example_step / _step_length_per_lr(prob, pe)
        e = float(f"{lr * beta:.2g}")
        ps_ = normalized(e) if pe.name == "normalized" else adam(e)
        data["smooth_eps"][ps_.name] = e
        data["smooth_lr_fraction"][ps_.name] = float(lr / theory.stable_lr(prob, ps_, loss))
        for p in (pe, ps_):
            tr = trajectory(prob, p, lr, example_steps, loss=loss)
            dist = tr.distance[:, 0]
            ok = dist > 0
            st = _style(p)
            if p is ps_:
                st["ls"] = ":"
                st["lw"] = 2.0
            a1.semilogy(t[ok], dist[ok], label=p.label, **st)
            key = "final_exact" if p is pe else "final_smooth"
            data[key][p.name] = float(dist[-1])
    a1.axhline(example_step, color="0.5", lw=0.9, ls="-.")
    a1.set_xlabel("step $t$")
    a1.set_ylabel(r"$\|X^+(XW_t-Y)\|_F$")
    a1.set_ylim(1e-16, None)
    a1.legend(fontsize=7.5, loc="lower left")
    a1.set_title(rf"(a) fixed step length $\gamma={example_step:g}$ vs smoothed", fontsize=10)

    gamma = np.geomspace(step_lengths[0], step_lengths[1], int(step_lengths[2]))
    for p in exact:
        lr = gamma / _step_length_per_lr(prob, p)
        tr = trajectory(prob, p, lr, steps, loss=loss)
        mean = tr.distance[-tail:].mean(axis=0)
        slope, icpt = np.polyfit(np.log(gamma), np.log(mean), 1)
        hollow = {"mfc": "none", "mew": 1.5} if p.name == "normalized" else {}
        a2.loglog(gamma, mean, "o", ms=6, color=color_of(p), **hollow)
        a2.loglog(gamma, np.exp(icpt) * gamma**slope, color=color_of(p), ls=_style(p)["ls"], lw=1.2,
                  label=f"{p.label}: slope {slope:.3f}")
        data["slope"][p.name] = float(slope)
        data["mean_over_gamma"][p.name] = [float(v) for v in mean / gamma]
        data["cycle_gap"][p.name] = max(cycle_gap(prob, p, float(lr[j]), tr.W[j], loss) for j in range(gamma.size))
    a2.set_xlabel(r"step length $\gamma = \|W_{t+1}-W_t\|_F$")
    a2.set_ylabel(f"mean distance, last {tail} steps")
    a2.legend(fontsize=8, loc="upper left")
    a2.set_title("(b) hover distance vs step length", fontsize=10)
    data["gamma"] = [float(v) for v in gamma]
    data["gamma_min"], data["gamma_max"], data["n_gamma"] = float(gamma.min()), float(gamma.max()), int(gamma.size)
    data["mean_over_gamma_min"] = {f: min(v) for f, v in data["mean_over_gamma"].items()}
    data["mean_over_gamma_max"] = {f: max(v) for f, v in data["mean_over_gamma"].items()}
    data["normalized_half_deviation"] = float(np.max(np.abs(np.array(data["mean_over_gamma"]["normalized"]) - 0.5)))
    data["cycle_gap_max"] = max(data["cycle_gap"].values())
    data["final_smooth_max"] = max(data["final_smooth"].values())
    data["final_exact_min"] = min(data["final_exact"].values())
    return Figure(fig, data)


@register("flat-ball-stall", chapter=_CHAPTER,
          title="A convex, smooth, isotropic K whose run stops short of the interpolators",
          alt="(a) The relative residual on a log scale against the step: gradient descent falls to rounding "
              "level while the flat-ball preconditioner levels off at a non-zero residual; (b) the step "
              "lengths: both decay geometrically, and the flat ball's steps are exactly zero from a step "
              "marked by a dotted line on.")
def flat_ball_stall(*, n: int = 30, d: int = 150, k: int = 2, seed: int = 0, radius: float = 1.0,
                    fraction: float = 0.5, steps: int = 400, floor: float = 1e-14,
                    solver_max_steps: int = 20_000, width: float = 7.4, height: float = 3.3) -> Figure:
    """DSPGD with the flat ball ``K(G) = max(0, ||G||_F - radius)^2 / 2`` next to gradient descent.

    Both run at ``fraction`` times the same bound ``2 / (L_K beta)`` (both
    have ``L_K = 1``), squared loss, on the chapter's problem. (a) The
    relative residual; (b) the step length ``||W_{t+1} - W_t||_F``, which for
    the flat ball is ``lr (||G_t||_F - radius)`` while the gradient is
    outside the ball and exactly 0 once it is inside. The stall is measured
    here, from the recorded steps and residuals; :func:`dspgd.solve` is run
    on the same problem as well, to record how it reports the run.

    Returns
    -------
    Figure
        ``data["flat"]``: ``first_zero_step`` (first ``t`` with
        ``W_{t+1} = W_t`` exactly; -1 if none), ``zero_steps_after`` (whether
        every later step is 0 too), ``relative_residual``
        (``||XW_T - Y|| / ||XW_0 - Y||``), ``distance_to_interpolators`` and
        ``distance_to_gd`` (both relative to ``||W_0 - W_GD||``),
        ``grad_norm`` (``||G(W_T)||_F``), ``radius`` and ``grad_excess``
        (``grad_norm - radius``), ``solver_status`` and ``solver_steps``
        (the status and step count of :func:`dspgd.solve` with its default
        ``tol`` and ``max_steps=solver_max_steps``), ``solver_max_steps``;
        ``data["gd"]``:
        ``steps``, ``relative_residual``, ``distance_to_gd``; ``lr``.
    """
    prob = book_problem(n, d, k, seed)
    loss = squared()
    pf, pg = flat_ball(radius), gd()
    lr = fraction * theory.stable_lr(prob, pf, loss)
    if not np.isclose(lr, fraction * theory.stable_lr(prob, pg, loss)):
        raise AssertionError("the flat ball and GD should share the bound 2 / beta")
    W_gd = theory.gd_limit(prob)
    unit = float(np.linalg.norm(prob.W0 - W_gd))
    fig, (a1, a2) = new_figure(1, 2, width=width, height=height)
    data: dict = {"n": n, "d": d, "k": k, "fraction": fraction, "lr": float(lr), "steps": steps}
    for p, tol in ((pg, floor), (pf, 0.0)):
        tr = trajectory(prob, p, lr, steps, loss=loss, tol=tol)
        rel = tr.residual[:, 0] / tr.residual[0, 0]
        sn = tr.step_norm[:, 0]
        W = tr.W[0]
        st = {"color": color_of(p), "lw": 1.8, "label": "GD" if p is pg else p.label}
        a1.semilogy(np.arange(rel.size), rel, **st)
        ok = sn > 0
        a2.semilogy(np.flatnonzero(ok), sn[ok], **st)
        rec = {"relative_residual": float(rel[-1]),
               "distance_to_gd": float(np.linalg.norm(W - W_gd)) / unit}
        if p is pg:
            rec["steps"] = int(sn.size)
            data["gd"] = rec
            continue
        zero = np.flatnonzero(sn == 0)
        T = int(zero[0]) if zero.size else -1
        G = prob.X.T @ loss.grad(prob.residual(W))
        rec.update(first_zero_step=T, zero_steps_after=bool(T >= 0 and np.all(sn[T:] == 0)),
                   distance_to_interpolators=float(tr.distance[-1, 0]) / unit,
                   grad_norm=float(np.linalg.norm(G)), radius=float(radius),
                   grad_excess=float(np.linalg.norm(G)) - float(radius))
        res = solve(prob, p, lr, loss=loss, max_steps=solver_max_steps)
        rec.update(solver_status=str(res.status), solver_steps=int(res.steps), solver_max_steps=solver_max_steps)
        data["flat"] = rec
        if T >= 0:
            for a in (a1, a2):
                a.axvline(T, color=color_of(p), lw=0.9, ls=":")
            a2.annotate(f"step exactly 0\nfrom $t={T}$ on", xy=(T, sn[T - 1]), xytext=(8, 22),
                        textcoords="offset points", ha="left", va="bottom", fontsize=8.5, color="0.25",
                        arrowprops={"arrowstyle": "->", "color": "0.4"})
            a1.annotate(f"stalls at {rel[-1]:.3f}", xy=(steps, rel[-1]), xytext=(0, 6),
                        textcoords="offset points", ha="right", va="bottom", fontsize=8.5, color="0.25")
    a1.set_ylabel(r"$\|XW_t-Y\|_F \,/\, \|XW_0-Y\|_F$")
    a2.set_ylabel(r"$\|W_{t+1}-W_t\|_F$")
    for a in (a1, a2):
        a.set_xlabel("step $t$")
        a.set_xlim(0, steps)
    a1.set_ylim(3e-16, 3)
    a1.set_title("(a) residual", fontsize=10)
    a2.set_title("(b) step length (zero steps not drawn)", fontsize=10)
    a1.legend(fontsize=8.5, loc="lower left")
    return Figure(fig, data)
