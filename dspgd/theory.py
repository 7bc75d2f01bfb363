"""Closed forms and constants from the theory: limits, step-size bound, the constant of claim C4."""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular

from . import _checks as checks
from .losses import Loss
from .preconditioners import Preconditioner
from .problem import Problem

__all__ = [
    "gd_limit",
    "diagonal_limit",
    "stable_lr",
    "bound_constant",
    "relative_distance",
    "distance_ratio",
]


def _min_norm(problem: Problem, R: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
    """Minimum-Frobenius-norm ``V`` with ``X diag(scale) V = R`` (column by column).

    Uses a reduced QR of the ``d x n`` matrix ``(X diag(scale))^T``: cost
    ``O(d n^2)``, accuracy governed by ``cond(X)`` (not its square), and no
    ``d x d`` matrix.
    """
    if scale is None:
        Q, Rq = problem._qr
        return Q @ solve_triangular(Rq, R, trans="T")
    out = np.empty((problem.d, R.shape[1]))
    for j in range(R.shape[1]):
        s = scale[:, j]
        Q, Rq = np.linalg.qr((problem.X * s).T)
        out[:, j] = Q @ solve_triangular(Rq, R[:, j], trans="T")
    return out


def gd_limit(problem: Problem) -> np.ndarray:
    """The GD solution ``W0 + X^T (X X^T)^{-1} (Y - X W0)``.

    It is the interpolator closest to ``W0`` in Frobenius norm, and the limit
    of gradient descent (and of every isotropic DSPGD) from ``W0``.
    """
    problem = checks.problem(problem)
    return problem.W0 + _min_norm(problem, -problem.residual(problem.W0))


def diagonal_limit(problem: Problem, D: np.ndarray | float) -> np.ndarray:
    """``argmin sum_ij (W - W0)_ij^2 / D_ij`` subject to ``XW = Y``.

    Column ``j``: ``w0 + D_j X^T (X D_j X^T)^{-1} (y - X w0)``, the limit of
    DSPGD with ``K(G) = 1/2 sum D_ij g_ij^2`` for every stable step size.
    """
    problem = checks.problem(problem)
    if D is None or isinstance(D, (str, bytes)) or np.asarray(D).dtype.kind not in "fiu":
        raise TypeError(f"D must be a positive number or array, got {D!r}")
    D = np.asarray(D, dtype=np.float64)
    if D.ndim == 1:
        D = D[:, None]
    try:
        D = np.broadcast_to(D, (problem.d, problem.k))
    except ValueError:
        raise ValueError(f"D of shape {D.shape} does not broadcast to W of shape {(problem.d, problem.k)}") from None
    if not np.all(np.isfinite(D)) or not np.all(D > 0):
        raise ValueError("D must be finite and strictly positive in every entry")
    s = np.sqrt(D)
    return problem.W0 + s * _min_norm(problem, -problem.residual(problem.W0), s)


def stable_lr(problem: Problem, precond: Preconditioner, loss: Loss | None = None) -> float:
    """The step-size bound ``2 / (L_K beta_l ||X||_op^2)`` of the loss-decrease lemma.

    Below it the loss decreases monotonically; 0 when ``grad K`` is not
    Lipschitz (no constant step is covered by the lemma).

    Raises
    ------
    TypeError
        If an argument is not a Problem, Preconditioner or Loss.
    """
    problem = checks.problem(problem)
    precond = checks.preconditioner(precond)
    loss = checks.loss(loss)
    if not precond.smooth:
        return 0.0
    beta = loss.smoothness * problem.op_norm**2  # no overflow: a Problem has 1e-150 <= ||X||_op <= 1e150
    return 2.0 / (precond.lipschitz * beta)


def bound_constant(problem: Problem, precond: Preconditioner, lr: float,
                   loss: Loss | None = None) -> float:
    """An explicit ``c`` with ``||W_inf - W0|| <= c ||W_GD - W0||`` (this book's route).

    With ``s = ||X||_op``, ``sigma = sigma_min(X)``, ``beta = beta_l s^2`` and a
    ``mu``-strongly convex, ``beta_l``-smooth loss, the loss contracts by
    ``1 - rho`` per step, ``rho = 2 lr mu_K mu sigma^2 (1 - lr beta L_K / 2)``,
    where ``mu_K`` is the restricted strong monotonicity of ``grad K`` at 0 on the ball the
    gradients never leave. Summing the step lengths gives::

        c = lr L_K s^2 beta_l sqrt(beta_l / mu) / (1 - sqrt(1 - rho)).

    Returns ``inf`` where the route gives nothing (``grad K`` not Lipschitz,
    step above ``stable_lr``, ``mu_K = 0``).

    Raises
    ------
    ValueError
        If the loss is not strongly convex (the route needs ``mu > 0``) or
        ``lr`` is not positive.
    TypeError
        If an argument is of the wrong kind.
    """
    problem = checks.problem(problem)
    precond = checks.preconditioner(precond)
    loss = checks.loss(loss)
    lr = checks.positive("lr", lr)
    mu = loss.strong_convexity
    if mu <= 0:
        raise ValueError(f"bound_constant needs a strongly convex loss; {loss.name} has mu = 0")
    if not precond.smooth or lr >= stable_lr(problem, precond, loss):
        return np.inf
    s, sigma, bl, LK = problem.op_norm, problem.sigma_min, loss.smoothness, precond.lipschitz
    L0 = loss.value(problem.residual(problem.W0))
    # the loss never increases, so ||G_t|| <= s ||grad l(R_t)|| <= s beta_l sqrt(2 L0 / mu)
    radius = s * bl * np.sqrt(2 * L0 / mu)
    muK = precond.local_monotonicity(radius)
    if muK <= 0:
        return np.inf
    rho = 2 * lr * muK * mu * sigma**2 * (1 - lr * bl * s**2 * LK / 2)
    rho = min(rho, 1.0)
    # 1 - sqrt(1 - rho) = rho / (1 + sqrt(1 - rho)), without the cancellation at small rho
    return float(lr * LK * s**2 * bl * np.sqrt(bl / mu) * (1 + np.sqrt(1 - rho)) / rho)


def _distance_args(W: np.ndarray, problem: Problem, W_ref: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    problem = checks.problem(problem)
    W = checks.weights("W", W, problem)
    ref = gd_limit(problem) if W_ref is None else checks.weights("W_ref", W_ref, problem, stack=False)
    return W, ref


def _ratio(num: np.ndarray, den: float, what: str) -> np.ndarray | float:
    if not den > 0:
        raise ValueError(
            f"{what} is zero: W0 already is the reference point (it interpolates), so the relative "
            "distance is undefined; compare absolute distances ||W - W_ref||_F instead"
        )
    out = num / den
    return float(out) if np.ndim(out) == 0 else out


def _norms(A: np.ndarray) -> np.ndarray:
    """Frobenius norms over the last two axes; rescaled where the plain sum of squares overflows."""
    out = np.linalg.norm(A, axis=(-2, -1))
    return out if np.all(np.isfinite(out)) else checks.safe_norm(A)


def _scale(problem: Problem, ref: np.ndarray) -> float:
    """``||W0 - W_ref||_F``, or 0 when it is at rounding level (``W0`` is ``W_ref`` to rounding)."""
    den = float(np.linalg.norm(problem.W0 - ref))
    level = 64 * np.finfo(float).eps * max(float(checks.safe_norm(ref)), float(checks.safe_norm(problem.W0)))
    return den if den > level else 0.0


def relative_distance(W: np.ndarray, problem: Problem, W_ref: np.ndarray | None = None) -> np.ndarray | float:
    """``||W - W_GD||_F / ||W0 - W_GD||_F``; ``W`` of shape ``(d, k)`` or ``(B, d, k)``.

    ``W_ref`` (shape ``(d, k)``) replaces ``W_GD`` if given.

    Raises
    ------
    ValueError
        If ``W`` or ``W_ref`` does not have the shape of the problem's
        weights (nothing is broadcast), or ``W0`` coincides with the
        reference point to rounding level (the ratio is then undefined).
    """
    W, ref = _distance_args(W, problem, W_ref)
    return _ratio(_norms(W - ref), _scale(problem, ref), "||W0 - W_ref||_F")


def distance_ratio(W: np.ndarray, problem: Problem, W_ref: np.ndarray | None = None) -> np.ndarray | float:
    """``||W - W0||_F / ||W_GD - W0||_F`` (at least 1 for any interpolator ``W``).

    Shapes and errors as in :func:`relative_distance`.
    """
    W, ref = _distance_args(W, problem, W_ref)
    return _ratio(_norms(W - problem.W0), _scale(problem, ref), "||W_ref - W0||_F")
