"""Bregman divergences and the convergence diagnostics of DSPGD.

Two parts:

* :func:`bregman` and :func:`three_point_gap`, for any object ``F`` with
  ``value`` and ``grad`` (every :class:`~dspgd.preconditioners.Preconditioner`
  qualifies, its ``K`` being a convex function of a matrix);
* the quantities of the convergence analysis: the linear rate
  (:func:`contraction`) and step envelope (:func:`step_envelope`) of the
  loss-decrease argument, and a small batched DSPGD loop
  (:func:`trajectory`) that records what :func:`dspgd.solve` does not keep:
  every step length ``||W_{t+1} - W_t||_F`` and the distance of every iterate
  to the set of interpolators.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy.linalg import solve_triangular

from . import _checks as checks
from .losses import Loss
from .preconditioners import Preconditioner
from .problem import Problem
from .theory import gd_limit, stable_lr

__all__ = [
    "Potential",
    "bregman",
    "three_point_gap",
    "contraction",
    "step_envelope",
    "Trajectory",
    "trajectory",
    "distance_to_interpolators",
    "cycle_gap",
    "first_step_change",
    "escape_threshold",
]


class Potential(Protocol):
    """Anything with ``value(A)`` and ``grad(A)`` on arrays of shape ``(..., d, k)``."""

    def value(self, A: np.ndarray) -> Any: ...

    def grad(self, A: np.ndarray) -> np.ndarray: ...


def _real(name: str, A: object) -> np.ndarray:
    if A is None or isinstance(A, (str, bytes)) or np.asarray(A).dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a real array of shape (d, k) or (..., d, k), got {type(A).__name__}")
    return np.asarray(A, dtype=np.float64)


def _pair(name_a: str, A: np.ndarray, name_b: str, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    A, B = _real(name_a, A), _real(name_b, B)
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    if A.ndim < 2 or B.ndim < 2:
        raise ValueError(f"{name_a} and {name_b} must be matrices (..., d, k); got shapes {A.shape} and {B.shape}")
    if A.shape[-2:] != B.shape[-2:]:
        raise ValueError(f"{name_a} of shape {A.shape} and {name_b} of shape {B.shape} are not the same size of matrix")
    return A, B


def _inner(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Frobenius inner product over the last two axes."""
    return np.sum(A * B, axis=(-2, -1))


def _out(x: np.ndarray) -> np.ndarray | float:
    return float(x) if np.ndim(x) == 0 else x


def _check_potential(F: object) -> None:
    if not (callable(getattr(F, "value", None)) and callable(getattr(F, "grad", None))):
        raise TypeError(f"F must have callable value and grad methods, got {type(F).__name__}")


def bregman(F: Potential, A: np.ndarray, B: np.ndarray) -> np.ndarray | float:
    """The Bregman divergence ``D_F(A, B) = F(A) - F(B) - <grad F(B), A - B>``.

    Parameters
    ----------
    F : object with ``value`` and ``grad``
        A differentiable function of a matrix, e.g. a preconditioner's ``K``.
    A, B : ndarray, shape (d, k) or (..., d, k)
        Points; stacks are paired member by member (NumPy broadcasting).

    Returns
    -------
    float or ndarray
        ``D_F(A, B)``; non-negative when ``F`` is convex.
    """
    _check_potential(F)
    A, B = _pair("A", A, "B", B)
    A, B = np.broadcast_arrays(A, B)
    return _out(np.asarray(F.value(A)) - np.asarray(F.value(B)) - _inner(F.grad(B), A - B))


def three_point_gap(F: Potential, A: np.ndarray, B: np.ndarray, C: np.ndarray) -> np.ndarray | float:
    """Left minus right side of the three-point identity.

    ``D_F(A,B) + D_F(B,C) - D_F(A,C) - <grad F(C) - grad F(B), A - B>``,
    zero for every differentiable ``F`` (up to rounding).

    Parameters
    ----------
    F : object with ``value`` and ``grad``
    A, B, C : ndarray, shape (d, k) or (..., d, k)

    Returns
    -------
    float or ndarray
    """
    _check_potential(F)
    A, B = _pair("A", A, "B", B)
    _, C = _pair("A", A, "C", C)
    A, B, C = np.broadcast_arrays(A, B, C)
    lhs = np.asarray(bregman(F, A, B)) + np.asarray(bregman(F, B, C)) - np.asarray(bregman(F, A, C))
    rhs = _inner(F.grad(C) - F.grad(B), A - B)
    return _out(lhs - rhs)


