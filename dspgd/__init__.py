"""dspgd: dual space preconditioned gradient descent in the overparameterized regime.

The companion package of the book. A problem, a preconditioner, a loss and a
learning rate (or an array of them) go in; a :class:`Result` comes out.

>>> import dspgd
>>> prob = dspgd.gaussian_problem(n=20, d=100, seed=0)
>>> res = dspgd.solve(prob, dspgd.adam(eps=0.1), lr=0.05)
>>> res.status
'converged'
"""

from . import _progress  # noqa: F401  (first import of tqdm.auto, without its "IProgress not found")
from . import losses, preconditioners, theory
from .losses import Loss, huber, logcosh, squared
from .preconditioners import (
    Preconditioner,
    adam,
    clip_norm,
    clip_value,
    diagonal,
    flat_ball,
    gd,
    normalized,
    power,
    sign,
    spectral,
)
from .problem import Problem, gaussian_problem
from .solver import Result, solve
from .theory import bound_constant, diagonal_limit, distance_ratio, gd_limit, relative_distance, stable_lr

__version__ = "0.1.0"

__all__ = [
    "Problem", "gaussian_problem", "Loss", "squared", "huber", "logcosh",
    "Preconditioner", "gd", "normalized", "clip_norm", "adam", "clip_value", "power",
    "spectral", "diagonal", "sign", "flat_ball", "Result", "solve", "gd_limit", "diagonal_limit",
    "stable_lr", "bound_constant", "relative_distance", "distance_ratio",
    "losses", "preconditioners", "theory",
]
