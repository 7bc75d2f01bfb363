"""The claims ledger: one executable check per claim of the paper and of this book.

Each check runs a small experiment and returns one measured number; the
ledger compares it with a threshold (``<=``, ``>=``) or a band (``in``). The
book's ledger page and the test suite call the same functions, so a claim
that stops holding shows as a failing row in the book and as a failing test.

The checks call the package only through its public modules, looked up at
run time (``theory.gd_limit``, ``pc.adam``, ``solver.solve``, ...): a bug in
the package reaches the checks, and the mutation tests of the test suite
(``tests/test_ledger_mutations.py``) plant one plausible bug per row and
check that the row turns to FAIL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import bregman, flow, minibatch, mirror, problem, rowspace, solver, sweeps, theory
from . import adam_memory as memory
from . import preconditioners as pc
from .losses import huber, logcosh, squared

__all__ = ["Claim", "Row", "CLAIMS", "SOURCES", "WITHOUT_ROW", "claim", "run", "run_all", "margin",
           "markdown_rows", "markdown_summary", "markdown_without_row", "verdict_text"]

SOURCES = ("paper", "book: proposition", "book: observation", "book: counterexample")
_OPS: dict[str, Callable[[float, object], bool]] = {
    "<=": lambda m, t: m <= t,
    ">=": lambda m, t: m >= t,
    "in": lambda m, t: t[0] <= m <= t[1],
}
_OP_TEX = {"<=": r"\le", ">=": r"\ge", "in": r"\in"}

# The labelled statements of the chapters (propositions, theorems, lemmas, corollaries,
# remarks and observations; definitions aside) that deliberately have no row, and why:
# each is qualitative, an interpretation, a scope note or a heuristic, with no number or
# limit of its own to measure. Every other such label is cited by a row (a test checks it).
WITHOUT_ROW: dict[str, str] = {
    "rem-ch4-steepest": r"an identity of definitions: steepest descent in a norm $N$ is a (sub)gradient "
                        r"step of $K=\frac12 N_*^2$",
    "rem-ch4-euler": r"a heuristic (forward Euler) for why the dependence on $\eta$ is of first order; "
                     r"the order itself is row C2b",
    "rem-ch5-scope": r"what the proof of claim C3 does not use; its mini-batch point is row B6",
    "rem-ch10-what": r"what the proof of the diagonal proposition uses, and why other entrywise $K$ escape it",
    "rem-ch10-heuristic": r"a heuristic (backward error analysis) for the rate $O(\eta)$, not proved; "
                          r"the rate itself is row B32",
    "rem-ch13-scope": r"what the proposition on networks does not say",
}


@dataclass(frozen=True)
class Claim:
    """A claim and the check that tests it.

    Attributes
    ----------
    key : str
        Short identifier (``"C1"`` ... for the paper, ``"B..."`` for this book).
    source : str
        One of ``SOURCES``.
    statement : str
        The claim in one or two sentences (Markdown with math).
    measure : str
        What the measured number is.
    op : str
        ``"<="``, ``">="`` or ``"in"``: how the measured number must compare
        with the threshold.
    threshold : float or (float, float)
        A number, or a band ``(low, high)`` for ``op = "in"``.
    check : callable
        Runs the experiment, returns the measured number.
    chapter : str
        The chapter where the claim is discussed (``"chapters/03_convergence"``).
    refs : tuple of str
        Labels of the book's statements the row tests (``prop-ch1-gd-solution``);
        empty when the claim is in the chapter's text without a label.
    """

    key: str
    source: str
    statement: str
    measure: str
    op: str
    threshold: float | tuple[float, float]
    check: Callable[[], float]
    chapter: str
    refs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Row:
    """A claim with its measured number and verdict (``error`` if the check raised)."""

    claim: Claim
    measured: float
    passed: bool
    error: str = ""


CLAIMS: dict[str, Claim] = {}


def claim(key: str, source: str, statement: str, measure: str, op: str,
          threshold: float | tuple[float, float], chapter: str,
          refs: tuple[str, ...] | str = ()) -> Callable[[Callable[[], float]], Callable[[], float]]:
    """Register the decorated function as the check of a claim.

    Raises
    ------
    ValueError
        For an unknown ``op`` or ``source``, a band that is not ``(low, high)``
        with ``low <= high``, or a key registered twice.
    """
    if op not in _OPS:
        raise ValueError(f"op must be one of {sorted(_OPS)}, got {op!r}")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if op == "in":
        if np.ndim(threshold) != 1 or len(threshold) != 2 or not threshold[0] <= threshold[1]:
            raise ValueError(f"op 'in' needs a band (low, high) with low <= high, got {threshold!r}")
        threshold = (float(threshold[0]), float(threshold[1]))
    elif np.ndim(threshold) != 0:
        raise ValueError(f"op {op!r} needs a single number as threshold, got {threshold!r}")
    if key in CLAIMS:
        raise ValueError(f"claim {key!r} is registered twice")
    refs = (refs,) if isinstance(refs, str) else tuple(refs)

    def deco(check: Callable[[], float]) -> Callable[[], float]:
        CLAIMS[key] = Claim(key, source, statement, measure, op, threshold, check, chapter, refs)
        return check

    return deco


# Experiments shared by several rows run once per ledger run: ``_shared``
# caches them in ``_CACHE``, which :func:`run` and :func:`run_all` clear.
_CACHE: dict[str, object] = {}


def _shared(fn: Callable[[], object]) -> Callable[[], object]:
    def wrapper() -> object:
        if fn.__name__ not in _CACHE:
            _CACHE[fn.__name__] = fn()
        return _CACHE[fn.__name__]

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def run(c: Claim, fresh: bool = True) -> Row:
    """Run one check. A non-finite measurement fails; so does a check that raises.

    ``fresh`` discards the experiments shared between rows first, so that
    the row is computed from the package as it is now.
    """
    if fresh:
        _CACHE.clear()
    try:
        with np.errstate(all="ignore"):
            m = float(c.check())
    except Exception as exc:  # a broken package must show as a failing row, not a crash
        return Row(c, float("nan"), False, f"{type(exc).__name__}: {exc}")
    return Row(c, m, bool(np.isfinite(m) and _OPS[c.op](m, c.threshold)))


def run_all() -> list[Row]:
    """Run every registered check, in registration order, sharing experiments between rows."""
    _CACHE.clear()
    try:
        return [run(c, fresh=False) for c in CLAIMS.values()]
    finally:
        _CACHE.clear()


# ------------------------------------------------------------------ rendering


def _fmt(x: float) -> str:
    """A number in LaTeX: 4 significant digits, powers of ten outside [1e-3, 1e4)."""
    if not np.isfinite(x):
        return r"\text{NaN}" if np.isnan(x) else (r"+\infty" if x > 0 else r"-\infty")
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e4):
        m, e = f"{x:.2e}".split("e")
        return f"{m}\\times 10^{{{int(e)}}}"
    return f"{x:.4g}"


def verdict_text(r: Row) -> str:
    """``measured op threshold`` in LaTeX (without dollars), e.g. ``1.1 \\in [1.05, 1.2]``."""
    c = r.claim
    thr = f"[{_fmt(c.threshold[0])}, {_fmt(c.threshold[1])}]" if c.op == "in" else _fmt(c.threshold)
    return f"{_fmt(r.measured)} {_OP_TEX[c.op]} {thr}"


def markdown_rows(rows: list[Row]) -> str:
    """The rows as a MyST definition list: badge, key, source and labels, then claim and measurement."""
    out = []
    for r in rows:
        c = r.claim
        badge = "{bdg-success}`pass`" if r.passed else "{bdg-danger}`FAIL`"
        refs = "".join(f" · {{prf:ref}}`{lab}`" for lab in c.refs)
        err = " The check raised `{}`.".format(r.error.replace("`", "'")) if r.error else ""
        out.append(
            f"{badge} **{c.key}** · *{c.source}*{refs}\n"
            f": {c.statement}\n\n"
            f"  **Measured** ${verdict_text(r)}$: {c.measure} (`{c.check.__name__}`).{err}\n"
        )
    return "\n".join(out)


def margin(r: Row) -> float:
    """Where a row's measured number ``m`` sits against its threshold, as one number.

    * ``in`` rows, band ``[a, b]``: the position in the band,
      ``(m - a) / (b - a)``; the row passes for a position in ``[0, 1]``.
    * one-sided rows, threshold ``thr``: a ratio that is 1 at the threshold
      and shrinks towards 0 as ``m`` moves away from it on the passing side;
      the row passes for a ratio ``<= 1``. Write the row as ``v <= t``
      (``v, t = m, thr`` for ``<=`` and ``-m, -thr`` for ``>=``). For
      ``t > 0`` the ratio is ``v / t``, the part of the allowance used (an
      upper bound ``m <= thr`` with ``thr > 0``, or a lower bound
      ``m >= thr`` with ``thr < 0``, a rounding allowance below zero); it is
      ``<= 0`` when ``m`` lies beyond zero. For ``t < 0`` it is ``t / v``
      (a lower bound ``m >= thr`` with ``thr > 0``: the threshold over the
      number), and ``+inf`` when ``v >= 0``. A threshold of 0 has no scale:
      the ratio is 0 if the row passes, else ``+inf``.

    A measurement that is not finite (a failed or raising check) gives NaN.
    """
    c, m = r.claim, r.measured
    if not np.isfinite(m):
        return float("nan")
    if c.op == "in":
        lo, hi = c.threshold
        if hi == lo:
            return 0.5 if m == lo else (-np.inf if m < lo else np.inf)
        return float((m - lo) / (hi - lo))
    v, t = (m, float(c.threshold)) if c.op == "<=" else (-m, -float(c.threshold))
    if t > 0:
        return float(v / t)
    if t < 0:
        return float(t / v) if v < 0 else float("inf")
    return 0.0 if v <= 0 else float("inf")


def markdown_summary(rows: list[Row]) -> str:
    """One line per source: how many rows, how many pass."""
    lines = ["| source | rows | pass | fail |", "|:--|--:|--:|--:|"]
    for s in SOURCES:
        rs = [r for r in rows if r.claim.source == s]
        if rs:
            n = sum(r.passed for r in rs)
            lines.append(f"| {s} | {len(rs)} | {n} | {len(rs) - n} |")
    n = sum(r.passed for r in rows)
    lines.append(f"| **all** | **{len(rows)}** | **{n}** | **{len(rows) - n}** |")
    return "\n".join(lines) + "\n"


def markdown_without_row() -> str:
    """The labelled statements without a row (``WITHOUT_ROW``), one bullet each: label and reason."""
    return "\n".join(f"* {{prf:ref}}`{lab}`: {why}." for lab, why in WITHOUT_ROW.items()) + "\n"


# ------------------------------------------------------------------ helpers

SEEDS = (0, 1)
_N, _D = 20, 100
_EPS = float(np.finfo(float).eps)


def _problem(k: int = 1, seed: int = 0) -> problem.Problem:
    return problem.gaussian_problem(_N, _D, k=k, seed=seed)


def _scale(prob: problem.Problem) -> float:
    """``||W0 - W_GD||_F``, the unit of every distance in the ledger."""
    return float(np.linalg.norm(prob.W0 - theory.gd_limit(prob)))


def _lrs(prob: problem.Problem, p: pc.Preconditioner, fractions, loss=None) -> np.ndarray:
    return np.asarray(fractions, dtype=float) * theory.stable_lr(prob, p, loss)


def _diag_weights(k: int = 1) -> np.ndarray:
    return np.linspace(0.5, 2.0, _D * k).reshape(_D, k)


def _smooth_family() -> list[pc.Preconditioner]:
    """The smooth preconditioners that satisfy the hypotheses of C1 (``argmin K = {0}``)."""
    return [pc.gd(), pc.normalized(0.1), pc.clip_norm(0.5), pc.adam(0.1), pc.clip_value(0.1),
            pc.power(1.5, 0.1), pc.spectral(0.1), pc.diagonal(_diag_weights(2))]


def _random_gradients(count: int, k: int, seed: int, scales: tuple[float, float] = (1e-2, 1e2)) -> np.ndarray:
    """``count`` random ``d x k`` matrices with Frobenius norms spread log-uniformly over ``scales``."""
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((count, _D, k))
    s = np.exp(rng.uniform(np.log(scales[0]), np.log(scales[1]), count))
    return G * (s / np.linalg.norm(G, axis=(1, 2)))[:, None, None]


def _null_part(X: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Part of ``V`` (``(..., d, k)``) in the null space of ``X``, by numpy's least squares (independent of the package)."""
    flat = np.moveaxis(V, -2, 0).reshape(V.shape[-2], -1)
    coef = np.linalg.lstsq(X.T, flat, rcond=None)[0]
    return V - np.moveaxis((X.T @ coef).reshape((V.shape[-2],) + V.shape[:-2] + V.shape[-1:]), 0, -2)


