"""The one iteration loop of the package, and DSPGD, ``W_{t+1} = W_t - lr * grad K(G(W_t))``.

Every method of the package is an update rule (:class:`Rule`), in the
spirit of optax: it sets up its state for ``B`` runs (:meth:`Rule.start`),
makes one step from the iterates, their residuals, the learning rates and
the step number (:meth:`Rule.step`), and drops the state of runs that have
stopped (:meth:`Rule.keep`). Everything else is written once, in
:func:`run`:

* the working set: the active runs side by side as one ``d x (B k)``
  matrix (member ``b`` in columns ``b k .. (b + 1) k - 1``), so each step is
  one product with ``X`` and one with ``X^T``, and a run that has stopped
  leaves the matrix and no longer costs work;
* the stopping rule (relative residual below ``tol`` for ``patience``
  further steps, or an absolute residual at rounding level), the
  divergence test, the exact fixed point that does not interpolate
  (``"stalled"``);
* the history grid, the :class:`Result` and its messages;
* containment of floating-point overflow: NumPy's warnings inside the loop
  are counted, not shown, and summarized in the messages.

DSPGD with any preconditioner (:class:`DSPGD`, run by :func:`solve`), Adam
with memory and momentum (:mod:`dspgd.adam_memory`), mirror descent
(:mod:`dspgd.mirror`) and mini-batch DSPGD (:mod:`dspgd.minibatch`) are
rules.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

from . import _checks as checks
from .losses import Loss
from .preconditioners import Preconditioner
from .problem import Problem
from .theory import stable_lr

__all__ = [
    "STATUSES",
    "Result",
    "solve",
    "DSPGD",
    "Rule",
    "Context",
    "Options",
    "options",
    "run",
    "record_grid",
    "rounding_level",
    "run_norms",
    "step_lengths",
    "take_step",
    "check_lr",
    "check_run_args",
]

STATUSES = ("converged", "max_steps", "diverged", "stalled")

#: Unit roundoff of float64 (half the machine epsilon).
UNIT_ROUNDOFF = np.finfo(float).eps / 2

#: ``W0`` counts as an interpolator when ``||XW0 - Y||`` is within this many rounding levels.
START_FACTOR = 8.0

#: A step shorter than this times ``||W0|| + path length`` may leave ``W`` unchanged: it is compared
#: (at every step for a step that is exactly zero, every ``STALL_EVERY`` steps otherwise).
STALL_RATIO, STALL_EVERY = 1e-12, 64

#: Largest ``n_record``.
MAX_RECORD = 10**7


@dataclass
class Result:
    """The outcome of :func:`solve` (and of the other solvers of the package).

    For a scalar learning rate the fields are scalars and ``W`` has shape
    ``(d, k)``; for ``B`` learning rates ``W`` has shape ``(B, d, k)`` and
    ``status``, ``steps``, ``residual``, ``loss``, ``path_length`` and
    ``message`` have length ``B``.

    Every field is finite, except the history: NaN after a run stopped, and at
    the step where a run diverged.

    Attributes
    ----------
    W : ndarray
        Final iterate; for a diverged run, the last iterate whose residual,
        loss and path length are finite (never NaN).
    status : str or ndarray of str
        ``"converged"``: the relative residual ``||XW_t - Y|| / ||XW_0 - Y||``
        stayed ``<= tol`` for ``patience`` further steps (or the residual
        itself stayed at rounding level; a ``W0`` that already interpolates
        to rounding level converges at step 0).
        ``"max_steps"``: ``max_steps`` updates made without converging.
        ``"diverged"``: the residual exceeded ``blowup`` times its start or
        became non-finite.
        ``"stalled"``: the step left the iterate exactly unchanged at a
        point that does not interpolate (the residual is above the
        tolerance and 8 times the rounding level), so it can never change again:
        a fixed point of the method that is not a solution. Either the step
        was exactly zero (DSPGD with a ``K`` whose gradient vanishes at a
        nonzero gradient) or it was below the rounding of ``W``; the
        message says which. Only a method whose step depends on the current
        iterate alone can stall.
    steps : int or ndarray
        Number of updates made.
    residual : float or ndarray
        Final ``||XW - Y||_F``.
    loss : float or ndarray
        Final loss.
    path_length : float or ndarray
        ``sum_t ||W_{t+1} - W_t||_F``.
    history_steps : ndarray, shape (T,)
        Steps at which the history was recorded (all of the first steps, then
        a geometric grid, plus every step at which a run stopped).
    residual_history, loss_history : ndarray, shape (T,) or (T, B)
        Residual norm and loss at ``history_steps``; NaN after a run stopped.
    message : str or list of str
        What happened, in words.
    lr : float or ndarray
        The learning rate(s).
    method : str
        Name of the method and preconditioner.
    """

    W: np.ndarray
    status: str | np.ndarray
    steps: int | np.ndarray
    residual: float | np.ndarray
    loss: float | np.ndarray
    path_length: float | np.ndarray
    history_steps: np.ndarray
    residual_history: np.ndarray
    loss_history: np.ndarray
    message: str | list[str]
    lr: float | np.ndarray
    method: str = ""
    extra: dict = field(default_factory=dict, repr=False)

    @property
    def converged(self) -> bool | np.ndarray:
        """Whether (each run) converged."""
        return np.asarray(self.status) == "converged" if np.ndim(self.status) else self.status == "converged"

    def __getitem__(self, b: int) -> "Result":
        """Member ``b`` of a batched result, as a scalar result."""
        if np.ndim(self.status) == 0:
            raise TypeError("this result is not batched")
        return Result(
            self.W[b], str(self.status[b]), int(self.steps[b]), float(self.residual[b]),
            float(self.loss[b]), float(self.path_length[b]), self.history_steps,
            self.residual_history[:, b], self.loss_history[:, b], self.message[b],
            float(self.lr[b]), self.method,
        )

    def __len__(self) -> int:
        return 0 if np.ndim(self.status) == 0 else len(self.status)

    def __repr__(self) -> str:
        if np.ndim(self.status) == 0:
            return (f"Result({self.method}, lr={self.lr:g}: {self.status} after {self.steps} steps, "
                    f"residual {self.residual:.3g})")
        counts = {s: int(np.sum(self.status == s)) for s in STATUSES if s != "stalled" or np.any(self.status == s)}
        return f"Result({self.method}, {len(self)} learning rates: {counts})"


# ------------------------------------------------------------------ options


@dataclass(frozen=True)
class Options:
    """The validated stopping-rule arguments of every solver (see :func:`dspgd.solve`)."""

    tol: float = 1e-10
    max_steps: int = 20_000
    patience: int = 20
    blowup: float = 1e6
    n_record: int = 256
    progress: bool = False


def options(tol: object = 1e-10, max_steps: object = 20_000, patience: object = 20, blowup: object = 1e6,
            n_record: object = 256, progress: object = False) -> Options:
    """Check the stopping-rule arguments shared by every solver; raise ``TypeError``/``ValueError`` naming the bad one."""
    tol = checks.real("tol", tol, low=0.0, high=1.0, high_open=True)
    max_steps = checks.integer("max_steps", max_steps, high=checks.MAX_STEPS)
    patience = checks.integer("patience", patience, high=checks.MAX_STEPS)
    blowup = checks.number("blowup", blowup)
    if not blowup > 1:
        raise ValueError(f"blowup must be > 1 (inf: stop only at a non-finite residual), got {blowup!r}")
    n_record = checks.integer("n_record", n_record, low=1, high=MAX_RECORD)
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    return Options(tol, max_steps, patience, blowup, n_record, bool(progress))


def record_grid(max_steps: int, n_record: int) -> np.ndarray:
    """Steps at which the history is recorded: ``0..n_record``, then ``n_record`` geometric steps to ``max_steps``."""
    dense = np.arange(min(max_steps, n_record) + 1)
    if max_steps <= n_record:
        return dense
    geo = np.unique(np.round(np.geomspace(n_record, max_steps, n_record)).astype(np.int64))
    return np.union1d(dense, geo)


def rounding_level(problem: Problem) -> float:
    """The rounding level of the residual near ``W0``: ``u (||X||_op ||W0||_F + ||Y||_F)``.

    ``u = 2^-53`` is the unit roundoff; a computed ``||XW - Y||`` below this
    carries no more information. A run converges when its residual stays
    below ``max(tol ||XW0 - Y||, rounding_level)``; a ``W0`` whose residual
    is within 8 rounding levels already interpolates, and a run whose ``W``
    no longer changes stalls only above 8 rounding levels.
    """
    return float(UNIT_ROUNDOFF * (problem.op_norm * np.linalg.norm(problem.W0) + np.linalg.norm(problem.Y)))


# ------------------------------------------------------------------ rules


class Context:
    """What a rule sees of the problem, on the runner's layout.

    Attributes
    ----------
    X, XT, Y : ndarray
        ``X``, a contiguous copy of ``X^T`` and ``Y``.
    n, d, k : int
    loss : Loss
    problem : Problem
    """

    def __init__(self, problem: Problem, loss: Loss) -> None:
        self.problem = problem
        self.X, self.Y = problem.X, problem.Y
        self.XT = np.ascontiguousarray(problem.X.T)  # X^T @ R is faster on a contiguous copy than on the view
        self.n, self.d, self.k = problem.n, problem.d, problem.k
        self.loss = loss

    def gradient(self, R: np.ndarray) -> np.ndarray:
        """``G = X^T grad l(R)`` for the stacked residuals ``R`` (``n x (B k)``)."""
        return self.XT @ self.loss.grad(R)

    def runs(self, A: np.ndarray) -> np.ndarray:
        """The stacked ``d x (B k)`` matrix ``A`` as a ``(B, d, k)`` view (member by member)."""
        d, k = A.shape[0], self.k
        return A.reshape(d, A.shape[1] // k, k).transpose(1, 0, 2)

    def stacked(self, A3: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`runs`: ``(B, d, k)`` to ``d x (B k)`` (a view when the memory allows)."""
        B, d, k = A3.shape
        return A3.transpose(1, 0, 2).reshape(d, B * k)

    def columns(self, keep: np.ndarray) -> np.ndarray:
        """Column indices of the runs where the boolean mask ``keep`` is True."""
        return (np.flatnonzero(keep)[:, None] * self.k + np.arange(self.k)).ravel()


