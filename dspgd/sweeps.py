"""Sweeps over learning rates, preconditioner parameters and seeds, and what is measured on them.

The limit ``W_inf(lr)`` of DSPGD is computed for a whole grid of learning
rates in one batched :func:`dspgd.solve` call. Runs stop at a small relative
residual ``tol``; the last iterate is then replaced by the interpolator
closest to it (:func:`nearest_interpolator`), which removes the part of the
leftover error that lies in the row space of ``X`` and leaves the part that
lies in its null space, the implicit bias, untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.linalg import solve_triangular

from . import _checks as checks
from . import preconditioners as pc
from .losses import Loss
from .preconditioners import Preconditioner
from .problem import Problem, gaussian_problem
from .solver import solve
from .theory import bound_constant, distance_ratio, gd_limit, relative_distance, stable_lr

__all__ = [
    "Spec",
    "spec",
    "diagonal_weights",
    "nearest_interpolator",
    "LimitRun",
    "run_limits",
    "halving_increments",
    "loglog_slope",
    "richardson_limit",
    "bound_factors",
]

_FAMILIES = {
    "gd": pc.gd,
    "normalized": pc.normalized,
    "clip_norm": pc.clip_norm,
    "adam": pc.adam,
    "clip_value": pc.clip_value,
    "power": pc.power,
    "spectral": pc.spectral,
}


def diagonal_weights(d: int, spread: float) -> np.ndarray:
    """The fixed diagonal of the book: ``D_i = spread^(u_i - 1/2)``, ``u`` evenly spaced in ``[0, 1]``.

    So ``max D / min D = spread``, the geometric mean is 1, and the weights do
    not depend on the problem's seed (the columns of a Gaussian ``X`` are
    exchangeable, so nothing is lost by a deterministic pattern).
    """
    d = checks.integer("d", d, low=1)
    spread = checks.real("spread", spread, low=1.0)
    return spread ** (np.linspace(0.0, 1.0, d) - 0.5)


@dataclass(frozen=True)
class Spec:
    """A hashable description of a preconditioner (so sweeps can be cached).

    Attributes
    ----------
    family : str
        ``"gd"``, ``"normalized"``, ``"clip_norm"``, ``"adam"``,
        ``"clip_value"``, ``"power"``, ``"spectral"`` or ``"diagonal"``.
    params : tuple of (str, float)
        Keyword arguments of the constructor; for ``"diagonal"`` the single
        parameter ``spread`` of :func:`diagonal_weights`.
    """

    family: str
    params: tuple[tuple[str, float], ...] = ()

    def make(self, d: int) -> Preconditioner:
        """The preconditioner for ``d`` features."""
        kw = dict(self.params)
        if self.family == "diagonal":
            if set(kw) != {"spread"}:
                raise ValueError(f"a diagonal spec takes exactly the parameter 'spread', got {sorted(kw)}")
            return pc.diagonal(diagonal_weights(d, kw["spread"]))
        return _FAMILIES[self.family](**kw)

    def get(self, key: str) -> float:
        """The value of parameter ``key``."""
        kw = dict(self.params)
        if key not in kw:
            raise KeyError(f"{self.family} spec has no parameter {key!r}; it has {sorted(kw)}")
        return kw[key]


def spec(family: str, **params: float) -> Spec:
    """``spec("adam", eps=0.1)``: a :class:`Spec`, with the family and parameters checked."""
    if not isinstance(family, str):
        raise TypeError(f"family must be a string, got {family!r}")
    for key, v in params.items():
        checks.real(key, v, finite=False)
    if family not in _FAMILIES and family != "diagonal":
        known = ", ".join(sorted([*_FAMILIES, "diagonal"]))
        raise ValueError(f"unknown preconditioner family {family!r}; known: {known}")
    s = Spec(family, tuple(sorted((k, float(v)) for k, v in params.items())))
    s.make(2)  # let the constructor validate the parameters now
    return s


def nearest_interpolator(problem: Problem, W: np.ndarray) -> np.ndarray:
    """The interpolator closest to ``W``: ``W - X^T (X X^T)^{-1} (XW - Y)``.

    It changes ``W`` only in the row space of ``X`` (by at most
    ``||XW - Y||_F / sigma_min(X)``); the null-space component, which is
    where implicit biases differ, is kept. ``W`` has shape ``(d, k)`` or
    ``(B, d, k)``.
    """
    problem = checks.problem(problem)
    W = checks.weights("W", W, problem)
    Q, Rq = problem._qr  # X^T = Q Rq, so X = Rq^T Q^T (factored once per problem)
    R = problem.X @ W - problem.Y  # (..., n, k)
    flat = np.moveaxis(R, -2, 0).reshape(problem.n, -1)
    Z = solve_triangular(Rq, flat, trans="T")  # Rq^T Z = R
    corr = np.moveaxis((Q @ Z).reshape((problem.d,) + R.shape[:-2] + (problem.k,)), 0, -2)
    return W - corr


@dataclass
class LimitRun:
    """The limits ``W_inf(lr)`` of one preconditioner on one problem, over a grid of learning rates.

    Attributes
    ----------
    spec : Spec
    problem : Problem
    fractions : ndarray, shape (B,)
        Learning rates as fractions of ``stable_lr``.
    lrs : ndarray, shape (B,)
    stable : float
        ``stable_lr(problem, precond)``.
    W : ndarray, shape (B, d, k)
        Limits (last iterate, moved to the nearest interpolator).
    status, steps, path_length : ndarray, shape (B,)
        From the solver (path length of the raw iterates).
    rel_distance : ndarray, shape (B,)
        ``||W_inf - W_GD|| / ||W0 - W_GD||``.
    ratio : ndarray, shape (B,)
        ``||W_inf - W0|| / ||W_GD - W0||``.
    bound : ndarray, shape (B,)
        ``bound_constant(problem, precond, lr)`` (``inf`` where the route gives nothing).
    scale : float
        ``||W0 - W_GD||_F``.
    """

    spec: Spec
    problem: Problem
    fractions: np.ndarray
    lrs: np.ndarray
    stable: float
    W: np.ndarray
    status: np.ndarray
    steps: np.ndarray
    path_length: np.ndarray
    rel_distance: np.ndarray
    ratio: np.ndarray
    bound: np.ndarray
    scale: float

    @property
    def all_converged(self) -> bool:
        """Whether every run reached the tolerance."""
        return bool(np.all(self.status == "converged"))


@lru_cache(maxsize=512)
def run_limits(sp: Spec, n: int, d: int, seed: int, fractions: tuple[float, ...],
               k: int = 1, tol: float = 1e-10, max_steps: int = 200_000) -> LimitRun:
    """Run DSPGD on ``gaussian_problem(n, d, k, seed)`` for ``lr = fractions * stable_lr``.

    One batched :func:`dspgd.solve` call (squared loss). Results are cached,
    so figures that share runs do not repeat them.

    Parameters
    ----------
    sp : Spec
    n, d, seed, k : int
        The problem.
    fractions : tuple of float
        Learning rates as fractions of the stable step, each in ``(0, 1)``.
    tol, max_steps
        Passed to :func:`dspgd.solve`.

    Raises
    ------
    ValueError
        If a fraction is not in ``(0, 1)`` or the preconditioner has no
        stable step (``grad K`` not Lipschitz).
    """
    if not isinstance(sp, Spec):
        raise TypeError(f"sp must be a dspgd.sweeps.Spec (from spec(...)), got {type(sp).__name__}")
    n, d, seed = checks.integer("n", n, low=1), checks.integer("d", d, low=1), checks.integer("seed", seed)
    k = checks.integer("k", k, low=1)
    if isinstance(fractions, (str, bytes)) or np.asarray(fractions).dtype.kind not in "fiu":
        raise TypeError(f"fractions must be a sequence of numbers in (0, 1), got {fractions!r}")
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.ndim != 1 or fr.size == 0 or not np.all((fr > 0) & (fr < 1)):
        raise ValueError(f"fractions must be a non-empty 1-D sequence of numbers in (0, 1), got {fractions!r}")
    prob = gaussian_problem(n=n, d=d, k=k, seed=seed)
    p = sp.make(d)
    slr = stable_lr(prob, p)
    if not slr > 0:
        raise ValueError(f"{p!r} has no stable step size (grad K is not Lipschitz): use a smoothed version")
    lrs = fr * slr
    res = solve(prob, p, lrs, tol=tol, max_steps=max_steps)
    W = nearest_interpolator(prob, res.W)
    Wgd = gd_limit(prob)
    return LimitRun(
        spec=sp, problem=prob, fractions=fr, lrs=lrs, stable=slr, W=W,
        status=np.asarray(res.status), steps=np.asarray(res.steps), path_length=np.asarray(res.path_length),
        rel_distance=np.asarray(relative_distance(W, prob, Wgd)),
        ratio=np.asarray(distance_ratio(W, prob, Wgd)),
        bound=np.array([bound_constant(prob, p, float(lr)) for lr in lrs]),
        scale=float(np.linalg.norm(prob.W0 - Wgd)),
    )


def _check_run(run: object) -> None:
    if not isinstance(run, LimitRun):
        raise TypeError(f"run must be a dspgd.sweeps.LimitRun (from run_limits), got {type(run).__name__}")


def halving_increments(run: LimitRun) -> tuple[np.ndarray, np.ndarray]:
    """``||W_inf(lr) - W_inf(lr/2)|| / ||W0 - W_GD||`` on a grid whose ratios are 2.

    Returns
    -------
    lr_fraction : ndarray
        The larger learning rate of each pair (as a fraction of the stable step).
    increment : ndarray

    Raises
    ------
    ValueError
        If consecutive learning rates (sorted) are not in ratio 2.
    """
    _check_run(run)
    order = np.argsort(run.fractions)
    fr = run.fractions[order]
    if fr.size < 2 or not np.allclose(fr[1:] / fr[:-1], 2.0, rtol=1e-9):
        raise ValueError(f"halving_increments needs learning rates in ratio 2, got fractions {fr}")
    W = run.W[order]
    inc = np.linalg.norm(W[1:] - W[:-1], axis=(-2, -1)) / run.scale
    return fr[1:], inc


def loglog_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of ``log y`` against ``log x`` (the order ``p`` in ``y ~ x^p``)."""
    for nm, v in (("x", x), ("y", y)):
        if v is None or isinstance(v, (str, bytes)) or np.asarray(v).dtype.kind not in "fiu":
            raise TypeError(f"{nm} must be a 1-D array of positive numbers, got {v!r}")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2:
        raise ValueError(f"x and y must be 1-D of the same length >= 2, got shapes {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("loglog_slope needs finite x and y")
    if not (np.all(x > 0) and np.all(y > 0)):
        raise ValueError("loglog_slope needs positive x and y")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def richardson_limit(run: LimitRun) -> np.ndarray:
    """First-order extrapolation of ``W_inf(lr)`` to ``lr -> 0``: ``2 W(h) - W(2h)``.

    ``h`` is the smallest learning rate of the grid and ``2h`` must be on it.
    If ``W_inf(lr) = W_flow + lr B + O(lr^2)``, the error is ``O(h^2)``.
    """
    _check_run(run)
    order = np.argsort(run.fractions)
    fr = run.fractions[order]
    if fr.size < 2 or not np.isclose(fr[1], 2 * fr[0], rtol=1e-9):
        raise ValueError(f"richardson_limit needs the two smallest learning rates in ratio 2, got {fr[:2]}")
    return 2 * run.W[order[0]] - run.W[order[1]]


def bound_factors(problem: Problem, precond: Preconditioner, lr: float, loss: Loss | None = None) -> dict:
    """The constant of claim C4 (this book's route), split into its factors.

    ``c = kappa(X)^2 * (L_K / mu_K) * (beta_l / mu)^(3/2) * chi``, where
    ``chi = a / (1 - sqrt(1 - rho))``, ``a = lr mu_K mu sigma_min^2`` and
    ``rho = 2 a (1 - lr / stable_lr)``; ``chi`` lies in
    ``[1 / (2 (1 - lr/stable_lr)), 1 / (1 - lr/stable_lr)]``.

    Returns
    -------
    dict
        ``c`` (from :func:`dspgd.bound_constant`), ``kappa2``, ``LK``, ``muK``
        (the restricted strong monotonicity of ``grad K`` at 0 on the ball of
        radius ``radius``), ``LK_over_muK``, ``loss_factor`` (``(beta_l/mu)^(3/2)``),
        ``chi``, ``radius``.
    """
    loss = checks.loss(loss)
    c = bound_constant(problem, precond, lr, loss)  # checks the arguments
    mu, bl = loss.strong_convexity, loss.smoothness
    s, sigma = problem.op_norm, problem.sigma_min
    L0 = loss.value(problem.residual(problem.W0))
    radius = s * bl * np.sqrt(2 * L0 / mu)
    muK = precond.local_monotonicity(radius)
    LK = precond.lipschitz
    slr = stable_lr(problem, precond, loss)
    out = {"c": float(c), "kappa2": float(problem.condition_number ** 2), "LK": float(LK),
           "muK": float(muK), "LK_over_muK": float(LK / muK) if muK > 0 else float("inf"),
           "loss_factor": float((bl / mu) ** 1.5), "radius": float(radius), "chi": float("inf")}
    if np.isfinite(c):
        a = lr * muK * mu * sigma**2
        rho = min(2 * a * (1 - lr / slr), 1.0)
        out["chi"] = float(a / (1 - np.sqrt(1 - rho)))
    return out