def _loglog_slope(x, y) -> float:
    """:func:`dspgd.sweeps.loglog_slope`, or NaN (so that the row FAILs) where a value is not positive and finite."""
    try:
        return sweeps.loglog_slope(x, y)
    except ValueError:
        return float("nan")


def _worst(res, prob: problem.Problem, ref: np.ndarray | None = None, project: bool = True) -> float:
    """Largest relative distance of the limits in ``res`` to ``ref`` (default ``W_GD``); ``+inf`` if a run did not converge.

    With ``project`` the limits are first moved to the nearest interpolator,
    which removes the row-space error left by the stopping tolerance and
    keeps the null-space part, where implicit biases differ.
    """
    if not np.all(res.converged):
        return np.inf
    W = sweeps.nearest_interpolator(prob, res.W) if project else res.W
    return float(np.max(theory.relative_distance(W, prob, W_ref=ref)))


def _farthest(values, target: float) -> float:
    """The value farthest from ``target`` (a band check on it checks them all)."""
    v = np.asarray(values, dtype=float)
    if v.size == 0 or np.any(~np.isfinite(v)):
        return float("nan")
    return float(v[np.argmax(np.abs(v - target))])


# ============================================================== 1. the setting


@claim("B11", "book: proposition",
       r"$W_{\mathrm{GD}} = W_0 + X^\top(XX^\top)^{-1}$ $(Y - XW_0)$ interpolates, its displacement lies in "
       r"$\mathrm{range}(X^\top)$, and every interpolator $W$ has $\|W-W_0\|^2 =$ "
       r"$\|W_{\mathrm{GD}}-W_0\|^2 + \|W-W_{\mathrm{GD}}\|^2$.",
       r"largest of: relative residual of $W_{\mathrm{GD}}$, relative part of $W_{\mathrm{GD}}-W_0$ outside "
       r"$\mathrm{range}(X^\top)$, relative Pythagoras gap over 20 random interpolators (numpy least squares "
       r"as the reference); $k\in\{1,3\}$, 2 seeds", "<=", 3e-14, "chapters/01_setting",
       ("prop-ch1-gd-solution", "lem-ch5-unique"))
def check_gd_solution() -> float:
    worst = 0.0
    rng = np.random.default_rng(0)
    for seed in SEEDS:
        for k in (1, 3):
            prob = _problem(k, seed)
            Wgd = theory.gd_limit(prob)
            V = Wgd - prob.W0
            res = np.linalg.norm(prob.residual(Wgd)) / np.linalg.norm(prob.residual(prob.W0))
            outside = np.linalg.norm(_null_part(prob.X, V)) / np.linalg.norm(V)
            N = _null_part(prob.X, rng.standard_normal((20, _D, k)))
            W = Wgd + N
            lhs = np.sum((W - prob.W0) ** 2, axis=(1, 2))
            gap = np.abs(lhs - np.sum(V**2) - np.sum(N**2, axis=(1, 2))) / lhs
            worst = max(worst, float(res), float(outside), float(gap.max()))
    return worst


@claim("B37", "book: observation",
       r"On the toy problem (one equation, two unknowns, one step size for all), GD and normalized GD end "
       r"at $W_{\mathrm{GD}}$; Adam ($\beta=0$) and clipping by value end at other interpolators, only "
       r"slightly farther from $W_0$.",
       r"largest ratio $\|W_0-W_\infty\|/\|W_0-W_{\mathrm{GD}}\|$ of the four runs of the chapter's figure "
       r"(NaN unless GD and normalized GD end within $10^{-14}$ of $W_{\mathrm{GD}}$ and the other two "
       r"at least $0.1\,\|W_0-W_{\mathrm{GD}}\|$ away)", "in", (1.03, 1.1), "chapters/01_setting",
       "rem-ch1-toy-observation")
def check_toy() -> float:
    import inspect

    from .figures import setting

    prob = setting.toy_problem()
    lr = inspect.signature(setting.toy_2d).parameters["lr"].default  # the figure's step size
    dist, ratio = {}, {}
    for p in setting.toy_methods():
        res = solver.solve(prob, p, lr, tol=1e-12)
        if not res.converged:
            return float("nan")
        W = sweeps.nearest_interpolator(prob, res.W)
        dist[p.name], ratio[p.name] = theory.relative_distance(W, prob), theory.distance_ratio(W, prob)
    if max(dist["gd"], dist["normalized"]) > 1e-14 or min(dist["adam"], dist["clip_value"]) < 0.1:
        return float("nan")
    return float(max(ratio.values()))


# ============================================================== 2. preconditioners


def _all_preconditioners(k: int) -> list[pc.Preconditioner]:
    return [pc.gd(), pc.normalized(0.1), pc.normalized(0.0), pc.clip_norm(0.5), pc.flat_ball(1.0),
            pc.adam(0.1), pc.clip_value(0.1), pc.power(1.5, 0.1), pc.spectral(0.1), pc.spectral(0.0),
            pc.diagonal(_diag_weights(k)), pc.sign()]


@claim("B12", "book: proposition",
       r"For convex differentiable $K$ with $\nabla K(0)=0$: "
       r"$\langle\nabla K(G),G\rangle \ge K(G)-K(0) \ge 0$ (steps never go uphill).",
       r"smallest of the two gaps, each relative to $\max(|\langle\nabla K(G),G\rangle|, |K(G)-K(0)|)$, over "
       r"the 12 preconditioners of the package and 100 random $G$ ($k=3$); the flat ball attains equality",
       ">=", -5e-15, "chapters/02_preconditioners", "prop-ch2-descent")
def check_descent_inequality() -> float:
    G = _random_gradients(100, 3, seed=1)
    worst = np.inf
    for p in _all_preconditioners(3):
        inner = np.sum(p.grad(G) * G, axis=(1, 2))
        rise = np.asarray(p.value(G)) - p.value(np.zeros((_D, 3)))
        scale = np.maximum(np.maximum(np.abs(inner), np.abs(rise)), np.finfo(float).tiny)
        worst = min(worst, float(np.min((inner - rise) / scale)), float(np.min(rise / scale)))
    return worst


@claim("B13", "book: proposition",
       r"Isotropic $K(G)=h(\|G\|_F)$: $\nabla K(G)$ is a non-negative multiple of $G$.",
       r"largest $\min_a\|\nabla K(G)-aG\|/\|\nabla K(G)\|$ over GD, normalized GD (smoothed and exact), "
       r"clipping by norm and the flat ball, 60 random $G$ with $k=3$ ($+\infty$ if a multiple is negative)",
       "<=", 1e-15, "chapters/02_preconditioners", "prop-ch2-isotropic-radial")
def check_isotropic_radial() -> float:
    G = _random_gradients(60, 3, seed=2)
    worst = 0.0
    for p in (pc.gd(), pc.normalized(0.1), pc.normalized(0.0), pc.clip_norm(0.5), pc.flat_ball(1.0)):
        P = p.grad(G)
        a = np.sum(P * G, axis=(1, 2)) / np.sum(G * G, axis=(1, 2))
        if np.any(a < 0):
            return np.inf
        nP = np.linalg.norm(P, axis=(1, 2))
        defect = np.linalg.norm(P - a[:, None, None] * G, axis=(1, 2)) / np.where(nP > 0, nP, 1.0)
        worst = max(worst, float(defect.max()))
    return worst