def run_norms(A: np.ndarray, k: int) -> np.ndarray:
    """``||A_b||_F`` for every run ``b`` of a stacked matrix ``A`` (``d x (B k)``)."""
    sq = np.einsum("ij,ij->j", A, A)
    return np.sqrt(sq if k == 1 else sq.reshape(A.shape[1] // k, k).sum(axis=1))


def step_lengths(P: np.ndarray, lr: np.ndarray, k: int) -> np.ndarray:
    """``lr_b ||P_b||_F`` for every run ``b`` of a stacked step direction ``P`` (``d x (B k)``)."""
    return lr[::k] * run_norms(P, k)


def take_step(W: np.ndarray, P: np.ndarray, lr: np.ndarray) -> np.ndarray:
    """``W - lr * P`` (``lr`` per column); reuses ``P``'s buffer when it is the rule's own fresh array."""
    if P.flags.writeable and P.flags.c_contiguous and not np.may_share_memory(P, W):
        # the step's own (fresh, cache-warm) buffer becomes the next iterate
        np.multiply(P, lr, out=P)
        return np.subtract(W, P, out=P)
    return W - P * lr


class Rule(Protocol):
    """An update rule for :func:`run`, batched over learning rates.

    Attributes
    ----------
    name : str
        Name of the method, stored in the result.
    memoryless : bool
        The step depends on the current iterate alone (DSPGD): a step that
        leaves the iterate exactly unchanged is then a fixed point, and the
        runner stops the run as ``"stalled"`` (unless it interpolates, to
        the tolerance or to rounding level).
    """

    name: str
    memoryless: bool

    def start(self, ctx: Context, B: int) -> None:
        """Check the rule against the problem and set up the state of ``B`` runs."""

    def step(self, W: np.ndarray, R: np.ndarray, lr: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        """One update of every active run.

        Parameters
        ----------
        W : ndarray, shape (d, B k)
            The iterates, side by side (must not be modified).
        R : ndarray, shape (n, B k)
            Their residuals ``XW - Y``.
        lr : ndarray, shape (B k,)
            Each run's learning rate, repeated over its ``k`` columns.
        t : int
            The step number, from 1.

        Returns
        -------
        W_next : ndarray, shape (d, B k)
        lengths : ndarray, shape (B,)
            ``||W_next - W||_F`` of each run (or the exact ``lr ||step||``).
        """

    def keep(self, keep: np.ndarray) -> None:
        """Drop the state of the runs where the boolean mask ``keep`` (over the active runs) is False."""

    def stable_lr(self) -> float:
        """Optional: the step-size bound of the method, for messages (0 if there is none)."""

    def stall_reason(self) -> str:
        """Optional: why a zero step happens, for the message of a stalled run."""


# ------------------------------------------------------------------ the runner


class _FloatingPointEvents:
    """Counts NumPy's floating-point error events (``np.errstate(call=...)``) instead of warning."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def __call__(self, kind: str, flag: int) -> None:
        self.counts[kind] += 1

    def summary(self) -> str:
        if not self.counts:
            return ""
        what = ", ".join(f"{n} {kind}" for kind, n in sorted(self.counts.items()))
        return f"; NumPy reported floating-point errors during the run ({what}), contained: no warning was raised"


def run(problem: Problem, rule: Rule, lr: float | np.ndarray, loss: Loss | None, opts: Options) -> Result:
    """Run ``rule`` from ``problem.W0`` for every learning rate in ``lr``, with the stopping rule of ``opts``.

    Parameters
    ----------
    problem : Problem
    rule : Rule
    lr : float or 1-D array
    loss : Loss or None
    opts : Options
        From :func:`options`.

    Returns
    -------
    Result
        Scalar fields for a scalar ``lr``, arrays of length ``B`` otherwise.
    """
    problem = checks.problem(problem)
    loss = checks.loss(loss)
    lrs, scalar = checks.learning_rates(lr)
    if not isinstance(opts, Options):
        raise TypeError(f"opts must be dspgd.solver.Options (from dspgd.solver.options), got {type(opts).__name__}")
    for attr in ("start", "step", "keep", "name"):
        if not hasattr(rule, attr):
            raise TypeError(f"rule must be an update rule with start, step and keep methods, got {type(rule).__name__}")
    ctx = Context(problem, loss)
    B = lrs.size
    events = _FloatingPointEvents()
    with np.errstate(over="call", invalid="call", divide="call", under="ignore", call=events):
        rule.start(ctx, B)
        out = _loop(ctx, rule, lrs, opts)
        messages = out.pop("messages")
        note = events.summary()
        if note:
            diverged = [b for b in range(B) if out["status"][b] == "diverged"]
            for b in diverged or range(B):
                messages[b] += note
    hist_res, hist_loss = out["residual_history"], out["loss_history"]
    if scalar:
        return Result(out["W"][0], str(out["status"][0]), int(out["steps"][0]), float(out["residual"][0]),
                      float(out["loss"][0]), float(out["path"][0]), out["history_steps"], hist_res[:, 0],
                      hist_loss[:, 0], messages[0], float(lrs[0]), rule.name)
    return Result(out["W"], out["status"].astype(str), out["steps"], out["residual"], out["loss"], out["path"],
                  out["history_steps"], hist_res, hist_loss, messages, lrs, rule.name)


def _loop(ctx: Context, rule: Rule, lrs: np.ndarray, opts: Options) -> dict:
    """The iteration: returns the per-run outcome and the history as arrays.

    Per-run state of the active runs (``below``, ``path``, ...) is kept aligned with
    ``active`` and compacted with the working set, so a step costs a fixed handful of
    small array operations besides the two products with ``X``.
    """
    X, Y, n, d, k = ctx.X, ctx.Y, ctx.n, ctx.d, ctx.k
    tol, max_steps, patience, blowup = opts.tol, opts.max_steps, opts.patience, opts.blowup
    B = lrs.size
    problem = ctx.problem

    # working set: the active runs side by side, member b in columns b*k:(b+1)*k
    active = np.arange(B)
    Wa = np.tile(problem.W0, B)
    Ya = np.tile(Y, B)
    lra = np.repeat(lrs, k)
    W_prev = Wa
    r0 = float(np.linalg.norm(problem.residual(problem.W0)))
    floor = rounding_level(problem)
    thresh = max(tol * r0, floor) if tol > 0 else 0.0
    # a run whose W no longer changes does not interpolate when its residual is above this
    stuck = max(thresh, START_FACTOR * floor)
    at_once = tol > 0 and r0 <= START_FACTOR * floor
    limit = blowup * max(r0, np.finfo(float).tiny)
    finite_limit = bool(np.isfinite(limit))
    slr = float(rule.stable_lr()) if hasattr(rule, "stable_lr") else 0.0
    w0 = float(np.linalg.norm(problem.W0))

    # per active run: steps below tol in a row, path length (and before the last step), stall
    below = np.zeros(B, dtype=np.int64)
    path = path_prev = np.zeros(B)
    stalled: np.ndarray | None = None  # created when a memoryless rule first leaves W unchanged
    stall_length = np.zeros(B)  # length of that step (0: exactly zero)

    out = {"W": np.empty((B, d, k)), "status": np.empty(B, dtype=object), "steps": np.zeros(B, dtype=int),
           "residual": np.zeros(B), "loss": np.zeros(B), "path": np.zeros(B)}
    messages: list[str] = [""] * B
    grid = set(record_grid(max_steps, opts.n_record).tolist())
    h_steps: list[int] = []
    h_res: list[np.ndarray] = []
    h_loss: list[np.ndarray] = []

    bar = tqdm(total=max_steps, disable=not opts.progress, desc=rule.name, leave=False)
    t = 0
    while True:
        Ba = active.size
        R = X @ Wa
        R -= Ya
        R3 = R.reshape(n, Ba, k)
        res = np.sqrt(np.einsum("nbk,nbk->b", R3, R3))

        bad = ~(res <= limit) if finite_limit else ~np.isfinite(res)  # NaN and inf fail "<= limit"
        done = bad
        conv = None
        if tol > 0:
            below = np.where(res <= thresh, below + 1, 0)
            conv = below > patience
            if at_once and t == 0:
                conv[:] = True
            done = done | conv
        stall = None
        if stalled is not None:
            stall = stalled & (res > stuck) & ~bad
            done = done | stall
        at_end = t >= max_steps
        any_done = at_end or np.count_nonzero(done) > 0

        if any_done or t in grid:
            rr, ll = np.full(B, np.nan), np.full(B, np.nan)
            rr[active] = res
            ll[active] = ctx.loss.pointwise(R).reshape(n, Ba, k).sum(axis=(0, 2))
            rr[active[bad]] = ll[active[bad]] = np.nan  # nothing non-finite or absurd in a history
            h_steps.append(t)
            h_res.append(rr)
            h_loss.append(ll)

        if any_done:
            Wcur, Wold = ctx.runs(Wa), ctx.runs(W_prev)
            for j in (range(Ba) if at_end else np.flatnonzero(done)):
                b = active[j]
                out["steps"][b] = t
                rel = res[j] / r0 if r0 > 0 else 0.0
                if bad[j]:
                    _diverged(ctx, out, b, Wcur[j], Wold[j], res[j], path[j], path_prev[j])
                    out["status"][b] = "diverged"
                    hint = (f"; lr {lrs[b]:.3g} exceeds the stable step 2/(L_K beta ||X||^2) = {slr:.3g}"
                            if 0 < slr < lrs[b] else "")
                    messages[b] = (f"diverged at step {t}: the residual grew from {r0:.3g} to "
                                   f"{res[j]:.3g} (limit {blowup:g} times its start){hint}")
                    continue
                out["W"][b], out["residual"][b], out["path"][b] = Wcur[j], res[j], path[j]
                out["loss"][b] = ctx.loss.value(R3[:, j, :])
                if conv is not None and conv[j]:
                    out["status"][b] = "converged"
                    messages[b] = _converged_message(t, rel, res[j], r0, floor, tol, patience, at_once)
                    if 0 < slr < lrs[b]:
                        messages[b] += (f"; caution: lr {lrs[b]:.3g} exceeds the stable step "
                                        f"{slr:.3g}, where an unstable mode damped to rounding level "
                                        "can regrow after many steps (check with tol=0 and more steps)")
                elif stall is not None and stall[j]:
                    out["status"][b] = "stalled"
                    messages[b] = _stalled_message(rule, t, rel, stall_length[j])
                else:
                    out["status"][b] = "max_steps"
                    messages[b] = (f"stopped at max_steps = {max_steps} with relative residual "
                                   f"{rel:.2e} (tol {tol:g}): not converged")
            if at_end:
                break
            keep = ~done
            active = active[keep]
            if active.size == 0:
                break
            rule.keep(keep)
            cols = ctx.columns(keep)
            Wa, Ya, lra, R = Wa[:, cols], Ya[:, cols], lra[cols], R[:, cols]
            res, below, path, stall_length = res[keep], below[keep], path[keep], stall_length[keep]
            stalled = None if stalled is None else stalled[keep]

        W_next, lengths = rule.step(Wa, R, lra, t + 1)
        if rule.memoryless and (t % STALL_EVERY == 0 or np.count_nonzero(lengths) < lengths.size):
            # a zero step, or one far below the size of W, may leave W unchanged: then W is a
            # fixed point (checked at every zero step, and every STALL_EVERY steps for tiny ones)
            for j in np.flatnonzero((lengths <= STALL_RATIO * (w0 + path)) & (res > stuck)):
                c = slice(j * k, (j + 1) * k)
                if np.array_equal(W_next[:, c], Wa[:, c]):
                    stalled = np.zeros(active.size, dtype=bool) if stalled is None else stalled
                    stalled[j], stall_length[j] = True, lengths[j]
        path_prev, path = path, path + lengths
        W_prev, Wa = Wa, W_next
        t += 1
        if opts.progress and t % 50 == 0:
            bar.update(50)
            bar.set_postfix(active=active.size)
    bar.close()
    out.update({"history_steps": np.array(h_steps), "residual_history": np.array(h_res),
                "loss_history": np.array(h_loss), "messages": messages})
    return out


def _stalled_message(rule: Rule, t: int, rel: float, length: float) -> str:
    if length == 0:
        reason = rule.stall_reason() if hasattr(rule, "stall_reason") else ""
        return (f"stalled at step {t}: the step is exactly zero at relative residual {rel:.2e}, "
                "a fixed point that does not interpolate" + (f" ({reason})" if reason else ""))
    return (f"stalled at step {t}: the iterate no longer changes (its step, of length {length:.1e}, is below "
            f"the rounding of W) at relative residual {rel:.2e}, a fixed point in floating point that does "
            "not interpolate")


def _converged_message(t: int, rel: float, res: float, r0: float, floor: float, tol: float,
                       patience: int, at_once: bool) -> str:
    if at_once and t == 0:
        return (f"converged at once: W0 already interpolates (||XW0 - Y|| = {r0:.2e}, within "
                f"{START_FACTOR:g} times the rounding level {floor:.2e} of the residual)")
    if rel <= tol:
        return (f"converged: relative residual {rel:.2e} <= tol {tol:g} "
                f"for {patience} further steps (step {t})")
    return (f"converged: residual {res:.2e} at the rounding level {floor:.2e} of the residual for "
            f"{patience} further steps (step {t}); relative residual {rel:.2e}, tol {tol:g} is below "
            "what float64 resolves here")


def _diverged(ctx: Context, out: dict, b: int, Wcur: np.ndarray, Wold: np.ndarray, res: float,
              path: float, path_prev: float) -> None:
    """Store the last iterate of a diverged run whose residual, loss and path length are finite."""
    if np.isfinite(res) and np.isfinite(path) and np.all(np.isfinite(Wcur)):
        R = ctx.X @ Wcur - ctx.Y
        value = ctx.loss.value(R)
        if np.isfinite(value):
            out["W"][b], out["residual"][b], out["loss"][b], out["path"][b] = Wcur, float(np.linalg.norm(R)), value, path
            return
    # the iterate before: its residual passed the test of the previous step
    R = ctx.X @ Wold - ctx.Y
    out["W"][b], out["residual"][b], out["loss"][b] = Wold, float(np.linalg.norm(R)), ctx.loss.value(R)
    out["path"][b] = path_prev


# ------------------------------------------------------------------ DSPGD


#: The record grid under its former name.
_record_grid = record_grid


def check_lr(lr: float | np.ndarray) -> tuple[np.ndarray, bool]:
    """Validate learning rates; return them as a 1-D array and whether a scalar was given."""
    return checks.learning_rates(lr)


def check_run_args(tol: float, max_steps: int, patience: int, blowup: float) -> tuple[int, int]:
    """Validate the stopping-rule arguments shared by every solver; return ``max_steps, patience`` as ints."""
    opts = options(tol, max_steps, patience, blowup)
    return opts.max_steps, opts.patience


class DSPGD:
    """DSPGD as an update rule: ``W <- W - lr grad K(X^T grad l(XW - Y))``, no state.

    Preconditioners that act on each column alike (``precond.columnwise``)
    are applied to the whole ``d x (B k)`` block in one call; the others to
    the ``(B, d, k)`` view of it, member by member.
    """

    memoryless = True

    def __init__(self, precond: Preconditioner) -> None:
        self.precond = checks.preconditioner(precond)
        self.name = f"DSPGD[{precond!r}]"
        self._slr = 0.0

    def start(self, ctx: Context, B: int) -> None:
        probe = self.precond.grad(np.zeros((1, ctx.d, ctx.k)))
        if probe.shape != (1, ctx.d, ctx.k):
            raise ValueError(f"{self.precond!r} maps a gradient of shape {(ctx.d, ctx.k)} to shape {probe.shape[1:]}")
        self.ctx = ctx
        self._slr = stable_lr(ctx.problem, self.precond, ctx.loss)

    def direction(self, G: np.ndarray) -> np.ndarray:
        """``grad K`` of every run of the stacked gradient ``G`` (``d x (B k)``), stacked."""
        if self.precond.columnwise:
            return self.precond.grad(G)
        return self.ctx.stacked(self.precond.grad(self.ctx.runs(G)))

    def step(self, W: np.ndarray, R: np.ndarray, lr: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        P = self.direction(self.ctx.gradient(R))
        lengths = step_lengths(P, lr, self.ctx.k)
        return take_step(W, P, lr), lengths

    def keep(self, keep: np.ndarray) -> None:
        pass

    def stable_lr(self) -> float:
        return self._slr

    def stall_reason(self) -> str:
        return "grad K vanishes at a nonzero gradient"


def solve(problem: Problem, precond: Preconditioner, lr: float | np.ndarray, loss: Loss | None = None,
          tol: float = 1e-10, max_steps: int = 20_000, patience: int = 20, blowup: float = 1e6,
          n_record: int = 256, progress: bool = False) -> Result:
    """Run DSPGD from ``problem.W0``: ``W <- W - lr * grad K(X^T grad l(XW - Y))``.

    Parameters
    ----------
    problem : Problem
    precond : Preconditioner
    lr : float or 1-D array
        Learning rate(s). An array of ``B`` values runs ``B`` independent runs
        in one stacked computation (the runs lie side by side as a
        ``d x (B k)`` matrix, so each step is one product with ``X`` and one
        with ``X^T``); a run that has stopped no longer costs work.
    loss : Loss, optional
        Default: squared loss.
    tol : float
        In ``[0, 1)``. A run has converged when its relative residual
        ``||XW_t - Y|| / ||XW_0 - Y||`` is ``<= tol`` and stays there for
        ``patience`` further steps, or when its residual stays at the
        rounding level ``u (||X||_op ||W_0||_F + ||Y||_F)`` (``u = 2^-53``),
        which a tiny ``tol`` or a ``W_0`` close to an interpolator may not
        let it go below; a ``W_0`` within 8 rounding levels of interpolating
        has converged at step 0. ``tol = 0`` never stops early.
    max_steps : int
        Largest number of updates (at most ``10**9``).
    patience : int
        Steps the residual must stay below ``tol`` (a run above the stable
        step size can dip below ``tol`` and leave again).
    blowup : float
        A run whose residual exceeds ``blowup`` times its start, or becomes
        non-finite, is stopped as ``"diverged"``.
    n_record : int
        Roughly how many history points to keep (a positive integer).
    progress : bool
        Show a progress bar.

    Returns
    -------
    Result
        A run whose step is exactly zero at a point that does not
        interpolate (``grad K`` vanishes at a nonzero gradient, as for
        :func:`dspgd.preconditioners.flat_ball`) is stopped at once as
        ``"stalled"``: the iterate can never change again. Floating-point
        overflow in a diverging run raises no warning; the messages say
        that it happened.

    Raises
    ------
    TypeError, ValueError
        For an argument of the wrong kind or out of range, before any
        computation; the message names the argument.
    """
    opts = options(tol, max_steps, patience, blowup, n_record, progress)
    return run(problem, DSPGD(precond), lr, loss, opts)
