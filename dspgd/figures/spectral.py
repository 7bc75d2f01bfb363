"""Figures of the chapter "Spectral (Muon-type) preconditioners share GD's implicit bias"."""

from __future__ import annotations

import numpy as np

from .. import theory
from ..plotting import color_of, new_figure
from ..preconditioners import spectral
from ..problem import Problem, gaussian_problem
from ..rowspace import (MUON_COEFFICIENTS, Trace, bfloat16_round, bfloat16_spacing, null_component,
                        rowspace_residual, trace)
from ..solver import solve
from . import Figure, register

__all__ = ["spectral_gd", "round_bfloat16_inplace", "muon_runs", "muon_bfloat16_long"]

_CHAPTER = "chapters/07_spectral"
_EPS = float(np.finfo(float).eps)
_MARKERS = ("o", "s", "D", "v")


def _shade(base, t: float):
    """``base`` colour mixed with white (``t = 0``: base, ``t = 1``: white)."""
    return tuple((1 - t) * np.asarray(base) + t)


@register("spectral-gd", chapter=_CHAPTER,
          title="Spectral preconditioners: smoothed ones land on W_GD, the exact one hovers around it",
          alt="Two log-log panels against the step size: on the left, the limits of smoothed spectral "
              "DSPGD for three values of epsilon all lie at rounding level from the GD solution, below "
              "a dashed line at 100 machine epsilons; on the right, after a fixed number of exact UV^T "
              "steps, the distance to the GD solution and the residual grow in proportion to the step "
              "size along a fitted line, while the part of W_N - W0 outside the row space stays at "
              "rounding level.")
def spectral_gd(*, n: int = 20, d: int = 100, k: int = 3, seed: int = 0,
                eps_values: tuple[float, ...] = (0.01, 0.1, 1.0),
                lr_fractions: tuple[float, ...] = (0.2, 0.4, 0.7, 0.95), tol: float = 1e-15,
                max_steps: int = 20_000, patience: int = 5,
                exact_lrs: tuple[float, ...] = (0.004, 0.008, 0.016, 0.032, 0.064, 0.128),
                exact_steps: int = 3000, every: int = 50, eps_multiple: float = 100.0,
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
        statuses, distances, row-space residuals; over all of them, the
        number converged and the largest distance, also in machine
        epsilons), the exact runs (lrs, final distance, residual, row-space
        residual, largest row-space residual along the run, the two-cycle
        ratio) and the fitted slopes.
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
        "n_lr_fractions": len(lr_fractions), "lr_fraction_min": float(min(lr_fractions)),
        "lr_fraction_max": float(max(lr_fractions)),
        "eps_mach": _EPS, "eps_multiple": float(eps_multiple), "line": float(line),
        "smooth": smooth,
        "smooth_all_converged": bool(all(s == "converged" for r in smooth for s in r["status"])),
        "smooth_n_converged": int(sum(s == "converged" for r in smooth for s in r["status"])),
        "smooth_max_distance": float(max(max(r["distance"]) for r in smooth)),
        "smooth_max_distance_over_eps": float(max(max(r["distance"]) for r in smooth)) / _EPS,
        "smooth_max_rowspace": float(max(max(r["rowspace"]) for r in smooth)),
        "smooth_n_runs": int(sum(len(r["lr"]) for r in smooth)),
        "exact_steps": int(exact_steps), "n_exact": int(lrs.size), "exact_lr": lrs.tolist(), "exact_distance": dist.tolist(),
        "exact_residual": resid.tolist(), "exact_rowspace": row.tolist(),
        "exact_rowspace_max_along": float(tr.rowspace.max()),
        "exact_rowspace_max_along_over_eps": float(tr.rowspace.max()) / _EPS,
        "exact_cycle_ratio_max": float(cycle.max()),
        "exact_lr_min": float(lrs.min()), "exact_lr_max": float(lrs.max()),
        "exact_distance_min": float(dist.min()), "exact_distance_max": float(dist.max()),
        "slope_distance": float(slope_d), "slope_residual": float(slope_r),
        "distance_over_lr_min": float((dist * np.linalg.norm(prob.W0 - W_gd) / lrs).min()),
        "distance_over_lr_max": float((dist * np.linalg.norm(prob.W0 - W_gd) / lrs).max()),
    }
    return Figure(fig, data)


_SPLIT = np.float32(2.0**16 + 1.0)


