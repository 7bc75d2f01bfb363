"""Full Adam (moving averages, bias correction) on ``XW = Y``, batched over learning rates.

Adam with ``beta1, beta2 > 0`` is not a DSPGD method: its step depends on
the whole past of the gradients, not on the current gradient alone. This
module runs it with the conventions of :func:`dspgd.solve` (same stopping
rule, same :class:`~dspgd.solver.Result`) so that the two can be compared
run for run.

Each method is an update rule with state for the package's one iteration
loop (:func:`dspgd.solver.run`): :class:`Memoryless` wraps a DSPGD preconditioner,
:class:`AdamRule` carries Adam's two moving averages and
:class:`MomentumRule` its first moment alone. :func:`run_stateful` with
:class:`Memoryless` makes the same runs as :func:`dspgd.solve` (same
statuses and stopping steps, iterates equal up to round-off), which the
tests check.
"""

from __future__ import annotations

import numpy as np

from . import _checks as checks
from .losses import Loss
from .preconditioners import Preconditioner
from .problem import Problem
from .solver import DSPGD, Context, Result, Rule, options, run, step_lengths, take_step

__all__ = ["UpdateRule", "Memoryless", "AdamRule", "MomentumRule", "run_stateful", "adam_solve", "adam_sweep"]

#: The protocol every update rule follows, :class:`dspgd.solver.Rule`.
UpdateRule = Rule


class Memoryless(DSPGD):
    """DSPGD as an update rule: the direction is ``grad K(G)``, no state (the rule of :func:`dspgd.solve`)."""


