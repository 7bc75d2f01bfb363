"""Convex entrywise losses ``l(R) = sum_ij f(R_ij)``, minimized exactly at ``R = 0``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["Loss", "squared", "huber", "logcosh"]


@dataclass(frozen=True)
class Loss:
    """An entrywise convex loss ``l(R) = sum_ij f(R_ij)``.

    Attributes
    ----------
    name : str
        Short identifier (``"squared"``, ``"huber"``, ``"logcosh"``).
    label : str
        Human-readable name for plots.
    smoothness : float
        ``beta_l``: Lipschitz constant of ``grad`` (``sup f''``).
    strong_convexity : float
        ``mu``: ``inf f''`` over the whole line (0 when ``f`` is only
        locally strongly convex).
    """

    name: str
    label: str
    smoothness: float
    strong_convexity: float
    _f: Callable[[np.ndarray], np.ndarray]
    _df: Callable[[np.ndarray], np.ndarray]

    def pointwise(self, R: np.ndarray) -> np.ndarray:
        """``f(R)`` entry by entry."""
        return self._f(np.asarray(R, dtype=float))

    def value(self, R: np.ndarray) -> float:
        """``l(R) = sum_ij f(R_ij)``."""
        return float(np.sum(self.pointwise(R)))

    def grad(self, R: np.ndarray) -> np.ndarray:
        """``grad l(R)``, entry by entry ``f'(R_ij)``."""
        return self._df(np.asarray(R, dtype=float))


def squared() -> Loss:
    """``l(R) = 1/2 ||R||_F^2`` (``beta = mu = 1``)."""
    return Loss("squared", "squared", 1.0, 1.0, lambda r: 0.5 * r * r, lambda r: r)


def huber(delta: float = 1.0) -> Loss:
    """Huber loss: ``r^2/2`` for ``|r| <= delta``, ``delta |r| - delta^2/2`` beyond.

    Parameters
    ----------
    delta : float
        Threshold, ``> 0``.
    """
    if not (np.isfinite(delta) and delta > 0):
        raise ValueError(f"huber delta must be a positive finite number, got {delta!r}")

    def f(r: np.ndarray) -> np.ndarray:
        a = np.abs(r)
        return np.where(a <= delta, 0.5 * r * r, delta * a - 0.5 * delta * delta)

    return Loss("huber", rf"Huber ($\delta={delta:g}$)", 1.0, 0.0, f,
                lambda r: np.clip(r, -delta, delta))


def logcosh() -> Loss:
    """``l(R) = sum log cosh(R_ij)`` (``beta = 1``; strongly convex only near 0)."""

    def f(r: np.ndarray) -> np.ndarray:
        a = np.abs(r)
        # log cosh(a) = a + log1p(exp(-2a)) - log 2, stable for large a
        return a + np.log1p(np.exp(-2.0 * a)) - np.log(2.0)

    return Loss("logcosh", r"log-cosh", 1.0, 0.0, f, np.tanh)