def round_bfloat16_inplace(x: np.ndarray, work: np.ndarray) -> np.ndarray:
    """Round a float32 array to the nearest bfloat16 numbers, in place, with three float32 operations.

    Veltkamp's splitting: with ``s = (2**16 + 1) x`` rounded to float32,
    ``s - (s - x)`` is ``x`` rounded to the 8 leading bits of its
    significand, to nearest with ties to even. This is
    :func:`dspgd.rowspace.bfloat16_round` (the test suite checks the two bit
    for bit, ties included) at a third of the numpy calls, and numpy calls
    are what a long run of tiny matrix operations is made of.

    Parameters
    ----------
    x : ndarray of float32
        Overwritten with the rounded values. Entries must be normal float32
        numbers (or zero) with ``|x| < 2**111``, so that ``s`` cannot overflow.
    work : ndarray of float32, the shape of ``x``
        Scratch space.

    Returns
    -------
    ndarray
        ``x``.
    """
    if x.dtype != np.float32 or work.dtype != np.float32 or work.shape != x.shape:
        raise ValueError("x and work must be float32 arrays of the same shape")
    return _round_bf16(x, work)


def _round_bf16(x: np.ndarray, work: np.ndarray) -> np.ndarray:
    """:func:`round_bfloat16_inplace` without the argument checks (the inner loop of :func:`muon_runs`)."""
    np.multiply(x, _SPLIT, out=work)
    np.subtract(work, x, out=x)
    np.subtract(work, x, out=x)
    return x


def _check_muon_args(problems: list[Problem], lr: np.ndarray, steps: int, record) -> tuple:
    if not problems or not all(isinstance(p, Problem) for p in problems):
        raise TypeError("problems must be a non-empty list of dspgd.Problem")
    shape = (problems[0].n, problems[0].d, problems[0].k)
    if any((p.n, p.d, p.k) != shape for p in problems):
        raise ValueError("all problems must have the same (n, d, k)")
    if shape[1] <= shape[2]:
        raise ValueError(f"muon_runs needs tall weights (d > k), got d = {shape[1]}, k = {shape[2]}")
    if isinstance(steps, bool) or int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    steps = int(steps)
    lr = np.asarray(lr, dtype=np.float64)
    if lr.ndim == 1:
        lr = np.broadcast_to(lr, (steps, lr.size))
    if lr.shape != (steps, len(problems)):
        raise ValueError(f"lr must have shape (B,) or (steps, B) = {(steps, len(problems))}, got {lr.shape}")
    if not (np.all(np.isfinite(lr)) and np.all(lr >= 0)):
        raise ValueError("learning rates must be finite and non-negative")
    rec = sorted({int(r) for r in np.atleast_1d(record)} | {0, steps})
    if rec[0] < 0 or rec[-1] > steps:
        raise ValueError(f"record steps must lie in 0..{steps}")
    return lr, steps, rec


