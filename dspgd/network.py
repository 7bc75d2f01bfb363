"""A two-layer network trained by DSPGD, with its gradients written out in numpy.

The model is ``f(x) = a^T tanh(V x / sqrt(p)) / sqrt(m)`` for inputs
``x in R^p``: ``m`` hidden units, hidden weights ``V`` (``m x p``), trained,
and output weights ``a`` (``m``), fixed. The loss is the squared loss
``L(V) = 1/2 sum_i (f(x_i) - y_i)^2``. DSPGD on it is
``V <- V - lr * grad K(grad L(V))``: the network's gradient takes the place of
``X^T grad l(XW - Y)``.

The ``1/sqrt(m)`` and ``1/sqrt(p)`` factors are the NTK scaling: with
``V0`` and ``a`` of unit-variance entries and inputs of norm ``sqrt(p)``, the
output and the neural tangent kernel ``J J^T`` stay of order one as
``m -> infinity``, and the relative change of ``J`` during training shrinks
like ``1/sqrt(m)`` (the lazy regime).

Everything is batched: ``V`` may be a single ``(m, p)`` matrix or a stack
``(B, m, p)`` (one member per learning rate), and :func:`train` runs the
stack in one computation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .preconditioners import Preconditioner
from .problem import Problem
from .solver import Result

__all__ = [
    "ACTIVATIONS",
    "NetworkProblem",
    "network_problem",
    "reference_lr",
    "train",
    "project_to_interpolant",
    "gradient_check",
    "flow_points",
]


def _tanh(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.tanh(z)
    dt = t * t
    np.subtract(1.0, dt, out=dt)
    return t, dt


def _softplus(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.logaddexp(0.0, z), 0.5 * (1.0 + np.tanh(0.5 * z))


#: Smooth activations: name -> function returning the activation and its derivative at ``z``.
ACTIVATIONS: dict[str, Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]] = {
    "tanh": _tanh,
    "softplus": _softplus,
}


def _finite(name: str, a: object, ndim: int) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {arr.shape}")
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be non-empty and finite")
    return arr


@dataclass(frozen=True, eq=False)
class NetworkProblem:
    """Training data, held-out inputs and the initialization of a two-layer network.

    Parameters
    ----------
    X : array_like, shape (n, p)
        Training inputs.
    y : array_like, shape (n,)
        Targets.
    a : array_like, shape (m,)
        Output weights (fixed).
    V0 : array_like, shape (m, p)
        Initial hidden weights.
    X_test : array_like, shape (n_test, p)
        Held-out inputs, where learned functions are compared.
    activation : {"tanh", "softplus"}

    Raises
    ------
    ValueError
        For non-finite or mis-shaped arrays, an unknown activation, or a model
        that is not overparameterized (``n >= m p``).
    """

    X: np.ndarray
    y: np.ndarray
    a: np.ndarray
    V0: np.ndarray
    X_test: np.ndarray
    activation: str = "tanh"

    def __post_init__(self) -> None:
        X = _finite("X", self.X, 2)
        y = _finite("y", self.y, 1)
        a = _finite("a", self.a, 1)
        V0 = _finite("V0", self.V0, 2)
        Xt = _finite("X_test", self.X_test, 2)
        n, p = X.shape
        if y.shape[0] != n:
            raise ValueError(f"y has {y.shape[0]} entries but X has {n} rows: they must agree")
        if V0.shape != (a.shape[0], p):
            raise ValueError(f"V0 must have shape (m, p) = ({a.shape[0]}, {p}), got {V0.shape}")
        if Xt.shape[1] != p:
            raise ValueError(f"X_test has {Xt.shape[1]} columns but X has {p}: they must agree")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; choose from {', '.join(ACTIVATIONS)}")
        if n >= V0.size:
            raise ValueError(f"{n} samples for {V0.size} parameters: the model is not overparameterized")
        for name, v in (("X", X), ("y", y), ("a", a), ("V0", V0), ("X_test", Xt)):
            object.__setattr__(self, name, v)

    @property
    def n(self) -> int:
        """Number of training samples."""
        return self.X.shape[0]

    @property
    def p(self) -> int:
        """Input dimension."""
        return self.X.shape[1]

    @property
    def m(self) -> int:
        """Width (hidden units)."""
        return self.a.shape[0]

    @property
    def n_params(self) -> int:
        """Number of trained parameters, ``m p``."""
        return self.V0.size

    def _check_V(self, V: np.ndarray) -> np.ndarray:
        V = np.asarray(V, dtype=np.float64)
        if V.shape[-2:] != (self.m, self.p):
            raise ValueError(f"V must have shape (..., {self.m}, {self.p}), got {V.shape}")
        return V

    def _pre(self, V: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Pre-activations ``V x / sqrt(p)`` for every input: shape ``(..., m, N)``."""
        return V @ X.T / np.sqrt(self.p)

    def predict(self, V: np.ndarray, X: np.ndarray | None = None) -> np.ndarray:
        """``f(x)`` for the rows of ``X`` (default: the training inputs); shape ``(..., N)``."""
        V = self._check_V(V)
        X = self.X if X is None else _finite("X", X, 2)
        return self.a @ ACTIVATIONS[self.activation](self._pre(V, X))[0] / np.sqrt(self.m)

    def residual(self, V: np.ndarray) -> np.ndarray:
        """``f(x_i) - y_i``; shape ``(..., n)``."""
        return self.predict(V) - self.y

    def loss(self, V: np.ndarray) -> np.ndarray | float:
        """``1/2 sum_i (f(x_i) - y_i)^2``."""
        r = self.residual(V)
        out = 0.5 * np.sum(r * r, axis=-1)
        return float(out) if np.ndim(out) == 0 else out

    def gradient(self, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``grad L(V)`` (shape of ``V``) and the residual (shape ``(..., n)``), in one pass.

        With ``Z = V X^T / sqrt(p)`` and ``r = f(X) - y``:
        ``grad L = ((a s'(Z)) * r) X / sqrt(m p)``, entrywise products broadcast
        over the hidden units.
        """
        V = self._check_V(V)
        T, S = ACTIVATIONS[self.activation](self._pre(V, self.X))
        r = self.a @ T / np.sqrt(self.m) - self.y
        S *= self.a[:, None]
        S *= r[..., None, :]
        return S @ self.X / np.sqrt(self.m * self.p), r

    def jacobian(self, V: np.ndarray | None = None) -> np.ndarray:
        """``d f(x_i) / d vec(V)`` at one ``V`` (default ``V0``): shape ``(n, m p)``, row-major ``vec``."""
        V = self.V0 if V is None else self._check_V(V)
        if V.ndim != 2:
            raise ValueError(f"jacobian takes a single V of shape ({self.m}, {self.p}), got {V.shape}")
        S = ACTIVATIONS[self.activation](self._pre(V, self.X))[1] * self.a[:, None]  # (m, n)
        J = S.T[:, :, None] * self.X[:, None, :] / np.sqrt(self.m * self.p)
        return J.reshape(self.n, self.n_params)

    def linearized(self) -> Problem:
        """The model linearized at ``V0`` as a linear :class:`~dspgd.problem.Problem` in ``vec(V)``.

        ``f(V) ~ f(V0) + J0 vec(V - V0)``, so interpolation reads
        ``J0 w = y - f(V0) + J0 vec(V0)`` with ``w = vec(V)``: ``X = J0``
        (``n x m p``), one output column, ``W0 = vec(V0)``. Its DSPGD runs are
        those of :func:`dspgd.solve`; reshape a solution to ``(m, p)``.
        """
        J0 = self.jacobian()
        v0 = self.V0.reshape(-1, 1)
        target = self.y[:, None] - self.predict(self.V0)[:, None] + J0 @ v0
        return Problem(J0, target, v0)

    def __repr__(self) -> str:
        return (f"NetworkProblem(n={self.n}, p={self.p}, m={self.m}, params={self.n_params}, "
                f"activation={self.activation!r})")


def network_problem(n: int = 32, p: int = 32, m: int = 64, seed: int = 0, init_seed: int | None = None,
                    n_test: int = 500, teacher_width: int = 3, activation: str = "tanh") -> NetworkProblem:
    """A regression task for the two-layer network.

    Inputs are uniform on the sphere of radius ``sqrt(p)`` (so ``V x / sqrt(p)``
    has unit-variance entries at initialization); targets come from a fixed
    teacher ``y = sum_j s_j tanh(<u_j, x> / sqrt(p))`` with ``teacher_width``
    units, ``u_j ~ N(0, I)`` and signs ``s_j`` alternating, scaled to unit
    standard deviation on the training inputs. ``V0`` has i.i.d. ``N(0, 1)``
    entries and ``a`` i.i.d. random signs.

    Parameters
    ----------
    n, p, m : int
        Training samples, input dimension, width (need ``n < m p``).
    seed : int
        Seed of the data (inputs, held-out inputs, teacher).
    init_seed : int, optional
        Seed of ``V0`` and ``a`` (default ``seed + 1``); vary it alone to
        re-initialize the same task.
    n_test : int
        Held-out inputs.
    teacher_width : int
    activation : {"tanh", "softplus"}
    """
    for name, v in (("n", n), ("p", p), ("m", m), ("n_test", n_test), ("teacher_width", teacher_width)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    rng = np.random.default_rng(seed)

    def sphere(k: int) -> np.ndarray:
        Z = rng.standard_normal((k, p))
        return Z * (np.sqrt(p) / np.linalg.norm(Z, axis=1, keepdims=True))

    X, Xt = sphere(n), sphere(n_test)
    U = rng.standard_normal((teacher_width, p))
    s = np.where(np.arange(teacher_width) % 2 == 0, 1.0, -1.0)
    y = np.tanh(X @ U.T / np.sqrt(p)) @ s
    sd = float(np.std(y))
    if sd == 0:
        raise ValueError("the teacher is constant on the training inputs; choose another seed")
    y = (y - np.mean(y)) / sd
    r2 = np.random.default_rng(seed + 1 if init_seed is None else init_seed)
    V0 = r2.standard_normal((m, p))
    a = r2.choice([-1.0, 1.0], size=m)
    return NetworkProblem(X, y, a, V0, Xt, activation)


def reference_lr(problem: NetworkProblem) -> float:
    """``2 / lambda_max(J0 J0^T)``: the stable step of GD on the model linearized at ``V0``.

    The book measures step sizes as fractions of ``reference_lr / L_K``, as it
    does with ``2 / (L_K ||X||^2)`` for linear models.
    """
    J0 = problem.jacobian()
    return 2.0 / float(np.linalg.eigvalsh(J0 @ J0.T)[-1])


def _check_positive_array(lr: float | np.ndarray) -> tuple[np.ndarray, bool]:
    arr = np.asarray(lr, dtype=np.float64)
    if arr.ndim > 1 or arr.size == 0:
        raise ValueError(f"lr must be a scalar or a non-empty 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or not np.all(arr > 0):
        raise ValueError(f"every learning rate must be a positive finite number, got {lr!r}")
    return np.atleast_1d(arr), arr.ndim == 0


def train(problem: NetworkProblem, precond: Preconditioner | Sequence[Preconditioner],
          lr: float | np.ndarray, tol: float = 1e-6, max_steps: int = 50_000, patience: int = 5,
          blowup: float = 1e3) -> Result:
    """DSPGD on the network, ``V <- V - lr * grad K(grad L(V))``, from ``problem.V0``, batched over ``lr``.

    ``precond`` is one preconditioner for every run, or a sequence of them, one
    per learning rate: then runs with different ``K`` share one stacked
    forward and backward pass per step.

    A run has converged when its relative residual ``||f(X) - y|| / ||f_0(X) - y||``
    has stayed ``<= tol`` for ``patience`` further steps; it is stopped as
    ``"diverged"`` when the residual becomes non-finite or exceeds ``blowup``
    times its start; otherwise it stops at ``max_steps``. Stopped runs cost no
    more work. (With the bounded ``tanh`` the output, hence the residual, stays
    bounded: a step that is too large then shows as ``"max_steps"``, not converged.)

    Returns
    -------
    Result
        As :func:`dspgd.solve` returns it, with ``W`` the final hidden weights
        ``V`` (shape ``(m, p)``, or ``(B, m, p)`` for ``B`` learning rates) and
        the residual history on a geometric grid of steps.
    """
    if not isinstance(problem, NetworkProblem):
        raise TypeError(f"problem must be a NetworkProblem, got {type(problem).__name__}")
    lrs, scalar = _check_positive_array(lr)
    precs = [precond] * lrs.size if isinstance(precond, Preconditioner) else list(precond)
    if len(precs) != lrs.size:
        raise ValueError(f"{len(precs)} preconditioners for {lrs.size} learning rates: give one per run")
    for p_ in precs:
        if not isinstance(p_, Preconditioner):
            raise TypeError(f"precond must be a dspgd Preconditioner, got {type(p_).__name__}")
    uniq = list({id(p_): p_ for p_ in precs}.values())
    owner = np.array([next(i for i, u in enumerate(uniq) if u is p_) for p_ in precs])
    if not (np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    for name, v in (("max_steps", max_steps), ("patience", patience)):
        if int(v) != v or v < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
    if not blowup > 1:
        raise ValueError(f"blowup must be > 1, got {blowup!r}")

    B = lrs.size
    V = np.broadcast_to(problem.V0, (B,) + problem.V0.shape).copy()
    r0 = float(np.linalg.norm(problem.residual(problem.V0)))
    active = np.arange(B)
    below = np.zeros(B, dtype=int)
    status = np.full(B, "max_steps", dtype=object)
    steps = np.full(B, int(max_steps))
    res_out = np.zeros(B)
    path = np.zeros(B)
    messages = [""] * B
    grid = set(np.unique(np.round(np.geomspace(1, max(max_steps, 1), 120)).astype(int)).tolist()) | {0}
    h_steps: list[int] = []
    h_res: list[np.ndarray] = []
    V_last_finite = V.copy()
    for t in range(int(max_steps) + 1):
        G, r = problem.gradient(V[active])
        res = np.linalg.norm(r, axis=-1)
        bad = ~np.isfinite(res) | (res > blowup * r0)
        below[active] = np.where(res <= tol * r0, below[active] + 1, 0)
        done = bad | (below[active] > patience) if tol > 0 else bad.copy()
        if t == max_steps:
            done[:] = True
        if t in grid or done.any():
            row = np.full(B, np.nan)
            row[active] = np.where(bad, np.nan, res / r0)
            h_steps.append(t)
            h_res.append(row)
        for j in np.flatnonzero(done):
            b = active[j]
            steps[b], res_out[b] = t, res[j]
            if bad[j]:
                status[b] = "diverged"
                V[b] = V_last_finite[b]
                res_out[b] = float(np.linalg.norm(problem.residual(V[b])))
                messages[b] = (f"diverged at step {t}: the residual grew from {r0:.3g} to {res[j]:.3g} "
                               f"(limit {blowup:g} times its start); lr {lrs[b]:.3g} is too large")
            elif tol > 0 and below[b] > patience:
                status[b] = "converged"
                messages[b] = f"converged: relative residual {res[j] / r0:.2e} <= tol {tol:g} (step {t})"
            else:
                messages[b] = (f"stopped at max_steps = {max_steps} with relative residual "
                               f"{res[j] / r0:.2e} (tol {tol:g}): not converged")
        keep = ~done
        active, G = active[keep], G[keep]
        if active.size == 0:
            break
        V_last_finite[active] = V[active]
        step = np.empty_like(G)
        for i, u in enumerate(uniq):
            sel = owner[active] == i
            if sel.any():
                step[sel] = u.grad(G[sel])
        step *= lrs[active, None, None]
        path[active] += np.linalg.norm(step, axis=(-2, -1))
        V[active] -= step
    loss_out = 0.5 * res_out**2
    hist = np.array(h_res)
    method = "DSPGD-network[" + ", ".join(repr(u) for u in uniq) + "]"
    if scalar:
        return Result(V[0], str(status[0]), int(steps[0]), float(res_out[0]), float(loss_out[0]),
                      float(path[0]), np.array(h_steps), hist[:, 0], 0.5 * (hist[:, 0] * r0) ** 2,
                      messages[0], float(lrs[0]), method)
    return Result(V, status.astype(str), steps, res_out, loss_out, path, np.array(h_steps), hist,
                  0.5 * (hist * r0) ** 2, messages, lrs, method)


def project_to_interpolant(problem: NetworkProblem, V: np.ndarray, iterations: int = 2) -> np.ndarray:
    """Gauss--Newton steps ``V <- V - J^+ r`` (minimum-norm, ``J`` at the current ``V``) towards ``f(X) = y``.

    After a run stopped at a small relative residual ``tol``, the rest of an
    isotropic run (GD included) moves, to first order, by ``-J^+ r`` (its steps
    are multiples of ``J^T r`` with ``J`` nearly frozen); this step removes that
    leftover and leaves an error of order ``tol^2``. ``V`` is ``(m, p)`` or
    ``(B, m, p)``.
    """
    V = problem._check_V(V)
    if int(iterations) != iterations or iterations < 0:
        raise ValueError(f"iterations must be a non-negative integer, got {iterations!r}")
    if V.ndim == 3:
        return np.stack([project_to_interpolant(problem, v, iterations) for v in V])
    V = V.copy()
    for _ in range(int(iterations)):
        J = problem.jacobian(V)
        r = problem.residual(V)
        V -= (J.T @ np.linalg.solve(J @ J.T, r)).reshape(V.shape)
    return V


def gradient_check(problem: NetworkProblem, V: np.ndarray | None = None, h: float = 1e-6) -> float:
    """Largest error of :meth:`NetworkProblem.gradient` against central differences of the loss.

    Every entry ``(j, k)`` of ``V`` (default ``V0``) is perturbed by ``+-h``;
    the result is ``max |grad - fd| / max |grad|``. All ``2 m p`` perturbed
    copies are evaluated as one stack.
    """
    V = problem.V0 if V is None else problem._check_V(V)
    if V.ndim != 2:
        raise ValueError(f"gradient_check takes a single V of shape ({problem.m}, {problem.p}), got {V.shape}")
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"h must be a positive finite number, got {h!r}")
    E = np.eye(V.size).reshape(V.size, *V.shape) * h
    fd = (problem.loss(V + E) - problem.loss(V - E)) / (2 * h)
    G, _ = problem.gradient(V)
    return float(np.max(np.abs(G.ravel() - fd)) / np.max(np.abs(G)))


def flow_points(problem: NetworkProblem, precond: Preconditioner, levels: np.ndarray | Sequence[float],
                rtol: float = 1e-10, atol: float = 1e-12, t_max: float = 1e7) -> np.ndarray:
    """Where the flow ``V' = -grad K(grad L(V))``, ``V(0) = V0``, first reaches each loss level.

    The flow is integrated by :func:`scipy.integrate.solve_ivp` (DOP853, tolerances
    ``rtol`` and ``atol``); each level is located as an event, so the points are
    accurate to the integrator's tolerance, not to a time grid. Along any flow of this
    form the loss decreases (``d L/dt = -<grad L, grad K(grad L)> <= 0`` for convex ``K``
    with ``grad K(0) = 0``), so each level is crossed once. Two flows that are time
    changes of each other pass through the same points, whatever their speeds.

    Parameters
    ----------
    problem : NetworkProblem
    precond : Preconditioner
    levels : 1-D array
        Loss values, strictly decreasing, below ``L(V0)`` and positive.
    rtol, atol : float
        Tolerances of the integrator.
    t_max : float
        Longest flow time.

    Returns
    -------
    ndarray, shape (len(levels), m, p)

    Raises
    ------
    ValueError
        For levels that are not strictly decreasing inside ``(0, L(V0))``.
    RuntimeError
        If the flow does not reach the last level by ``t_max`` (or the integrator fails).
    """
    from scipy.integrate import solve_ivp

    if not isinstance(problem, NetworkProblem):
        raise TypeError(f"problem must be a NetworkProblem, got {type(problem).__name__}")
    if not isinstance(precond, Preconditioner):
        raise TypeError(f"precond must be a dspgd Preconditioner, got {type(precond).__name__}")
    lv = np.asarray(levels, dtype=np.float64)
    L0 = float(problem.loss(problem.V0))
    if lv.ndim != 1 or lv.size == 0 or not np.all(np.isfinite(lv)):
        raise ValueError(f"levels must be a non-empty 1-D array of finite numbers, got {levels!r}")
    if not (np.all(np.diff(lv) < 0) and lv[0] < L0 and lv[-1] > 0):
        raise ValueError(f"levels must decrease strictly inside (0, L(V0)) = (0, {L0:.4g}), got {levels!r}")
    shape = problem.V0.shape
    last: dict = {}

    def loss(t: float, v: np.ndarray) -> float:
        # every event is evaluated at the same (t, v): compute the loss once
        if last.get("t") != t or not np.array_equal(last.get("v"), v):
            last.update(t=t, v=v.copy(), L=float(problem.loss(v.reshape(shape))))
        return last["L"]

    def rhs(t: float, v: np.ndarray) -> np.ndarray:
        G, _ = problem.gradient(v.reshape(shape))
        return -precond.grad(G).ravel()

    events = []
    for i, level in enumerate(lv):
        def crossing(t: float, v: np.ndarray, level: float = float(level)) -> float:
            return loss(t, v) - level
        crossing.terminal = i == lv.size - 1
        crossing.direction = -1
        events.append(crossing)
    sol = solve_ivp(rhs, (0.0, float(t_max)), problem.V0.ravel(), method="DOP853", rtol=rtol, atol=atol,
                    events=events)
    if sol.status < 0 or any(len(y) == 0 for y in sol.y_events):
        raise RuntimeError(f"the flow of {precond!r} did not reach the loss level {lv[-1]:.3g} by time "
                           f"{t_max:g} ({sol.message})")
    return np.stack([y[0].reshape(shape) for y in sol.y_events])
