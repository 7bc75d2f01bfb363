"""Row-space invariance: how far DSPGD iterates leave ``W0 + range(X^T)``.

The GD solution ``W_GD`` is the only interpolator in the affine set
``W0 + range(X^T)``. A preconditioner whose steps stay in ``range(X^T)``
(isotropic ``K``, and more generally ``grad K(G) = G M(G)``) can therefore
only converge to ``W_GD``. This module measures the component of
``W - W0`` outside ``range(X^T)``, checks whether a preconditioner maps a
gradient into its own column space, and records iterates along a run.

Nothing here forms a ``d x d`` matrix: projections onto ``range(X^T)`` use the
reduced QR factor ``Q`` (``d x n``) of ``X^T``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _checks as checks
from .losses import Loss
from .preconditioners import Preconditioner
from .problem import Problem
from .theory import gd_limit

__all__ = [
    "null_component",
    "rowspace_residual",
    "span_defect",
    "isotropy_defect",
    "gradient_defects",
    "Trace",
    "trace",
    "MUON_COEFFICIENTS",
    "newton_schulz",
    "bfloat16_round",
    "bfloat16_spacing",
    "newton_schulz_bfloat16",
    "muon_trace",
]

#: Coefficients ``(a, b, c)`` of Muon's quintic Newton-Schulz iteration
#: ``X <- a X + b (X X^T) X + c (X X^T)^2 X`` (the defaults of ``torch.optim.Muon``).
MUON_COEFFICIENTS: tuple[float, float, float] = (3.4445, -4.7750, 2.0315)

Array = np.ndarray


def _row_basis(problem: Problem) -> Array:
    """Orthonormal basis ``Q`` (``d x n``) of ``range(X^T)``, from a reduced QR of ``X^T``."""
    return problem._qr[0]


def _check_W(W: Array, problem: Problem) -> Array:
    problem = checks.problem(problem)
    if W is None or isinstance(W, (str, bytes)) or np.asarray(W).dtype.kind not in "fiub":
        raise TypeError(f"W must be a real array of shape (d, k) or (..., d, k), got {type(W).__name__}")
    W = np.asarray(W, dtype=np.float64)
    if W.ndim < 2 or W.shape[-2:] != (problem.d, problem.k):
        raise ValueError(
            f"W must have shape (d, k) = {(problem.d, problem.k)} or (..., d, k), got shape {W.shape}"
        )
    return W


def null_component(W: Array, problem: Problem) -> Array:
    """The part of ``W - W0`` orthogonal to ``range(X^T)`` (i.e. in the null space of ``X``).

    Computed as ``V - Q (Q^T V)`` with ``V = W - W0`` and ``Q`` the reduced QR
    factor of ``X^T``: cost ``O(d n k)`` per iterate.

    Parameters
    ----------
    W : ndarray, shape (d, k) or (..., d, k)
        One iterate or a stack of iterates.
    problem : Problem

    Returns
    -------
    ndarray of the shape of ``W``
    """
    W = _check_W(W, problem)
    Q = _row_basis(problem)
    V = W - problem.W0
    return V - Q @ (Q.T @ V)


def rowspace_residual(W: Array, problem: Problem, W_gd: Array | None = None) -> Array | float:
    """``||P_null (W - W0)||_F / ||W0 - W_GD||_F``: how far ``W`` has left ``W0 + range(X^T)``.

    Zero exactly when ``W - W0`` lies in the row space of ``X``; for an
    interpolator ``W`` it is zero exactly when ``W = W_GD``. The scale is that
    of :func:`dspgd.theory.relative_distance`, so the two can share an axis.

    Parameters
    ----------
    W : ndarray, shape (d, k) or (..., d, k)
    problem : Problem
    W_gd : ndarray, optional
        ``W_GD`` if already computed (only its distance to ``W0`` is used).

    Returns
    -------
    float for one iterate, an array of shape ``(...)`` for a stack.
    """
    N = null_component(W, problem)
    ref = gd_limit(problem) if W_gd is None else checks.weights("W_gd", W_gd, problem, stack=False)
    scale = float(np.linalg.norm(problem.W0 - ref))
    if scale == 0:
        raise ValueError("W0 already interpolates (W0 = W_GD): the relative residual is undefined")
    out = np.linalg.norm(N, axis=(-2, -1)) / scale
    return float(out) if np.ndim(out) == 0 else out


def _check_G(G: Array) -> Array:
    if G is None or isinstance(G, (str, bytes)) or np.asarray(G).dtype.kind not in "fiub":
        raise TypeError(f"G must be a real array of shape (d, k), got {type(G).__name__}")
    G = np.asarray(G, dtype=np.float64)
    if G.ndim != 2:
        raise ValueError(f"G must be one gradient of shape (d, k), got shape {G.shape}")
    if not np.all(np.isfinite(G)):
        raise ValueError("G has non-finite entries")
    if not np.any(G):
        raise ValueError("G is zero: the defects are undefined at G = 0")
    return G


def _step(precond: Preconditioner, G: Array) -> tuple[Array, Array, float]:
    """The checked gradient ``G``, the step ``P = grad K(G)`` and ``||P||_F``."""
    precond = checks.preconditioner(precond)
    G = _check_G(G)
    P = precond.grad(G)
    return G, P, float(np.linalg.norm(P))


def span_defect(precond: Preconditioner, G: Array) -> float:
    """``||(I - P_G) grad K(G)||_F / ||grad K(G)||_F``: the part of the step outside ``col(G)``.

    Zero when ``grad K(G) = G M`` for some ``k x k`` matrix ``M`` (the
    property ``Preconditioner.keeps_span``); it is what keeps DSPGD steps in
    the row space of ``X``. The column space of ``G`` is taken from its thin
    SVD with the usual rank cut-off.

    Parameters
    ----------
    precond : Preconditioner
    G : ndarray, shape (d, k)
        A non-zero gradient.
    """
    G, P, nP = _step(precond, G)
    if nP == 0:
        return 0.0
    U, s, _ = np.linalg.svd(G, full_matrices=False)
    rank = int(np.sum(s > s[0] * max(G.shape) * np.finfo(float).eps))
    U = U[:, :rank]
    return float(np.linalg.norm(P - U @ (U.T @ P)) / nP)


def isotropy_defect(precond: Preconditioner, G: Array) -> float:
    """``min_a ||grad K(G) - a G||_F / ||grad K(G)||_F``: how far the step is from a multiple of ``G``.

    Zero for isotropic ``K`` (``grad K(G) = phi G``). The best ``a`` is
    ``<grad K(G), G> / ||G||_F^2``.

    Parameters
    ----------
    precond : Preconditioner
    G : ndarray, shape (d, k)
        A non-zero gradient.
    """
    G, P, nP = _step(precond, G)
    if nP == 0:
        return 0.0
    a = float(np.sum(P * G) / np.sum(G * G))
    return float(np.linalg.norm(P - a * G) / nP)


def gradient_defects(problem: Problem, preconds: list[Preconditioner], loss: Loss | None = None,
                     W: Array | None = None) -> list[dict]:
    """Span and isotropy defects of each preconditioner at the gradient ``G(W)`` of ``problem``.

    Parameters
    ----------
    problem : Problem
    preconds : list of Preconditioner
    loss : Loss, optional
        Default: squared loss.
    W : ndarray, optional
        Where to take the gradient; default ``W0``.

    Returns
    -------
    list of dict
        One per preconditioner: ``name``, ``label``, the flags ``isotropic``
        and ``keeps_span``, and the measured ``isotropy_defect`` and
        ``span_defect`` (see :func:`isotropy_defect`, :func:`span_defect`).
    """
    problem = checks.problem(problem)
    if isinstance(preconds, (str, bytes)) or not hasattr(preconds, "__iter__"):
        raise TypeError(f"preconds must be a list of Preconditioners, got {type(preconds).__name__}")
    preconds = [checks.preconditioner(p, "each of preconds") for p in preconds]
    loss = checks.loss(loss)
    W = problem.W0 if W is None else _check_W(W, problem)
    if W.ndim != 2:
        raise ValueError(f"W must be one iterate of shape (d, k), got shape {W.shape}")
    G = problem.X.T @ loss.grad(problem.residual(W))
    return [{
        "name": p.name, "label": p.label, "isotropic": bool(p.isotropic),
        "keeps_span": bool(p.keeps_span), "isotropy_defect": isotropy_defect(p, G),
        "span_defect": span_defect(p, G),
    } for p in preconds]


@dataclass
class Trace:
    """Iterates of DSPGD recorded along runs (see :func:`trace`).

    Attributes
    ----------
    steps : ndarray, shape (T,)
        Steps at which quantities were recorded (``0`` is ``W0``).
    rowspace : ndarray, shape (B, T)
        :func:`rowspace_residual` of ``W_t``.
    distance : ndarray, shape (B, T)
        ``||W_t - W_GD||_F / ||W0 - W_GD||_F``.
    residual : ndarray, shape (B, T)
        ``||X W_t - Y||_F / ||X W0 - Y||_F``.
    W : ndarray, shape (B, d, k)
        The last iterates.
    lr : ndarray, shape (B,)
        The learning rates.
    """

    steps: Array
    rowspace: Array
    distance: Array
    residual: Array
    W: Array
    lr: Array


def trace(problem: Problem, precond: Preconditioner, lr: float | Array, loss: Loss | None = None,
          steps: int = 1000, every: int = 1) -> Trace:
    """Run DSPGD for a fixed number of ``steps`` and record where the iterates are.

    A plain loop (no stopping rule), batched over learning rates: the runs
    are a stack ``(B, d, k)`` and ``precond.grad`` acts member by member.
    Every ``every`` steps it records the component of ``W_t - W0`` outside
    the row space of ``X``, the distance to ``W_GD`` and the residual.

    Parameters
    ----------
    problem : Problem
    precond : Preconditioner
    lr : float or 1-D array
        Learning rate(s), one run each.
    loss : Loss, optional
        Default: squared loss.
    steps : int
        Number of updates.
    every : int
        Record every ``every`` steps (and always at the last step).

    Returns
    -------
    Trace
    """
    problem = checks.problem(problem)
    precond = checks.preconditioner(precond)
    steps = checks.integer("steps", steps, high=checks.MAX_STEPS)
    every = checks.integer("every", every, low=1)
    loss = checks.loss(loss)
    lrs, _ = checks.learning_rates(lr)
    X, Y, W0 = problem.X, problem.Y, problem.W0
    Q = _row_basis(problem)
    W_gd = gd_limit(problem)
    d0 = float(np.linalg.norm(W0 - W_gd))
    r0 = float(np.linalg.norm(problem.residual(W0)))
    if d0 == 0 or r0 == 0:
        raise ValueError("W0 already interpolates (XW0 = Y): nothing to trace")

    W = np.broadcast_to(W0, (lrs.size,) + W0.shape).copy()
    eta = lrs[:, None, None]
    rec_t, rec_row, rec_dist, rec_res = [], [], [], []

    def record(t: int, R: Array) -> None:
        V = W - W0
        N = V - Q @ (Q.T @ V)
        rec_t.append(t)
        rec_row.append(np.linalg.norm(N, axis=(-2, -1)) / d0)
        rec_dist.append(np.linalg.norm(W - W_gd, axis=(-2, -1)) / d0)
        rec_res.append(np.linalg.norm(R, axis=(-2, -1)) / r0)

    for t in range(steps + 1):
        R = X @ W - Y
        if t % every == 0 or t == steps:
            record(t, R)
        if t == steps:
            break
        G = X.T @ loss.grad(R)
        W = W - eta * precond.grad(G)

    return Trace(np.array(rec_t), np.array(rec_row).T, np.array(rec_dist).T, np.array(rec_res).T,
                 W, lrs)


def _check_ns(G: Array, steps: int, coefficients: tuple[float, float, float],
              eps: float) -> tuple[Array, int, tuple[float, float, float], float]:
    """The arguments of the Newton-Schulz iterations, checked."""
    if G is None or isinstance(G, (str, bytes)) or np.asarray(G).dtype.kind not in "fiub":
        raise TypeError(f"G must be a real matrix of shape (d, k), got {type(G).__name__}")
    G = np.asarray(G, dtype=np.float64)
    if G.ndim != 2:
        raise ValueError(f"G must be a matrix of shape (d, k), got shape {G.shape}")
    steps = checks.integer("steps", steps, high=10**6)
    if isinstance(coefficients, (str, bytes)) or np.shape(coefficients) != (3,):
        raise TypeError(f"coefficients must be three numbers (a, b, c), got {coefficients!r}")
    abc = tuple(checks.real("each coefficient", x) for x in coefficients)
    return G, steps, abc, checks.positive("eps", eps)  # type: ignore[return-value]


def newton_schulz(G: Array, steps: int = 5, coefficients: tuple[float, float, float] = MUON_COEFFICIENTS,
                  eps: float = 1e-7) -> Array:
    """Muon's approximate orthogonalization of ``G`` (``~ U S' V^T``), in float64.

    ``G`` is divided by ``max(||G||_F, eps)`` and then ``steps`` times mapped
    by the odd quintic ``X <- a X + b (X X^T) X + c (X X^T)^2 X``, with the
    Gram matrix taken on the short side as in ``torch.optim.Muon``. The
    result is ``G q(G^T G)`` for a polynomial ``q``: it keeps the column space
    of ``G`` exactly, whatever the coefficients.

    Parameters
    ----------
    G : ndarray, shape (d, k)
    steps : int
        Number of iterations (``>= 0``).
    coefficients : (a, b, c)
    eps : float
        Guard against division by zero.
    """
    G, steps, (a, b, c), eps = _check_ns(G, steps, coefficients, eps)
    Z = G.T if G.shape[0] > G.shape[1] else G
    Z = Z / max(float(np.linalg.norm(Z)), eps)
    for _ in range(steps):
        A = Z @ Z.T
        Z = a * Z + (b * A + c * A @ A) @ Z
    return Z.T if G.shape[0] > G.shape[1] else Z


def bfloat16_round(x: Array | float) -> Array:
    """Round to the nearest bfloat16 number (ties to even), returned as float32.

    bfloat16 keeps the sign, the 8 exponent bits and the top 7 mantissa bits
    of a float32. The value is first converted to float32 (as
    ``torch.Tensor.bfloat16`` does for float64 input); its bit pattern ``u``
    (``.view(np.uint32)``) is then rounded to a multiple of ``2**16`` by
    ``u + 0x7FFF + ((u >> 16) & 1)`` with the low 16 bits cleared, which is
    round-to-nearest with ties to the even neighbour. Overflow gives
    ``+-inf``; NaN stays NaN.

    Parameters
    ----------
    x : array_like or float

    Returns
    -------
    ndarray of float32
        Every entry exactly representable in bfloat16 (the low 16 bits of its
        bit pattern are zero). A scalar input gives a 0-d array.
    """
    x32 = np.array(x, dtype=np.float32)
    u = x32.view(np.uint32)
    with np.errstate(over="ignore"):
        r = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) & np.uint32(0xFFFF0000)
    out = r.view(np.float32)
    return np.where(np.isnan(x32), np.float32(np.nan), out).astype(np.float32)


def bfloat16_spacing(x: float = 1.0) -> float:
    """Distance from ``|x|`` to the next larger bfloat16 number (``x`` must be a bfloat16 number).

    At ``x = 1`` this is bfloat16's machine epsilon (``2**-7``: 7 stored
    mantissa bits). Computed from the bit pattern, by incrementing the last
    kept bit.
    """
    b = bfloat16_round(abs(float(x)))
    if float(b) != abs(float(x)) or not np.isfinite(b):
        raise ValueError(f"x must be a finite bfloat16 number, got {x!r}")
    nxt = (b.view(np.uint32) + np.uint32(1 << 16)).view(np.float32)
    return float(nxt) - float(b)


def _bf16_matmul(A: Array, B: Array) -> Array:
    """Product of two bfloat16 matrices, accumulated in float32 and rounded once to bfloat16."""
    return bfloat16_round(A.astype(np.float32) @ B.astype(np.float32))


def newton_schulz_bfloat16(G: Array, steps: int = 5,
                           coefficients: tuple[float, float, float] = MUON_COEFFICIENTS,
                           eps: float = 1e-7) -> Array:
    """:func:`newton_schulz` carried out in emulated bfloat16 arithmetic, as ``torch.optim.Muon`` does.

    The steps of torch's ``_zeropower_via_newtonschulz``, with every
    intermediate tensor rounded to bfloat16 (:func:`bfloat16_round`) where
    torch stores a bfloat16 tensor:

    1. ``Z = bf16(G)``, transposed if ``G`` is tall;
    2. ``Z = bf16(Z / max(bf16(||Z||_F), bf16(eps)))``;
    3. ``steps`` times: ``A = bf16(Z Z^T)``, ``B = bf16(b A + c A A)``,
       ``Z = bf16(a Z + B Z)`` (torch's two ``addmm`` calls; each result is
       rounded once).

    Products and sums are computed in float32 on bfloat16 inputs and then
    rounded, as torch's CPU kernels accumulate bfloat16 products in float32.
    The summation order differs from torch's, so an entry can occasionally
    differ by one bfloat16 unit.

    Parameters
    ----------
    G : ndarray, shape (d, k)
    steps : int
        Number of iterations (``>= 0``).
    coefficients : (a, b, c)
    eps : float
        Guard against division by zero.

    Returns
    -------
    ndarray of float64, shape (d, k)
        The bfloat16 result, converted exactly to float64.
    """
    G, steps, coefficients, eps = _check_ns(G, steps, coefficients, eps)
    a, b, c = (np.float32(x) for x in coefficients)
    tall = G.shape[0] > G.shape[1]
    Z = bfloat16_round(G.T if tall else G)
    norm = bfloat16_round(np.sqrt(np.sum(Z * Z, dtype=np.float32)))
    Z = bfloat16_round(Z / np.maximum(norm, bfloat16_round(eps)))
    for _ in range(steps):
        A = _bf16_matmul(Z, Z.T)
        B = bfloat16_round(b * A + c * (A @ A))
        Z = bfloat16_round(a * Z + B @ Z)
    Z = Z.astype(np.float64)
    return Z.T if tall else Z


def muon_trace(problem: Problem, lr: float, steps: int = 1000, momentum: float = 0.95,
               nesterov: bool = True, ns_steps: int = 5, every: int = 1, backend: str = "numpy",
               loss: Loss | None = None) -> Trace:
    """Muon (momentum + Newton-Schulz orthogonalization) on ``problem``, recorded like :func:`trace`.

    The update is that of ``torch.optim.Muon`` without weight decay::

        B <- momentum B + (1 - momentum) G            (B_0 = 0)
        U <- (1 - momentum) G + momentum B  if nesterov else B
        W <- W - lr sqrt(max(1, d/k)) newton_schulz(U)

    Muon keeps momentum, so it is not a DSPGD method; but ``B`` and ``U`` are
    combinations of gradients, whose columns lie in ``range(X^T)``.

    Parameters
    ----------
    problem : Problem
    lr : float
        Learning rate (before Muon's ``sqrt(max(1, d/k))`` adjustment).
    steps, every : int
        Number of updates; record every ``every`` steps.
    momentum : float
        In ``[0, 1)``.
    nesterov : bool
    ns_steps : int
        Newton-Schulz iterations.
    backend : {"numpy", "bfloat16", "torch"}
        ``"numpy"``: everything in float64 (:func:`newton_schulz`).
        ``"bfloat16"``: float64 except the Newton-Schulz iteration, which runs
        in emulated bfloat16 (:func:`newton_schulz_bfloat16`), as in
        ``torch.optim.Muon``; numpy only.
        ``"torch"``: ``torch.optim.Muon`` itself (its Newton-Schulz runs in
        bfloat16), on float64 weights. Needs PyTorch, imported only here.
    loss : Loss, optional
        Default: squared loss.
    """
    problem = checks.problem(problem)
    if backend not in ("numpy", "bfloat16", "torch"):
        raise ValueError(f"backend must be 'numpy', 'bfloat16' or 'torch', got {backend!r}")
    lr = checks.positive("lr", lr)
    momentum = checks.real("momentum", momentum, low=0.0, high=1.0, high_open=True)
    steps = checks.integer("steps", steps, high=checks.MAX_STEPS)
    every = checks.integer("every", every, low=1)
    ns_steps = checks.integer("ns_steps", ns_steps, high=10**6)
    if not isinstance(nesterov, (bool, np.bool_)):
        raise TypeError(f"nesterov must be True or False, got {nesterov!r}")
    loss = checks.loss(loss)
    X, Y, W0 = problem.X, problem.Y, problem.W0
    Q = _row_basis(problem)
    W_gd = gd_limit(problem)
    d0 = float(np.linalg.norm(W0 - W_gd))
    r0 = float(np.linalg.norm(problem.residual(W0)))
    if d0 == 0:
        raise ValueError("W0 already interpolates (XW0 = Y): nothing to trace")
    scale = float(np.sqrt(max(1.0, problem.d / problem.k)))
    rec_t, rec_row, rec_dist, rec_res = [], [], [], []

    def record(t: int, W: Array) -> None:
        V = W - W0
        rec_t.append(t)
        rec_row.append(np.linalg.norm(V - Q @ (Q.T @ V)) / d0)
        rec_dist.append(np.linalg.norm(W - W_gd) / d0)
        rec_res.append(np.linalg.norm(X @ W - Y) / r0)

    if backend in ("numpy", "bfloat16"):
        ns = newton_schulz if backend == "numpy" else newton_schulz_bfloat16
        W = W0.copy()
        B = np.zeros_like(W0)
        for t in range(steps + 1):
            if t % every == 0 or t == steps:
                record(t, W)
            if t == steps:
                break
            G = X.T @ loss.grad(X @ W - Y)
            B = momentum * B + (1 - momentum) * G
            U = (1 - momentum) * G + momentum * B if nesterov else B
            W = W - lr * scale * ns(U, ns_steps)
    else:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny matrices: threads only add overhead
        try:
            W = _torch_muon(problem, lr, int(steps), momentum, nesterov, ns_steps, every, loss, record)
        finally:
            torch.set_num_threads(threads)

    return Trace(np.array(rec_t), np.array(rec_row)[None, :], np.array(rec_dist)[None, :],
                 np.array(rec_res)[None, :], W[None], np.array([float(lr)]))


def _torch_muon(problem: Problem, lr: float, steps: int, momentum: float, nesterov: bool, ns_steps: int,
                every: int, loss: Loss, record) -> Array:
    """The loop of :func:`muon_trace` with ``torch.optim.Muon``; returns the last iterate."""
    import torch

    X, Y, W0 = problem.X, problem.Y, problem.W0
    Xt, Yt = torch.from_numpy(X.copy()), torch.from_numpy(Y.copy())  # the problem's arrays are read-only
    Wt = torch.nn.Parameter(torch.from_numpy(W0.copy()))
    opt = torch.optim.Muon([Wt], lr=lr, weight_decay=0.0, momentum=momentum, nesterov=nesterov,
                           ns_steps=ns_steps)
    for t in range(int(steps) + 1):
        W = Wt.detach().numpy()
        if t % every == 0 or t == steps:
            record(t, W)
        if t == steps:
            break
        opt.zero_grad()
        R = (Xt @ Wt - Yt).detach().numpy()
        Wt.grad = torch.from_numpy(X.T @ loss.grad(R))
        opt.step()
    return Wt.detach().numpy().copy()