@claim("B14", "book: proposition",
       r"Adam with $\beta_1=\beta_2=0$ is DSPGD with $\nabla K(g) = g/(|g|+\epsilon)$.",
       r"largest entry of $|W_t^{\mathrm{Adam}} - W_t^{\mathrm{DSPGD}}|$ after 300 steps, relative to "
       r"$\max|W_t|$: the transcription of Adam's algorithm with both betas 0 against `dspgd.adam`, "
       r"$\epsilon=0.1$, 2 step sizes, $k=2$", "<=", 1e-15, "chapters/02_preconditioners", "prop-ch2-adam")
def check_adam_is_dspgd() -> float:
    prob = _problem(2, 0)
    p = pc.adam(0.1)
    lrs = _lrs(prob, p, (0.3, 0.9))
    a = memory.adam_solve(prob, lrs, betas=(0.0, 0.0), eps=0.1, tol=0, max_steps=300)
    b = solver.solve(prob, p, lrs, tol=0, max_steps=300)
    return float(np.max(np.abs(a.W - b.W)) / np.max(np.abs(b.W)))


@claim("B51", "book: observation",
       r"Adam with memory is not DSPGD: with $\beta=(0.9, 0.999)$ Adam's Algorithm 1 departs from the "
       r"memoryless path of DSPGD with the Adam preconditioner by about half of how far the weights move.",
       r"largest entry of $|W_t^{\mathrm{Adam}}-W_t^{\mathrm{DSPGD}}|$ over 300 steps, the chapter's number "
       r"($n=10$, $d=40$, $k=2$, $\eta=0.01$, $\epsilon=10^{-3}$; NaN unless the same transcription with "
       r"both betas 0 agrees with DSPGD to $10^{-12}$)", "in", (0.70, 0.77), "chapters/02_preconditioners",
       "rem-ch2-adam-memory")
def check_adam_memory_departs() -> float:
    from .figures import maps

    r = maps.adam_check(n=10, d=40, k=2, seed=0, lr=0.01, eps=1e-3, steps=300, betas=(0.9, 0.999))
    return r["gap_memory"] if r["gap_memoryless"] <= 1e-12 else float("nan")


# ============================================================== 3. convergence


@claim("B4", "book: proposition",
       r"The three-point identity is algebra: it holds for any map standing in for $\nabla K$. What "
       r"makes it a statement about $K$ is that each `grad` of the package is the gradient of its `value`.",
       r"largest gap between the central difference $\frac{K(G+\zeta V)-K(G-\zeta V)}{2\zeta}$ and "
       r"$\langle\nabla K(G),V\rangle$, relative to $\|\nabla K(G)\|$, with $\zeta=10^{-5}$ and $\|V\|=1$, over "
       r"the 12 preconditioners and 40 random $G$ ($k=3$)",
       "<=", 2e-9, "chapters/03_convergence", "lem-ch3-three-point")
def check_gradients() -> float:
    G = _random_gradients(40, 3, seed=3, scales=(0.3, 30.0))
    V = np.random.default_rng(4).standard_normal(G.shape)
    V /= np.linalg.norm(V, axis=(1, 2))[:, None, None]
    h = 1e-5
    worst = 0.0
    for p in _all_preconditioners(3):
        P = p.grad(G)
        fd = (np.asarray(p.value(G + h * V)) - np.asarray(p.value(G - h * V))) / (2 * h)
        exact = np.sum(P * V, axis=(1, 2))
        worst = max(worst, float(np.max(np.abs(fd - exact) / np.maximum(np.linalg.norm(P, axis=(1, 2)), 1e-300))))
    return worst


@claim("C1", "paper",
       r"DSPGD converges to an interpolator, $W_t \to W_\infty$ with $XW_\infty=Y$, when $K$ is convex, "
       r"$L_K$-smooth, $\nabla K(G)=0$ only at $G=0$, the loss is smooth and minimized only at $R=0$, and "
       r"$\eta < 2/(L_K\beta)$ (the conditions of this book's proof; the paper's are not available).",
       r"the iterates settle: largest distance between the iterate where the run stopped (relative residual "
       r"$10^{-12}$) and the iterate three times as many steps later, relative to $\|W_0-W_{\mathrm{GD}}\|$, "
       r"or the relative residual there if larger; 8 smooth preconditioners, squared, Huber and log-cosh "
       r"losses, $\eta/\eta_{\mathrm{stable}}\in\{0.5, 0.95\}$, $k=2$",
       "<=", 1e-12, "chapters/03_convergence", "thm-ch3-c1")
def check_convergence() -> float:
    prob = _problem(2, 0)
    scale = _scale(prob)
    r0 = float(np.linalg.norm(prob.residual(prob.W0)))
    worst = 0.0
    for loss in (squared(), huber(0.5), logcosh()):
        for p in _smooth_family():
            lrs = _lrs(prob, p, (0.5, 0.95), loss)
            a = solver.solve(prob, p, lrs, loss=loss, tol=1e-12, max_steps=20_000)
            if not np.all(a.converged):
                return np.inf
            b = solver.solve(prob, p, lrs, loss=loss, tol=0, max_steps=3 * int(np.max(a.steps)))
            moved = np.linalg.norm(a.W - b.W, axis=(1, 2)) / scale
            worst = max(worst, float(moved.max()), float(np.max(b.residual)) / r0)
    return worst


@claim("C1a", "book: proposition",
       r"Below $\eta < 2/(L_K\beta)$ the loss never increases (the loss-decrease lemma).",
       r"largest change $\max_t(\mathcal{L}_{t+1}-\mathcal{L}_t)/\mathcal{L}_0$ over every step of the 8 "
       r"smooth preconditioners at $\eta/\eta_{\mathrm{stable}}\in\{0.5, 0.99\}$: negative means the loss decreased "
       r"at every step", "<=", 0.0, "chapters/03_convergence", ("lem-ch3-descent", "lem-ch6-descent"))
def check_monotone_loss() -> float:
    worst = -np.inf
    prob = _problem(2, 0)
    for p in _smooth_family():
        res = solver.solve(prob, p, _lrs(prob, p, (0.5, 0.99)), tol=1e-12, n_record=100_000)
        h = res.loss_history
        worst = max(worst, float(np.nanmax(np.diff(h, axis=0) / h[0])))
        if worst > 0:  # one increase decides the row; the other runs would only cost time
            break
    return worst


@claim("B15", "book: proposition",
       r"Under the hypotheses of the convergence proposition, the loss contracts by $1-\rho$ per step and "
       r"$\|W_{t+1}-W_t\| \le$ $\eta L_K r_0 (1-\rho)^{t/2}$.",
       r"largest ratio of a measured quantity to its bound: $\|W_{t+1}-W_t\|$ to the envelope and "
       r"$\mathcal{L}_t$ to $(1-\rho)^t\mathcal{L}_0$ ($t\ge1$), over the 8 smooth preconditioners at "
       r"$\eta/\eta_{\mathrm{stable}}\in\{0.1, 0.5, 0.9\}$, while the loss is above $10^{-20}\mathcal{L}_0$ (rounding level below)", "<=", 1.0,
       "chapters/03_convergence", ("prop-ch3-converge", "lem-ch6-rate"))
def check_rate_envelope() -> float:
    prob = _problem(1, 0)
    worst = 0.0
    for p in _smooth_family():
        if p.name == "diagonal":
            p = pc.diagonal(_diag_weights(1))
        lrs = _lrs(prob, p, (0.1, 0.5, 0.9))
        tr = bregman.trajectory(prob, p, lrs, 5000, tol=1e-10)
        T = tr.step_norm.shape[0]
        t = np.arange(T + 1)
        for b, lr in enumerate(lrs):
            env = bregman.step_envelope(prob, p, float(lr), T)
            rho = bregman.contraction(prob, p, float(lr))
            sn, L = tr.step_norm[:, b], tr.loss[:, b]
            # above rounding level only: there the loss stops decreasing while its bound goes on
            ms, mL = sn > 1e-10 * sn[0], L[1:] > 1e-20 * L[0]
            worst = max(worst, float(np.max(sn[ms] / env[ms])),
                        float(np.max((L[1:] / (L[0] * (1 - rho) ** t[1:]))[mL])))
    return worst


@claim("B16", "book: counterexample",
       r"Convexity and smoothness of $K$ are not enough: the flat ball $K(G)=\frac12\max(0,\|G\|_F-1)^2$ "
       r"(convex, isotropic, 1-smooth, $\nabla K(0)=0$) stops DSPGD at a point that does not interpolate.",
       r"relative residual $\|XW-Y\|/\|XW_0-Y\|$ of the point where the run stops (every step of the last "
       r"800 of 1000 is exactly zero, else NaN), `flat_ball(1)` at $\eta=\eta_{\mathrm{stable}}/2$, $n=20$, $d=100$, "
       "seed 0", "in", (0.18, 0.22), "chapters/03_convergence", "prop-ch3-flat-ball")
def check_flat_ball() -> float:
    prob = _problem(1, 0)
    p = pc.flat_ball(1.0)
    tr = bregman.trajectory(prob, p, 0.5 * theory.stable_lr(prob, p), 1000)
    if np.any(tr.step_norm[200:] != 0):
        return float("nan")
    return float(tr.residual[-1, 0] / tr.residual[0, 0])


@claim("B17", "book: proposition",
       r"For Adam, normalized GD, both clippings, the power and the spectral map, $\nabla^2K(0) = L_K I$: the "
       r"curvature at the interpolators is the Lipschitz constant, which is why $2/(L_K\beta)$ is sharp there.",
       r"largest $\|\nabla K(\zeta V)/\zeta - L_K V\|$, relative to $L_K\|V\|$, at $\zeta=10^{-9}$ over 20 random "
       r"$V$ ($k=3$), with "
       r"$L_K$ as the package declares it", "<=", 1e-8, "chapters/03_convergence", "rem-ch3-sharp")
