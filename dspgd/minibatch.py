"""Mini-batch (stochastic) DSPGD: each step uses a random subset of the rows of ``X``.

At step ``t`` a batch ``B_t`` of ``b`` distinct rows is drawn uniformly
(without replacement within the step, afresh at every step) and

    ``W_{t+1} = W_t - lr grad K( (n/b) X_{B_t}^T grad l(X_{B_t} W_t - Y_{B_t}) )``.

The factor ``n/b`` makes the batch gradient an unbiased estimate of the
full gradient ``G(W_t) = X^T grad l(XW_t - Y)`` (the loss is a sum over
rows), so ``b = n`` is exactly full-batch DSPGD. In the interpolation regime
every row's loss is minimized at the same points, the batch gradients
vanish there, and a constant step can converge.

:func:`stochastic_mirror_descent` is the same sampling applied to mirror
descent: the mini-batch gradient moves the mirror image ``grad psi(W_t)``.
"""

from __future__ import annotations

import numpy as np

from . import _checks as checks
from .losses import Loss
from .mirror import MirrorRule, Potential
from .preconditioners import Preconditioner
from .problem import Problem
from .solver import DSPGD, Context, Result, options, run, step_lengths, take_step

__all__ = ["minibatch_solve", "stochastic_mirror_descent", "batch_sequence", "MinibatchRule", "StochasticMirrorRule"]


def _check_batch(problem: Problem, batch_size: int) -> int:
    return checks.integer("batch_size", batch_size, low=1, high=problem.n)


def _check_seed(seed: int) -> int:
    return checks.integer("seed", seed)


class _Batches:
    """Draws the batches, a block of steps at a time (one ``argsort`` of random keys per block).

    Row ``t`` of a block is the first ``b`` entries of a uniformly random
    permutation of ``0..n-1``: ``b`` distinct rows, uniformly chosen.
    """

    def __init__(self, n: int, b: int, seed: int, block: int = 512) -> None:
        self.n, self.b, self.block = n, b, block
        self.rng = np.random.default_rng(seed)
        self.buf = np.empty((0, b), dtype=int)
        self.pos = 0

    def next(self) -> np.ndarray:
        if self.pos == len(self.buf):
            keys = self.rng.random((self.block, self.n))
            self.buf = np.argsort(keys, axis=1)[:, : self.b]
            self.pos = 0
        self.pos += 1
        return self.buf[self.pos - 1]


def batch_sequence(n: int, batch_size: int, steps: int, seed: int = 0) -> np.ndarray:
    """The batches :func:`minibatch_solve` uses for its first ``steps`` steps.

    Returns an integer array of shape ``(steps, batch_size)``: row ``t`` holds
    the ``batch_size`` distinct row indices of step ``t``. The same ``seed``
    gives the same sequence.
    """
    n = checks.integer("n", n, low=1)
    batch_size = checks.integer("batch_size", batch_size, low=1, high=n)
    steps = checks.integer("steps", steps, high=10**7)
    gen = _Batches(n, batch_size, _check_seed(seed))
    return np.array([gen.next() for _ in range(steps)], dtype=int).reshape(steps, batch_size)


class _BatchGradient:
    """The gradient of a step: ``(n/b) X_B^T grad l(R_B)`` with ``B`` the step's batch, one product for every run."""

    def __init__(self, ctx: Context, b: int, seed: int) -> None:
        self.ctx = ctx
        self.batches = _Batches(ctx.n, b, seed)
        self.scale = ctx.n / b

    def __call__(self, R: np.ndarray) -> np.ndarray:
        idx = self.batches.next()
        G = self.ctx.X[idx].T @ self.ctx.loss.grad(R[idx])
        G *= self.scale
        return G


