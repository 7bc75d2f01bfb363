"""Dual space preconditioners: convex ``K`` with ``value(G) = K(G)`` and ``grad(G) = grad K(G)``.

Every map accepts a single gradient of shape ``(d, k)`` or a stack of shape
``(..., d, k)``; norms and matrix functions act on the last two axes, so a
stack of ``B`` runs is preconditioned member by member.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import _checks as checks

__all__ = [
    "Preconditioner",
    "gd",
    "normalized",
    "clip_norm",
    "adam",
    "clip_value",
    "power",
    "spectral",
    "diagonal",
    "sign",
    "flat_ball",
]

Array = np.ndarray


@dataclass(frozen=True, eq=False)
class Preconditioner:
    """A convex, differentiable ``K`` acting on gradients.

    Attributes
    ----------
    name : str
        Identifier of the family (``"adam"``, ``"spectral"``, ...); the book
        gives each family one colour.
    label : str
        LaTeX label for plots, with the parameters.
    isotropic : bool
        ``K(G) = h(||G||_F)``, so ``grad K(G)`` is a non-negative multiple of ``G``.
    keeps_span : bool
        ``grad K(G) = G M(G)`` for a ``k x k`` matrix ``M``: the columns of the
        step stay in the column space of ``G``. True for isotropic and
        spectral ``K``; then DSPGD steps stay in the row space of ``X``.
    lipschitz : float
        ``L_K``, the Lipschitz constant of ``grad K`` (``inf`` if not smooth).
    params : dict
        The parameters, for tables.
    columnwise : bool
        ``grad K`` acts on each column of ``G`` separately and by the same
        map, so ``B`` gradients laid side by side as one ``(d, B k)`` matrix
        are preconditioned by a single call of :meth:`grad` on that matrix
        (the solver's fast path). True for the entrywise maps and for a
        diagonal ``D`` with one column.
    """

    name: str
    label: str
    isotropic: bool
    keeps_span: bool
    lipschitz: float
    _value: Callable[[Array], Array] = field(repr=False)
    _grad: Callable[[Array], Array] = field(repr=False)
    _mu: Callable[[float], float] = field(repr=False)
    params: dict = field(default_factory=dict)
    columnwise: bool = False

    def value(self, G: Array) -> Array | float:
        """``K(G)``; a float for one ``(d, k)`` gradient, an array for a stack."""
        out = self._value(_check(G))
        return float(out) if np.ndim(out) == 0 else out

    def grad(self, G: Array) -> Array:
        """``grad K(G)``, of the shape of ``G``."""
        return self._grad(_check(G))

    def local_monotonicity(self, radius: float) -> float:
        """``mu_K(r) = inf_{0 < ||G||_F <= r} <grad K(G), G> / ||G||_F^2``.

        The restricted strong monotonicity of ``grad K`` at 0 on the ball
        ``||G||_F <= r`` (anchored at ``G = 0``: ``<grad K(G), G> >= mu_K ||G||_F^2``),
        which the convergence rate and the constant of claim C4 need (0 if none).
        """
        radius = checks.real("radius", radius, low=0.0, finite=False)
        return float(self._mu(radius))

    @property
    def smooth(self) -> bool:
        """Whether ``grad K`` is Lipschitz."""
        return bool(np.isfinite(self.lipschitz))

    def __repr__(self) -> str:
        ps = ", ".join(
            f"{k}=<array {v.shape}>" if isinstance(v, np.ndarray) and v.size > 1 else f"{k}={float(np.squeeze(v)) if isinstance(v, np.ndarray) else v!r}"
            for k, v in self.params.items()
        )
        return f"{self.name}({ps})"


def _check(G: Array) -> Array:
    if G is None or isinstance(G, (str, bytes)) or np.asarray(G).dtype.kind not in "fiub":
        raise TypeError(f"G must be a real array of shape (d, k) or (..., d, k), got {type(G).__name__}")
    G = np.asarray(G, dtype=np.float64)
    if G.ndim < 2:
        raise ValueError(f"G must have shape (d, k) or (..., d, k), got shape {G.shape}")
    return G


def _fro(G: Array) -> Array:
    """Frobenius norm over the last two axes, kept as (..., 1, 1)."""
    return np.sqrt(np.sum(G * G, axis=(-2, -1), keepdims=True))


def _positive(name: str, v: float, allow_zero: bool = False) -> float:
    return checks.real(name, v, low=0.0, low_open=not allow_zero)


def _sq(x: Array) -> Array:
    return np.squeeze(x, axis=(-2, -1))


# ---------------------------------------------------------------- isotropic


def gd() -> Preconditioner:
    """Gradient descent: ``K(G) = ||G||_F^2 / 2``, ``grad K(G) = G``."""
    return Preconditioner(
        "gd", "GD", True, True, 1.0,
        lambda G: 0.5 * np.sum(G * G, axis=(-2, -1)),
        lambda G: G.copy(),
        lambda r: 1.0,
        columnwise=True,
    )


def normalized(eps: float = 1e-2) -> Preconditioner:
    """Normalized GD: ``K(G) = sqrt(||G||_F^2 + eps^2)``.

    ``grad K(G) = G / sqrt(||G||^2 + eps^2)``, Lipschitz with ``L_K = 1/eps``.
    ``eps = 0`` gives exact normalized GD (steps of fixed length, not smooth;
    ``grad K(0) = 0`` by convention).
    """
    eps = _positive("normalized eps", eps, allow_zero=True)

    def grad(G: Array) -> Array:
        nrm = np.sqrt(_fro(G) ** 2 + eps * eps)
        return np.divide(G, nrm, out=np.zeros_like(G), where=nrm > 0)

    label = r"normalized GD (exact)" if eps == 0 else rf"normalized GD ($\epsilon={_tex(eps)}$)"
    return Preconditioner(
        "normalized", label, True, True, np.inf if eps == 0 else 1.0 / eps,
        lambda G: _sq(np.sqrt(_fro(G) ** 2 + eps * eps)),
        grad,
        lambda r: 0.0 if (eps == 0 and r == 0) else 1.0 / np.sqrt(r * r + eps * eps),
        {"eps": eps},
    )


def clip_norm(c: float = 1.0) -> Preconditioner:
    """Gradient clipping by global norm: ``grad K(G) = min(1, c/||G||_F) G``.

    ``K(G) = Huber_c(||G||_F)``; ``L_K = 1``. The book writes the clipping level ``c`` as tau.
    """
    c = _positive("clip_norm c", c)

    def value(G: Array) -> Array:
        s = _sq(_fro(G))
        return np.where(s <= c, 0.5 * s * s, c * s - 0.5 * c * c)

    def grad(G: Array) -> Array:
        s = _fro(G)
        return G * np.minimum(1.0, c / np.maximum(s, c))  # 1 where s <= c: no overflow at G = 0

    return Preconditioner(
        "clip_norm", rf"clip by norm ($\tau={_tex(c)}$)", True, True, 1.0,
        value, grad, lambda r: min(1.0, c / r) if r > 0 else 1.0, {"c": c},
    )


def flat_ball(radius: float = 1.0) -> Preconditioner:
    """A counterexample: ``K(G) = max(0, ||G||_F - radius)^2 / 2``.

    ``grad K(G) = max(0, 1 - radius/||G||_F) G``. It is convex, isotropic and
    1-smooth (``L_K = 1``) with ``grad K(0) = 0``, yet ``grad K`` vanishes on the
    whole ball ``||G||_F <= radius``. In exact arithmetic the gradient of a
    DSPGD run started outside the ball never enters it: the steps shrink
    geometrically and the iterates converge to a point whose gradient lies on
    the sphere ``||G||_F = radius``, which does not interpolate. In floating
    point the last steps are of rounding size and a step that is exactly 0
    ends the run there. It shows that convexity and smoothness of ``K`` are
    not enough for convergence to an interpolator: ``argmin K = {0}`` is
    needed too. Its restricted strong monotonicity at 0, ``mu_K(r)``, is 0
    for every ``r``.
    """
    radius = _positive("flat_ball radius", radius)

    def value(G: Array) -> Array:
        s = _sq(_fro(G))
        return 0.5 * np.maximum(0.0, s - radius) ** 2

    def grad(G: Array) -> Array:
        s = _fro(G)
        return G * np.maximum(0.0, 1.0 - radius / np.maximum(s, np.finfo(float).tiny))

    return Preconditioner(
        "flat_ball", rf"flat ball (radius ${_tex(radius)}$)", True, True, 1.0,
        value, grad, lambda r: 0.0, {"radius": radius},
    )


# ---------------------------------------------------------------- entrywise


def adam(eps: float = 1e-3) -> Preconditioner:
    """Adam with ``beta1 = beta2 = 0``: ``grad K(G) = G / (|G| + eps)`` entrywise.

    ``K(G) = sum |g| - eps log(1 + |g|/eps)``; ``L_K = 1/eps``. This is exactly
    the update of ``torch.optim.Adam(betas=(0, 0), eps=eps)``.
    """
    eps = _positive("adam eps", eps)

    def grad(G: Array) -> Array:
        out = np.abs(G)  # G / (|G| + eps), one temporary instead of three
        out += eps
        return np.divide(G, out, out=out)

    return Preconditioner(
        "adam", rf"Adam$_{{\beta=0}}$ ($\epsilon={_tex(eps)}$)", False, False, 1.0 / eps,
        lambda G: np.sum(np.abs(G) - eps * np.log1p(np.abs(G) / eps), axis=(-2, -1)),
        grad,
        lambda r: 1.0 / (r + eps),
        {"eps": eps},
        columnwise=True,
    )


def clip_value(c: float = 1.0) -> Preconditioner:
    """Clipping by value: ``grad K(G) = clip(G, -c, c)``; ``K = sum Huber_c(g)``, ``L_K = 1``."""
    c = _positive("clip_value c", c)

    def value(G: Array) -> Array:
        a = np.abs(G)
        return np.sum(np.where(a <= c, 0.5 * G * G, c * a - 0.5 * c * c), axis=(-2, -1))

    return Preconditioner(
        "clip_value", rf"clip by value ($\tau={_tex(c)}$)", False, False, 1.0,
        value, lambda G: np.clip(G, -c, c), lambda r: min(1.0, c / r) if r > 0 else 1.0,
        {"c": c}, columnwise=True,
    )


def power(q: float = 1.5, eps: float = 1e-2) -> Preconditioner:
    """Smoothed power: ``K(G) = sum (g^2 + eps^2)^(q/2) / q``, ``q > 1``.

    ``grad K = g (g^2 + eps^2)^(q/2 - 1)``. For ``1 < q < 2`` it is Lipschitz
    with ``L_K = eps^(q-2)`` (needs ``eps > 0``); for ``q > 2`` it is not
    globally Lipschitz. ``eps = 0`` is the exact ``sum |g|^q / q``.
    """
    q = checks.real("power q", q, low=1.0, low_open=True)
    eps = _positive("power eps", eps, allow_zero=True)
    if q == 2:
        lip = 1.0
    elif q < 2:
        lip = np.inf if eps == 0 else eps ** (q - 2)
    else:
        lip = np.inf

    def grad(G: Array) -> Array:
        if q == 2:
            return G.copy()
        base = G * G + eps * eps
        return G * np.power(base, q / 2 - 1, out=np.zeros_like(G), where=base > 0)

    def mu(r: float) -> float:
        # <grad K(G), G>/||G||^2 >= min_i (g_i^2 + eps^2)^(q/2 - 1) over |g_i| <= r
        if q == 2:
            return 1.0
        if q < 2:
            return (r * r + eps * eps) ** (q / 2 - 1) if (r > 0 or eps > 0) else 0.0
        return eps ** (q - 2)

    return Preconditioner(
        "power", rf"power ($q={q:g}$, $\epsilon={_tex(eps)}$)", q == 2, q == 2, lip,
        lambda G: np.sum((G * G + eps * eps) ** (q / 2), axis=(-2, -1)) / q,
        grad, mu, {"q": q, "eps": eps}, columnwise=True,
    )


def diagonal(D: Array | float) -> Preconditioner:
    """Fixed diagonal: ``K(G) = 1/2 sum D_ij g_ij^2``, ``grad K(G) = D * G``.

    ``D`` is positive, of the shape of ``W`` or broadcastable to it;
    ``L_K = max D``. DSPGD then converges to the ``D^-1``-weighted
    minimum-distance interpolator (``theory.diagonal_limit``).
    """
    if D is None or isinstance(D, (str, bytes)) or np.asarray(D).dtype.kind not in "fiu":
        raise TypeError(f"D must be a positive number or a real array, got {D!r}")
    D = np.asarray(D, dtype=np.float64)
    if D.ndim > 2:
        raise ValueError(f"D must be a scalar, a (d,), (d, 1), (1, k) or (d, k) array, got shape {D.shape}")
    if D.size == 0 or not np.all(np.isfinite(D)) or not np.all(D > 0):
        raise ValueError("D must be finite and strictly positive in every entry")
    if D.ndim == 1:
        D = D[:, None]
    Dmin, Dmax = float(D.min()), float(D.max())
    iso = Dmin == Dmax

    def grad(G: Array) -> Array:
        try:
            return D * G
        except ValueError:
            raise ValueError(f"D of shape {D.shape} does not broadcast to G of shape {G.shape}") from None

    return Preconditioner(
        "diagonal", r"fixed diagonal $D$", iso, iso, Dmax,
        lambda G: 0.5 * np.sum(grad(G) * G, axis=(-2, -1)),
        grad, lambda r: Dmin, {"D": D}, columnwise=D.ndim < 2 or D.shape[1] == 1,
    )


def sign() -> Preconditioner:
    """Sign descent: ``K(G) = sum |g|``, ``grad K(G) = sign(G)`` (not smooth)."""
    return Preconditioner(
        "sign", "sign descent", False, False, np.inf,
        lambda G: np.sum(np.abs(G), axis=(-2, -1)), np.sign, lambda r: 0.0,
        columnwise=True,
    )


# ---------------------------------------------------------------- spectral


def spectral(eps: float = 1e-2) -> Preconditioner:
    """Spectral (Muon-type): ``K(G) = tr sqrt(G^T G + eps^2 I)``.

    ``grad K(G) = G (G^T G + eps^2 I)^(-1/2) = U diag(s/sqrt(s^2+eps^2)) V^T``;
    ``L_K = 1/eps``. ``eps = 0`` gives the exact orthogonalized step ``U V^T``
    of Muon (not smooth). Not isotropic for ``k > 1``, but
    ``grad K(G) = G M(G)`` keeps the column space of ``G``.
    """
    eps = _positive("spectral eps", eps, allow_zero=True)

    def eig(G: Array) -> tuple[Array, Array]:
        GtG = np.swapaxes(G, -1, -2) @ G
        return np.linalg.eigh(GtG)

    def value(G: Array) -> Array:
        lam, _ = eig(G)
        return np.sum(np.sqrt(np.maximum(lam, 0.0) + eps * eps), axis=-1)

    def grad(G: Array) -> Array:
        lam, V = eig(G)
        lam = np.maximum(lam, 0.0)
        base = np.sqrt(lam + eps * eps)
        if eps == 0:
            cut = lam.max(axis=-1, keepdims=True) * G.shape[-1] * np.finfo(float).eps * 10
            inv = np.divide(1.0, base, out=np.zeros_like(base), where=lam > cut)
        else:
            inv = 1.0 / base
        M = (V * inv[..., None, :]) @ np.swapaxes(V, -1, -2)
        return G @ M

    label = r"spectral (exact $UV^\top$)" if eps == 0 else rf"spectral ($\epsilon={_tex(eps)}$)"
    return Preconditioner(
        "spectral", label, False, True, np.inf if eps == 0 else 1.0 / eps,
        value, grad,
        lambda r: 0.0 if (eps == 0 and r == 0) else 1.0 / np.sqrt(r * r + eps * eps),
        {"eps": eps},
    )


def _tex(x: float) -> str:
    """``1e-3`` as ``10^{-3}``, other numbers as ``%g``."""
    if x > 0:
        e = np.log10(x)
        if abs(e - round(e)) < 1e-12 and abs(e) >= 2:
            return f"10^{{{int(round(e))}}}"
    return f"{x:g}"