def check_curvature_at_zero() -> float:
    V = _random_gradients(20, 3, seed=5, scales=(1.0, 1.0))
    h = 1e-9
    worst = 0.0
    for p in (pc.adam(0.1), pc.normalized(0.1), pc.clip_norm(0.5), pc.clip_value(0.1), pc.power(1.5, 0.1),
              pc.spectral(0.1)):
        dev = np.linalg.norm(p.grad(h * V) / h - p.lipschitz * V, axis=(1, 2)) / p.lipschitz
        worst = max(worst, float(dev.max()))
    return worst


@claim("B18", "book: observation",
       r"Exact normalized GD and sign descent do not converge with a constant step: they hover at a "
       r"distance from the interpolators proportional to the step length $\gamma$.",
       r"fitted log-log slope of the mean distance $\|X^+(XW_t-Y)\|$ over the last 300 of 1500 steps "
       r"against $\gamma\in[0.01, 0.3]$ (5 values), the one farther from 1 of the two methods",
       "in", (0.97, 1.03), "chapters/03_convergence", "rem-ch3-summary")
def check_hover() -> float:
    prob = _problem(1, 0)
    gamma = np.geomspace(0.01, 0.3, 5)  # step lengths
    slopes = []
    for p, per_lr in ((pc.normalized(0.0), 1.0), (pc.sign(), np.sqrt(_D))):
        tr = bregman.trajectory(prob, p, gamma / per_lr, 1500)
        slopes.append(_loglog_slope(gamma, tr.distance[-300:].mean(axis=0)))
    return _farthest(slopes, 1.0)


# ============================================================== 4. learning-rate dependence

_GRID = 0.8 * 2.0 ** -np.arange(5)  # 0.8 ... 0.05 of the stable step, ratio 2


@_shared
def _entrywise_grid() -> dict:
    """Limits of Adam (beta = 0) and clipping by value over a halving grid of step sizes, 2 seeds."""
    out = {}
    for seed in SEEDS:
        prob = _problem(1, seed)
        scale = _scale(prob)
        for p in (pc.adam(0.1), pc.clip_value(0.1)):
            res = solver.solve(prob, p, _lrs(prob, p, _GRID), tol=1e-12, max_steps=20_000)
            W = sweeps.nearest_interpolator(prob, res.W)
            out[(seed, p.name)] = {"ok": bool(np.all(res.converged)), "W": W, "scale": scale,
                                   "dist": theory.relative_distance(W, prob)}
    return out


@claim("C2", "paper",
       r"For an entrywise, non-quadratic $K$ (Adam with $\beta=0$, clipping by value) the limit "
       r"$W_\infty$ depends on the learning rate. (Not for every non-isotropic $K$: spectral and fixed "
       r"diagonal $K$ have step-size-free limits, rows B1 and B2.)",
       r"smallest distance between the limits at $\eta=0.8\,\eta_{\mathrm{stable}}$ and $\eta=0.05\,\eta_{\mathrm{stable}}$, "
       r"relative to $\|W_0-W_{\mathrm{GD}}\|$, over the two preconditioners and 2 seeds", ">=", 5e-3, "chapters/04_lr_dependence", "rem-ch4-claim")
def check_lr_dependence() -> float:
    runs = _entrywise_grid()
    if not all(r["ok"] for r in runs.values()):
        return -np.inf
    return min(float(np.linalg.norm(r["W"][0] - r["W"][-1]) / r["scale"]) for r in runs.values())


@claim("C2b", "book: observation",
       r"The dependence is of first order: $\|W_\infty(\eta)-W_\infty(\eta/2)\|$ is proportional to $\eta$.",
       r"fitted log-log slope of $\|W_\infty(\eta)-W_\infty(\eta/2)\|$ against $\eta$ over 4 halvings "
       r"(runs of C2), the one farthest from 1", "in", (0.9, 1.1), "chapters/04_lr_dependence",
       "rem-ch4-observation")
def check_first_order() -> float:
    runs = _entrywise_grid()
    if not all(r["ok"] for r in runs.values()):
        return float("nan")
    slopes = [_loglog_slope(_GRID[:-1], np.linalg.norm(r["W"][:-1] - r["W"][1:], axis=(1, 2)))
              for r in runs.values()]
    return _farthest(slopes, 1.0)


@claim("B3", "book: observation",
       r"Entrywise non-quadratic $K$ (Adam with $\beta=0$, clipping by value) land far from "
       r"$W_{\mathrm{GD}}$.",
       r"smallest $\|W_\infty-W_{\mathrm{GD}}\|/\|W_0-W_{\mathrm{GD}}\|$ over the runs of C2 (5 step "
       r"sizes, 2 seeds)", ">=", 0.2, "chapters/04_lr_dependence", "rem-ch4-observation")
def check_not_gd() -> float:
    runs = _entrywise_grid()
    if not all(r["ok"] for r in runs.values()):
        return -np.inf
    return min(float(np.min(r["dist"])) for r in runs.values())


@claim("B2", "book: proposition",
       r"Fixed diagonal $K$: $W_\infty = W_D = \arg\min \|W-W_0\|_{D^{-1}}$ s.t. $XW=Y$, for every "
       r"stable $\eta$.",
       r"largest $\|W_\infty-W_D\|/\|W_0-W_D\|$ over $\eta/\eta_{\mathrm{stable}}\in\{0.3, 0.9\}$, 2 seeds, "
       r"$k\in\{1,2\}$, random $D$ (runs stop at relative residual $10^{-13}$)",
       "<=", 2e-13, "chapters/04_lr_dependence", "prop-ch4-diagonal")
def check_diagonal() -> float:
    worst = 0.0
    for seed in SEEDS:
        for k in (1, 2):
            prob = _problem(k, seed)
            D = np.random.default_rng(seed).uniform(0.5, 2.0, size=(_D, k))
            p = pc.diagonal(D)
            res = solver.solve(prob, p, _lrs(prob, p, (0.3, 0.9)), tol=1e-13, max_steps=20_000)
            worst = max(worst, _worst(res, prob, theory.diagonal_limit(prob, D), project=False))
    return worst


# ============================================================== 5. isotropic


@claim("C3", "paper",
       r"Isotropic $K(G)=h(\|G\|_F)$: a run that converges to an interpolator ends at $W_{\mathrm{GD}}$, "
       r"the interpolator closest to $W_0$.",
       r"largest $\|W_\infty-W_{\mathrm{GD}}\|/\|W_0-W_{\mathrm{GD}}\|$, with $W_\infty$ the last iterate "
       r"moved to the nearest interpolator (which keeps its null-space part), over GD, normalized GD, "
       r"clipping by norm, $\eta/\eta_{\mathrm{stable}}\in\{0.3,0.9\}$, 2 seeds, $k\in\{1,3\}$", "<=", 1e-14,
       "chapters/05_isotropic", ("thm-ch5-c3", "lem-ch5-unique"))
def check_isotropic() -> float:
    worst = 0.0
    for seed in SEEDS:
        for k in (1, 3):
            prob = _problem(k, seed)
            for p in (pc.gd(), pc.normalized(0.1), pc.clip_norm(0.5)):
                res = solver.solve(prob, p, _lrs(prob, p, (0.3, 0.9)), tol=1e-13, max_steps=20_000)
                worst = max(worst, _worst(res, prob))
    return worst


@_shared
def _isotropic_traces() -> list:
    """Every iterate of isotropic runs ($k=3$), recorded by ``rowspace.trace``."""
    prob = _problem(3, 0)
    return [(prob, rowspace.trace(prob, p, _lrs(prob, p, (0.3, 0.9)), steps=600))
            for p in (pc.gd(), pc.normalized(0.1), pc.clip_norm(0.5))]


@claim("B19", "book: proposition",
       r"Along an isotropic run, $\|W_t-W_{\mathrm{GD}}\|/\|W_0-W_{\mathrm{GD}}\|$ is at most $\kappa(X)$ "
       r"times the relative residual $\|XW_t-Y\|/\|XW_0-Y\|$: a small residual certifies closeness to "
       r"$W_{\mathrm{GD}}$.",
       r"largest ratio of the left side to the right side over every step with relative residual above "
       r"$10^{-12}$, GD, normalized GD, clipping by norm, 2 step sizes, $k=3$", "<=", 1.0,
       "chapters/05_isotropic", "cor-ch5-residual")
def check_residual_controls_distance() -> float:
    worst = 0.0
    for prob, tr in _isotropic_traces():
        m = tr.residual > 1e-12
        worst = max(worst, float(np.max(tr.distance[m] / (prob.condition_number * tr.residual[m]))))
    return worst


@claim("B20", "book: observation",
       r"Isotropic runs never leave $W_0+\mathrm{range}(X^\top)$ beyond rounding, in floating point too.",
       r"largest null-space component $\|P_{\mathrm{null}}(W_t-W_0)\|/\|W_0-W_{\mathrm{GD}}\|$ along 600 "
       r"steps of the runs of B19, in units of $\epsilon_{\mathrm{mach}}$", "<=", 25.0,
       "chapters/05_isotropic", ("rem-ch5-trace", "lem-ch5-invariance"))
def check_rowspace_rounding() -> float:
    return max(float(np.max(tr.rowspace)) for _, tr in _isotropic_traces()) / _EPS


# ============================================================== 6. the bound


@_shared
def _bound_runs() -> list[dict]:
    """Limits, ratios and this book's c for four non-isotropic preconditioners and GD, 2 seeds, 3 step sizes."""
    out = []
    for seed in SEEDS:
        prob = _problem(1, seed)
        for p in (pc.adam(0.1), pc.clip_value(0.1), pc.power(1.5, 0.1), pc.diagonal(_diag_weights(1)), pc.gd()):
            lrs = _lrs(prob, p, (0.1, 0.3, 0.9))
            res = solver.solve(prob, p, lrs, tol=1e-12, max_steps=20_000)
            W = sweeps.nearest_interpolator(prob, res.W)
            out.append({"name": p.name, "ok": bool(np.all(res.converged)),
                        "ratio": np.asarray(theory.distance_ratio(W, prob)),
                        "c": np.array([theory.bound_constant(prob, p, float(lr)) for lr in lrs])})
    return out


