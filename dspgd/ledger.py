"""The claims ledger: one executable check per claim of the paper and of this book.

Each check is a function that runs a small experiment and returns the
measured number; the ledger compares it with a threshold. The book's ledger
page and the test suite call the same functions, so a check that breaks
shows as a failing row in the book and as a failing test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import preconditioners as pc
from .losses import huber, logcosh, squared
from .problem import gaussian_problem
from .solver import solve
from .theory import bound_constant, diagonal_limit, distance_ratio, relative_distance, stable_lr

__all__ = ["Claim", "Row", "CLAIMS", "claim", "run", "run_all"]

_OPS: dict[str, Callable[[float, float], bool]] = {"<=": lambda m, t: m <= t, ">=": lambda m, t: m >= t}
_OP_TEX = {"<=": r"$\le$", ">=": r"$\ge$"}


@dataclass(frozen=True)
class Claim:
    """A claim and the check that tests it.

    Attributes
    ----------
    key : str
        Short identifier (``"C1"`` ... for the paper, ``"B..."`` for this book).
    source : str
        ``"paper"``, ``"book: proposition"`` or ``"book: observation"``.
    statement : str
        The claim in one line (Markdown with math).
    measure : str
        What the number is.
    op : str
        ``"<="`` or ``">="``: how the measured number must compare with the threshold.
    threshold : float
    check : callable
        Runs the experiment, returns the measured number.
    chapter : str
        The chapter where the claim is discussed.
    """

    key: str
    source: str
    statement: str
    measure: str
    op: str
    threshold: float
    check: Callable[[], float]
    chapter: str


@dataclass(frozen=True)
class Row:
    """A claim with its measured number and verdict."""

    claim: Claim
    measured: float
    passed: bool


CLAIMS: dict[str, Claim] = {}


def claim(key: str, source: str, statement: str, measure: str, op: str, threshold: float,
          chapter: str) -> Callable[[Callable[[], float]], Callable[[], float]]:
    """Register ``check`` as the test of a claim."""
    if op not in _OPS:
        raise ValueError(f"op must be one of {sorted(_OPS)}, got {op!r}")

    def deco(check: Callable[[], float]) -> Callable[[], float]:
        CLAIMS[key] = Claim(key, source, statement, measure, op, threshold, check, chapter)
        return check

    return deco


def run(c: Claim) -> Row:
    """Run one check; a non-finite measurement fails."""
    m = float(c.check())
    return Row(c, m, bool(np.isfinite(m) and _OPS[c.op](m, c.threshold)))


def run_all() -> list[Row]:
    """Run every registered check, in registration order."""
    return [run(c) for c in CLAIMS.values()]


# ------------------------------------------------------------------ setting

SEEDS = (0, 1, 2)
_N, _D = 20, 100


def _smooth_family() -> list[pc.Preconditioner]:
    return [pc.gd(), pc.normalized(0.1), pc.clip_norm(0.5), pc.adam(0.1), pc.clip_value(0.1),
            pc.power(1.5, 0.1), pc.spectral(0.1), pc.diagonal(np.linspace(0.5, 2.0, _D))]


def _lrs(prob, p, loss=None, fractions=(0.1, 0.3, 0.9)) -> np.ndarray:
    return np.asarray(fractions) * stable_lr(prob, p, loss)


# ------------------------------------------------------------------ paper


@claim("C1", "paper",
       r"For convex smooth $K$, DSPGD converges to an interpolator $W_\infty$ with $XW_\infty = Y$.",
       "largest final relative residual over 8 smooth preconditioners, 3 losses, 2 step sizes below "
       r"$2/(L_K\beta)$, 2 seeds", "<=", 1e-10, "chapters/03_convergence")
def check_convergence() -> float:
    worst = 0.0
    for seed in SEEDS[:2]:
        prob = gaussian_problem(_N, _D, k=2, seed=seed)
        r0 = np.linalg.norm(prob.residual(prob.W0))
        for loss in (squared(), huber(0.5), logcosh()):
            for p in _smooth_family():
                res = solve(prob, p, _lrs(prob, p, loss, (0.2, 0.9)), loss=loss, tol=1e-12, max_steps=50_000)
                if not np.all(res.converged):
                    return np.inf
                worst = max(worst, float(np.max(res.residual)) / r0)
    return worst


@claim("C1a", "book: proposition",
       r"Below $\eta < 2/(L_K\beta)$ the loss never increases (the loss-decrease lemma).",
       r"largest recorded increase $\max_t (\mathcal{L}_{t+1}-\mathcal{L}_t)/\mathcal{L}_0$ "
       "(rounding level is about 1e-16)", "<=", 1e-14, "chapters/03_convergence")
def check_monotone_loss() -> float:
    worst = -np.inf
    prob = gaussian_problem(_N, _D, k=2, seed=0)
    for p in _smooth_family():
        res = solve(prob, p, _lrs(prob, p, fractions=(0.5, 0.99)), tol=1e-12, n_record=100_000)
        h = res.loss_history
        inc = np.nanmax(np.diff(h, axis=0) / h[0], axis=0)
        worst = max(worst, float(np.max(inc)))
    return worst


@claim("C2", "paper",
       r"For non-isotropic $K$ the limit $W_\infty$ depends on the learning rate.",
       r"spread $\max_\eta - \min_\eta$ of $\|W_\infty-W_{GD}\|/\|W_0-W_{GD}\|$ for "
       r"Adam$_{\beta=0}$ over two decades of $\eta$", ">=", 1e-3, "chapters/04_lr_dependence")
def check_lr_dependence() -> float:
    prob = gaussian_problem(_N, _D, k=1, seed=0)
    p = pc.adam(0.1)
    lrs = np.geomspace(0.005, 0.5, 7) * stable_lr(prob, p)
    res = solve(prob, p, lrs, tol=1e-12)
    if not np.all(res.converged):
        return -np.inf
    d = relative_distance(res.W, prob)
    return float(d.max() - d.min())


@claim("C3", "paper",
       r"Isotropic $K(G)=h(\|G\|_F)$: $W_\infty = W_{GD}$, the interpolator closest to $W_0$.",
       r"largest $\|W_\infty-W_{GD}\|/\|W_0-W_{GD}\|$ over GD, normalized, clipped GD, "
       r"3 step sizes, 3 seeds, $k\in\{1,3\}$", "<=", 1e-10, "chapters/05_isotropic")
def check_isotropic() -> float:
    worst = 0.0
    for seed in SEEDS:
        for k in (1, 3):
            prob = gaussian_problem(_N, _D, k=k, seed=seed)
            for p in (pc.gd(), pc.normalized(0.1), pc.clip_norm(0.5)):
                res = solve(prob, p, _lrs(prob, p), tol=1e-13, max_steps=50_000)
                if not np.all(res.converged):
                    return np.inf
                worst = max(worst, float(np.max(relative_distance(res.W, prob))))
    return worst


@claim("C4", "paper",
       r"General $K$: $\|W_0-W_\infty\|_F \le c\,\|W_0-W_{GD}\|_F$.",
       r"largest ratio $\|W_0-W_\infty\|/(c\,\|W_0-W_{GD}\|)$ with this book's explicit $c$, "
       "over 4 non-isotropic preconditioners, 3 step sizes, 3 seeds", "<=", 1.0,
       "chapters/06_general_bound")
def check_bound() -> float:
    worst = 0.0
    for seed in SEEDS:
        prob = gaussian_problem(_N, _D, k=1, seed=seed)
        for p in (pc.adam(0.1), pc.clip_value(0.1), pc.power(1.5, 0.1), pc.diagonal(np.linspace(0.5, 2.0, _D))):
            lrs = _lrs(prob, p)
            res = solve(prob, p, lrs, tol=1e-12)
            if not np.all(res.converged):
                return np.inf
            ratio = distance_ratio(res.W, prob)
            c = np.array([bound_constant(prob, p, lr) for lr in lrs])
            worst = max(worst, float(np.max(ratio / c)))
    return worst


@claim("C4a", "book: proposition",
       r"Every interpolator is at least as far from $W_0$ as $W_{GD}$: the ratio of C4 is $\ge 1$.",
       r"smallest ratio $\|W_0-W_\infty\|/\|W_0-W_{GD}\|$ over the runs of C4, minus 1 "
       "(the runs stop at relative residual 1e-12, so it may dip below 0 at that level)", ">=", -1e-10, "chapters/06_general_bound")
def check_lower_bound() -> float:
    best = np.inf
    for seed in SEEDS:
        prob = gaussian_problem(_N, _D, k=1, seed=seed)
        for p in (pc.adam(0.1), pc.clip_value(0.1), pc.power(1.5, 0.1), pc.gd()):
            res = solve(prob, p, _lrs(prob, p), tol=1e-12)
            best = min(best, float(np.min(distance_ratio(res.W, prob))) - 1.0)
    return best


# ------------------------------------------------------------------ this book


@claim("B1", "book: proposition",
       r"Spectral (Muon-type) $K$, with $\nabla K(G)=G\,M(G)$, also converge to $W_{GD}$ (not isotropic).",
       r"largest $\|W_\infty-W_{GD}\|/\|W_0-W_{GD}\|$ for smoothed spectral $K$, $k=3$, "
       r"2 values of $\epsilon$, 3 step sizes, 3 seeds", "<=", 1e-10, "chapters/07_spectral")
def check_spectral() -> float:
    worst = 0.0
    for seed in SEEDS:
        prob = gaussian_problem(_N, _D, k=3, seed=seed)
        for eps in (0.05, 0.5):
            p = pc.spectral(eps)
            res = solve(prob, p, _lrs(prob, p), tol=1e-13, max_steps=50_000)
            if not np.all(res.converged):
                return np.inf
            worst = max(worst, float(np.max(relative_distance(res.W, prob))))
    return worst


@claim("B2", "book: proposition",
       r"Fixed diagonal $K$: $W_\infty = \arg\min \|W-W_0\|_{D^{-1}}$ s.t. $XW=Y$, for every stable $\eta$.",
       r"largest $\|W_\infty-W_D\|/\|W_0-W_D\|$ over 3 step sizes, 3 seeds, $k\in\{1,2\}$",
       "<=", 1e-10, "chapters/04_lr_dependence")
def check_diagonal() -> float:
    worst = 0.0
    for seed in SEEDS:
        for k in (1, 2):
            prob = gaussian_problem(_N, _D, k=k, seed=seed)
            D = np.random.default_rng(seed).uniform(0.5, 2.0, size=(_D, k))
            p = pc.diagonal(D)
            res = solve(prob, p, _lrs(prob, p), tol=1e-13, max_steps=50_000)
            if not np.all(res.converged):
                return np.inf
            WD = diagonal_limit(prob, D)
            worst = max(worst, float(np.max(relative_distance(res.W, prob, W_ref=WD))))
    return worst


@claim("B3", "book: observation",
       r"Non-isotropic limits are genuinely different from $W_{GD}$ (Adam$_{\beta=0}$, clipping by value).",
       r"smallest $\|W_\infty-W_{GD}\|/\|W_0-W_{GD}\|$ over 3 step sizes, 3 seeds",
       ">=", 1e-2, "chapters/04_lr_dependence")
def check_not_gd() -> float:
    best = np.inf
    for seed in SEEDS:
        prob = gaussian_problem(_N, _D, k=1, seed=seed)
        for p in (pc.adam(0.1), pc.clip_value(0.1)):
            res = solve(prob, p, _lrs(prob, p), tol=1e-12)
            if not np.all(res.converged):
                return -np.inf
            best = min(best, float(np.min(relative_distance(res.W, prob))))
    return best


def markdown_table(rows: list[Row]) -> str:
    """The ledger as a MyST Markdown table (math in the cells)."""
    head = ("| verdict: measured vs threshold | claim, and the check in `dspgd.ledger` that tests it |\n"
            "|:--|:--|\n")
    lines = []
    for r in rows:
        c = r.claim
        mark = "**pass**" if r.passed else "**FAIL**"
        chap = f"[{c.key}]({c.chapter.split('/')[-1]}.md)"
        lines.append(
            f"| {mark}: {_fmt(r.measured)} {_OP_TEX[c.op]} {_fmt(c.threshold)} "
            f"| **{chap}** {_cell(c.statement)} *({c.source})* "
            f"Check `{c.check.__name__}`: {_cell(c.measure)}. |"
        )
    return head + "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Make text safe inside a Markdown table cell (a bare ``|`` would end the cell)."""
    return text.replace(r"\|", r"\Vert ").replace("|", r"\vert ")


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return "$+\\infty$" if x > 0 else "$-\\infty$"
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e4):
        m, e = f"{x:.2e}".split("e")
        return f"${m}\\times 10^{{{int(e)}}}$"
    return f"${x:.4g}$"