# ----------------------------------------------------------------- the rate


def _radius(problem: Problem, loss: Loss) -> float:
    """A bound on ``||G_t||_F`` along a run whose loss never increases.

    ``||G|| <= ||X|| ||grad l(R)|| <= ||X|| beta_l ||R||`` and
    ``||R||^2 <= 2 L(W_0) / mu``.
    """
    L0 = loss.value(problem.residual(problem.W0))
    return problem.op_norm * loss.smoothness * np.sqrt(2 * L0 / loss.strong_convexity)


def _check_rate_args(problem: Problem, precond: Preconditioner, lr: float, loss: Loss | None) -> tuple:
    """The arguments of the rate functions, checked: ``problem, precond, lr, loss``."""
    problem, precond = checks.problem(problem), checks.preconditioner(precond)
    lr, loss = checks.positive("lr", lr), checks.loss(loss)
    if loss.strong_convexity <= 0:
        raise ValueError(f"the linear rate needs a strongly convex loss; {loss.name} has mu = 0")
    return problem, precond, lr, loss


def contraction(problem: Problem, precond: Preconditioner, lr: float, loss: Loss | None = None) -> float:
    """``rho`` with ``L(W_{t+1}) <= (1 - rho) L(W_t)`` (the book's linear-rate argument).

    ``rho = 2 lr mu_K mu sigma_min(X)^2 (1 - lr beta L_K / 2)``, with
    ``beta = beta_l ||X||_op^2``, ``mu`` the strong convexity of the loss and
    ``mu_K`` the restricted strong monotonicity of ``grad K`` at 0 on the ball that contains
    every gradient of the run. Capped at 1.

    Returns 0 where the argument gives nothing: ``grad K`` not Lipschitz,
    ``lr >= stable_lr``, or ``mu_K = 0``.

    Raises
    ------
    ValueError
        If the loss is not strongly convex or ``lr`` is not positive.
    """
    problem, precond, lr, loss = _check_rate_args(problem, precond, lr, loss)
    if not precond.smooth or lr >= stable_lr(problem, precond, loss):
        return 0.0
    muK = precond.local_monotonicity(_radius(problem, loss))
    beta = loss.smoothness * problem.op_norm**2
    rho = 2 * lr * muK * loss.strong_convexity * problem.sigma_min**2 * (1 - lr * beta * precond.lipschitz / 2)
    return float(min(max(rho, 0.0), 1.0))


def step_envelope(problem: Problem, precond: Preconditioner, lr: float, steps: np.ndarray | int,
                  loss: Loss | None = None) -> np.ndarray:
    """The bound on ``||W_{t+1} - W_t||_F`` from the linear rate.

    ``lr L_K ||X|| beta_l sqrt(2 L(W_0) / mu) (1 - rho)^(t/2)`` at each ``t``
    in ``steps`` (an array, or an int ``T`` for ``t = 0..T-1``). Infinite
    when :func:`contraction` gives nothing (then no bound is claimed).
    """
    problem, precond, lr, loss = _check_rate_args(problem, precond, lr, loss)
    if np.ndim(steps) == 0:
        t = np.arange(checks.integer("steps", steps, high=checks.MAX_STEPS))
    else:
        t = _real("steps", steps)
        if t.ndim != 1 or not np.all(np.isfinite(t) & (t >= 0)):
            raise ValueError(f"steps must be a non-negative integer or a 1-D array of step numbers >= 0, got {steps!r}")
    rho = contraction(problem, precond, lr, loss)
    if rho <= 0:
        return np.full(t.shape, np.inf)
    first = lr * precond.lipschitz * _radius(problem, loss)
    return first * (1 - rho) ** (t / 2)


# ----------------------------------------------------------- the trajectory


def distance_to_interpolators(problem: Problem, W: np.ndarray) -> np.ndarray | float:
    """``||X^+ (XW - Y)||_F``: the Frobenius distance from ``W`` to ``{W : XW = Y}``.

    ``W`` of shape ``(d, k)`` or ``(B, d, k)``. Uses a reduced QR of ``X^T``
    (``X^+ = Q R^{-T}``, so the distance is ``||R^{-T}(XW - Y)||``).
    """
    problem = checks.problem(problem)
    W = checks.weights("W", W, problem)
    _, Rq = np.linalg.qr(problem.X.T)
    Res = problem.X @ W - problem.Y                          # (..., n, k)
    lead = Res.shape[:-2]
    flat = np.moveaxis(Res, -2, 0).reshape(problem.n, -1)    # (n, B k)
    Z = solve_triangular(Rq, flat, trans="T")
    out = np.sqrt(np.sum(Z.reshape((problem.n,) + lead + (problem.k,)) ** 2, axis=(0, -1)))
    return _out(out)