@claim("C4", "paper",
       r"General $K$: $\|W_0-W_\infty\|_F \le c\,\|W_0-W_{\mathrm{GD}}\|_F$, with $c$ this book's explicit "
       r"constant (it depends on $X$, $W_0$, $Y$, $\eta$ and $K$).",
       r"largest $\|W_0-W_\infty\|/(c\,\|W_0-W_{\mathrm{GD}}\|)$ over Adam, clipping by value, the power map, "
       r"a fixed diagonal and GD, $\eta/\eta_{\mathrm{stable}}\in\{0.1,0.3,0.9\}$, 2 seeds", "<=", 1.0,
       "chapters/06_general_bound", ("thm-ch6-claim", "thm-ch6-bound"))
def check_bound() -> float:
    runs = _bound_runs()
    if not all(r["ok"] for r in runs):
        return np.inf
    return max(float(np.max(r["ratio"] / r["c"])) for r in runs)


@claim("C4b", "book: observation",
       r"The ratio $\|W_0-W_\infty\|/\|W_0-W_{\mathrm{GD}}\|$ stays close to 1: the limits of "
       r"non-isotropic $K$ are only slightly farther from $W_0$ than $W_{\mathrm{GD}}$.",
       r"largest ratio over the non-isotropic runs of C4 (a change in where runs end moves it)",
       "in", (1.06, 1.12), "chapters/06_general_bound", "rem-ch6-observation")
def check_ratio_band() -> float:
    runs = _bound_runs()
    if not all(r["ok"] for r in runs):
        return float("nan")
    return max(float(np.max(r["ratio"])) for r in runs if r["name"] != "gd")


@claim("C4a", "book: proposition",
       r"Every interpolator is at least as far from $W_0$ as $W_{\mathrm{GD}}$: the ratio of C4 is "
       r"$\ge 1$, with equality for GD.",
       r"smallest ratio over the runs of C4, minus 1 (limits moved to the nearest interpolator)",
       ">=", -1e-14, "chapters/06_general_bound", "lem-ch6-pythagoras")
def check_lower_bound() -> float:
    runs = _bound_runs()
    if not all(r["ok"] for r in runs):
        return -np.inf
    return min(float(np.min(r["ratio"])) for r in runs) - 1.0


@claim("B21", "book: proposition",
       r"The constant is $c = \kappa^2 (L_K/\mu_K)(\beta_\ell/\mu)^{3/2} \chi$ with "
       r"$\chi \in [\frac{1}{2(1-\eta/\eta_{\mathrm{stable}})}, \frac{1}{1-\eta/\eta_{\mathrm{stable}}}]$.",
       r"largest of $c/c_{\mathrm{upper}}$ and $c_{\mathrm{lower}}/c$, the bounds computed here from "
       r"$\kappa(X)$, $L_K$ and $\mu_K(r)$, over 6 preconditioners and $\eta/\eta_{\mathrm{stable}}\in\{0.01, 0.3, 0.9\}$",
       "in", (0.5, 1.0), "chapters/06_general_bound", "cor-ch6-factors")
def check_constant_factors() -> float:
    prob = _problem(1, 0)
    s, sigma = prob.op_norm, prob.sigma_min
    r = s * np.linalg.norm(prob.residual(prob.W0))  # s beta_l sqrt(2 L0 / mu) for the squared loss
    worst = 0.0
    for p in (pc.gd(), pc.normalized(0.1), pc.clip_norm(0.5), pc.adam(0.1), pc.clip_value(0.1),
              pc.diagonal(_diag_weights(1))):
        for f in (0.01, 0.3, 0.9):
            c = theory.bound_constant(prob, p, f * theory.stable_lr(prob, p))
            upper = (s / sigma) ** 2 * p.lipschitz / p.local_monotonicity(r) / (1 - f)
            worst = max(worst, c / upper, upper / 2 / c)
    return worst


_SCALES = (1.0, 10.0, 100.0)


def _scaled(prob: problem.Problem, s: float) -> problem.Problem:
    """The same data with ``W0 - W_GD`` multiplied by ``s`` (so ``W_GD`` is unchanged)."""
    Wgd = theory.gd_limit(prob)
    return problem.Problem(prob.X, prob.Y, Wgd + s * (prob.W0 - Wgd))


@claim("B22", "book: proposition",
       r"This book's $c$ is not uniform in $W_0$: for Adam, clipping and normalized GD it grows linearly "
       r"with $\|W_0-W_{\mathrm{GD}}\|$ (GD's does not move).",
       r"smallest log-log slope of $c$ against the scale of $W_0-W_{\mathrm{GD}}$ (10 to 100) over Adam, "
       r"clipping by value and normalized GD at $\eta=\eta_{\mathrm{stable}}/2$ (NaN if GD's $c$ moves)",
       "in", (0.95, 1.05), "chapters/06_general_bound", "thm-ch6-bound")
def check_constant_grows() -> float:
    base = _problem(1, 0)
    probs = [_scaled(base, s) for s in _SCALES[1:]]

    def c_of(p, P):
        return theory.bound_constant(P, p, 0.5 * theory.stable_lr(P, p))

    cg = [c_of(pc.gd(), P) for P in probs]
    if abs(cg[1] / cg[0] - 1) > 1e-9:
        return float("nan")
    return min(_loglog_slope(_SCALES[1:], [c_of(p, P) for P in probs])
               for p in (pc.adam(0.1), pc.clip_value(0.1), pc.normalized(0.1)))


@claim("B23", "book: observation",
       r"While that $c$ grows a hundredfold, the observed ratio stays bounded: the route's constant is far "
       r"from the truth, and more so the farther $W_0$ starts.",
       r"largest ratio $\|W_0-W_\infty\|/\|W_0-W_{\mathrm{GD}}\|$ of Adam ($\epsilon=0.1$, "
       r"$\eta=\eta_{\mathrm{stable}}/2$) with $W_0-W_{\mathrm{GD}}$ scaled by 1, 10 and 100", "in", (1.1, 1.2),
       "chapters/06_general_bound", "rem-ch6-observation")
def check_ratio_bounded() -> float:
    base = _problem(1, 0)
    worst = 0.0
    for s in _SCALES:
        P = _scaled(base, s)
        p = pc.adam(0.1)
        res = solver.solve(P, p, 0.5 * theory.stable_lr(P, p), tol=1e-12, max_steps=20_000)
        if not res.converged:
            return float("nan")
        worst = max(worst, float(theory.distance_ratio(sweeps.nearest_interpolator(P, res.W), P)))
    return worst


# ============================================================== 7. spectral


@claim("B1", "book: proposition",
       r"Spectral (Muon-type) $K$ keep the span, $\nabla K(G)=G\,M(G)$, so their limits are "
       r"$W_{\mathrm{GD}}$ although they are not isotropic.",
       r"largest $\|W_\infty-W_{\mathrm{GD}}\|/\|W_0-W_{\mathrm{GD}}\|$ (limit moved to the nearest "
       r"interpolator) for smoothed spectral $K$, $\epsilon\in\{0.05,0.5\}$, $\eta/\eta_{\mathrm{stable}}\in\{0.3,0.9\}$, "
       r"2 seeds, $k=3$", "<=", 1e-14, "chapters/07_spectral", "prop-ch7-span")
def check_spectral() -> float:
    worst = 0.0
    for seed in SEEDS:
        prob = _problem(3, seed)
        for eps in (0.05, 0.5):
            p = pc.spectral(eps)
            res = solver.solve(prob, p, _lrs(prob, p, (0.3, 0.9)), tol=1e-13, max_steps=20_000)
            worst = max(worst, _worst(res, prob))
    return worst


@claim("B24", "book: proposition",
       r"Spectral $K(G)=\operatorname{tr} g(G^\top G)$ has $\nabla K(G) = 2G\,g'(G^\top G)$: it keeps the "
       r"column space of $G$, and is not a multiple of $G$.",
       r"largest part of $\nabla K(G)$ outside the column space of $G$, relative to $\|\nabla K(G)\|$, "
       r"for $\epsilon\in\{0, 0.05, 0.5\}$ and 30 random $G$ ($k=3$), numpy's QR as the reference "
       r"(NaN if no step is tilted away from $G$ by 10% or more)", "<=", 3e-15, "chapters/07_spectral",
       ("lem-ch7-spectral", "rem-ch7-not-isotropic"))
def check_spectral_span() -> float:
    G = _random_gradients(30, 3, seed=6, scales=(0.1, 10.0))
    worst = 0.0
    tilt = 0.0
    for eps in (0.0, 0.05, 0.5):
        P = pc.spectral(eps).grad(G)
        for g, q in zip(G, P):
            Q, _ = np.linalg.qr(g)
            nq = np.linalg.norm(q)
            worst = max(worst, float(np.linalg.norm(q - Q @ (Q.T @ q)) / nq))
            a = np.sum(q * g) / np.sum(g * g)
            tilt = max(tilt, float(np.linalg.norm(q - a * g) / nq))
    return worst if tilt > 0.1 else float("nan")


@claim("B25", "book: observation",
       r"The exact map $UV^\top$ does not converge with a constant step, but it hovers inside "
       r"$W_0+\mathrm{range}(X^\top)$: the invariance holds at every step.",
       r"largest null-space component $\|P_{\mathrm{null}}(W_t-W_0)\|/\|W_0-W_{\mathrm{GD}}\|$ along 400 "
       r"steps at $\eta\in\{0.01, 0.05\}$, in units of $\epsilon_{\mathrm{mach}}$ ($k=3$)", "<=", 25.0,
       "chapters/07_spectral", "rem-ch7-hover")
def check_exact_spectral_hovers() -> float:
    prob = _problem(3, 0)
    tr = rowspace.trace(prob, pc.spectral(0.0), np.array([0.01, 0.05]), steps=400)
    return float(np.max(tr.rowspace)) / _EPS


