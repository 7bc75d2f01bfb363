"""Full Adam (moving averages, bias correction) on ``XW = Y``, batched over learning rates.

Adam with ``beta1, beta2 > 0`` is not a DSPGD method: its step depends on
the whole past of the gradients, not on the current gradient alone. This
module runs it with the conventions of :func:`dspgd.solve` (same stopping
rule, same :class:`~dspgd.solver.Result`) so that the two can be compared
run for run.

The loop is written once, generically, for an *update rule with state*
(:class:`UpdateRule`): :class:`Memoryless` wraps a DSPGD preconditioner,
:class:`AdamRule` carries Adam's two moving averages and :class:`MomentumRule`
its first moment alone. :func:`run_stateful` with :class:`Memoryless` makes
the same runs as :func:`dspgd.solve` (same statuses and stopping steps,
iterates equal up to round-off), which the tests check.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

from .losses import Loss, squared
from .preconditioners import Preconditioner
from .problem import Problem
from .solver import Result, _record_grid, check_lr, check_run_args

__all__ = ["UpdateRule", "Memoryless", "AdamRule", "MomentumRule", "run_stateful", "adam_solve", "adam_sweep"]


class UpdateRule(Protocol):
    """A first-order update with state, run side by side for ``B`` learning rates.

    The step of run ``b`` at step ``t`` (counted from 1) is
    ``W <- W - lr_b * direction(G)_b``.
    """

    name: str

    def start(self, B: int, d: int, k: int) -> None:
        """Reset the state for ``B`` runs on ``d x k`` weights."""

    def direction(self, G: np.ndarray, t: int) -> np.ndarray:
        """The step direction for the stack of gradients ``G`` (shape ``(B_active, d, k)``).

        Called once per step; updates the state.
        """

    def keep(self, mask: np.ndarray) -> None:
        """Drop the state of the runs where ``mask`` (over the active runs) is False."""


class Memoryless:
    """DSPGD as an update rule: ``direction(G) = grad K(G)``, no state."""

    def __init__(self, precond: Preconditioner) -> None:
        if not isinstance(precond, Preconditioner):
            raise TypeError(f"precond must be a dspgd Preconditioner, got {type(precond).__name__}")
        self.precond = precond
        self.name = f"DSPGD[{precond!r}]"

    def start(self, B: int, d: int, k: int) -> None:
        probe = self.precond.grad(np.zeros((1, d, k)))
        if probe.shape != (1, d, k):
            raise ValueError(f"{self.precond!r} maps a gradient of shape {(d, k)} to shape {probe.shape[1:]}")

    def direction(self, G: np.ndarray, t: int) -> np.ndarray:
        return self.precond.grad(G)

    def keep(self, mask: np.ndarray) -> None:
        pass


class AdamRule:
    """The update of ``torch.optim.Adam`` (no weight decay, ``amsgrad=False``).

    With ``g`` the gradient at step ``t`` (from 1)::

        m <- beta1 m + (1 - beta1) g,        v <- beta2 v + (1 - beta2) g*g,
        direction = (m / (1 - beta1^t)) / (sqrt(v) / sqrt(1 - beta2^t) + eps).

    ``betas = (0, 0)`` gives ``g / (|g| + eps)``, the DSPGD preconditioner
    :func:`dspgd.adam`, with the same floating-point operations.

    Parameters
    ----------
    betas : (float, float) or array of shape (B, 2)
        One pair for every run, or one pair per run (then ``B`` must be the
        number of learning rates of the run).
    eps : float or array of shape (B,)
    """

    def __init__(self, betas: tuple[float, float] | np.ndarray = (0.9, 0.999),
                 eps: float | np.ndarray = 1e-8) -> None:
        try:
            b = np.asarray(betas, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"betas must be a pair of numbers or an array of pairs, got {betas!r}") from None
        if b.shape[-1:] != (2,) or b.ndim > 2:
            raise ValueError(f"betas must be a pair (beta1, beta2) or an array of shape (B, 2), got shape {b.shape}")
        for nm, col in (("beta1", b[..., 0]), ("beta2", b[..., 1])):
            if not np.all(np.isfinite(col) & (col >= 0) & (col < 1)):
                raise ValueError(f"{nm} must lie in [0, 1), got {col.tolist()!r}")
        try:
            e = np.asarray(eps, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"Adam eps must be a number > 0, got {eps!r}") from None
        if e.ndim > 1 or not np.all(np.isfinite(e) & (e > 0)):
            raise ValueError(f"Adam eps must be a finite number > 0 (or a 1-D array of them), got {eps!r}")
        self.betas, self.eps = b, e
        if b.ndim == 1 and e.ndim == 0:
            self.name = f"Adam(betas=({b[0]:g}, {b[1]:g}), eps={float(e):g})"
        else:
            self.name = "Adam(per-run betas and eps)"
        self._b1 = self._b2 = self._eps = self.m = self.v = np.zeros((0, 1, 1))

    def start(self, B: int, d: int, k: int) -> None:
        for nm, a, nd in (("betas", self.betas, 2), ("eps", self.eps, 1)):
            if a.ndim == nd and a.shape[0] != B:
                raise ValueError(f"{nm} has {a.shape[0]} entries but there are {B} learning rates")
        # the state lives in the solver's layout, runs side by side as d x (B k):
        # per-run parameters then broadcast along the last (contiguous) axis
        b = np.broadcast_to(self.betas, (B, 2))
        self._k = k
        self._b1 = np.repeat(b[:, 0], k)
        self._b2 = np.repeat(b[:, 1], k)
        self._eps = np.repeat(np.broadcast_to(self.eps, (B,)), k)
        self.m = np.zeros((d, B * k))
        self.v = np.zeros((d, B * k))

    def direction(self, G: np.ndarray, t: int) -> np.ndarray:
        Bk = self.m.shape[1]
        d = self.m.shape[0]
        g = G.transpose(1, 0, 2).reshape(d, Bk)
        b1, b2 = self._b1, self._b2
        self.m *= b1
        self.m += (1 - b1) * g
        self.v *= b2
        self.v += (1 - b2) * (g * g)
        denom = np.sqrt(self.v)
        denom /= np.sqrt(1 - b2**t)
        denom += self._eps
        out = self.m / (1 - b1**t)
        out /= denom
        return out.reshape(d, Bk // self._k, self._k).transpose(1, 0, 2)

    def keep(self, mask: np.ndarray) -> None:
        cols = (np.flatnonzero(mask)[:, None] * self._k + np.arange(self._k)).ravel()
        self.m = np.ascontiguousarray(self.m[:, cols])
        self.v = np.ascontiguousarray(self.v[:, cols])
        self._b1, self._b2, self._eps = self._b1[cols], self._b2[cols], self._eps[cols]


class MomentumRule:
    """Gradient descent with Adam's first moment only: ``direction = m / (1 - beta1^t)``.

    The step is a linear combination of past gradients, so it never leaves
    the row space of ``X`` (the limit, if any, is ``W_GD``).
    """

    def __init__(self, beta1: float = 0.9) -> None:
        if not (np.isfinite(beta1) and 0 <= beta1 < 1):
            raise ValueError(f"beta1 must lie in [0, 1), got {beta1!r}")
        self.beta1 = float(beta1)
        self.name = f"momentum(beta1={self.beta1:g})"
        self.m = np.zeros((0, 1, 1))

    def start(self, B: int, d: int, k: int) -> None:
        self.m = np.zeros((B, d, k))

    def direction(self, G: np.ndarray, t: int) -> np.ndarray:
        self.m = self.beta1 * self.m + (1 - self.beta1) * G
        return self.m / (1 - self.beta1**t)

    def keep(self, mask: np.ndarray) -> None:
        self.m = self.m[mask]


def run_stateful(
    problem: Problem,
    rule: UpdateRule,
    lr: float | np.ndarray,
    loss: Loss | None = None,
    tol: float = 1e-10,
    max_steps: int = 20_000,
    patience: int = 20,
    blowup: float = 1e6,
    n_record: int = 256,
    progress: bool = False,
) -> Result:
    """Run ``W <- W - lr * rule.direction(G(W))`` from ``problem.W0``, batched over ``lr``.

    The stopping rule, divergence test, history grid and the layout of the
    working set are those of :func:`dspgd.solve` (see its parameters); with
    ``rule = Memoryless(precond)`` the result is that of ``dspgd.solve(problem,
    precond, lr, ...)``: same statuses and steps, iterates equal up to
    round-off (the matrix products may round differently).

    Returns
    -------
    Result
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a dspgd.Problem, got {type(problem).__name__}")
    loss = squared() if loss is None else loss
    lrs, scalar = check_lr(lr)
    max_steps, patience = check_run_args(tol, max_steps, patience, blowup)

    X, Y = problem.X, problem.Y
    n, d, k = problem.n, problem.d, problem.k
    B = lrs.size
    rule.start(B, d, k)

    # working set as in dspgd.solve: active runs side by side, member b in columns b*k:(b+1)*k
    active = np.arange(B)
    Wa, Ya, lra = np.tile(problem.W0, B), np.tile(Y, B), np.repeat(lrs, k)
    W_prev = Wa
    r0 = float(np.linalg.norm(problem.residual(problem.W0)))
    thresh = tol * r0

    W_out = np.empty((B, d, k))
    status = np.empty(B, dtype=object)
    steps = np.zeros(B, dtype=int)
    res_out, loss_out, path = np.zeros(B), np.zeros(B), np.zeros(B)
    below = np.zeros(B, dtype=int)
    messages: list[str] = [""] * B
    grid = set(_record_grid(max_steps, n_record).tolist())
    h_steps: list[int] = []
    h_res: list[np.ndarray] = []
    h_loss: list[np.ndarray] = []

    bar = tqdm(total=max_steps, disable=not progress, desc=rule.name, leave=False)
    t = 0
    while True:
        Ba = active.size
        R = X @ Wa - Ya
        R3 = R.reshape(n, Ba, k)
        res = np.sqrt(np.einsum("nbk,nbk->b", R3, R3))
        bad = ~np.isfinite(res) | (res > blowup * max(r0, np.finfo(float).tiny))
        if tol > 0:
            below[active] = np.where(res <= thresh, below[active] + 1, 0)
            done = below[active] > patience
        else:
            done = np.zeros(Ba, dtype=bool)
        done |= bad
        if t >= max_steps:
            done[:] = True

        if t in grid or done.any():
            rr, ll = np.full(B, np.nan), np.full(B, np.nan)
            rr[active] = res
            ll[active] = loss.pointwise(R).reshape(n, Ba, k).sum(axis=(0, 2))
            rr[active[bad]] = ll[active[bad]] = np.nan
            h_steps.append(t)
            h_res.append(rr)
            h_loss.append(ll)

        if done.any():
            Wcur = Wa.reshape(d, Ba, k).transpose(1, 0, 2)
            Wold = W_prev.reshape(d, Ba, k).transpose(1, 0, 2)
            for j in np.flatnonzero(done):
                b = active[j]
                steps[b] = t
                rel = res[j] / r0 if r0 > 0 else 0.0
                if bad[j]:
                    use_cur = bool(np.all(np.isfinite(Wcur[j])) and np.isfinite(res[j]))
                    W_out[b] = Wcur[j] if use_cur else Wold[j]
                    res_out[b] = float(np.linalg.norm(X @ W_out[b] - Y))
                    loss_out[b] = loss.value(X @ W_out[b] - Y)
                    status[b] = "diverged"
                    messages[b] = (f"diverged at step {t}: the residual grew from {r0:.3g} to "
                                   f"{res[j]:.3g} (limit {blowup:g} times its start)")
                    continue
                W_out[b] = Wcur[j]
                res_out[b] = res[j]
                loss_out[b] = loss.value(R3[:, j, :])
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
            rule.keep(keep)
            cols = (np.flatnonzero(keep)[:, None] * k + np.arange(k)).ravel()
            Wa, Ya, lra, R = Wa[:, cols], Ya[:, cols], lra[cols], R[:, cols]
            Ba = active.size

        G = X.T @ loss.grad(R)
        P = rule.direction(G.reshape(d, Ba, k).transpose(1, 0, 2), t + 1)
        P = P.transpose(1, 0, 2).reshape(d, Ba * k)
        P3 = P.reshape(d, Ba, k)
        path[active] += lra[::k] * np.sqrt(np.einsum("dbk,dbk->b", P3, P3))
        # C order keeps the products with X on the same BLAS path as dspgd.solve
        W_prev, Wa = Wa, np.ascontiguousarray(Wa - P * lra)
        t += 1
        if progress and t % 50 == 0:
            bar.update(50)
            bar.set_postfix(active=active.size)
    bar.close()

    hist_res, hist_loss = np.array(h_res), np.array(h_loss)
    if scalar:
        return Result(W_out[0], str(status[0]), int(steps[0]), float(res_out[0]), float(loss_out[0]),
                      float(path[0]), np.array(h_steps), hist_res[:, 0], hist_loss[:, 0], messages[0],
                      float(lrs[0]), rule.name)
    return Result(W_out, status.astype(str), steps, res_out, loss_out, path, np.array(h_steps),
                  hist_res, hist_loss, messages, lrs, rule.name)