class MinibatchRule:
    """Mini-batch DSPGD as an update rule: one batch of rows per step, the same for every run.

    The gradient of step ``t`` is ``(n/b) X_B^T grad l(R_B)`` with ``B`` the
    step's batch of rows, one product for all the stacked runs.
    """

    memoryless = False

    def __init__(self, precond: Preconditioner, batch_size: int, seed: int) -> None:
        self.dspgd = DSPGD(precond)
        self.b, self.seed = batch_size, seed
        self.name = f"minibatch DSPGD[{precond!r}, b={batch_size}, seed={seed}]"

    def start(self, ctx: Context, B: int) -> None:
        self.dspgd.start(ctx, B)
        self.ctx = ctx
        self.gradient = _BatchGradient(ctx, self.b, self.seed)

    def step(self, W: np.ndarray, R: np.ndarray, lr: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        P = self.dspgd.direction(self.gradient(R))
        lengths = step_lengths(P, lr, self.ctx.k)
        return take_step(W, P, lr), lengths

    def keep(self, keep: np.ndarray) -> None:
        pass

    def stable_lr(self) -> float:
        return 0.0


class StochasticMirrorRule(MirrorRule):
    """Mini-batch mirror descent as an update rule: the batch gradient moves the mirror image."""

    def __init__(self, potential: Potential, batch_size: int, seed: int) -> None:
        super().__init__(potential)
        self.b, self.seed = batch_size, seed
        self.name = f"stochastic mirror[{potential!r}, b={batch_size}, seed={seed}]"

    def start(self, ctx: Context, B: int) -> None:
        super().start(ctx, B)
        self.batch_gradient = _BatchGradient(ctx, self.b, self.seed)

    def gradient(self, R: np.ndarray) -> np.ndarray:
        return self.batch_gradient(R)


def minibatch_solve(problem: Problem, precond: Preconditioner, lr: float | np.ndarray, batch_size: int,
                    seed: int = 0, loss: Loss | None = None, tol: float = 1e-10, max_steps: int = 50_000,
                    patience: int = 20, blowup: float = 1e6, n_record: int = 256,
                    progress: bool = False) -> Result:
    """Run mini-batch DSPGD from ``problem.W0``.

    Parameters
    ----------
    problem : Problem
    precond : Preconditioner
    lr : float or 1-D array
        Learning rate(s). An array runs all members in one stacked
        computation, and every member sees the *same* sequence of batches,
        so the runs differ only in the step size.
    batch_size : int
        Rows per step, ``1 <= batch_size <= n``; ``n`` is full-batch DSPGD.
    seed : int
        Seed of the batch sequence (``numpy.random.default_rng``); the same
        seed gives the same batches and the same result.
    loss : Loss, optional
        Default: squared loss.
    tol, max_steps, patience, blowup, n_record, progress
        As in :func:`dspgd.solver.solve`. Convergence is judged on the *full*
        relative residual ``||XW_t - Y|| / ||XW_0 - Y||``, computed every step
        (it costs one product with ``X``, as the batch gradient does).

    Returns
    -------
    Result
        ``extra["batch_size"]`` and ``extra["seed"]`` record the sampling.
    """
    problem = checks.problem(problem)
    rule = MinibatchRule(precond, _check_batch(problem, batch_size), _check_seed(seed))
    res = run(problem, rule, lr, loss, options(tol, max_steps, patience, blowup, n_record, progress))
    res.extra.update({"batch_size": rule.b, "seed": rule.seed})
    return res


def stochastic_mirror_descent(problem: Problem, potential: Potential, lr: float | np.ndarray, batch_size: int,
                              seed: int = 0, loss: Loss | None = None, tol: float = 1e-10, max_steps: int = 50_000,
                              patience: int = 20, blowup: float = 1e6, n_record: int = 256,
                              progress: bool = False) -> Result:
    """Mini-batch mirror descent from ``problem.W0``.

    ``grad psi(W_{t+1}) = grad psi(W_t) - lr (n/b) X_{B_t}^T grad l(X_{B_t} W_t - Y_{B_t})``,
    with the batches of :func:`minibatch_solve` (the same ``seed`` gives the
    same batches). Every step moves the mirror image by an element of
    ``range(X^T)``, so a run that converges to an interpolator ends at the
    Bregman projection :func:`dspgd.mirror.mirror_limit`, whatever the
    batches (Azizan and Hassibi 2019).

    Parameters
    ----------
    problem : Problem
    potential : dspgd.mirror.Potential
        The mirror potential ``psi``.
    lr : float or 1-D array
        Learning rate(s); an array runs one stacked computation in which every
        member sees the same batches.
    batch_size : int
        Rows per step, ``1 <= batch_size <= n``; ``n`` is full-batch mirror
        descent (:func:`dspgd.mirror.mirror_descent`).
    seed : int
        Seed of the batch sequence.
    loss, tol, max_steps, patience, blowup, n_record, progress
        As in :func:`minibatch_solve`.

    Returns
    -------
    Result
        ``extra["batch_size"]`` and ``extra["seed"]`` record the sampling.
    """
    problem = checks.problem(problem)
    rule = StochasticMirrorRule(potential, _check_batch(problem, batch_size), _check_seed(seed))
    res = run(problem, rule, lr, loss, options(tol, max_steps, patience, blowup, n_record, progress))
    res.extra.update({"batch_size": rule.b, "seed": rule.seed})
    return res