@claim("B26", "book: observation",
       r"Muon with a bfloat16 Newton–Schulz iteration leaves the row space, and its null-space component "
       r"keeps growing, roughly like $\sqrt{T}$: bfloat16 rounding breaks the invariance.",
       r"fitted log-log slope of the null-space component against the step $T\in[200, 1200]$, Muon at "
       r"learning rate 0.1 ($k=3$; NaN unless the component ends above $\epsilon_{\mathrm{bf16}}$)",
       "in", (0.3, 0.7), "chapters/07_spectral", "rem-ch7-bf16")
def check_bfloat16_growth() -> float:
    prob = _problem(3, 0)
    tr = rowspace.muon_trace(prob, 0.1, steps=1200, backend="bfloat16", every=50)
    row = tr.rowspace[0]
    if not row[-1] > rowspace.bfloat16_spacing(1.0):
        return float("nan")
    m = tr.steps >= 200
    return _loglog_slope(tr.steps[m], row[m])


@claim("B27", "book: observation",
       r"In float64, Muon (momentum and Newton–Schulz) stays in $W_0+\mathrm{range}(X^\top)$ to rounding.",
       r"largest null-space component along 500 steps of float64 Muon at learning rate 0.05, in units of "
       r"$\epsilon_{\mathrm{mach}}$ ($k=3$)", "<=", 80.0, "chapters/07_spectral", "rem-ch7-bf16")
def check_muon_float64() -> float:
    prob = _problem(3, 0)
    tr = rowspace.muon_trace(prob, 0.05, steps=500, backend="numpy")
    return float(np.max(tr.rowspace)) / _EPS


@claim("B38", "book: proposition",
       r"Decoupled weight decay $\lambda$ shrinks the null-space part of Muon's iterate by exactly "
       r"$(1-\eta\lambda)$ a step, so the run forgets the part of $W_0$ outside the row space.",
       r"largest relative deviation of $\|P_{\mathrm{null}}W_T\|/\|P_{\mathrm{null}}W_0\|$ from "
       r"$(1-\eta\lambda)^T$, float64 Muon with $\lambda=0.1$ at $(\eta, T) = (0.05, 300)$ and $(0.02, 500)$ ($k=3$)",
       "<=", 2e-15, "chapters/07_spectral", "rem-ch7-weight-decay")
def check_weight_decay() -> float:
    from .figures import spectral as spectral_figures

    prob = _problem(3, 0)
    lam = 0.1
    null0 = np.linalg.norm(_null_part(prob.X, prob.W0))
    worst = 0.0
    for lr, steps in ((0.05, 300), (0.02, 500)):
        tr = spectral_figures.muon_runs([prob], np.array([lr]), steps, [0, steps], bfloat16=False,
                                        weight_decay=lam)
        kept = np.linalg.norm(_null_part(prob.X, tr.W[0])) / null0
        worst = max(worst, abs(kept / (1.0 - lr * lam) ** steps - 1.0))
    return worst


# ============================================================== 8. Adam with memory


@claim("B7", "book: proposition",
       r"Steps built from past gradients (momentum without Adam's division) keep GD's implicit bias.",
       r"largest $\|W_\infty-W_{\mathrm{GD}}\|/\|W_0-W_{\mathrm{GD}}\|$ (limit moved to the nearest "
       r"interpolator) for $\beta_1\in\{0.5,0.9\}$, 2 seeds", "<=", 1e-14, "chapters/08_adam_memory",
       "prop-ch8-memory")
def check_momentum() -> float:
    worst = 0.0
    for seed in SEEDS:
        prob = _problem(1, seed)
        for beta1 in (0.5, 0.9):
            res = memory.run_stateful(prob, memory.MomentumRule(beta1), 0.1 * theory.stable_lr(prob, pc.gd()),
                                      tol=1e-13, max_steps=20_000)
            worst = max(worst, _worst(res, prob))
    return worst


@_shared
def _full_adam() -> dict:
    prob = _problem(1, 0)
    res = memory.adam_solve(prob, np.array([1e-3, 3e-3, 1e-2]), betas=(0.9, 0.999), eps=1e-3, tol=1e-12,
                            max_steps=20_000)
    W = sweeps.nearest_interpolator(prob, res.W)
    return {"ok": bool(np.all(res.converged)), "dist": theory.relative_distance(W, prob),
            "ratio": theory.distance_ratio(W, prob)}


@claim("B8", "book: observation",
       r"Full Adam ($\beta_1,\beta_2>0$) is not DSPGD; where it converges, it lands far from "
       r"$W_{\mathrm{GD}}$.",
       r"smallest $\|W_\infty-W_{\mathrm{GD}}\|/\|W_0-W_{\mathrm{GD}}\|$ for torch's default betas, "
       r"$\epsilon=10^{-3}$, $\eta\in\{10^{-3}, 3\cdot10^{-3}, 10^{-2}\}$", ">=", 0.5,
       "chapters/08_adam_memory", "rem-ch8-bias")
def check_full_adam() -> float:
    r = _full_adam()
    return float(np.min(r["dist"])) if r["ok"] else -np.inf


@claim("B28", "book: observation",
       r"For full Adam, too, the ratio of claim C4 stays close to 1.",
       r"largest $\|W_0-W_\infty\|/\|W_0-W_{\mathrm{GD}}\|$ over the runs of B8", "in", (1.1, 1.3),
       "chapters/08_adam_memory", "rem-ch8-bias")
def check_full_adam_ratio() -> float:
    r = _full_adam()
    return float(np.max(r["ratio"])) if r["ok"] else float("nan")


@claim("B29", "book: observation",
       r"With a tiny $\epsilon$, full Adam reaches round-off and then leaves the interpolator (its second "
       r"moment decays and the effective step grows); with a larger $\epsilon$ it stays.",
       r"largest relative residual after first falling below $10^{-10}$, within 4500 steps of "
       r"$\beta=(0.9, 0.99)$, $\eta=10^{-3}$, $\epsilon=10^{-8}$ (NaN unless both this run and the same "
       r"run with $\epsilon=10^{-3}$ reach $10^{-10}$, and the latter stays below $10^{-9}$)", ">=", 5e-5, "chapters/08_adam_memory", "rem-ch8-late")
def check_adam_late_excursion() -> float:
    prob = _problem(1, 0)
    res = memory.adam_sweep(prob, 1e-3, betas=[(0.9, 0.99)], eps=[1e-8, 1e-3], tol=0, max_steps=4500,
                            n_record=4500)
    rel = res.residual_history / res.residual_history[0]
    after = []
    for j in range(2):
        hit = np.flatnonzero(rel[:, j] <= 1e-10)
        if not hit.size:  # never reached round-off
            return float("nan")
        after.append(float(np.max(rel[hit[0]:, j])))
    return after[0] if after[1] <= 1e-9 else float("nan")


# ============================================================== 9. mirror descent


@claim("B5", "book: proposition",
       r"Mirror descent lands on $\arg\min D_\psi(W,W_0)$ s.t. $XW=Y$ (computed independently), for every "
       r"step size.",
       r"largest $\|W_\infty-W_\psi\|/\|W_0-W_\psi\|$ over the $\ell_{1.5}$ and $\ell_3$ potentials, "
       r"$\eta\in\{0.02, 0.05, 0.1\}$, seed 0 (runs stop at relative residual $10^{-13}$)", "<=", 1e-12,
       "chapters/09_mirror_descent", ("prop-ch9-bregman-projection", "prop-ch4-mirror"))
def check_mirror() -> float:
    worst = 0.0
    prob = _problem(1, 0)
    for pot in (mirror.pnorm(1.5), mirror.pnorm(3.0)):
        res = mirror.mirror_descent(prob, pot, np.array([0.02, 0.05, 0.1]), tol=1e-13, max_steps=20_000)
        worst = max(worst, _worst(res, prob, mirror.mirror_limit(prob, pot), project=False))
    return worst


@claim("B30", "book: proposition",
       r"For the weighted quadratic $\psi=\frac12\sum W_{ij}^2/D_{ij}$, mirror descent *is* DSPGD with the "
       r"fixed diagonal $K=\frac12\sum D_{ij}g_{ij}^2$.",
       r"largest entry of $|W_t^{\mathrm{mirror}}-W_t^{\mathrm{DSPGD}}|$ after 300 steps relative to "
       r"$\max|W_t|$, 2 step sizes", "<=", 5e-15, "chapters/09_mirror_descent", "rem-ch9-both")
def check_mirror_is_diagonal() -> float:
    prob = _problem(1, 0)
    D = _diag_weights(1)
    lrs = _lrs(prob, pc.diagonal(D), (0.3, 0.9))
    a = mirror.mirror_descent(prob, mirror.weighted_quadratic(D), lrs, tol=0, max_steps=300)
    b = solver.solve(prob, pc.diagonal(D), lrs, tol=0, max_steps=300)
    return float(np.max(np.abs(a.W - b.W)) / np.max(np.abs(b.W)))


@claim("B31", "book: observation",
       r"At a step too large to converge ($\ell_3$ potential, $\eta=1$), mirror descent still conserves "
       r"$\nabla\psi(W_t)-\nabla\psi(W_0) \in \mathrm{range}(X^\top)$.",
       r"relative part of $\nabla\psi(W_T)-\nabla\psi(W_0)$ outside $\mathrm{range}(X^\top)$ after 2000 "
       r"steps, in units of $\epsilon_{\mathrm{mach}}$ (NaN if the run converged)", "<=", 40.0,
       "chapters/09_mirror_descent", "rem-ch9-hover")
def check_mirror_conservation() -> float:
    prob = _problem(1, 0)
    pot = mirror.pnorm(3.0)
    res = mirror.mirror_descent(prob, pot, 1.0, tol=1e-10, max_steps=2000)
    if res.converged:
        return float("nan")
    return float(mirror.dual_residual(prob, pot, res.W)) / _EPS