def adam_solve(
    problem: Problem,
    lr: float | np.ndarray,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    loss: Loss | None = None,
    tol: float = 1e-10,
    max_steps: int = 20_000,
    patience: int = 20,
    blowup: float = 1e6,
    n_record: int = 256,
    progress: bool = False,
) -> Result:
    """Run full Adam (``torch.optim.Adam``, no weight decay) from ``problem.W0``.

    Parameters
    ----------
    problem : Problem
    lr : float or 1-D array
        Learning rate(s); an array runs one batched computation, one run per
        value, each with its own moving averages.
    betas : (float, float)
        ``(beta1, beta2)``, each in ``[0, 1)``. ``(0, 0)`` is the DSPGD
        method :func:`dspgd.adam` (``eps``): the update is
        ``g / (|g| + eps)`` bit for bit, and the runs are those of
        :func:`dspgd.solve` with it.
    eps : float
        Added to ``sqrt(v_hat)``, ``> 0``.
    loss, tol, max_steps, patience, blowup, n_record, progress
        As in :func:`dspgd.solve`: relative-residual stopping rule with
        patience; ``"diverged"`` when the residual exceeds ``blowup`` times
        its start; ``W`` is never NaN.

    Returns
    -------
    Result
        ``method`` names the betas and eps; ``extra`` holds them.

    Raises
    ------
    ValueError
        If a beta is outside ``[0, 1)``, ``eps <= 0``, or ``lr`` is not a
        positive finite scalar or 1-D array.
    """
    b = np.asarray(betas, dtype=np.float64) if np.ndim(betas) else None
    if b is None or b.shape != (2,):
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    if np.ndim(eps) != 0:
        raise ValueError(f"eps must be a number, got {eps!r}")
    rule = AdamRule(b, eps)
    out = run_stateful(problem, rule, lr, loss, tol, max_steps, patience, blowup, n_record, progress)
    out.extra = {"betas": (float(b[0]), float(b[1])), "eps": float(eps)}
    return out


