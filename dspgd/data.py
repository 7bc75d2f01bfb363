"""Real data: the handwritten digits of scikit-learn as an overparameterized random-feature problem.

The 1797 images of 8 x 8 pixels ship inside the scikit-learn wheel
(``sklearn.datasets.load_digits`` reads a file of the installed package), so
nothing is downloaded, ever. :func:`digits_features` turns them into an
overparameterized linear problem ``X W = Y``:

1. a fixed random split: ``n`` training images, the rest held out;
2. pixels scaled to ``[0, 1]``, the mean *training* image subtracted, each
   image scaled to unit Euclidean norm (so every input lies on the unit
   sphere and no image counts more because it has more ink);
3. ``d`` random features of each image ``z``:

   * ``"fourier"`` (default): ``sqrt(2/d) cos(gamma <omega_j, z> + theta_j)``
     with ``omega_j ~ N(0, I)`` and ``theta_j ~ U[0, 2 pi)``, so that
     ``E <x(z), x(z')> = exp(-gamma^2 ||z - z'||^2 / 2)`` (a Gaussian kernel
     of bandwidth ``1/gamma``);
   * ``"relu"``: ``sqrt(2/d) max(0, <omega_j, z>)`` (the arc-cosine kernel);

   in both cases ``E ||x(z)||^2 = 1``, the row norm of the Gaussian problems
   of the book (``N(0, 1/d)`` entries);
4. labels one-hot (``k = 10``), and ``W0 = 0`` unless ``init_scale > 0``
   (then ``W0`` has i.i.d. ``N(0, init_scale^2)`` entries).

The same ``seed`` gives the same split and the same features.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .problem import Problem

__all__ = [
    "FEATURES",
    "DigitsProblem",
    "load_digit_images",
    "random_features",
    "digits_arrays",
    "digits_features",
    "gaussian_twin",
    "marchenko_pastur_quantiles",
]

FEATURES = ("fourier", "relu")
_N_CLASSES = 10


@lru_cache(maxsize=1)
def load_digit_images() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 digit images as rows of 64 pixels in ``[0, 1]``, and their labels ``0..9``.

    Reads the copy of the data set that ships inside scikit-learn (no network
    access). Cached, and returned read-only.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.asarray(bunch.data, dtype=np.float64) / 16.0
    labels = np.asarray(bunch.target, dtype=int)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def _check_int(name: str, v: object, low: int) -> int:
    try:
        ok = int(v) == v and v >= low  # type: ignore[operator]
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
    return int(v)  # type: ignore[arg-type]


def random_features(Z: np.ndarray, d: int, seed: int = 0, features: str = "fourier",
                    gamma: float = 2.0) -> np.ndarray:
    """``d`` random features of the rows of ``Z`` (see the module docstring).

    Parameters
    ----------
    Z : ndarray, shape (N, p)
        Inputs, one per row.
    d : int
        Number of features.
    seed : int
        Seed of the random frequencies (and phases).
    features : {"fourier", "relu"}
    gamma : float
        Inverse bandwidth of the Fourier features (``> 0``); the ReLU map is
        positively homogeneous, so a scale would only rescale ``X``, and
        ``gamma`` is ignored for it.

    Returns
    -------
    ndarray, shape (N, d)
    """
    Z = np.asarray(Z, dtype=np.float64)
    if Z.ndim != 2 or not np.all(np.isfinite(Z)):
        raise ValueError(f"Z must be a finite 2-D array, got shape {Z.shape}")
    d = _check_int("d", d, 1)
    if features not in FEATURES:
        raise ValueError(f"unknown features {features!r}; choose from {', '.join(FEATURES)}")
    if not (np.isfinite(gamma) and gamma > 0):
        raise ValueError(f"gamma must be a positive finite number, got {gamma!r}")
    rng = np.random.default_rng(seed)
    omega = rng.standard_normal((Z.shape[1], d))
    F = Z @ omega  # (N, d), transformed in place below: one large array, not four
    if features == "fourier":
        theta = rng.uniform(0.0, 2.0 * np.pi, d)
        F *= gamma
        F += theta
        np.cos(F, out=F)
    else:
        np.maximum(F, 0.0, out=F)
    F *= np.sqrt(2.0 / d)
    return F


@dataclass(frozen=True, eq=False)
class DigitsProblem:
    """A digits problem: the training :class:`~dspgd.problem.Problem` and what held-out evaluation needs.

    Attributes
    ----------
    problem : Problem
        Training features ``X`` (``n x d``), one-hot labels ``Y`` (``n x 10``), ``W0``.
    X_test : ndarray, shape (n_test, d)
        Features of the held-out images (same map as ``X``).
    labels, labels_test : ndarray of int
        Digit labels of the training and held-out images.
    features : str
    gamma : float
    seed : int
    """

    problem: Problem
    X_test: np.ndarray
    labels: np.ndarray
    labels_test: np.ndarray
    features: str
    gamma: float
    seed: int

    @property
    def n_test(self) -> int:
        """Number of held-out images."""
        return self.X_test.shape[0]

    def predict(self, W: np.ndarray) -> np.ndarray:
        """Predicted digits of the held-out images: ``argmax_j (X_test W)_ij``; ``W`` is ``(d, k)`` or ``(B, d, k)``."""
        W = np.asarray(W, dtype=np.float64)
        if W.shape[-2:] != (self.problem.d, self.problem.k):
            raise ValueError(f"W must have shape (..., {self.problem.d}, {self.problem.k}), got {W.shape}")
        return np.argmax(self.X_test @ W, axis=-1)

    def accuracy(self, W: np.ndarray) -> float | np.ndarray:
        """Fraction of held-out images classified correctly (one number per member of a stack)."""
        acc = np.mean(self.predict(W) == self.labels_test, axis=-1)
        return float(acc) if np.ndim(acc) == 0 else acc

    def __repr__(self) -> str:
        p = self.problem
        return (f"DigitsProblem(n={p.n}, d={p.d}, k={p.k}, n_test={self.n_test}, "
                f"features={self.features!r}, gamma={self.gamma:g}, seed={self.seed})")


def digits_arrays(n: int = 300, d: int = 3000, seed: int = 0, features: str = "fourier",
                  gamma: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The arrays of :func:`digits_features`, without building the :class:`~dspgd.problem.Problem`.

    Steps 1 to 3 of the module docstring: the split, the normalized images
    and their random features. Building a ``Problem`` also checks that ``X``
    has full row rank (one SVD of ``X``); a caller that only needs the
    spectrum of ``X X^T`` or the held-out predictions of ``W_GD`` can skip it.

    Returns
    -------
    X, X_test : ndarray, shapes (n, d) and (1797 - n, d)
        Features of the training and of the held-out images.
    labels, labels_test : ndarray of int
        Their digits.

    Raises
    ------
    ValueError
        As :func:`digits_features`.
    """
    images, labels = load_digit_images()
    total = images.shape[0]
    n = _check_int("n", n, _N_CLASSES + 1)
    d = _check_int("d", d, 2)
    if n >= total:
        raise ValueError(f"n = {n} leaves no held-out image: the data set has {total} images")
    if d <= n:
        raise ValueError(f"d = {d} features for n = {n} images is not overparameterized (need d > n)")
    perm = np.random.default_rng(seed).permutation(total)
    train, test = perm[:n], perm[n:]
    Z = images - images[train].mean(axis=0)
    norms = np.linalg.norm(Z, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("an image equals the mean training image and cannot be normalized")
    Z /= norms
    F = random_features(Z, d, seed=seed + 1, features=features, gamma=gamma)
    return F[train], F[test], labels[train], labels[test]


def digits_features(n: int = 300, d: int = 3000, seed: int = 0, features: str = "fourier",
                    gamma: float = 2.0, init_scale: float = 0.0) -> DigitsProblem:
    """The digits as an overparameterized random-feature regression problem (module docstring).

    Parameters
    ----------
    n : int
        Training images (``11 <= n < 1797``); the other ``1797 - n`` are held out.
    d : int
        Random features (``d > n``).
    seed : int
        Seed of the split (``default_rng(seed)``) and of the features
        (``default_rng(seed + 1)``).
    features : {"fourier", "relu"}
    gamma : float
        Inverse bandwidth of the Fourier features.
    init_scale : float
        Standard deviation of the entries of ``W0`` (``0``: ``W0 = 0``, and
        ``W_GD`` is the minimum-norm interpolator).

    Returns
    -------
    DigitsProblem

    Raises
    ------
    ValueError
        For sizes out of range, an unknown feature map, a non-positive
        ``gamma`` or a negative ``init_scale``; and (from :class:`~dspgd.problem.Problem`)
        if the features of the training images are linearly dependent.
    """
    if not (np.isfinite(init_scale) and init_scale >= 0):
        raise ValueError(f"init_scale must be a finite number >= 0, got {init_scale!r}")
    X, X_test, labels, labels_test = digits_arrays(n, d, seed, features, gamma)
    Y = np.eye(_N_CLASSES)[labels]
    W0 = init_scale * np.random.default_rng(seed + 2).standard_normal((X.shape[1], _N_CLASSES))
    return DigitsProblem(Problem(X, Y, W0), X_test, labels, labels_test, features, float(gamma), int(seed))


def gaussian_twin(problem: Problem, seed: int = 0) -> Problem:
    """The problem with the same ``Y`` and ``W0`` but a Gaussian ``X`` (i.i.d. ``N(0, 1/d)``, same shape).

    Side by side with a real-data problem, only the data matrix differs.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a dspgd.Problem, got {type(problem).__name__}")
    X = np.random.default_rng(seed).standard_normal((problem.n, problem.d)) / np.sqrt(problem.d)
    return Problem(X, problem.Y, problem.W0)


def marchenko_pastur_quantiles(n: int, d: int, grid: int = 4000) -> np.ndarray:
    """The ``n`` eigenvalues of ``X X^T`` that the Marchenko--Pastur law predicts for Gaussian ``X``.

    ``X`` is ``n x d`` with i.i.d. ``N(0, 1/d)`` entries and ``q = n/d < 1``.
    As ``n, d -> infinity`` with ``n/d -> q``, the eigenvalue distribution of
    ``X X^T`` tends to the density
    ``sqrt((b - x)(x - a)) / (2 pi q x)`` on ``[a, b]``,
    ``a = (1 - sqrt q)^2``, ``b = (1 + sqrt q)^2``. Returned: its quantiles at
    the levels ``(i - 1/2)/n``, largest first (the order of
    :attr:`dspgd.problem.Problem.singular_values`).
    """
    n = _check_int("n", n, 1)
    d = _check_int("d", d, 1)
    if n >= d:
        raise ValueError(f"need n < d for the Marchenko-Pastur law of X X^T here, got n={n}, d={d}")
    q = n / d
    a, b = (1 - np.sqrt(q)) ** 2, (1 + np.sqrt(q)) ** 2
    x = np.linspace(a, b, grid)
    dens = np.sqrt(np.maximum((b - x) * (x - a), 0.0)) / (2 * np.pi * q * x)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(x))])
    cdf /= cdf[-1]
    levels = (np.arange(n) + 0.5) / n
    return np.interp(levels, cdf, x)[::-1]
