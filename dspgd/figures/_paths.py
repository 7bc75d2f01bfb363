"""Iterate paths of DSPGD on tiny problems, for pictures.

:func:`dspgd.solve` keeps only the final iterate (and residual histories).
A picture of the path itself needs every iterate; for a problem with a
handful of weights they fit in memory, and this module records them with
the very update the solver makes.
"""

from __future__ import annotations

import numpy as np

from ..losses import Loss, squared
from ..preconditioners import Preconditioner
from ..problem import Problem

__all__ = ["record_path"]


def record_path(problem: Problem, precond: Preconditioner, lr: float, steps: int,
                loss: Loss | None = None) -> np.ndarray:
    """Every iterate of ``W <- W - lr * grad K(X^T grad l(XW - Y))`` from ``problem.W0``.

    Parameters
    ----------
    problem : Problem
        A small problem (the whole path is kept: ``(steps + 1) d k`` numbers).
    precond : Preconditioner
    lr : float
        One learning rate, ``> 0``.
    steps : int
        Number of updates, ``>= 0``.
    loss : Loss, optional
        Default: squared loss.

    Returns
    -------
    ndarray, shape (steps + 1, d, k)
        ``W_0, W_1, ..., W_steps``. After ``steps`` updates the last entry is
        the ``W`` that ``dspgd.solve(..., tol=0, max_steps=steps)`` returns.

    Raises
    ------
    ValueError
        If ``lr`` is not a positive finite number, ``steps`` is not a
        non-negative integer, or the path would hold more than ``10**7``
        numbers.
    """
    lr = float(lr)
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    steps = int(steps)
    size = (steps + 1) * problem.d * problem.k
    if size > 10**7:
        raise ValueError(f"the path would hold {size} numbers (> 1e7): record_path is for tiny problems")
    loss = squared() if loss is None else loss
    X, Y = problem.X, problem.Y
    path = np.empty((steps + 1, problem.d, problem.k))
    W = problem.W0.copy()
    path[0] = W
    for t in range(steps):
        G = X.T @ loss.grad(X @ W - Y)
        W = W - precond.grad(G) * lr
        path[t + 1] = W
    return path