def adam_sweep(
    problem: Problem,
    lr: float | np.ndarray,
    betas: list[tuple[float, float]],
    eps: float | list[float],
    **kw,
) -> Result:
    """Full Adam on the grid ``betas x eps x lr``, as one batched computation.

    Member ``(i, j, l)`` (betas ``i``, eps ``j``, learning rate ``l``) is
    member ``(i * n_eps + j) * n_lr + l`` of the batched result;
    ``extra["grid"]`` is ``(n_betas, n_eps, n_lr)`` and ``extra["betas"]``,
    ``extra["eps"]`` give every member's parameters. Keyword arguments go to
    :func:`run_stateful` (``tol``, ``max_steps``, ...).
    """
    lrs, _ = check_lr(lr)
    b = np.asarray(betas, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 2:
        raise ValueError(f"betas must be a list of pairs (beta1, beta2), got shape {b.shape}")
    e = np.atleast_1d(np.asarray(eps, dtype=np.float64))
    if e.ndim != 1:
        raise ValueError(f"eps must be a number or a 1-D list, got shape {e.shape}")
    nb, ne, nl = b.shape[0], e.size, lrs.size
    bb = np.repeat(b, ne * nl, axis=0)
    ee = np.tile(np.repeat(e, nl), nb)
    ll = np.tile(lrs, nb * ne)
    out = run_stateful(problem, AdamRule(bb, ee), ll, **kw)
    out.extra = {"grid": (nb, ne, nl), "betas": bb, "eps": ee}
    return out