# ------------------------------------------------------------------ beyond the paper


@claim("B4", "book: proposition",
       r"Three-point identity $D_F(A,B)+D_F(B,C)-D_F(A,C)=\langle\nabla F(C)-\nabla F(B),A-B\rangle$.",
       r"largest gap over the smooth preconditioners' $K$ as $F$, 50 random triples each",
       "<=", 1e-10, "chapters/03_convergence")
def check_three_point() -> float:
    from .bregman import three_point_gap

    rng = np.random.default_rng(0)
    worst = 0.0
    for p in _smooth_family():
        A, B, C = (rng.standard_normal((50, _D, 1)) for _ in range(3))
        worst = max(worst, float(np.max(np.abs(three_point_gap(p, A, B, C)))))
    return worst


@claim("B5", "book: proposition",
       r"Mirror descent lands on $\arg\min D_\psi(W,W_0)$ s.t. $XW=Y$ (computed independently), for every $\eta$.",
       r"largest $\Vert W_\infty-W_\psi\Vert/\Vert W_0-W_\psi\Vert$ over two $p$-norm potentials, "
       "3 step sizes, 2 seeds", "<=", 1e-8, "chapters/09_mirror_descent")
def check_mirror() -> float:
    from .mirror import mirror_descent, mirror_limit, pnorm

    worst = 0.0
    for seed in SEEDS[:2]:
        prob = gaussian_problem(_N, _D, k=1, seed=seed)
        for pot in (pnorm(1.5), pnorm(3.0)):
            res = mirror_descent(prob, pot, np.array([0.02, 0.05, 0.1]), tol=1e-13, max_steps=50_000)
            if not np.all(res.converged):
                return np.inf
            ref = mirror_limit(prob, pot)
            worst = max(worst, float(np.max(relative_distance(res.W, prob, W_ref=ref))))
    return worst