@claim("B50", "book: proposition",
       r"Stochastic mirror descent, when it converges to an interpolator, ends at the Bregman projection "
       r"$\arg\min D_\psi(W,W_0)$ s.t. $XW=Y$ too, for every batch size and batch sequence.",
       r"largest $\|W_\infty-W_\psi\|/\|W_0-W_\psi\|$ over the $\ell_{1.5}$ and $\ell_3$ potentials, "
       r"$(b, \eta)\in\{(2, 0.08), (5, 0.15)\}$, 2 seeds (runs stop at relative residual $10^{-13}$)",
       "<=", 3e-13, "chapters/09_mirror_descent", "rem-ch9-smd")
def check_stochastic_mirror() -> float:
    prob = _problem(1, 0)
    worst = 0.0
    for pot in (mirror.pnorm(1.5), mirror.pnorm(3.0)):
        ref = mirror.mirror_limit(prob, pot)
        for b, lr in ((2, 0.08), (5, 0.15)):
            for seed in SEEDS:
                res = minibatch.stochastic_mirror_descent(prob, pot, lr, batch_size=b, seed=seed, tol=1e-13,
                                                          max_steps=20_000)
                worst = max(worst, _worst(res, prob, ref, project=False))
    return worst


# ============================================================== 10. small steps


@claim("B9", "book: proposition",
       r"Fixed diagonal $K$: the gradient-flow limit is $W_D$, the discrete limit of every step size.",
       r"$\|W_{\mathrm{flow}}-W_D\|/\|W_0-W_D\|$ (the flow stops at relative residual $10^{-12}$)",
       "<=", 1e-11, "chapters/10_small_step", "prop-ch10-diagonal")
def check_flow_diagonal() -> float:
    prob = _problem(1, 0)
    D = _diag_weights(1)
    fl = flow.flow_limit(prob, pc.diagonal(D))
    return float(theory.relative_distance(fl.W, prob, W_ref=theory.diagonal_limit(prob, D)))


_SMALL = 0.16 * 2.0 ** -np.arange(5)  # 0.16 ... 0.01 of the stable step


@_shared
def _small_steps() -> dict:
    """Adam (beta = 0): the flow limit and the discrete limits at five small steps."""
    prob = _problem(1, 0)
    p = pc.adam(0.1)
    fl = flow.flow_limit(prob, p)
    res = solver.solve(prob, p, _lrs(prob, p, _SMALL), tol=1e-12, max_steps=20_000)
    W = sweeps.nearest_interpolator(prob, res.W)
    return {"ok": bool(fl.converged and np.all(res.converged)), "gap": theory.relative_distance(W, prob, W_ref=fl.W),
            "flow_to_gd": theory.relative_distance(fl.W, prob)}


@claim("B10", "book: observation",
       r"As $\eta\to0$, the limit of Adam ($\beta=0$) tends to the end point of the gradient flow.",
       r"$\|W_\infty(\eta)-W_{\mathrm{flow}}\|/\|W_0-W_{\mathrm{GD}}\|$ at $\eta=0.01\,\eta_{\mathrm{stable}}$",
       "<=", 1.5e-4, "chapters/10_small_step", "rem-ch10-observation")
def check_flow_adam() -> float:
    r = _small_steps()
    return float(r["gap"][-1]) if r["ok"] else np.inf


@claim("B32", "book: observation",
       r"The distance to the flow limit is first order in $\eta$.",
       r"fitted log-log slope of $\|W_\infty(\eta)-W_{\mathrm{flow}}\|$ against $\eta$ over "
       r"$\eta/\eta_{\mathrm{stable}}\in[0.01, 0.16]$ (5 values, Adam)", "in", (0.95, 1.05), "chapters/10_small_step",
       "rem-ch10-observation")
def check_flow_rate() -> float:
    r = _small_steps()
    return _loglog_slope(_SMALL, r["gap"]) if r["ok"] else float("nan")


@claim("B33", "book: observation",
       r"The flow limit is still not $W_{\mathrm{GD}}$: small steps do not remove the bias.",
       r"$\|W_{\mathrm{flow}}-W_{\mathrm{GD}}\|/\|W_0-W_{\mathrm{GD}}\|$ for Adam ($\epsilon=0.1$)",
       "in", (0.25, 0.4), "chapters/10_small_step", "rem-ch10-observation")
def check_flow_not_gd() -> float:
    r = _small_steps()
    return float(r["flow_to_gd"]) if r["ok"] else float("nan")


# ============================================================== 11. mini-batches


def _minibatch_worst(p: pc.Preconditioner, k: int, batches, ref=None, tol: float = 1e-13) -> float:
    """Largest distance to ``ref`` (default ``W_GD``) of mini-batch limits, 2 seeds, one step size per ``b``."""
    prob = _problem(k, 0)
    worst = 0.0
    for b in batches:
        for seed in SEEDS:
            lr = 0.8 * theory.stable_lr(prob, p) * b / _N
            res = minibatch.minibatch_solve(prob, p, lr, batch_size=b, seed=seed, tol=tol, max_steps=20_000)
            worst = max(worst, _worst(res, prob, ref, project=ref is None))
    return worst


@claim("B6", "book: proposition",
       r"Mini-batch DSPGD with isotropic $K$ still ends at $W_{\mathrm{GD}}$, for every batch size and seed.",
       r"largest $\|W_\infty-W_{\mathrm{GD}}\|/\|W_0-W_{\mathrm{GD}}\|$ (limit moved to the nearest "
       r"interpolator) over GD, normalized GD, clipping by norm, $b\in\{5,10\}$, 2 seeds, "
       r"$\eta = 0.8\,\eta_{\mathrm{stable}} b/n$",
       "<=", 1e-14, "chapters/11_minibatch", "prop-ch11-rowspace")
def check_minibatch_isotropic() -> float:
    return max(_minibatch_worst(p, 1, (5, 10)) for p in (pc.gd(), pc.normalized(0.1), pc.clip_norm(0.5)))


@claim("B34", "book: proposition",
       r"Mini-batch DSPGD with a spectral $K$ ends at $W_{\mathrm{GD}}$ too (its steps keep the span).",
       r"as B6 for the smoothed spectral map, $\epsilon=0.1$, $k=3$, $b\in\{5,10\}$", "<=", 1e-14,
       "chapters/11_minibatch", "prop-ch11-rowspace")
def check_minibatch_spectral() -> float:
    return _minibatch_worst(pc.spectral(0.1), 3, (5, 10))


@claim("B35", "book: proposition",
       r"A fixed diagonal $K$ is coordinate-wise, yet its mini-batch limit is $W_D$ for every batch size "
       r"and seed: the steps stay in $D\,\mathrm{range}(X^\top)$.",
       r"largest $\|W_\infty-W_D\|/\|W_0-W_D\|$ over $b\in\{1,5,20\}$, 2 seeds (runs stop at "
       r"relative residual $10^{-13}$)", "<=", 3e-13, "chapters/11_minibatch", "prop-ch11-rowspace")
def check_minibatch_diagonal() -> float:
    D = _diag_weights(1)
    return _minibatch_worst(pc.diagonal(D), 1, (1, 5, 20), ref=theory.diagonal_limit(_problem(1, 0), D))


@claim("B36", "book: observation",
       r"For a non-quadratic coordinate-wise $K$ the mini-batch limit is a random variable: two seeds end "
       r"at different interpolators.",
       r"distance between the limits of seeds 0 and 1, relative to $\|W_0-W_{\mathrm{GD}}\|$, Adam "
       r"($\epsilon=0.1$), $b=5$", ">=", 0.05, "chapters/11_minibatch", "rem-ch11-seed")
def check_minibatch_seed() -> float:
    prob = _problem(1, 0)
    p = pc.adam(0.1)
    W = []
    for seed in SEEDS:
        res = minibatch.minibatch_solve(prob, p, 0.8 * theory.stable_lr(prob, p) * 5 / _N, batch_size=5,
                                        seed=seed, tol=1e-12, max_steps=20_000)
        if not res.converged:
            return -np.inf
        W.append(res.W)
    return float(np.linalg.norm(W[0] - W[1])) / _scale(prob)


# ============================================================== 12-13. real data, a network


_NET_FRACTIONS = (0.2, 0.1, 0.05)


@_shared
def _network_endpoints():
    """GD, normalized GD and Adam (beta = 0) on a small network, end points polished (ledger setting).

    Returns the problem and the distances ``(map, fraction)`` of normalized GD
    and Adam to GD's end point at the same fraction (``None`` if a run failed).
    """
    from .network import network_problem, project_to_interpolant, reference_lr, train

    prob = network_problem(n=16, p=12, m=32, seed=21)
    G0, _ = prob.gradient(prob.V0)
    g = float(np.linalg.norm(G0))
    Ks = [pc.gd(), pc.normalized(0.1 * g), pc.adam(0.1 * g / np.sqrt(G0.size))]
    fr = np.asarray(_NET_FRACTIONS)
    eta = reference_lr(prob)
    res = train(prob, [K for K in Ks for _ in fr], [f * eta / K.lipschitz for K in Ks for f in fr], tol=1e-7)
    if not np.all(res.status == "converged"):
        return prob, None
    V = project_to_interpolant(prob, res.W).reshape(len(Ks), fr.size, prob.m, prob.p)
    dist = np.linalg.norm(V[1:] - V[0][None], axis=(-2, -1)) / np.linalg.norm(V[0] - prob.V0, axis=(-2, -1))
    return prob, dist


@claim("B39", "book: observation",
       r"Two-layer network, isotropic $K$: the end point approaches GD's at rate $\eta$.",
       r"$|s-1|$ for the log-log slope $s$ of normalized GD's distance to GD's end point over "
       r"$\eta/\eta_{\mathrm{ref}}\in\{0.2, 0.1, 0.05\}$", "<=", 0.2, "chapters/13_network", "rem-ch13-eta")
def check_network_isotropic_rate() -> float:
    _, dist = _network_endpoints()
    if dist is None:
        return np.inf
    return abs(_loglog_slope(_NET_FRACTIONS, dist[0]) - 1.0)


