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

The module also holds :func:`run_batched`, the small batched iteration loop
shared by :func:`mirror_descent` and :func:`dspgd.minibatch.minibatch_solve`
(the same stopping rule, statuses and history as :func:`dspgd.solver.solve`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import optimize
from tqdm.auto import tqdm

from .losses import Loss, squared
from .problem import Problem
from .solver import Result, _record_grid, check_lr, check_run_args

__all__ = [
    "Potential",
    "weighted_quadratic",
    "pnorm",
    "mirror_descent",
    "mirror_limit",
    "dual_residual",
    "run_batched",
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
    p = float(p)
    if not (np.isfinite(p) and p > 1):
        raise ValueError(f"pnorm p must be a finite number > 1, got {p!r}")
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


# ------------------------------------------------------------------ the shared loop


def run_batched(
    problem: Problem,
    lr: float | Array,
    *,
    state0: Array,
    primal: Callable[[Array], Array],
    step: Callable[[Array, Array, Array, Array, int], Array],
    method: str,
    loss: Loss | None = None,
    tol: float = 1e-10,
    max_steps: int = 20_000,
    patience: int = 20,
    blowup: float = 1e6,
    n_record: int = 256,
    progress: bool = False,
) -> Result:
    """Iterate ``state <- step(state, W, R, lr, t)`` for a batch of learning rates.

    The same loop as :func:`dspgd.solver.solve`, generic in the update: the
    runs are stacked as ``(B, d, k)``, a run whose relative residual
    ``||XW_t - Y|| / ||XW_0 - Y||`` stays ``<= tol`` for ``patience``
    further steps is ``"converged"``, one whose residual becomes non-finite
    or exceeds ``blowup`` times its start is ``"diverged"`` (its last finite
    iterate is returned), and stopped runs leave the working set.

    Parameters
    ----------
    problem : Problem
    lr : float or 1-D array
    state0 : ndarray, shape (d, k)
        The state of one run at ``t = 0`` (the weights, or their mirror image).
    primal : callable
        ``state (Ba, d, k) -> W (Ba, d, k)``.
    step : callable
        ``(state, W, R, lr, t) -> new state``, with ``R = XW - Y`` of shape
        ``(Ba, n, k)`` and ``lr`` of shape ``(Ba,)``. It is called exactly once
        per step ``t`` while any run is active.
    method : str
        Name stored in the result.
    loss, tol, max_steps, patience, blowup, n_record, progress
        As in :func:`dspgd.solver.solve`.

    Returns
    -------
    Result
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a dspgd.Problem, got {type(problem).__name__}")
    loss = squared() if loss is None else loss
    if not isinstance(loss, Loss):
        raise TypeError(f"loss must be a dspgd Loss, got {type(loss).__name__}")
    lrs, scalar = check_lr(lr)
    max_steps, patience = check_run_args(tol, max_steps, patience, blowup)

    X, Y, W0 = problem.X, problem.Y, problem.W0
    d, k = problem.d, problem.k
    B = lrs.size
    active = np.arange(B)
    S = np.repeat(np.asarray(state0, dtype=float)[None], B, axis=0)
    lra = lrs.copy()
    W = np.repeat(W0[None], B, axis=0)
    W_prev = W
    r0 = float(np.linalg.norm(problem.residual(W0)))
    thresh = tol * r0
    limit = blowup * max(r0, np.finfo(float).tiny)

    W_out = np.empty((B, d, k))
    status = np.empty(B, dtype=object)
    steps = np.zeros(B, dtype=int)
    res_out = np.zeros(B)
    loss_out = np.zeros(B)
    path = np.zeros(B)
    below = np.zeros(B, dtype=int)
    messages: list[str] = [""] * B
    grid = set(_record_grid(max_steps, n_record).tolist())
    h_steps: list[int] = []
    h_res: list[Array] = []
    h_loss: list[Array] = []

    bar = tqdm(total=max_steps, disable=not progress, desc=method, leave=False)
    t = 0
    with np.errstate(over="ignore", invalid="ignore"):
        while True:
            R = X @ W - Y
            res = np.sqrt(np.einsum("bnk,bnk->b", R, R))
            bad = ~np.isfinite(res) | (res > limit)
            if tol > 0:
                below[active] = np.where(res <= thresh, below[active] + 1, 0)
                done = below[active] > patience
            else:
                done = np.zeros(active.size, dtype=bool)
            done |= bad
            if t >= max_steps:
                done[:] = True

            any_done = bool(done.any())
            if t in grid or any_done:
                rr = np.full(B, np.nan)
                ll = np.full(B, np.nan)
                rr[active] = res
                ll[active] = loss.pointwise(R).sum(axis=(1, 2))
                rr[active[bad]] = np.nan
                ll[active[bad]] = np.nan
                h_steps.append(t)
                h_res.append(rr)
                h_loss.append(ll)

            if any_done:
                for j in np.flatnonzero(done):
                    b = active[j]
                    steps[b] = t
                    rel = res[j] / r0 if r0 > 0 else 0.0
                    if bad[j]:
                        fin = W[j] if (np.all(np.isfinite(W[j])) and np.isfinite(res[j])) else W_prev[j]
                        W_out[b] = fin
                        res_out[b] = float(np.linalg.norm(X @ fin - Y))
                        loss_out[b] = loss.value(X @ fin - Y)
                        status[b] = "diverged"
                        messages[b] = (f"diverged at step {t}: the residual grew from {r0:.3g} to "
                                       f"{res[j]:.3g} (limit {blowup:g} times its start); lr {lrs[b]:.3g} is too large")
                    else:
                        W_out[b] = W[j]
                        res_out[b] = res[j]
                        loss_out[b] = loss.value(R[j])
                        if tol > 0 and below[b] > patience:
                            status[b] = "converged"
                            messages[b] = (f"converged: relative residual {rel:.2e} <= tol {tol:g} "
                                           f"for {patience} further steps (step {t})")
                        else:
                            status[b] = "max_steps"
                            messages[b] = (f"stopped at max_steps = {max_steps} with relative residual "
                                           f"{rel:.2e} (tol {tol:g}): not converged")
                keep = ~done
                active = active[keep]
                if active.size == 0:
                    break
                S, W, R, lra = S[keep], W[keep], R[keep], lra[keep]

            S = step(S, W, R, lra, t)
            W_prev, W = W, primal(S)
            dW = W - W_prev
            path[active] += np.sqrt(np.einsum("bdk,bdk->b", dW, dW))
            t += 1
            if progress and t % 50 == 0:
                bar.update(50)
                bar.set_postfix(active=active.size)
    bar.close()

    hist_res = np.array(h_res)
    hist_loss = np.array(h_loss)
    if scalar:
        return Result(W_out[0], str(status[0]), int(steps[0]), float(res_out[0]), float(loss_out[0]),
                      float(path[0]), np.array(h_steps), hist_res[:, 0], hist_loss[:, 0], messages[0],
                      float(lrs[0]), method)
    return Result(W_out, status.astype(str), steps, res_out, loss_out, path, np.array(h_steps),
                  hist_res, hist_loss, messages, lrs, method)


# ------------------------------------------------------------------ mirror descent


def mirror_descent(
    problem: Problem,
    potential: Potential,
    lr: float | Array,
    loss: Loss | None = None,
    tol: float = 1e-10,
    max_steps: int = 20_000,
    patience: int = 20,
    blowup: float = 1e6,
    n_record: int = 256,
    progress: bool = False,
) -> Result:
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
    if not isinstance(potential, Potential):
        raise TypeError(f"potential must be a dspgd.mirror.Potential, got {type(potential).__name__}")
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a dspgd.Problem, got {type(problem).__name__}")
    loss = squared() if loss is None else loss
    X = problem.X
    Z0 = potential.grad(problem.W0)
    if not np.all(np.isfinite(Z0)):
        raise ValueError(f"grad psi(W0) is not finite for {potential!r}")

    def step(Z: Array, W: Array, R: Array, lr: Array, t: int) -> Array:
        return Z - lr[:, None, None] * (X.T @ loss.grad(R))

    return run_batched(
        problem, lr, state0=Z0, primal=potential.grad_inverse, step=step,
        method=f"mirror[{potential!r}]", loss=loss, tol=tol, max_steps=max_steps,
        patience=patience, blowup=blowup, n_record=n_record, progress=progress,
    )


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
        Required relative constraint residual ``||XW - Y|| / ||Y||``.

    Returns
    -------
    ndarray, shape (d, k)

    Raises
    ------
    RuntimeError
        If scipy does not reach ``rtol``.
    """
    if not isinstance(potential, Potential):
        raise TypeError(f"potential must be a dspgd.mirror.Potential, got {type(potential).__name__}")
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a dspgd.Problem, got {type(problem).__name__}")
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
    lrs, scalar = check_lr(lr)
    if not scalar:
        raise ValueError("mirror_path takes one learning rate")
    if int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    loss = squared() if loss is None else loss
    X, Y = problem.X, problem.Y
    Z = potential.grad(problem.W0)
    out = [problem.W0.copy()]
    for _ in range(int(steps)):
        Z = Z - lrs[0] * (X.T @ loss.grad(X @ out[-1] - Y))
        out.append(potential.grad_inverse(Z))
    return np.array(out)