@dataclass
class Trajectory:
    """Per-step records of batched DSPGD runs (one run per learning rate).

    Attributes
    ----------
    lr : ndarray, shape (B,)
    step_norm : ndarray, shape (T, B)
        ``||W_{t+1} - W_t||_F`` for ``t = 0..T-1``.
    residual : ndarray, shape (T + 1, B)
        ``||XW_t - Y||_F`` for ``t = 0..T``.
    loss : ndarray, shape (T + 1, B)
        ``L(W_t)`` for ``t = 0..T``.
    distance : ndarray, shape (T + 1, B)
        Distance of ``W_t`` to the interpolators, ``||X^+(XW_t - Y)||_F``.
    W : ndarray, shape (B, d, k)
        Final iterates ``W_T``.
    """

    lr: np.ndarray
    step_norm: np.ndarray
    residual: np.ndarray
    loss: np.ndarray
    distance: np.ndarray
    W: np.ndarray

    @property
    def path_length(self) -> np.ndarray:
        """``sum_t ||W_{t+1} - W_t||_F`` up to each step, shape ``(T + 1, B)`` (starts at 0)."""
        return np.vstack([np.zeros((1, self.step_norm.shape[1])), np.cumsum(self.step_norm, axis=0)])


def trajectory(problem: Problem, precond: Preconditioner, lr: float | np.ndarray, steps: int,
               loss: Loss | None = None, tol: float = 0.0) -> Trajectory:
    """Run up to ``steps`` DSPGD updates for each learning rate and record every step.

    All runs advance together (a run that becomes non-finite keeps NaN from
    then on). With ``tol > 0`` the loop ends early, at the first ``t`` where
    every run has relative residual ``||XW_t - Y|| / ||XW_0 - Y|| <= tol``;
    the records then stop at that ``t``. Use :func:`dspgd.solve` for
    tolerance-based stopping run by run; this loop is for the step-by-step
    diagnostics (step lengths, path length, distance to the interpolators).

    Parameters
    ----------
    problem : Problem
    precond : Preconditioner
    lr : float or 1-D array
        One run per learning rate, stacked.
    steps : int
        Number of updates ``T >= 1``.
    loss : Loss, optional
        Default: squared loss.
    tol : float
        Stop when every run is at relative residual ``<= tol`` (0: never).

    Returns
    -------
    Trajectory
    """
    problem, precond = checks.problem(problem), checks.preconditioner(precond)
    steps = checks.integer("steps", steps, low=1, high=10**7)
    tol = checks.real("tol", tol, low=0.0, high=1.0, high_open=True)
    loss = checks.loss(loss)
    lrs, _ = checks.learning_rates(lr)
    X, Y = problem.X, problem.Y
    n, k = problem.n, problem.k
    # X^+ = Q R^{-T} for X^T = Q R, so the distance is ||R^{-T} (XW - Y)||;
    # R^{-T} is formed once (n x n), so each record is one small product.
    _, Rq = np.linalg.qr(X.T)
    RinvT = solve_triangular(Rq, np.eye(n), trans="T")
    B = lrs.size
    W = np.broadcast_to(problem.W0, (B,) + problem.W0.shape).copy()
    step_norm = np.empty((int(steps), B))
    residual = np.empty((int(steps) + 1, B))
    loss_h = np.empty((int(steps) + 1, B))
    distance = np.empty((int(steps) + 1, B))

    def record(t: int, R: np.ndarray) -> None:
        residual[t] = np.sqrt(np.einsum("bij,bij->b", R, R))
        loss_h[t] = loss.pointwise(R).reshape(B, -1).sum(axis=1)
        Z = RinvT @ R                                       # (B, n, k)
        distance[t] = np.sqrt(np.einsum("bij,bij->b", Z, Z))

    T = int(steps)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(int(steps)):
            R = X @ W - Y                                   # (B, n, k)
            record(t, R)
            if tol > 0 and np.all(residual[t] <= tol * residual[0]):
                T = t
                break
            P = precond.grad(X.T @ loss.grad(R))            # (B, d, k)
            dW = lrs[:, None, None] * P
            step_norm[t] = np.sqrt(np.einsum("bij,bij->b", dW, dW))
            W = W - dW
        else:
            record(T, X @ W - Y)
    return Trajectory(lrs, step_norm[:T], residual[:T + 1], loss_h[:T + 1], distance[:T + 1], W)