@claim("B40", "book: observation",
       r"Two-layer network, Adam$_{\beta=0}$: an $O(1)$ gap to GD's end point that small steps do not close.",
       r"distance to GD's end point at the smallest of $\eta/\eta_{\mathrm{ref}}\in\{0.2, 0.1, 0.05\}$, "
       r"relative to GD's displacement", ">=", 0.1, "chapters/13_network", "rem-ch13-eta")
def check_network_gap() -> float:
    _, dist = _network_endpoints()
    if dist is None or dist[1, -1] < 0.5 * dist[1, 0]:  # a gap shrinking with eta is no O(1) gap
        return -np.inf
    return float(dist[1, -1])


@claim("B41", "book: proposition",
       r"The network's numpy gradient is the derivative of its loss (checked entry by entry).",
       r"$\max|\nabla\mathcal L - \mathrm{FD}| / \max|\nabla\mathcal L|$, central differences, "
       r"tanh and softplus", "<=", 1e-8, "chapters/13_network")
def check_network_gradient() -> float:
    from .network import gradient_check, network_problem

    worst = 0.0
    for act in ("tanh", "softplus"):
        prob = network_problem(n=9, p=6, m=8, seed=5, activation=act)
        V = prob.V0 + 0.3 * np.random.default_rng(0).standard_normal(prob.V0.shape)
        worst = max(worst, gradient_check(prob, V))
    return worst


@claim("B42", "book: proposition",
       r"Claim C3 on real data: isotropic $K$ on random features of digits ends at $W_{GD}$.",
       r"largest $\Vert W_\infty-W_{GD}\Vert/\Vert W_0-W_{GD}\Vert$, GD, normalized, clipped GD, "
       r"60 digits, 600 features", "<=", 1e-13, "chapters/12_real_data", "rem-ch12-claims")
def check_digits_isotropic() -> float:
    from .data import digits_features

    prob = digits_features(n=60, d=600, seed=1).problem
    worst = 0.0
    for p in (pc.gd(), pc.normalized(1.0), pc.clip_norm(1.0)):
        res = solver.solve(prob, p, 0.9 * theory.stable_lr(prob, p), tol=1e-13, max_steps=50_000)
        if not res.converged:
            return np.inf
        worst = max(worst, float(theory.relative_distance(res.W, prob)))
    return worst


@_shared
def _digits_small() -> dict:
    """Adam and clipping by value on 60 digits (600 features) and on their Gaussian twin (ledger setting).

    Thresholds relative to the initial gradient as in the chapter
    (:func:`dspgd.figures.digits.scaled_preconditioners`), runs at 0.9 of the
    stable step until the relative residual is below ``1e-3``, limits
    estimated by the nearest interpolator. Returns the digits problem, the
    relative distances to ``W_GD`` per ``(problem, family)``, the limits on
    digits and ``W_GD`` (``None`` if a run did not converge).
    """
    from .data import digits_features, gaussian_twin
    from .figures.digits import scaled_preconditioners

    dig = digits_features(n=60, d=600, seed=1)
    out: dict = {"digits": dig, "distance": {}, "limits": {}, "W_gd": None}
    for name, prob in (("digits", dig.problem), ("twin", gaussian_twin(dig.problem, seed=1))):
        G0 = prob.X.T @ prob.residual(prob.W0)
        W_gd = theory.gd_limit(prob)
        for p in scaled_preconditioners(G0)[3:]:  # Adam, clipping by value
            res = solver.solve(prob, p, 0.9 * theory.stable_lr(prob, p), tol=1e-3, max_steps=50_000)
            if not res.converged:
                return {}
            W = sweeps.nearest_interpolator(prob, res.W)
            out["distance"][name, p.name] = float(theory.relative_distance(W, prob, W_gd))
            if name == "digits":
                out["limits"][p.name], out["W_gd"] = W, W_gd
    return out


@claim("B43", "book: proposition",
       r"Clipping by value on digits: once $\|G_t\|_F\le\tau$, every later step is a GD step, so the "
       r"interpolator nearest to $W_t$ is the limit itself, up to rounding.",
       r"$\|\Pi(W_t)-W_\infty\|/\|W_0-W_{\mathrm{GD}}\|$, $\Pi$ the nearest interpolator, $t$ the first "
       r"stop (relative residual $10^{-2}$) with $\|G_t\|_F\le\tau$, $W_\infty$ from the run to $10^{-13}$; "
       r"60 digits, 600 features", "<=", 1e-14, "chapters/12_real_data", "rem-ch12-projection")
def check_digits_projection() -> float:
    from .data import digits_features
    from .figures.digits import scaled_preconditioners

    prob = digits_features(n=60, d=600, seed=1).problem
    p = scaled_preconditioners(prob.X.T @ prob.residual(prob.W0))[4]
    lr = 0.9 * theory.stable_lr(prob, p)
    early = solver.solve(prob, p, lr, tol=1e-2, max_steps=50_000)
    late = solver.solve(prob, p, lr, tol=1e-13, max_steps=200_000)
    if not (early.converged and late.converged):
        return np.inf
    if np.linalg.norm(prob.X.T @ prob.residual(early.W)) > p.params["c"]:
        return np.nan  # the hypothesis of the remark did not occur: nothing is tested
    gap = sweeps.nearest_interpolator(prob, early.W) - sweeps.nearest_interpolator(prob, late.W)
    return float(np.linalg.norm(gap)) / _scale(prob)


@claim("B44", "book: observation",
       r"On digits the implicit bias of the entrywise maps is smaller than on a Gaussian $X$ of the same "
       r"shape, labels and initialization.",
       r"largest ratio (digits / Gaussian twin) of $\|W_\infty-W_{\mathrm{GD}}\|/\|W_0-W_{\mathrm{GD}}\|$, "
       r"Adam and clipping by value at 0.9 of the stable step; 60 digits, 600 features",
       "<=", 0.9, "chapters/12_real_data", "rem-ch12-bias")
def check_digits_bias() -> float:
    runs = _digits_small()
    if not runs:
        return np.inf
    dist = runs["distance"]
    return max(dist["digits", f] / dist["twin", f] for f in ("adam", "clip_value"))


@claim("B45", "book: observation",
       r"On held-out digits the limits of the entrywise maps classify as well as $W_{\mathrm{GD}}$ "
       r"(within 2 points), although they are a different interpolator.",
       r"smallest held-out accuracy of the limits of Adam and clipping by value (NaN if it differs from "
       r"$W_{\mathrm{GD}}$'s by more than 0.02); 60 digits, 600 features, 1737 held out",
       ">=", 0.82, "chapters/12_real_data", "rem-ch12-accuracy")
def check_digits_accuracy() -> float:
    runs = _digits_small()
    if not runs:
        return -np.inf
    dig = runs["digits"]
    acc = [float(dig.accuracy(W)) for W in runs["limits"].values()]
    if max(abs(a - float(dig.accuracy(runs["W_gd"]))) for a in acc) > 0.02:
        return np.nan
    return min(acc)


@claim("B46", "book: proposition",
       r"For isotropic $K$ the flow $V'=-\nabla K(\nabla\mathcal L(V))$ of a two-layer network is a time "
       r"change of gradient flow: it passes through the same points.",
       r"largest distance between the points where the flows of normalized GD and clipping by norm and "
       r"GD's flow cross 8 loss levels ($L_0/2$ to $10^{-3}L_0$), relative to GD's displacement "
       r"(integrator tolerance $10^{-10}$); NaN if Adam's flow does not leave GD's by 0.05",
       "<=", 1e-9, "chapters/13_network", "prop-ch13-time-change")
def check_network_time_change() -> float:
    from .figures.digits import scaled_preconditioners
    from .network import flow_points, network_problem

    prob = network_problem(n=16, p=12, m=32, seed=21)
    G0, _ = prob.gradient(prob.V0)
    Ks = {K.name: K for K in scaled_preconditioners(G0)}
    levels = float(prob.loss(prob.V0)) * np.geomspace(0.5, 1e-3, 8)
    ref = flow_points(prob, Ks["gd"], levels)
    scale = float(np.linalg.norm(ref[-1] - prob.V0))

    def gap(name: str) -> float:
        return float(np.max(np.linalg.norm(flow_points(prob, Ks[name], levels) - ref, axis=(-2, -1)))) / scale

    if gap("adam") < 0.05:  # the experiment must tell an isotropic flow from another one
        return np.nan
    return max(gap("normalized"), gap("clip_norm"))


@claim("B47", "book: observation",
       r"Two-layer network (NTK scaling): the distance of normalized GD's end point to GD's falls with the "
       r"width $m$; over $m\le 144$ the mean exponent is flatter than $-1/2$.",
       r"log-log slope in $m\in\{16, 48, 144\}$ of the geometric mean over 8 initializations of "
       r"$\|V_\infty^{K}-V_\infty^{\mathrm{GD}}\|/\|V_\infty^{\mathrm{GD}}-V_0\|$, at 0.25 of the "
       r"reference step", "in", (-0.45, -0.25), "chapters/13_network", "rem-ch13-width")
def check_network_width() -> float:
    from .network import network_problem, project_to_interpolant, reference_lr, train

    widths = (16, 48, 144)
    logs = []
    for m in widths:
        row = []
        for init in range(1, 9):
            prob = network_problem(n=32, p=32, m=m, seed=0, init_seed=init)
            G0, _ = prob.gradient(prob.V0)
            Ks = [pc.gd(), pc.normalized(0.1 * float(np.linalg.norm(G0)))]
            eta = reference_lr(prob)
            res = train(prob, Ks, [0.25 * eta / K.lipschitz for K in Ks], tol=1e-6, max_steps=5_000)
            if not np.all(res.status == "converged"):
                return np.nan
            try:
                V = project_to_interpolant(prob, res.W)
            except np.linalg.LinAlgError:
                return np.nan
            row.append(np.log(np.linalg.norm(V[1] - V[0]) / np.linalg.norm(V[0] - prob.V0)))
        logs.append(np.mean(row))
    return _loglog_slope(widths, np.exp(logs))
