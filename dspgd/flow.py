"""The gradient-flow limit ``eta -> 0`` of DSPGD: ``dW/dt = -grad K(G(W))``.

DSPGD with step ``eta`` is the explicit Euler scheme of this ODE. The flow
is integrated with :func:`scipy.integrate.solve_ivp` until the relative
residual is below ``tol``. The default method, LSODA, switches to a stiff
(BDF) method when needed: near an interpolator the ODE is stiff when
``grad K`` is steep at 0, e.g. ``adam(eps)`` with small ``eps``. Jacobians
are approximated by finite differences (for ``"BDF"`` and ``"Radau"`` with
all ``d k`` columns evaluated in one stacked call), which is fine for small
``d k``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from . import _checks as checks
from .losses import Loss
from .preconditioners import Preconditioner
from .problem import Problem

__all__ = ["FlowResult", "flow_limit", "flow_field", "MAX_FLOW_SIZE", "METHODS"]

#: Largest ``d k`` that :func:`flow_limit` integrates: its stiff methods form a dense
#: ``(d k) x (d k)`` Jacobian and its LU factors (about 100 MB at this size).
MAX_FLOW_SIZE = 2000

#: The :func:`scipy.integrate.solve_ivp` methods :func:`flow_limit` accepts.
METHODS = ("LSODA", "BDF", "Radau", "RK45", "RK23", "DOP853")


class _TooMuchWork(Exception):
    """Raised inside the right-hand side when the evaluation budget is spent."""


@dataclass
class FlowResult:
    """The end point of the gradient flow and how it was reached.

    Attributes
    ----------
    W : ndarray, shape (d, k)
        The state at the final time (the limit, when ``status`` is ``"converged"``).
    status : str
        ``"converged"`` (relative residual reached ``tol``), ``"t_max"`` (the
        time ran out first) or ``"failed"`` (the integrator stopped).
    t : float
        Final time.
    residual : float
        ``||XW - Y||_F`` at the final time.
    relative_residual : float
        ``residual / ||XW0 - Y||_F``.
    nfev, njev, nlu : int
        Right-hand-side evaluations (each finite-difference Jacobian counts
        as one stacked evaluation), Jacobians and LU factorizations.
    message : str
    method : str
    """

    W: np.ndarray
    status: str
    t: float
    residual: float
    relative_residual: float
    nfev: int
    njev: int
    nlu: int
    message: str
    method: str

    @property
    def converged(self) -> bool:
        """Whether the flow reached the residual tolerance."""
        return self.status == "converged"


def flow_field(problem: Problem, precond: Preconditioner, loss: Loss | None = None):
    """The right-hand side ``f(t, w) = -vec(grad K(G(W)))`` for :func:`scipy.integrate.solve_ivp`.

    Vectorized: ``w`` may be a vector of length ``d k`` or an array of shape
    ``(d k, m)`` (``m`` states evaluated as one stack).
    """
    problem = checks.problem(problem)
    precond = checks.preconditioner(precond)
    loss = checks.loss(loss)
    X, Y = problem.X, problem.Y
    d, k = problem.d, problem.k

    def f(t: float, w: np.ndarray) -> np.ndarray:
        one = w.ndim == 1
        Wm = (w[:, None] if one else w).T.reshape(-1, d, k)
        G = X.T @ loss.grad(X @ Wm - Y)
        out = -precond.grad(G).reshape(Wm.shape[0], d * k).T
        return out[:, 0] if one else out

    return f


def flow_limit(problem: Problem, precond: Preconditioner, loss: Loss | None = None, t_max: float | None = None,
               rtol: float = 1e-10, atol: float = 1e-13, tol: float = 1e-12, method: str = "LSODA",
               max_evals: int = 100_000) -> FlowResult:
    """Integrate ``dW/dt = -grad K(X^T grad l(XW - Y))`` from ``problem.W0`` until ``XW ~ Y``.

    Parameters
    ----------
    problem : Problem
        With ``d k <= MAX_FLOW_SIZE`` (2000): the stiff methods keep a dense
        Jacobian of size ``(d k)^2``.
    precond : Preconditioner
        ``K``; its gradient must be Lipschitz (a non-smooth ``grad K`` makes
        the flow a differential inclusion, which an ODE integrator cannot
        follow: it chatters with ever smaller steps).
    loss : Loss, optional
        Default: squared loss.
    t_max : float, optional
        Largest time. Default ``1e8``: the run normally ends at the residual
        event, long before.
    rtol, atol : float
        Tolerances of the integrator (``atol`` is absolute, in the units of
        the entries of ``W``).
    tol : float
        Stop when ``||XW - Y|| <= tol ||XW0 - Y||``; in ``(0, 1)``.
    method : str
        A :func:`scipy.integrate.solve_ivp` method, one of :data:`METHODS`.
        ``"LSODA"`` (switches between Adams and BDF when the flow turns
        stiff) by default; ``"BDF"`` and ``"Radau"`` also suit stiff flows
        (``"Radau"`` is much slower here).
    max_evals : int
        Budget of right-hand-side evaluations (a stacked evaluation of ``m``
        states counts ``m``); when it is spent the integration stops with
        status ``"failed"``, so a flow the integrator cannot follow ends in
        bounded time and memory.

    Returns
    -------
    FlowResult

    Raises
    ------
    TypeError, ValueError
        For arguments of the wrong kind or out of range (non-positive
        ``t_max``, ``rtol``, ``atol``, ``tol >= 1``, an unknown method), a
        non-smooth ``K``, or a problem too large to integrate
        (``d k > MAX_FLOW_SIZE``); the message says what size is fine.
    """
    problem = checks.problem(problem)
    precond = checks.preconditioner(precond)
    loss = checks.loss(loss)
    t_max = 1e8 if t_max is None else checks.positive("t_max", t_max)
    rtol, atol = checks.positive("rtol", rtol), checks.positive("atol", atol)
    tol = checks.real("tol", tol, low=0.0, high=1.0, low_open=True, high_open=True)
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    max_evals = checks.integer("max_evals", max_evals, low=1, high=10**9)
    if not precond.smooth:
        raise ValueError(
            f"flow_limit needs a K with Lipschitz gradient; {precond!r} has L_K = inf, so its flow is a "
            "differential inclusion that an ODE integrator cannot follow (it chatters with ever smaller "
            "steps): use a smoothed K (e.g. adam(eps) for sign descent)"
        )
    d, k = problem.d, problem.k
    if d * k > MAX_FLOW_SIZE:
        gib = 3 * (d * k) ** 2 * 8 / 2**30
        raise ValueError(
            f"flow_limit cannot integrate a problem with d k = {d * k:,} unknowns: its stiff integrator "
            f"keeps a dense (d k) x (d k) Jacobian and LU factors (about {gib:,.1f} GiB here) and evaluates "
            f"d k gradients per Jacobian; d k <= {MAX_FLOW_SIZE} is fine (about "
            f"{3 * MAX_FLOW_SIZE**2 * 8 / 2**20:.0f} MB)"
        )
    X, Y = problem.X, problem.Y
    r0 = float(np.linalg.norm(problem.residual(problem.W0)))
    rhs = flow_field(problem, precond, loss)
    spent = [0]

    def f(t: float, w: np.ndarray) -> np.ndarray:
        spent[0] += 1 if w.ndim == 1 else w.shape[1]
        if spent[0] > max_evals:
            raise _TooMuchWork
        return rhs(t, w)

    last = [0.0, problem.W0.ravel().copy()]  # the last accepted step, recorded by the event function

    def small(t: float, w: np.ndarray) -> float:
        if t >= last[0]:  # (root finding evaluates earlier times too)
            last[0], last[1] = t, w
        return float(np.linalg.norm(X @ w.reshape(d, k) - Y)) - tol * r0

    small.terminal = True  # type: ignore[attr-defined]
    small.direction = -1  # type: ignore[attr-defined]

    name = f"flow[{precond!r}, {method}]"
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            # t_eval=[]: keep no trajectory (memory stays bounded); the end point comes from the event
            sol = solve_ivp(f, (0.0, float(t_max)), problem.W0.ravel().copy(), method=method, t_eval=[],
                            rtol=rtol, atol=atol, events=small, vectorized=True)
        except _TooMuchWork:
            W = np.asarray(last[1]).reshape(d, k).copy()
            res = float(np.linalg.norm(X @ W - Y))
            rel = res / r0 if r0 > 0 else 0.0
            msg = (f"stopped after {max_evals:,} right-hand-side evaluations (max_evals) at t = {last[0]:.4g} "
                   f"with relative residual {rel:.2e} (tol {tol:g}): the integrator cannot follow this flow "
                   "within the budget")
            return FlowResult(W, "failed", float(last[0]), res, rel, spent[0] - 1, 0, 0, msg, name)
    if sol.status == 1:
        t_end, W = float(sol.t_events[0][-1]), sol.y_events[0][-1].reshape(d, k)
    else:
        t_end, W = float(last[0]), np.asarray(last[1]).reshape(d, k).copy()
    res = float(np.linalg.norm(X @ W - Y))
    rel = res / r0 if r0 > 0 else 0.0
    if sol.status == 1 or rel <= tol:
        status = "converged"
        msg = f"relative residual {rel:.2e} <= tol {tol:g} at time t = {t_end:.4g}"
    elif sol.status == 0:
        status = "t_max"
        msg = f"reached t_max = {t_max:g} with relative residual {rel:.2e} (tol {tol:g}): not converged"
    else:
        status = "failed"
        msg = f"the integrator stopped at t = {t_end:.4g}: {sol.message}"
    return FlowResult(W, status, t_end, res, rel, int(sol.nfev), int(sol.njev), int(sol.nlu), msg, name)
