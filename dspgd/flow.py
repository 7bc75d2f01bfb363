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

from .losses import Loss, squared
from .preconditioners import Preconditioner
from .problem import Problem

__all__ = ["FlowResult", "flow_limit", "flow_field"]


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
    loss = squared() if loss is None else loss
    X, Y = problem.X, problem.Y
    d, k = problem.d, problem.k

    def f(t: float, w: np.ndarray) -> np.ndarray:
        one = w.ndim == 1
        Wm = (w[:, None] if one else w).T.reshape(-1, d, k)
        G = X.T @ loss.grad(X @ Wm - Y)
        out = -precond.grad(G).reshape(Wm.shape[0], d * k).T
        return out[:, 0] if one else out

    return f


def flow_limit(
    problem: Problem,
    precond: Preconditioner,
    loss: Loss | None = None,
    t_max: float | None = None,
    rtol: float = 1e-10,
    atol: float = 1e-13,
    tol: float = 1e-12,
    method: str = "LSODA",
) -> FlowResult:
    """Integrate ``dW/dt = -grad K(X^T grad l(XW - Y))`` from ``problem.W0`` until ``XW ~ Y``.

    Parameters
    ----------
    problem : Problem
    precond : Preconditioner
        ``K``; its gradient should be Lipschitz (a non-smooth ``grad K``
        makes the flow a differential inclusion, which this does not handle).
    loss : Loss, optional
        Default: squared loss.
    t_max : float, optional
        Largest time. Default ``1e8``: the run normally ends at the residual
        event, long before.
    rtol, atol : float
        Tolerances of the integrator (``atol`` is absolute, in the units of
        the entries of ``W``).
    tol : float
        Stop when ``||XW - Y|| <= tol ||XW0 - Y||``.
    method : str
        A :func:`scipy.integrate.solve_ivp` method. ``"LSODA"`` (switches
        between Adams and BDF when the flow turns stiff) by default;
        ``"BDF"`` and ``"Radau"`` also suit stiff flows (``"Radau"`` is much
        slower here).

    Returns
    -------
    FlowResult

    Raises
    ------
    ValueError
        For a non-positive ``t_max``, ``rtol``, ``atol`` or ``tol``.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a dspgd.Problem, got {type(problem).__name__}")
    if not isinstance(precond, Preconditioner):
        raise TypeError(f"precond must be a dspgd Preconditioner, got {type(precond).__name__}")
    t_max = 1e8 if t_max is None else t_max
    for nm, v in (("t_max", t_max), ("rtol", rtol), ("atol", atol), ("tol", tol)):
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"{nm} must be a positive finite number, got {v!r}")
    loss = squared() if loss is None else loss
    d, k = problem.d, problem.k
    X, Y = problem.X, problem.Y
    r0 = float(np.linalg.norm(problem.residual(problem.W0)))
    f = flow_field(problem, precond, loss)

    def small(t: float, w: np.ndarray) -> float:
        return float(np.linalg.norm(X @ w.reshape(d, k) - Y)) - tol * r0

    small.terminal = True  # type: ignore[attr-defined]
    small.direction = -1  # type: ignore[attr-defined]

    sol = solve_ivp(f, (0.0, float(t_max)), problem.W0.ravel().copy(), method=method,
                    rtol=rtol, atol=atol, events=small, vectorized=True)
    W = sol.y[:, -1].reshape(d, k)
    res = float(np.linalg.norm(X @ W - Y))
    rel = res / r0 if r0 > 0 else 0.0
    if sol.status == 1 or rel <= tol:
        status = "converged"
        msg = f"relative residual {rel:.2e} <= tol {tol:g} at time t = {sol.t[-1]:.4g}"
    elif sol.status == 0:
        status = "t_max"
        msg = f"reached t_max = {t_max:g} with relative residual {rel:.2e} (tol {tol:g}): not converged"
    else:
        status = "failed"
        msg = f"the integrator stopped at t = {sol.t[-1]:.4g}: {sol.message}"
    return FlowResult(W, status, float(sol.t[-1]), res, rel, int(sol.nfev), int(sol.njev),
                      int(sol.nlu), msg, f"flow[{precond!r}, {method}]")