def muon_runs(problems: list[Problem], lr, steps: int, record, *, bfloat16: bool = True,
              weight_decay=0.0, momentum: float = 0.95, ns_steps: int = 5, eps: float = 1e-7) -> Trace:
    """Muon on a stack of problems, batched: one member per problem, each with its own schedule.

    Member ``i`` runs the update of :func:`dspgd.rowspace.muon_trace` on
    ``problems[i]`` (squared loss, Nesterov momentum, Muon's learning-rate
    scaling ``sqrt(max(1, d/k))``), with the learning rate ``lr[t, i]`` at
    step ``t`` and torch's decoupled weight decay ``W <- (1 - lr wd) W``
    before each update. With ``bfloat16=True`` the Newton-Schulz iteration
    is the emulated bfloat16 arithmetic of
    :func:`dspgd.rowspace.newton_schulz_bfloat16`, the same operations and
    roundings (the rounding by :func:`round_bfloat16_inplace`); the test
    suite checks that a member reproduces ``muon_trace(backend="bfloat16")``
    bit for bit. With ``bfloat16=False`` everything is float64, as
    ``backend="numpy"``. The runs share every numpy call, so ``B`` members
    cost little more than one: a run of tens of thousands of steps takes
    seconds.

    Parameters
    ----------
    problems : list of Problem
        ``B`` problems of one shape ``(n, d, k)`` with ``d > k``; a problem
        may appear several times.
    lr : array_like, shape (B,) or (steps, B)
        Constant learning rates, or a schedule.
    steps : int
        Number of updates.
    record : array_like of int
        Steps at which to record the iterates (``0`` and ``steps`` always are).
    bfloat16 : bool
        Newton-Schulz in emulated bfloat16 (as ``torch.optim.Muon``) or in float64.
    weight_decay : float or array_like, shape (B,)
        Decoupled weight decay (``torch.optim.Muon``'s default is 0.1); 0 by default here.
    momentum : float
        In ``[0, 1)``.
    ns_steps : int
        Newton-Schulz iterations.
    eps : float
        Guard of the normalization.

    Returns
    -------
    dspgd.rowspace.Trace
        Recorded at the steps ``record``;
        its ``lr`` holds the learning rates of the first step.

    Raises
    ------
    FloatingPointError
        If an iterate is not finite.
    """
    lr, steps, rec = _check_muon_args(problems, lr, steps, record)
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum!r}")
    if isinstance(ns_steps, bool) or int(ns_steps) != ns_steps or ns_steps < 0:
        raise ValueError(f"ns_steps must be a non-negative integer, got {ns_steps!r}")
    B = len(problems)
    d, k = problems[0].d, problems[0].k
    wd = np.broadcast_to(np.asarray(weight_decay, dtype=np.float64), (B,))
    if not (np.all(np.isfinite(wd)) and np.all(wd >= 0)):
        raise ValueError("weight_decay must be finite and non-negative")
    # consecutive members with the same problem share its X: one 2-D product per group, with
    # the iterates stored as (d, B, k) so that a group's block (d, B_p k) is a view
    groups: list[tuple[Problem, slice]] = []
    i = 0
    while i < B:
        j = i
        while j < B and problems[j] is problems[i]:
            j += 1
        groups.append((problems[i], slice(i, j)))
        i = j
    W = np.ascontiguousarray(np.stack([p.W0 for p in problems], axis=1))          # (d, B, k)
    Y = np.concatenate([np.tile(p.Y, (1, sl.stop - sl.start)) for p, sl in groups], axis=1)
    G = np.empty_like(W)
    Gf, Wf = G.reshape(d, B * k), W.reshape(d, B * k)
    eta = (lr * np.sqrt(max(1.0, d / k)))[:, :, None]          # Muon's adjusted rate, (steps, B, 1)
    decay = (1.0 - lr * wd)[:, :, None] if np.any(wd > 0) else None
    ft = np.float32 if bfloat16 else np.float64
    a, b, c = (ft(v) for v in MUON_COEFFICIENTS)
    floor = np.float32(bfloat16_round(eps)) if bfloat16 else eps
    wz, wa, wn = np.empty((B, k, d), ft), np.empty((B, k, k), ft), np.empty((B, 1, 1), ft)
    rnd = _round_bf16 if bfloat16 else (lambda x, work: x)
    buf, tmp = np.zeros_like(W), np.empty_like(W)
    Z, P = np.empty((B, k, d), ft), np.empty((B, k, d), ft)
    A, M, sq = np.empty((B, k, k), ft), np.empty((B, k, k), ft), np.empty((B, k * d), ft)
    Zt, Zf, step = Z.transpose(0, 2, 1), Z.reshape(B, k * d), np.empty((d, B, k))
    Zs, Gs = Z.transpose(2, 0, 1), G.transpose(1, 2, 0)
    mom, one_m = float(momentum), 1.0 - float(momentum)
    kept, r = [], 0
    for t in range(steps + 1):
        if t == rec[r]:
            kept.append(W.transpose(1, 0, 2).copy())
            r += 1
        if t == steps:
            break
        for p, sl in groups:
            cols = slice(sl.start * k, sl.stop * k)
            R = p.X @ Wf[:, cols]
            R -= Y[:, cols]
            np.matmul(p.X.T, R, out=Gf[:, cols])
        buf *= mom
        np.multiply(G, one_m, out=tmp)
        buf += tmp
        G *= one_m
        np.multiply(buf, mom, out=tmp)
        G += tmp                                                   # the Nesterov direction
        Z[...] = Gs                                                # (B, k, d): the short side first, as torch
        rnd(Z, wz)
        np.square(Zf, out=sq)
        nrm = np.sqrt(np.sum(sq, axis=1, dtype=ft)).reshape(B, 1, 1)
        rnd(nrm, wn)
        np.maximum(nrm, floor, out=nrm)
        Z /= nrm
        rnd(Z, wz)
        for _ in range(ns_steps):
            np.matmul(Z, Zt, out=A)
            rnd(A, wa)
            np.matmul(A, A, out=M)
            M *= c
            np.multiply(A, b, out=A)
            M += A
            rnd(M, wa)
            np.matmul(M, Z, out=P)
            Z *= a
            Z += P
            rnd(Z, wz)
        if decay is not None:
            W *= decay[t]
        np.multiply(Zs, eta[t], out=step)
        W -= step
    if not np.all(np.isfinite(W)):
        raise FloatingPointError("muon_runs: an iterate is not finite (the run diverged)")
    Ws = np.stack(kept, axis=1)                                    # (B, R, d, k)
    row, dist, res = (np.empty((B, len(rec))) for _ in range(3))
    for i, p in enumerate(problems):
        W_gd = theory.gd_limit(p)
        scale = float(np.linalg.norm(p.W0 - W_gd))
        row[i] = np.linalg.norm(null_component(Ws[i], p), axis=(-2, -1)) / scale
        dist[i] = np.linalg.norm(Ws[i] - W_gd, axis=(-2, -1)) / scale
        res[i] = np.linalg.norm(p.X @ Ws[i] - p.Y, axis=(-2, -1)) / float(np.linalg.norm(p.residual(p.W0)))
    return Trace(np.array(rec), row, dist, res, W.transpose(1, 0, 2).copy(),
                 lr[0].copy() if steps else np.zeros(B))


