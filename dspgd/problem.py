"""The overparameterized linear regression problem ``XW = Y``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from . import _checks as checks
from ._threads import one_blas_thread

__all__ = ["Problem", "gaussian_problem"]


#: Largest entry (in absolute value) of ``X``, ``Y`` and ``W0`` and largest ``||X||_op`` and
#: ``||XW0 - Y||``; smallest ``||X||_op``. Within these, ``||X||^2``, ``1 / ||X||^2`` and the losses of
#: the runs stay representable in float64.
MAX_ENTRY, MIN_SCALE = 1e150, 1e-150


def _as_matrix(name: str, a: object, allow_1d: bool = True) -> np.ndarray:
    """A read-only float64 copy of ``a``, finite and 2-D (a 1-D array as a column if ``allow_1d``)."""
    if isinstance(a, np.ma.MaskedArray):
        raise TypeError(f"{name} is a masked array: fill or remove the masked entries first (the mask would be lost)")
    if a is None or isinstance(a, (str, bytes)):
        raise TypeError(f"{name} must be a real numeric array, got {type(a).__name__}")
    try:
        raw = np.asarray(a)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real numeric array ({exc})") from None
    if raw.dtype.kind == "c":
        raise TypeError(f"{name} is complex ({raw.dtype}); the problem is real: pass the real part explicitly if that is meant")
    if raw.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a real numeric array, got dtype {raw.dtype}")
    arr = np.array(raw, dtype=np.float64, copy=True)
    if arr.ndim == 1 and allow_1d:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got {arr.ndim} dimensions (shape {arr.shape})")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} has {bad} non-finite entries (NaN or inf)")
    top = float(np.max(np.abs(arr)))
    if top > MAX_ENTRY:
        raise ValueError(
            f"{name} has an entry of size {top:.3g}: entries up to {MAX_ENTRY:g} are supported "
            "(squares of norms, losses and step sizes ~ 1/||X||^2 must stay representable in float64); "
            "rescale the data"
        )
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class Problem:
    """An overparameterized least-squares problem ``min_W loss(XW - Y)``.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Data matrix with ``n < d`` and full row rank ``n``.
    Y : array_like, shape (n, k) or (n,)
        Labels; a 1-D array is read as a single column.
    W0 : array_like, shape (d, k) or (d,)
        Initialization.

    Raises
    ------
    TypeError
        If an array is complex, masked or not numeric.
    ValueError
        If an array is not 2-D, has non-finite entries or entries beyond
        ``1e150`` in size, the shapes disagree, the model is not
        overparameterized (``n >= d``), ``X`` is rank deficient,
        ``||X||_op`` is outside ``[1e-150, 1e150]``, or ``||XW0 - Y||``
        exceeds ``1e150`` (norms, losses and step sizes ``~ 1/||X||^2`` must stay
        representable in float64).

    Notes
    -----
    The problem keeps read-only float64 copies of ``X``, ``Y`` and ``W0``:
    changing the caller's arrays afterwards does not change it (nor its
    cached singular values). The set of interpolators ``{W : XW = Y}`` is
    an affine set of dimension ``(d - n) k``. Nothing here ever forms a
    ``d x d`` matrix.
    """

    X: np.ndarray
    Y: np.ndarray
    W0: np.ndarray

    def __post_init__(self) -> None:
        X = _as_matrix("X", self.X, allow_1d=False)
        Y = _as_matrix("Y", self.Y)
        W0 = _as_matrix("W0", self.W0)
        n, d = X.shape
        if Y.shape[0] != n:
            raise ValueError(f"Y has {Y.shape[0]} rows but X has {n}: they must agree")
        if W0.shape[0] != d:
            raise ValueError(f"W0 has {W0.shape[0]} rows but X has {d} columns: they must agree")
        if W0.shape[1] != Y.shape[1]:
            raise ValueError(
                f"W0 has {W0.shape[1]} columns but Y has {Y.shape[1]}: both must have k columns"
            )
        if n >= d:
            raise ValueError(
                f"X has {n} rows and {d} columns: the model is not overparameterized (need n < d)"
            )
        with one_blas_thread():
            s = np.linalg.svd(X, compute_uv=False)
        if not MIN_SCALE <= s[0] <= MAX_ENTRY:
            raise ValueError(
                f"||X||_op = {s[0]:.3g} is outside [{MIN_SCALE:g}, {MAX_ENTRY:g}]: the step sizes "
                "~ 1/||X||^2 and the squares of norms would not be representable in float64; rescale the data"
            )
        if s[-1] <= max(n, d) * np.finfo(float).eps * s[0]:
            rank = int(np.sum(s > max(n, d) * np.finfo(float).eps * s[0]))
            raise ValueError(
                f"X has rank {rank} < n = {n}: it must have full row rank "
                "(duplicate or dependent rows leave no exact interpolator, or a non-unique one)"
            )
        r0 = float(np.linalg.norm(X @ W0 - Y))
        if not r0 <= MAX_ENTRY:
            raise ValueError(
                f"the initial residual ||X W0 - Y|| = {r0:.3g} is too large for float64 arithmetic here "
                f"(the loss is its square); at most {MAX_ENTRY:g} is supported: rescale the data"
            )
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "Y", Y)
        object.__setattr__(self, "W0", W0)
        s.flags.writeable = False
        object.__setattr__(self, "_singular_values", s)

    @property
    def n(self) -> int:
        """Number of samples."""
        return self.X.shape[0]

    @property
    def d(self) -> int:
        """Number of features."""
        return self.X.shape[1]

    @property
    def k(self) -> int:
        """Number of outputs."""
        return self.Y.shape[1]

    @property
    def singular_values(self) -> np.ndarray:
        """Singular values of ``X``, largest first."""
        return self._singular_values  # type: ignore[attr-defined]

    @property
    def op_norm(self) -> float:
        """Operator norm ``||X||_op`` (largest singular value)."""
        return float(self.singular_values[0])

    @property
    def sigma_min(self) -> float:
        """Smallest singular value ``sigma_n(X) > 0``."""
        return float(self.singular_values[-1])

    @property
    def condition_number(self) -> float:
        """``||X||_op / sigma_min(X)``."""
        return self.op_norm / self.sigma_min

    @cached_property
    def _qr(self) -> tuple[np.ndarray, np.ndarray]:
        """Reduced QR of ``X^T`` (``d x n`` and ``n x n``)."""
        with one_blas_thread():
            return np.linalg.qr(self.X.T)

    def residual(self, W: np.ndarray) -> np.ndarray:
        """``XW - Y``."""
        return self.X @ W - self.Y

    def __repr__(self) -> str:
        return f"Problem(n={self.n}, d={self.d}, k={self.k})"


def gaussian_problem(n: int, d: int, k: int = 1, seed: int = 0) -> Problem:
    """A random overparameterized problem.

    ``X`` has i.i.d. ``N(0, 1/d)`` entries, so ``||X||_op = O(1)``; ``Y`` and
    ``W0`` are standard normal. The same ``seed`` gives the same problem.

    Parameters
    ----------
    n, d, k : int
        Samples, features (``n < d``) and outputs.
    seed : int
        Seed of ``numpy.random.default_rng``, a non-negative integer.

    Raises
    ------
    TypeError, ValueError
        If ``n``, ``d``, ``k`` are not positive integers with ``n < d``, or
        ``seed`` is not a non-negative integer.
    """
    n, d, k = (checks.integer(name, v, low=1, high=10**8) for name, v in (("n", n), ("d", d), ("k", k)))
    seed = checks.integer("seed", seed)
    if n >= d:
        raise ValueError(f"n = {n} samples and d = {d} features: the model is not overparameterized (need n < d)")
    if n * d > 10**9 or d * k > 10**9:
        raise ValueError(f"n = {n}, d = {d}, k = {k} is too large (more than 1e9 entries in X or W0)")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) / np.sqrt(d)
    Y = rng.standard_normal((n, k))
    W0 = rng.standard_normal((d, k))
    return Problem(X, Y, W0)
