"""Argument checks shared by every public function of the package.

Each check takes the argument's name and value and returns the value in the
form the caller computes with, or raises before any computation:

* :class:`TypeError` when the value is not of the expected kind (``None``,
  a string, an array where a number is expected, a complex or boolean
  number, an object that is not a :class:`~dspgd.problem.Problem`, ...);
* :class:`ValueError` when it is of the right kind but out of range (NaN,
  a negative count, ``tol >= 1``, ...).

Every message names the argument, says what was expected and shows what
was given.
"""

from __future__ import annotations

import numbers
import operator
from typing import Any

import numpy as np

# The package's classes are imported inside the checks that need them: the
# modules that define them use these checks too.

__all__ = [
    "real",
    "number",
    "positive",
    "integer",
    "problem",
    "preconditioner",
    "loss",
    "learning_rates",
    "weights",
    "safe_norm",
    "MAX_STEPS",
]

#: Largest ``max_steps`` (and step count) accepted anywhere: a billion steps.
MAX_STEPS = 10**9


def _shown(value: Any) -> str:
    """``repr`` of a value, shortened, with its type."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def real(name: str, value: Any, *, low: float | None = None, high: float | None = None,
         low_open: bool = False, high_open: bool = False, finite: bool = True) -> float:
    """A real number (Python or NumPy scalar, not ``bool``), within the given bounds.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : object
    low, high : float, optional
        Bounds; ``low_open`` / ``high_open`` exclude them.
    finite : bool
        Refuse ``inf`` (NaN is always refused).

    Returns
    -------
    float
    """
    if isinstance(value, (bool, np.bool_)) or not (isinstance(value, numbers.Real) or _real_0d(value)):
        raise TypeError(f"{name} must be a real number, got {_shown(value)}")
    x = float(value)
    ok = not np.isnan(x) and (np.isfinite(x) or not finite)
    if ok and low is not None:
        ok = x > low if low_open else x >= low
    if ok and high is not None:
        ok = x < high if high_open else x <= high
    if not ok:
        raise ValueError(f"{name} must be {_range(finite, low, high, low_open, high_open)}, got {value!r}")
    return x


def _range(finite: bool, low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    what = "a finite number" if finite else "a number (not NaN)"
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    return what + (" " + " and ".join(parts) if parts else "")


def number(name: str, value: Any) -> float:
    """A real number of any value (NaN and inf included): the type check of :func:`real` alone."""
    if isinstance(value, (bool, np.bool_)) or not (isinstance(value, numbers.Real) or _real_0d(value)):
        raise TypeError(f"{name} must be a real number, got {_shown(value)}")
    return float(value)


def positive(name: str, value: Any) -> float:
    """A finite number ``> 0``."""
    if isinstance(value, (bool, np.bool_)) or not (isinstance(value, numbers.Real) or _real_0d(value)):
        raise TypeError(f"{name} must be a positive finite number, got {_shown(value)}")
    x = float(value)
    if not (np.isfinite(x) and x > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return x


def _real_0d(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "fiu"


def integer(name: str, value: Any, *, low: int = 0, high: int | None = None) -> int:
    """An integer (``int`` or a NumPy integer, not ``bool`` and not a float) in ``[low, high]``."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {_shown(value)}")
    try:
        i = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {_shown(value)}") from None
    if i < low or (high is not None and i > high):
        kind = {0: "a non-negative integer", 1: "a positive integer"}.get(low, f"an integer >= {low}")
        cap = f" (at most {high:,})" if high is not None else ""
        raise ValueError(f"{name} must be {kind}{cap}, got {value!r}")
    return int(i)


def problem(value: Any, name: str = "problem") -> Any:
    """A :class:`~dspgd.problem.Problem`."""
    from .problem import Problem

    if not isinstance(value, Problem):
        raise TypeError(f"{name} must be a dspgd.Problem (e.g. dspgd.gaussian_problem(n, d)), got {_shown(value)}")
    return value


def preconditioner(value: Any, name: str = "precond") -> Any:
    """A :class:`~dspgd.preconditioners.Preconditioner`."""
    from .preconditioners import Preconditioner

    if not isinstance(value, Preconditioner):
        raise TypeError(f"{name} must be a dspgd Preconditioner (e.g. dspgd.adam(1e-3)), got {_shown(value)}")
    return value


def loss(value: Any, name: str = "loss") -> Any:
    """A :class:`~dspgd.losses.Loss`; ``None`` is the squared loss."""
    from .losses import Loss, squared

    if value is None:
        return squared()
    if not isinstance(value, Loss):
        raise TypeError(f"{name} must be a dspgd Loss (e.g. dspgd.huber(1.0)) or None, got {_shown(value)}")
    return value


def learning_rates(lr: Any, name: str = "lr") -> tuple[np.ndarray, bool]:
    """Positive finite learning rate(s): a 1-D float array and whether a scalar was given."""
    if isinstance(lr, (str, bytes, bool, np.bool_)) or lr is None or isinstance(lr, np.ma.MaskedArray):
        raise TypeError(f"{name} must be a positive number or a 1-D array of them, got {_shown(lr)}")
    arr = np.asarray(lr)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a positive number or a 1-D array of them, got {_shown(lr)}")
    arr = arr.astype(np.float64)
    if arr.ndim > 1:
        raise ValueError(f"{name} must be a scalar or a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is an empty array")
    if not np.all(np.isfinite(arr)) or not np.all(arr > 0):
        raise ValueError(f"every learning rate must be a positive finite number, got {lr!r}")
    return np.atleast_1d(arr), arr.ndim == 0


def weights(name: str, W: Any, prob: Any, stack: bool = True) -> np.ndarray:
    """A float array of shape ``(d, k)`` (or ``(B, d, k)`` if ``stack``) matching ``prob``.

    Refuses anything that NumPy would broadcast against a ``(d, k)`` matrix
    to a different shape (a column of a ``(d, k)`` iterate, its transpose).
    """
    if isinstance(W, np.ma.MaskedArray) or isinstance(W, (str, bytes)) or W is None:
        raise TypeError(f"{name} must be a real array of shape {_want(prob, stack)}, got {_shown(W)}")
    arr = np.asarray(W)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a real array of shape {_want(prob, stack)}, got dtype {arr.dtype}")
    shape_ok = arr.shape[-2:] == (prob.d, prob.k) and arr.ndim in ((2, 3) if stack else (2,))
    if not shape_ok:
        raise ValueError(f"{name} must have shape {_want(prob, stack)}, got shape {arr.shape}")
    return arr.astype(np.float64, copy=False)


def _want(prob: Any, stack: bool) -> str:
    one = f"({prob.d}, {prob.k})"
    return f"{one} or (B, {prob.d}, {prob.k})" if stack else one


def safe_norm(A: np.ndarray, axis: tuple[int, int] = (-2, -1)) -> np.ndarray:
    """Frobenius norm over ``axis`` without overflow or underflow in the squares.

    Scales by the largest entry (a power of two, so the scaling is exact)
    before squaring; equal to :func:`numpy.linalg.norm` up to rounding.
    """
    A = np.asarray(A, dtype=np.float64)
    top = np.max(np.abs(A), axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        exp = np.where((top > 0) & np.isfinite(top), np.frexp(np.where(top > 0, top, 1.0))[1], 0)
        scale = np.ldexp(1.0, exp)
        out = np.sqrt(np.sum((A / scale) ** 2, axis=axis)) * np.squeeze(scale, axis=axis)
    return out