def _schedule(lr: float, start: float, half_life: float, steps: int) -> np.ndarray:
    """``lr`` until step ``start``, then halved every ``half_life`` steps."""
    t = np.arange(steps, dtype=np.float64)
    return lr * np.exp2(-np.maximum(t - start, 0.0) / half_life)


def _at(steps: np.ndarray, t: int) -> int:
    """Index of the recorded step ``t`` (which must be recorded)."""
    i = int(np.searchsorted(steps, t))
    if i == steps.size or steps[i] != t:
        raise ValueError(f"step {t} was not recorded")
    return i


@register("muon-bfloat16-long", chapter=_CHAPTER,
          title="bfloat16 Muon: the part outside the row space keeps growing; a learning-rate decay freezes it",
          alt="Two log-log panels against the step: on the left, the part of W_t - W0 outside the row "
              "space, in units of bfloat16's machine epsilon, keeps growing for bfloat16 Muon at three "
              "constant learning rates, higher for the larger rates and roughly like the square root "
              "of t (a dotted guide), while in float64 it stays many orders of magnitude lower; on the "
              "right, with the learning rate halved again and again from a given step on, the bfloat16 "
              "runs level off at a small distance from the GD solution, the farther the later the decay "
              "starts, while the float64 run keeps falling towards it.")