class _Moments:
    """The part shared by the rules with moving averages: per-column parameters, the step, dropping runs."""

    memoryless = False

    def _columns(self, B: int, k: int, **per_run: np.ndarray) -> None:
        """Store each per-run parameter (scalar or shape ``(B,)``) repeated over the ``k`` columns of its run."""
        for nm, a in per_run.items():
            setattr(self, nm, np.repeat(np.broadcast_to(a, (B,)), k))
        self._per_column = tuple(per_run)

    def _drop(self, keep: np.ndarray, *state: str) -> None:
        cols = self.ctx.columns(keep)
        for nm in state + self._per_column:
            setattr(self, nm, np.ascontiguousarray(getattr(self, nm)[..., cols]))

    def step(self, W: np.ndarray, R: np.ndarray, lr: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        P = self.direction(self.ctx.gradient(R), t)
        lengths = step_lengths(P, lr, self.ctx.k)
        return take_step(W, P, lr), lengths

    def stable_lr(self) -> float:
        return 0.0


class AdamRule(_Moments):
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
        b = _real_array("betas", betas, "a pair (beta1, beta2) or an array of shape (B, 2)")
        if b.shape[-1:] != (2,) or b.ndim > 2:
            raise ValueError(f"betas must be a pair (beta1, beta2) or an array of shape (B, 2), got shape {b.shape}")
        for nm, col in (("beta1", b[..., 0]), ("beta2", b[..., 1])):
            if not np.all(np.isfinite(col) & (col >= 0) & (col < 1)):
                raise ValueError(f"{nm} must lie in [0, 1), got {col.tolist()!r}")
        e = _real_array("eps", eps, "a number > 0 or a 1-D array of them")
        if e.ndim > 1 or not np.all(np.isfinite(e) & (e > 0)):
            raise ValueError(f"Adam eps must be a finite number > 0 (or a 1-D array of them), got {eps!r}")
        self.betas, self.eps = b, e
        if b.ndim == 1 and e.ndim == 0:
            self.name = f"Adam(betas=({b[0]:g}, {b[1]:g}), eps={float(e):g})"
        else:
            self.name = "Adam(per-run betas and eps)"
        self.m = self.v = np.zeros((0, 0))

    def start(self, ctx: Context, B: int) -> None:
        for nm, a, nd in (("betas", self.betas, 2), ("eps", self.eps, 1)):
            if a.ndim == nd and a.shape[0] != B:
                raise ValueError(f"{nm} has {a.shape[0]} entries but there are {B} learning rates")
        # the state lives in the runner's layout, runs side by side as d x (B k):
        # per-run parameters then broadcast along the last (contiguous) axis
        self.ctx = ctx
        b = np.broadcast_to(self.betas, (B, 2))
        self._columns(B, ctx.k, _b1=b[:, 0], _b2=b[:, 1], _eps=self.eps)
        self._c1, self._c2 = 1 - self._b1, 1 - self._b2
        self._per_column += ("_c1", "_c2")
        self.m = np.zeros((ctx.d, B * ctx.k))
        self.v = np.zeros((ctx.d, B * ctx.k))
        self._tmp = np.empty_like(self.m)

    def direction(self, g: np.ndarray, t: int) -> np.ndarray:
        """The Adam direction for the stacked gradients ``g`` (``d x (B k)``) at step ``t``; updates ``m`` and ``v``."""
        tmp = self._tmp if self._tmp.shape == g.shape else np.empty_like(g)
        self.m *= self._b1
        self.m += np.multiply(self._c1, g, out=tmp)
        self.v *= self._b2
        np.multiply(g, g, out=tmp)
        tmp *= self._c2
        self.v += tmp
        denom = np.sqrt(self.v, out=tmp)
        denom /= np.sqrt(1 - self._b2**t)
        denom += self._eps
        out = self.m / (1 - self._b1**t)
        out /= denom
        return out

    def keep(self, keep: np.ndarray) -> None:
        self._drop(keep, "m", "v")
        self._tmp = np.empty_like(self.m)


class MomentumRule(_Moments):
    """Gradient descent with Adam's first moment only: ``direction = m / (1 - beta1^t)``.

    The step is a linear combination of past gradients, so it never leaves
    the row space of ``X`` (the limit, if any, is ``W_GD``).
    """

    def __init__(self, beta1: float = 0.9) -> None:
        beta1 = checks.real("beta1", beta1, low=0.0, high=1.0, high_open=True)
        self.beta1 = beta1
        self.name = f"momentum(beta1={self.beta1:g})"
        self.m = np.zeros((0, 0))

    def start(self, ctx: Context, B: int) -> None:
        self.ctx = ctx
        self._per_column = ()
        self.m = np.zeros((ctx.d, B * ctx.k))

    def direction(self, g: np.ndarray, t: int) -> np.ndarray:
        """``m / (1 - beta1^t)`` after ``m <- beta1 m + (1 - beta1) g`` (stacked ``d x (B k)``)."""
        self.m *= self.beta1
        self.m += (1 - self.beta1) * g
        return self.m / (1 - self.beta1**t)

    def keep(self, keep: np.ndarray) -> None:
        self._drop(keep, "m")


def _real_array(name: str, value: object, what: str) -> np.ndarray:
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be {what}, got {value!r}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be {what}, got {value!r}") from None
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be {what}, got {value!r}")
    return arr.astype(np.float64)


def run_stateful(problem: Problem, rule: UpdateRule, lr: float | np.ndarray, loss: Loss | None = None,
                 tol: float = 1e-10, max_steps: int = 20_000, patience: int = 20, blowup: float = 1e6,
                 n_record: int = 256, progress: bool = False) -> Result:
    """Run ``W <- W - lr * rule.direction(G(W))`` from ``problem.W0``, batched over ``lr``.

    The stopping rule, divergence test, history grid and the layout of the
    working set are those of :func:`dspgd.solve` (see its parameters); with
    ``rule = Memoryless(precond)`` the result is that of ``dspgd.solve(problem,
    precond, lr, ...)``: same statuses and steps, iterates equal up to
    round-off.

    Parameters
    ----------
    problem : Problem
    rule : AdamRule, MomentumRule or Memoryless
        Any update rule of the package's iteration loop.
    lr, loss, tol, max_steps, patience, blowup, n_record, progress
        As in :func:`dspgd.solve`.

    Returns
    -------
    Result
    """
    if not all(callable(getattr(rule, a, None)) for a in ("start", "step", "keep")):
        raise TypeError(f"rule must be an update rule (AdamRule, MomentumRule, Memoryless), got {type(rule).__name__}")
    return run(problem, rule, lr, loss, options(tol, max_steps, patience, blowup, n_record, progress))


def adam_solve(problem: Problem, lr: float | np.ndarray, betas: tuple[float, float] = (0.9, 0.999),
               eps: float = 1e-8, loss: Loss | None = None, tol: float = 1e-10, max_steps: int = 20_000,
               patience: int = 20, blowup: float = 1e6, n_record: int = 256, progress: bool = False) -> Result:
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
    TypeError, ValueError
        If a beta is outside ``[0, 1)``, ``eps`` is not a number ``> 0``,
        ``lr`` is not a positive finite scalar or 1-D array, or another
        argument is not as :func:`dspgd.solve` needs it.
    """
    b = _real_array("betas", betas, "a pair (beta1, beta2)")
    if b.shape != (2,):
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    eps = checks.positive("eps", eps)
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
    lrs, _ = checks.learning_rates(lr)
    b = _real_array("betas", betas, "a list of pairs (beta1, beta2)")
    if b.ndim != 2 or b.shape[1] != 2 or b.shape[0] == 0:
        raise ValueError(f"betas must be a non-empty list of pairs (beta1, beta2), got shape {b.shape}")
    e = np.atleast_1d(_real_array("eps", eps, "a number > 0 or a list of them"))
    if e.ndim != 1 or e.size == 0:
        raise ValueError(f"eps must be a number or a 1-D list, got shape {e.shape}")
    nb, ne, nl = b.shape[0], e.size, lrs.size
    bb = np.repeat(b, ne * nl, axis=0)
    ee = np.tile(np.repeat(e, nl), nb)
    ll = np.tile(lrs, nb * ne)
    out = run_stateful(problem, AdamRule(bb, ee), ll, **kw)
    out.extra = {"grid": (nb, ne, nl), "betas": bb, "eps": ee}
    return out