@claim("B6", "book: proposition",
       r"Mini-batch DSPGD with isotropic $K$ still ends at $W_{GD}$.",
       r"largest $\Vert W_\infty-W_{GD}\Vert/\Vert W_0-W_{GD}\Vert$ over GD, normalized, clipped GD, "
       "3 batch sizes, 2 seeds", "<=", 1e-10, "chapters/11_minibatch")
def check_minibatch_isotropic() -> float:
    from .minibatch import minibatch_solve

    worst = 0.0
    prob = gaussian_problem(_N, _D, k=1, seed=0)
    for p in (pc.gd(), pc.normalized(0.1), pc.clip_norm(0.5)):
        for b in (2, 5, _N // 2):
            for seed in SEEDS[:2]:
                lr = 0.3 * stable_lr(prob, p) * b / _N
                res = minibatch_solve(prob, p, lr, batch_size=b, seed=seed, tol=1e-13, max_steps=100_000)
                if not res.converged:
                    return np.inf
                worst = max(worst, float(relative_distance(res.W, prob)))
    return worst


@claim("B7", "book: proposition",
       r"Momentum without Adam's division (steps = combinations of past gradients) ends at $W_{GD}$.",
       r"largest $\Vert W_\infty-W_{GD}\Vert/\Vert W_0-W_{GD}\Vert$ for $\beta_1\in\{0.5, 0.9\}$, 2 seeds",
       "<=", 1e-10, "chapters/08_adam_memory")
def check_momentum() -> float:
    from .adam_memory import MomentumRule, run_stateful

    worst = 0.0
    for seed in SEEDS[:2]:
        prob = gaussian_problem(_N, _D, k=1, seed=seed)
        for beta1 in (0.5, 0.9):
            res = run_stateful(prob, MomentumRule(beta1), 0.1 * stable_lr(prob, pc.gd()), tol=1e-13,
                               max_steps=50_000)
            if not res.converged:
                return np.inf
            worst = max(worst, float(relative_distance(res.W, prob)))
    return worst


@claim("B8", "book: observation",
       r"Full Adam ($\beta_1,\beta_2>0$) is not DSPGD; where it converges, it lands away from $W_{GD}$.",
       r"smallest $\Vert W_\infty-W_{GD}\Vert/\Vert W_0-W_{GD}\Vert$ for torch-default betas, "
       r"$\epsilon=10^{-3}$, 3 step sizes", ">=", 1e-2, "chapters/08_adam_memory")
def check_full_adam() -> float:
    from .adam_memory import adam_solve

    prob = gaussian_problem(_N, _D, k=1, seed=0)
    res = adam_solve(prob, np.array([1e-3, 3e-3, 1e-2]), betas=(0.9, 0.999), eps=1e-3, tol=1e-12,
                     max_steps=50_000)
    if not np.all(res.converged):
        return -np.inf
    return float(np.min(relative_distance(res.W, prob)))


@claim("B9", "book: proposition",
       r"Fixed diagonal $K$: the gradient-flow limit equals the discrete limit and the closed form.",
       r"$\Vert W_{\mathrm{flow}}-W_D\Vert/\Vert W_0-W_D\Vert$", "<=", 1e-8, "chapters/10_small_step")
def check_flow_diagonal() -> float:
    from .flow import flow_limit

    prob = gaussian_problem(_N, _D, k=1, seed=0)
    D = np.linspace(0.5, 2.0, _D)
    fl = flow_limit(prob, pc.diagonal(D))
    return float(relative_distance(fl.W, prob, W_ref=diagonal_limit(prob, D)))


@claim("B10", "book: observation",
       r"As $\eta\to 0$, Adam$_{\beta=0}$'s limit tends to the gradient-flow limit, which is still not $W_{GD}$.",
       r"$\Vert W_{\mathrm{flow}}-W_{GD}\Vert/\Vert W_0-W_{GD}\Vert$", ">=", 1e-2, "chapters/10_small_step")
def check_flow_adam() -> float:
    from .flow import flow_limit

    prob = gaussian_problem(_N, _D, k=1, seed=0)
    fl = flow_limit(prob, pc.adam(0.1))
    res = solve(prob, pc.adam(0.1), 1e-2 * stable_lr(prob, pc.adam(0.1)), tol=1e-12, max_steps=100_000)
    # the discrete limit at a small step must be close to the flow limit, else the row is void
    if not res.converged or relative_distance(res.W, prob, W_ref=fl.W) > 1e-2:
        return -np.inf
    return float(relative_distance(fl.W, prob))


# ------------------------------------------------------------------ beyond: real data and a network
# Rows of the chapters "Real data: handwritten digits" and "A two-layer network".

from functools import lru_cache  # noqa: E402  (this section keeps its imports to itself)


_NET_FRACTIONS = (0.2, 0.1, 0.05)


@lru_cache(maxsize=1)
def _network_endpoints(fractions: tuple[float, ...] = _NET_FRACTIONS):
    """GD, normalized GD and Adam (beta = 0) on a small network, end points polished (ledger setting).

    Returns the problem and the distances ``(map, fraction)`` of normalized GD
    and Adam to GD's end point at the same fraction (``None`` if a run failed).
    """
    from .network import network_problem, project_to_interpolant, reference_lr, train

    prob = network_problem(n=16, p=12, m=32, seed=21)
    G0, _ = prob.gradient(prob.V0)
    g = float(np.linalg.norm(G0))
    Ks = [pc.gd(), pc.normalized(0.1 * g), pc.adam(0.1 * g / np.sqrt(G0.size))]
    fr = np.asarray(fractions)
    eta = reference_lr(prob)
    res = train(prob, [K for K in Ks for _ in fr], [f * eta / K.lipschitz for K in Ks for f in fr], tol=1e-7)
    if not np.all(res.status == "converged"):
        return prob, None
    V = project_to_interpolant(prob, res.W).reshape(len(Ks), fr.size, prob.m, prob.p)
    dist = np.linalg.norm(V[1:] - V[0][None], axis=(-2, -1)) / np.linalg.norm(V[0] - prob.V0, axis=(-2, -1))
    return prob, dist


@claim("B11", "book: observation",
       r"Two-layer network, isotropic $K$: the end point approaches GD's at rate $\eta$.",
       r"$|s-1|$ for the log-log slope $s$ of normalized GD's distance to GD's end point over "
       r"$\eta/\eta_{\mathrm{ref}}\in\{0.2, 0.1, 0.05\}$", "<=", 0.2, "chapters/13_network")
def check_network_isotropic_rate() -> float:
    _, dist = _network_endpoints()
    if dist is None:
        return np.inf
    return abs(float(np.polyfit(np.log(_NET_FRACTIONS), np.log(dist[0]), 1)[0]) - 1.0)


@claim("B12", "book: observation",
       r"Two-layer network, Adam$_{\beta=0}$: an $O(1)$ gap to GD's end point that small steps do not close.",
       r"distance to GD's end point at the smallest of $\eta/\eta_{\mathrm{ref}}\in\{0.2, 0.1, 0.05\}$, "
       r"relative to GD's displacement", ">=", 0.1, "chapters/13_network")
def check_network_gap() -> float:
    _, dist = _network_endpoints()
    if dist is None or dist[1, -1] < 0.5 * dist[1, 0]:  # a gap shrinking with eta is no O(1) gap
        return -np.inf
    return float(dist[1, -1])


@claim("B13", "book: proposition",
       r"The network's numpy gradient is the derivative of its loss (checked entry by entry).",
       r"$\max|\nabla\mathcal L - \mathrm{FD}| / \max|\nabla\mathcal L|$, central differences, "
       r"tanh and softplus", "<=", 1e-7, "chapters/13_network")
def check_network_gradient() -> float:
    from .network import gradient_check, network_problem

    worst = 0.0
    for act in ("tanh", "softplus"):
        prob = network_problem(n=9, p=6, m=8, seed=5, activation=act)
        V = prob.V0 + 0.3 * np.random.default_rng(0).standard_normal(prob.V0.shape)
        worst = max(worst, gradient_check(prob, V))
    return worst


@claim("B14", "book: proposition",
       r"Claim C3 on real data: isotropic $K$ on random features of digits ends at $W_{GD}$.",
       r"largest $\Vert W_\infty-W_{GD}\Vert/\Vert W_0-W_{GD}\Vert$, GD, normalized, clipped GD, "
       r"60 digits, 600 features", "<=", 1e-10, "chapters/12_real_data")
def check_digits_isotropic() -> float:
    from .data import digits_features

    prob = digits_features(n=60, d=600, seed=1).problem
    worst = 0.0
    for p in (pc.gd(), pc.normalized(1.0), pc.clip_norm(1.0)):
        res = solve(prob, p, 0.9 * stable_lr(prob, p), tol=1e-13, max_steps=50_000)
        if not res.converged:
            return np.inf
        worst = max(worst, float(relative_distance(res.W, prob)))
    return worst