def cycle_gap(problem: Problem, precond: Preconditioner, lr: float, W: np.ndarray,
              loss: Loss | None = None, period: int = 2) -> float:
    """``||W_{t+p} - W_t||_F / ||W_{t+1} - W_t||_F`` for ``p = period`` DSPGD steps from ``W_t = W``.

    Zero (up to rounding) when ``W`` lies on a cycle of that period: a run
    that neither converges nor diverges but jumps back and forth.
    """
    problem, precond = checks.problem(problem), checks.preconditioner(precond)
    period = checks.integer("period", period, low=1, high=10**6)
    lr, loss = checks.positive("lr", lr), checks.loss(loss)
    W = checks.weights("W", W, problem, stack=False)
    Ws = [W]
    for _ in range(period):
        V = Ws[-1]
        Ws.append(V - lr * precond.grad(problem.X.T @ loss.grad(problem.residual(V))))
    first = float(np.linalg.norm(Ws[1] - W))
    if first == 0:
        return 0.0
    return float(np.linalg.norm(Ws[-1] - W)) / first


# ------------------------------------------- no Euclidean Lyapunov function


def _first_step(problem: Problem, precond: Preconditioner, lr: float, loss: Loss) -> np.ndarray:
    """``P = grad K(G(W_0))``, the first step direction (``W_1 = W_0 - lr P``)."""
    return precond.grad(problem.X.T @ loss.grad(problem.residual(problem.W0)))


def first_step_change(problem: Problem, precond: Preconditioner, lr: float, W_star: np.ndarray,
                      loss: Loss | None = None) -> float:
    """``||W_1 - W*||_F^2 - ||W_0 - W*||_F^2`` after one DSPGD step from ``W_0``.

    Negative when the step brings the iterate closer to ``W*``.
    """
    problem, precond = checks.problem(problem), checks.preconditioner(precond)
    lr, loss = checks.positive("lr", lr), checks.loss(loss)
    W_star = checks.weights("W_star", W_star, problem, stack=False)
    W1 = problem.W0 - lr * _first_step(problem, precond, lr, loss)
    return float(np.sum((W1 - W_star) ** 2) - np.sum((problem.W0 - W_star) ** 2))


def escape_threshold(problem: Problem, precond: Preconditioner, lr: float,
                     loss: Loss | None = None) -> tuple[float, np.ndarray | None, float]:
    """Interpolators that the first DSPGD step moves away from.

    Split the first step direction ``P = grad K(G_0)`` into its row-space
    part and its null-space part ``P_null`` (``X P_null = 0``). With
    ``U = P_null / ||P_null||``, every ``W*(s) = W_GD + s U`` interpolates, and

    ``||W_1 - W*(s)||^2 - ||W_0 - W*(s)||^2 = 2 lr ||P_null|| (s - s*)``
    with ``s* = (<P, W_0 - W_GD> - lr ||P||^2 / 2) / ||P_null||``,

    so the step moves away from ``W*(s)`` for every ``s > s*``.

    Returns
    -------
    s_star : float
        ``inf`` when ``P`` lies in the row space (then no such interpolator:
        the case of GD and every isotropic ``K``).
    U : ndarray of shape (d, k), or None
        The unit null-space direction.
    null_fraction : float
        ``||P_null|| / ||P||`` (0 for a step in the row space).
    """
    problem, precond = checks.problem(problem), checks.preconditioner(precond)
    lr, loss = checks.positive("lr", lr), checks.loss(loss)
    P = _first_step(problem, precond, lr, loss)
    Q, _ = np.linalg.qr(problem.X.T)
    P_null = P - Q @ (Q.T @ P)
    nP, nN = float(np.linalg.norm(P)), float(np.linalg.norm(P_null))
    frac = nN / nP if nP > 0 else 0.0
    if nN <= 1e3 * np.finfo(float).eps * max(nP, np.finfo(float).tiny):
        return np.inf, None, frac
    W_gd = gd_limit(problem)
    s_star = (float(np.sum(P * (problem.W0 - W_gd))) - 0.5 * lr * nP**2) / nN
    return float(s_star), P_null / nN, frac
