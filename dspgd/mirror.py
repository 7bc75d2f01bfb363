"""Mirror descent, ``grad psi(W_{t+1}) = grad psi(W_t) - lr G(W_t)``, and its step-size-free limit.

Mirror descent preconditions in the *primal* space: the potential ``psi``
acts on the weights, where DSPGD's ``K`` acts on the gradients. Its limit
from ``W0`` on an interpolation problem is the Bregman projection

    ``argmin D_psi(W, W0)  subject to  XW = Y``,

for every step size that converges (Gunasekar et al. 2018; Azizan and
Hassibi 2019). :func:`mirror_limit` computes that projection independently
of the iteration, from its convex dual, with :mod:`scipy.optimize`.

The potentials here are *separable*: ``psi(W) = sum_ij f_ij(W_ij)``, so
``grad psi`` and its inverse act entry by entry and every map accepts one
``(d, k)`` matrix or a stack ``(..., d, k)``.

Mirror descent is an update rule (:class:`MirrorRule`) of the package's one
iteration loop, with the stopping rule, statuses and history of
:func:`dspgd.solver.solve`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import optimize

from . import _checks as checks
from .losses import Loss
from .problem import Problem
from .solver import Context, Result, options, run, run_norms

__all__ = [
    "Potential",
    "weighted_quadratic",
    "pnorm",
    "mirror_descent",
    "mirror_limit",
    "dual_residual",
    "MirrorRule",
    "mirror_path",
]

Array = np.ndarray


# ------------------------------------------------------------------ potentials


@dataclass(frozen=True, eq=False)
class Potential:
    """A separable, strictly convex mirror potential ``psi(W) = sum_ij f_ij(W_ij)``.

    Attributes
    ----------
    name : str
        Identifier (``"weighted_quadratic"``, ``"pnorm"``).
    label : str
        LaTeX label for plots.
    params : dict
        The parameters.

    Notes
    -----
    Besides ``psi`` and the mirror map ``grad psi`` the object knows the
    convex conjugate ``psi*`` (whose gradient is the inverse mirror map,
    ``grad psi* = (grad psi)^{-1}``) and the entrywise derivative of that
    inverse (the diagonal of the Hessian of ``psi*``); :func:`mirror_limit`
    needs both.
    """

    name: str
    label: str
    _value: Callable[[Array], Array] = field(repr=False)
    _grad: Callable[[Array], Array] = field(repr=False)
    _grad_inverse: Callable[[Array], Array] = field(repr=False)
    _conjugate: Callable[[Array], Array] = field(repr=False)
    _inverse_derivative: Callable[[Array], Array] = field(repr=False)
    params: dict = field(default_factory=dict)

    def value(self, W: Array) -> Array | float:
        """``psi(W)``; a float for one ``(d, k)`` matrix, an array for a stack."""
        out = np.sum(self._value(_check("W", W)), axis=(-2, -1))
        return float(out) if np.ndim(out) == 0 else out

    def grad(self, W: Array) -> Array:
        """The mirror map ``grad psi(W)``, entry by entry."""
        return self._grad(_check("W", W))

    def grad_inverse(self, Z: Array) -> Array:
        """The inverse mirror map ``(grad psi)^{-1}(Z) = grad psi*(Z)``."""
        return self._grad_inverse(_check("Z", Z))

    def conjugate(self, Z: Array) -> Array | float:
        """The convex conjugate ``psi*(Z) = sup_W <Z, W> - psi(W)``."""
        out = np.sum(self._conjugate(_check("Z", Z)), axis=(-2, -1))
        return float(out) if np.ndim(out) == 0 else out

    def inverse_derivative(self, Z: Array) -> Array:
        """Entrywise derivative of ``(grad psi)^{-1}`` at ``Z`` (the diagonal Hessian of ``psi*``)."""
        return self._inverse_derivative(_check("Z", Z))

    def divergence(self, W: Array, V: Array) -> Array | float:
        """The Bregman divergence ``D_psi(W, V) = psi(W) - psi(V) - <grad psi(V), W - V>``."""
        W, V = _check("W", W), _check("V", V)
        out = (np.sum(self._value(W) - self._value(V), axis=(-2, -1))
               - np.sum(self._grad(V) * (W - V), axis=(-2, -1)))
        return float(out) if np.ndim(out) == 0 else out

    def __repr__(self) -> str:
        ps = ", ".join(
            f"{k}=<array {v.shape}>" if isinstance(v, np.ndarray) and v.size > 1 else f"{k}={float(np.squeeze(v))!r}"
            for k, v in self.params.items()
        )
        return f"{self.name}({ps})"


def _check(name: str, A: Array) -> Array:
    if A is None or isinstance(A, (str, bytes)) or np.asarray(A).dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a real array of shape (d, k) or (..., d, k), got {type(A).__name__}")
    A = np.asarray(A, dtype=np.float64)
    if A.ndim < 2:
        raise ValueError(f"{name} must have shape (d, k) or (..., d, k), got shape {A.shape}")
    return A


def weighted_quadratic(D: Array | float = 1.0) -> Potential:
    """``psi(W) = 1/2 sum_ij W_ij^2 / D_ij`` with ``D > 0``.

    The mirror map is ``grad psi(W) = W / D`` and its inverse ``Z -> D * Z``,
    so the mirror-descent step is ``W <- W - lr D * G``: exactly DSPGD with
    the fixed diagonal preconditioner ``K(G) = 1/2 sum D_ij g_ij^2``, whose
    limit has the closed form :func:`dspgd.theory.diagonal_limit` with the
    same ``D``. ``D = 1`` is gradient descent.

    Parameters
    ----------
    D : float or array
        Positive weights, a scalar or an array broadcastable to ``(d, k)``
        (a 1-D array of length ``d`` is read as a column).
    """
    if D is None or isinstance(D, (str, bytes)) or np.asarray(D).dtype.kind not in "fiu":
        raise TypeError(f"weighted_quadratic D must be a positive number or a real array, got {D!r}")
    D = np.asarray(D, dtype=np.float64)
    if D.ndim > 2:
        raise ValueError(f"weighted_quadratic D must be a scalar, (d,), (d, 1), (1, k) or (d, k) array, got shape {D.shape}")
    if D.size == 0 or not np.all(np.isfinite(D)) or not np.all(D > 0):
        raise ValueError("weighted_quadratic D must be finite and strictly positive in every entry")
    if D.ndim == 1:
        D = D[:, None]

    def bc(A: Array) -> Array:
        try:
            return np.broadcast_to(D, A.shape[-2:])
        except ValueError:
            raise ValueError(f"weighted_quadratic D of shape {D.shape} does not broadcast to shape {A.shape[-2:]}") from None

    label = r"quadratic $\frac{1}{2}\|W\|^2$" if D.size == 1 and float(D.flat[0]) == 1.0 else r"weighted quadratic $\frac{1}{2}\sum W_{ij}^2/D_{ij}$"
    return Potential(
        "weighted_quadratic", label,
        lambda W: 0.5 * W * W / bc(W),
        lambda W: W / bc(W),
        lambda Z: Z * bc(Z),
        lambda Z: 0.5 * Z * Z * bc(Z),
        lambda Z: np.broadcast_to(bc(Z), Z.shape).copy(),
        {"D": D},
    )


def pnorm(p: float = 3.0) -> Potential:
    """``psi(W) = sum_ij |W_ij|^p / p`` with ``p > 1``, ``p != 2``.

    The mirror map is ``sign(w) |w|^{p-1}``, its inverse
    ``sign(z) |z|^{1/(p-1)}``, and the conjugate is ``sum |z|^q / q`` with
    ``1/p + 1/q = 1``. ``p < 2`` favours interpolators with small entries
    where ``W0`` is small; ``p > 2`` spreads the change over the entries.
    ``p = 2`` is plain gradient descent: use ``weighted_quadratic(1.0)``.
    """
    p = checks.real("pnorm p", p, low=1.0, low_open=True)
    if p == 2:
        raise ValueError("pnorm p = 2 is gradient descent; use weighted_quadratic(1.0) for it")
    q = p / (p - 1)
    a = 1.0 / (p - 1)  # exponent of the inverse mirror map

    def inv_deriv(Z: Array) -> Array:
        # d/dz sign(z)|z|^a = a |z|^(a-1); infinite at 0 when a < 1 (p > 2)
        with np.errstate(divide="ignore"):
            return a * np.power(np.abs(Z), a - 1)

    return Potential(
        "pnorm", rf"$\ell_p$ potential ($p={p:g}$)",
        lambda W: np.abs(W) ** p / p,
        lambda W: np.sign(W) * np.abs(W) ** (p - 1),
        lambda Z: np.sign(Z) * np.abs(Z) ** a,
        lambda Z: np.abs(Z) ** q / q,
        inv_deriv,
        {"p": p},
    )


# ------------------------------------------------------------------ mirror descent


def _potential(value: object) -> Potential:
    if not isinstance(value, Potential):
        raise TypeError(f"potential must be a dspgd.mirror.Potential (e.g. pnorm(3.0)), got {type(value).__name__}")
    return value


class MirrorRule:
    """Mirror descent as an update rule of the package's iteration loop.

    The state is the mirror image ``Z = grad psi(W)`` of every run, side by
    side as ``d x (B k)``; a step is ``Z <- Z - lr G`` and
    ``W = (grad psi)^{-1}(Z)``.
    """

    memoryless = False

    def __init__(self, potential: Potential) -> None:
        self.potential = _potential(potential)
        self.name = f"mirror[{potential!r}]"

    def start(self, ctx: Context, B: int) -> None:
        Z0 = self.potential.grad(ctx.problem.W0)
        if not np.all(np.isfinite(Z0)):
            raise ValueError(f"grad psi(W0) is not finite for {self.potential!r}")
        self.ctx = ctx
        self.Z = np.tile(Z0, B)

    def gradient(self, R: Array) -> Array:
        """The gradient that moves the mirror image (the full ``X^T grad l(R)``; a batch one in a subclass)."""
        return self.ctx.gradient(R)

    def step(self, W: Array, R: Array, lr: Array, t: int) -> tuple[Array, Array]:
        G = self.gradient(R)
        G *= lr
        self.Z -= G
        W_next = self.ctx.stacked(self.potential.grad_inverse(self.ctx.runs(self.Z)))
        return W_next, run_norms(W_next - W, self.ctx.k)

    def keep(self, keep: Array) -> None:
        self.Z = np.ascontiguousarray(self.Z[:, self.ctx.columns(keep)])

    def stable_lr(self) -> float:
        return 0.0


def mirror_descent(problem: Problem, potential: Potential, lr: float | Array, loss: Loss | None = None,
                   tol: float = 1e-10, max_steps: int = 20_000, patience: int = 20, blowup: float = 1e6,
                   n_record: int = 256, progress: bool = False) -> Result:
    """Mirror descent from ``problem.W0``: ``grad psi(W_{t+1}) = grad psi(W_t) - lr G(W_t)``.

    The iteration runs on the mirror image ``Z_t = grad psi(W_t)``:
    ``Z_{t+1} = Z_t - lr X^T grad l(X W_t - Y)`` and
    ``W_{t+1} = (grad psi)^{-1}(Z_{t+1})``.

    Parameters
    ----------
    problem : Problem
    potential : Potential
        The mirror potential ``psi``.
    lr : float or 1-D array
        Learning rate(s); an array runs one stacked computation, as in
        :func:`dspgd.solver.solve`.
    loss : Loss, optional
        Default: squared loss.
    tol, max_steps, patience, blowup, n_record, progress
        As in :func:`dspgd.solver.solve` (``tol`` is a relative residual).

    Returns
    -------
    Result
        With ``method = "mirror[...]"``; ``W`` is never NaN (a diverged run
        returns its last finite iterate).
    """
    rule = MirrorRule(potential)
    return run(problem, rule, lr, loss, options(tol, max_steps, patience, blowup, n_record, progress))


def mirror_limit(problem: Problem, potential: Potential, rtol: float = 1e-13) -> Array:
    """The Bregman projection ``argmin D_psi(W, W0)`` subject to ``XW = Y``.

    Computed from the optimality conditions, independently of
    :func:`mirror_descent`: at the minimizer ``grad psi(W) = grad psi(W0) + X^T Lam``
    for a multiplier ``Lam`` in ``R^{n x k}``, and ``Lam`` minimizes the
    smooth convex dual function

        ``phi(Lam) = psi*(grad psi(W0) + X^T Lam) - <Lam, Y>``,

    whose gradient ``X (grad psi)^{-1}(...) - Y`` is the constraint residual.
    ``Lam`` is found by :func:`scipy.optimize.minimize` (``method="trust-exact"``,
    exact Hessian, block diagonal with blocks ``X diag(h_j) X^T``,
    ``h = (grad psi*)'``), refined with :func:`scipy.optimize.root` on the
    residual if needed.

    Parameters
    ----------
    problem : Problem
    potential : Potential
    rtol : float
        Required relative constraint residual ``||XW - Y|| / ||Y||``, in ``(0, 1)``.

    Returns
    -------
    ndarray, shape (d, k)

    Raises
    ------
    TypeError, ValueError
        For arguments of the wrong kind or out of range.
    RuntimeError
        If scipy does not reach ``rtol``.
    """
    problem = checks.problem(problem)
    potential = _potential(potential)
    rtol = checks.real("rtol", rtol, low=0.0, high=1.0, low_open=True, high_open=True)
    X, Y = problem.X, problem.Y
    n, k = problem.n, problem.k
    Z0 = potential.grad(problem.W0)
    scale = max(float(np.linalg.norm(Y)), np.finfo(float).tiny)

    def primal(lam: Array) -> Array:
        return potential.grad_inverse(Z0 + X.T @ lam.reshape(n, k))

    def fun(lam: Array) -> float:
        return potential.conjugate(Z0 + X.T @ lam.reshape(n, k)) - float(lam @ Y.ravel())

    def jac(lam: Array) -> Array:
        return (X @ primal(lam) - Y).ravel()

    def hess(lam: Array) -> Array:
        # block diagonal over the k columns: X diag(h_j) X^T
        h = np.minimum(potential.inverse_derivative(Z0 + X.T @ lam.reshape(n, k)), 1e300)
        H = np.zeros((n, k, n, k))
        for j in range(k):
            H[:, j, :, j] = (X * h[:, j]) @ X.T
        return H.reshape(n * k, n * k)

    lam = np.zeros(n * k)
    opt = optimize.minimize(fun, lam, jac=jac, hess=hess, method="trust-exact",
                            options={"gtol": rtol * scale, "maxiter": 500})
    lam = opt.x
    if np.linalg.norm(jac(lam)) > rtol * scale:
        sol = optimize.root(jac, lam, jac=hess, method="hybr", options={"xtol": 1e-15})
        if np.linalg.norm(jac(sol.x)) < np.linalg.norm(jac(lam)):
            lam = sol.x
    err = float(np.linalg.norm(jac(lam)))
    if not err <= max(rtol * scale, 1e3 * np.finfo(float).eps * scale):
        raise RuntimeError(
            f"mirror_limit: scipy reached a relative constraint residual {err / scale:.2e} "
            f"> rtol {rtol:g} ({potential!r})"
        )
    return primal(lam)


def dual_residual(problem: Problem, potential: Potential, W: Array) -> Array | float:
    """How far ``grad psi(W) - grad psi(W0)`` is from the row space of ``X``.

    Returns ``||P_perp (grad psi(W) - grad psi(W0))||_F / ||grad psi(W) - grad psi(W0)||_F``,
    with ``P_perp`` the projector onto the orthogonal complement of
    ``range(X^T)``. Mirror descent keeps this at rounding level for every
    iterate (the conservation law behind its implicit bias); a limit with
    this quantity at zero and ``XW = Y`` is the Bregman projection.

    Parameters
    ----------
    W : ndarray, shape (d, k) or (B, d, k)
    """
    problem = checks.problem(problem)
    potential = _potential(potential)
    W = checks.weights("W", W, problem)
    Q, _ = problem._qr
    V = potential.grad(W) - potential.grad(problem.W0)
    perp = V - Q @ (Q.T @ V)
    out = np.linalg.norm(perp, axis=(-2, -1)) / np.maximum(np.linalg.norm(V, axis=(-2, -1)), np.finfo(float).tiny)
    return float(out) if np.ndim(out) == 0 else out


def mirror_path(problem: Problem, potential: Potential, lr: float, steps: int,
                loss: Loss | None = None) -> Array:
    """The first ``steps`` mirror-descent iterates, for pictures of small problems.

    Returns
    -------
    ndarray, shape (steps + 1, d, k)
        ``W_0, W_1, ..., W_steps`` (no stopping rule).
    """
    problem = checks.problem(problem)
    potential = _potential(potential)
    lrs, scalar = checks.learning_rates(lr)
    if not scalar:
        raise ValueError("mirror_path takes one learning rate")
    steps = checks.integer("steps", steps, high=10**6)
    loss = checks.loss(loss)
    X, Y = problem.X, problem.Y
    Z = potential.grad(problem.W0)
    out = [problem.W0.copy()]
    for _ in range(steps):
        Z = Z - lrs[0] * (X.T @ loss.grad(X @ out[-1] - Y))
        out.append(potential.grad_inverse(Z))
    return np.array(out)
