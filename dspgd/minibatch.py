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

from .losses import Loss, squared
from .mirror import Potential, run_batched
from .preconditioners import Preconditioner
from .problem import Problem
from .solver import Result

__all__ = ["minibatch_solve", "stochastic_mirror_descent", "batch_sequence"]


def _check_batch(problem: Problem, batch_size: int) -> int:
    if isinstance(batch_size, bool) or int(batch_size) != batch_size:
        raise ValueError(f"batch_size must be an integer, got {batch_size!r}")
    b = int(batch_size)
    if not 1 <= b <= problem.n:
        raise ValueError(f"batch_size must lie in 1..n = 1..{problem.n}, got {b}")
    return b


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


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
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be an integer in 1..n = 1..{n}, got {batch_size!r}")
    if int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    gen = _Batches(int(n), int(batch_size), _check_seed(seed))
    return np.array([gen.next() for _ in range(int(steps))], dtype=int).reshape(int(steps), int(batch_size))


def minibatch_solve(
    problem: Problem,
    precond: Preconditioner,
    lr: float | np.ndarray,
    batch_size: int,
    seed: int = 0,
    loss: Loss | None = None,
    tol: float = 1e-10,
    max_steps: int = 50_000,
    patience: int = 20,
    blowup: float = 1e6,
    n_record: int = 256,
    progress: bool = False,
) -> Result:
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
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a dspgd.Problem, got {type(problem).__name__}")
    if not isinstance(precond, Preconditioner):
        raise TypeError(f"precond must be a dspgd Preconditioner, got {type(precond).__name__}")
    return _run_sampled(
        problem, lr, batch_size, seed, loss, state0=problem.W0, primal=lambda W: W,
        update=lambda W, G, lr: W - lr[:, None, None] * precond.grad(G), method=("minibatch DSPGD", repr(precond)),
        tol=tol, max_steps=max_steps, patience=patience, blowup=blowup, n_record=n_record, progress=progress,
    )


def _run_sampled(problem: Problem, lr: float | np.ndarray, batch_size: int, seed: int, loss: Loss | None, *,
                 state0: np.ndarray, primal, update, method: tuple[str, str], **run) -> Result:
    """The mini-batch loop: ``state <- update(state, (n/b) X_B^T grad l(X_B W - Y_B), lr)`` (``run_batched``).

    ``method`` is ``(name, what)``, stored as ``"name[what, b=..., seed=...]"``.
    """
    b = _check_batch(problem, batch_size)
    batches = _Batches(problem.n, b, _check_seed(seed))
    loss = squared() if loss is None else loss
    X, scale = problem.X, problem.n / b

    def step(S: np.ndarray, _W: np.ndarray, R: np.ndarray, lr: np.ndarray, t: int) -> np.ndarray:
        idx = batches.next()
        return update(S, scale * (X[idx].T @ loss.grad(R[:, idx, :])), lr)

    res = run_batched(problem, lr, state0=state0, primal=primal, step=step,
                      method=f"{method[0]}[{method[1]}, b={b}, seed={seed}]", loss=loss, **run)
    res.extra.update({"batch_size": b, "seed": int(seed)})
    return res


def stochastic_mirror_descent(
    problem: Problem,
    potential: Potential,
    lr: float | np.ndarray,
    batch_size: int,
    seed: int = 0,
    loss: Loss | None = None,
    tol: float = 1e-10,
    max_steps: int = 50_000,
    patience: int = 20,
    blowup: float = 1e6,
    n_record: int = 256,
    progress: bool = False,
) -> Result:
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
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a dspgd.Problem, got {type(problem).__name__}")
    if not isinstance(potential, Potential):
        raise TypeError(f"potential must be a dspgd.mirror.Potential, got {type(potential).__name__}")
    Z0 = potential.grad(problem.W0)
    if not np.all(np.isfinite(Z0)):
        raise ValueError(f"grad psi(W0) is not finite for {potential!r}")
    return _run_sampled(
        problem, lr, batch_size, seed, loss, state0=Z0, primal=potential.grad_inverse,
        update=lambda Z, G, lr: Z - lr[:, None, None] * G, method=("stochastic mirror", repr(potential)),
        tol=tol, max_steps=max_steps, patience=patience, blowup=blowup, n_record=n_record, progress=progress,
    )