def muon_bfloat16_long(*, n: int = 20, d: int = 100, k: int = 3, seeds: tuple[int, ...] = (0,),
                       lrs: tuple[float, ...] = (0.01, 0.02, 0.05), steps: int = 20_000,
                       decay_starts: tuple[int, ...] = (1000, 3000, 10_000), half_life: float = 100.0,
                       fit_from: int = 1000, f64_steps: int = 3000, weight_decay: float = 0.1,
                       momentum: float = 0.95, ns_steps: int = 5, n_record: int = 70,
                       width: float = 7.4, height: float = 3.5) -> Figure:
    """Long runs of Muon with its Newton-Schulz iteration in emulated bfloat16 (:func:`muon_runs`).

    Left: the component of ``W_t - W0`` outside the row space of ``X``,
    relative to ``||W0 - W_GD||`` (root mean square over ``seeds``), for a
    constant learning rate ``lr`` in ``lrs``, over ``steps`` steps; float64
    Muon for comparison (``f64_steps`` steps). Right: the distance to
    ``W_GD`` when the learning rate ``max(lrs)`` is halved every
    ``half_life`` steps from step ``T0`` in ``decay_starts`` on, in bfloat16
    (seed ``seeds[0]``) and in float64 (``T0 = decay_starts[0]``).

    The growth is fitted two ways: the log-log slope in ``t`` of the
    largest ``lr``'s curve over ``fit_from <= t <= steps``, and the
    log-log slope in ``lr`` of the increment
    ``sqrt(r(steps)^2 - r(fit_from)^2)``, the part accumulated after the
    transient. A float64 run with decoupled weight decay ``weight_decay``
    (``torch.optim.Muon``'s default, as are ``momentum`` and ``ns_steps``)
    shows that weight decay removes the null-space part of ``W0``.

    Returns
    -------
    Figure
        ``data`` holds the settings, bfloat16's machine epsilon (and its
        significand bits), ``rates``: per constant learning rate (in the
        order of ``lrs``) the fitted exponent in ``t``, the row-space
        residual in units of ``eps_bf16`` at ``fit_from``, at the last decay
        start and at the end, the increment and constant of the fit and the
        recorded curve; ``top_rate``, the record of ``max(lrs)``; the
        exponent in ``lr`` and the range of the constant; ``decays``: per
        decay start, the row-space residual then and at the end and the
        final distance and residual; and the float64 and weight-decay runs'
        end points.
    """
    if steps < max(decay_starts) or fit_from >= steps or f64_steps <= decay_starts[0]:
        raise ValueError("need fit_from < steps, max(decay_starts) <= steps and f64_steps > decay_starts[0]")
    if len(lrs) < 2:
        raise ValueError("lrs needs at least two learning rates to fit the exponent in lr")
    probs = {s: gaussian_problem(n, d, k, seed=s) for s in seeds}
    eps_bf16 = bfloat16_spacing(1.0)
    top = float(max(lrs))
    record = np.unique(np.concatenate([np.geomspace(1, steps, n_record).round(),
                                       [fit_from, *decay_starts, f64_steps]]).astype(int))

    # bfloat16: every (lr, seed) at a constant rate, and the decays (seed 0, rate max(lrs))
    members = [(lr, s) for lr in lrs for s in seeds]
    plist = [probs[s] for _, s in members] + [probs[seeds[0]]] * len(decay_starts)
    sched = np.stack([np.full(steps, lr) for lr, _ in members]
                     + [_schedule(top, T0, half_life, steps) for T0 in decay_starts], axis=1)
    kw = dict(momentum=momentum, ns_steps=ns_steps)
    bf = muon_runs(plist, sched, steps, record, **kw)
    # float64: constant, decayed from decay_starts[0], and with torch's default weight decay
    f64_sched = np.stack([np.full(f64_steps, top), _schedule(top, decay_starts[0], half_life, f64_steps),
                          np.full(f64_steps, top)], axis=1)
    p0 = probs[seeds[0]]
    f64 = muon_runs([p0] * 3, f64_sched, f64_steps, record[record <= f64_steps], bfloat16=False,
                    weight_decay=np.array([0.0, 0.0, weight_decay]), **kw)

    t = bf.steps
    ns = len(seeds)
    rms = {lr: np.sqrt(np.mean(bf.rowspace[i * ns:(i + 1) * ns] ** 2, axis=0)) for i, lr in enumerate(lrs)}
    late = (t >= fit_from) & (t <= steps)
    slope_t = {lr: float(np.polyfit(np.log(t[late]), np.log(rms[lr][late]), 1)[0]) for lr in lrs}
    i0, i1 = _at(t, fit_from), _at(t, steps)
    incr = np.array([np.sqrt(max(rms[lr][i1] ** 2 - rms[lr][i0] ** 2, 0.0)) for lr in lrs])
    slope_lr = float(np.polyfit(np.log(lrs), np.log(incr), 1)[0])
    const = incr / (np.asarray(lrs) * np.sqrt(steps - fit_from) * eps_bf16)

    base = color_of("spectral")
    fig, (a1, a2) = new_figure(1, 2, width=width, height=height)
    styles = [dict(color=_shade(base, sh), ls=ls, lw=1.7)
              for sh, ls in zip(np.linspace(0.45, 0.0, len(lrs)), (":", "--", "-", "-."))]
    for lr, st in zip(lrs, styles):
        a1.loglog(t[1:], rms[lr][1:] / eps_bf16, label=rf"bfloat16, $\eta={lr:g}$", **st)
    tf = f64.steps
    a1.loglog(tf[1:], np.maximum(f64.rowspace[0, 1:], _EPS / 100) / eps_bf16, color="0.3", lw=1.4,
              label=rf"float64, $\eta={top:g}$")
    guide = t[late]
    g0 = 0.3 * rms[top][i0] / eps_bf16
    a1.loglog(guide, g0 * np.sqrt(guide / fit_from), color="black", ls=(0, (1, 1.5)), lw=1.3)
    a1.text(guide[-1], g0 * np.sqrt(guide[-1] / fit_from) / 2.2, r"$\propto\sqrt{t}$", fontsize=9.5,
            ha="right", va="top")
    a1.axhline(1.0, color="0.5", ls=":", lw=1)
    a1.text(1.3, 1.5, r"$\epsilon_{\mathrm{bf16}}$", fontsize=9, color="0.35", va="bottom")
    a1.set_ylim(1e-13, 60)
    a1.set_xlabel("step $t$")
    a1.set_ylabel(r"$\|P_{\mathrm{null}}(W_t - W_0)\|_F \,/\, (\epsilon_{\mathrm{bf16}}\|W_0 - W_{\mathrm{GD}}\|_F)$",
                  fontsize=9)
    a1.set_title("outside the row space, constant rate", fontsize=10.5)
    a1.legend(loc="center right", fontsize=8.5)

    nd = len(decay_starts)
    for j, T0 in enumerate(decay_starts):
        a2.loglog(t[1:], bf.distance[len(members) + j, 1:], color=_shade(base, 0.45 * j / max(nd - 1, 1)),
                  lw=1.6, ls=("-", "--", "-.", ":")[j % 4], label=rf"bfloat16, decay from $t={T0}$")
    a2.loglog(tf[1:], f64.distance[1, 1:], color="0.3", lw=1.4,
              label=rf"float64, decay from $t={decay_starts[0]}$")
    a2.set_xlabel("step $t$")
    a2.set_ylabel(r"$\|W_t - W_{\mathrm{GD}}\|_F \,/\, \|W_0 - W_{\mathrm{GD}}\|_F$", fontsize=9.5)
    a2.set_title(rf"$\eta={top:g}$, then halved every {half_life:g} steps", fontsize=10.5)
    a2.legend(loc="lower left", fontsize=8.5)

    dec = []
    for j, T0 in enumerate(decay_starts):
        m = len(members) + j
        dec.append({"start": int(T0), "rowspace_at_start": float(bf.rowspace[m, _at(t, T0)] / eps_bf16),
                    "rowspace_end": float(bf.rowspace[m, -1] / eps_bf16),
                    "distance_end": float(bf.distance[m, -1]), "residual_end": float(bf.residual[m, -1])})
    rates = [{"lr": float(lr), "slope_t": slope_t[lr],
              "rowspace_eps": {f"at_{name}": float(rms[lr][_at(t, T)] / eps_bf16) for name, T in
                               (("fit_from", fit_from), ("last_decay_start", decay_starts[-1]), ("end", steps))},
              "increment_eps": float(incr[i] / eps_bf16), "constant": float(const[i]),
              "rowspace_rms_eps": (rms[lr] / eps_bf16).tolist()} for i, lr in enumerate(lrs)]
    p_null0 = float(np.linalg.norm(null_component(np.zeros_like(p0.W0), p0)))  # = ||P_null W0||
    scale0 = float(np.linalg.norm(p0.W0 - theory.gd_limit(p0)))
    wd_row = float(f64.rowspace[2, -1] * scale0 / p_null0)                    # ||P_null(W_T - W0)|| / ||P_null W0||
    data = {
        "n": n, "d": d, "k": k, "seeds": list(seeds), "lrs": [float(x) for x in lrs], "steps": int(steps),
        "half_life": float(half_life), "fit_from": int(fit_from), "f64_steps": int(f64_steps),
        "eps_mach": _EPS, "eps_bf16": eps_bf16, "decay_lr": top, "momentum": float(momentum),
        "ns_steps": int(ns_steps),
        "bf16_significand_bits": 1 - int(round(np.log2(eps_bf16))),
        "last_decay_start": int(decay_starts[-1]), "record_steps": t.tolist(),
        "rates": rates, "top_rate": {k: v for k, v in rates[int(np.argmax(lrs))].items() if k != "rowspace_rms_eps"},
        "slope_lr": slope_lr, "constant_min": float(const.min()), "constant_max": float(const.max()),
        "decays": dec, "decay_residual_end_max": float(max(v["residual_end"] for v in dec)),
        "f64_rowspace_max": float(f64.rowspace[:2].max()),
        "f64_rowspace_max_over_eps": float(f64.rowspace[:2].max()) / _EPS,
        "f64_decay_distance_end": float(f64.distance[1, -1]),
        "f64_constant_distance_end": float(f64.distance[0, -1]),
        "weight_decay": float(weight_decay), "wd_null_fraction_removed": wd_row,
        "wd_predicted_fraction_removed": float(1.0 - (1.0 - top * weight_decay) ** f64_steps),
        "wd_distance_end": float(f64.distance[2, -1]),
        "null_w0_over_gd_distance": p_null0 / scale0,
    }
    return Figure(fig, data)
