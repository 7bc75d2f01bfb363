"""DSPGD, ``W_{t+1} = W_t - lr * grad K(G(W_t))``, batched over learning rates."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from .losses import Loss, squared
from .preconditioners import Preconditioner
from .problem import Problem
from .theory import stable_lr

__all__ = ["Result", "solve", "check_lr", "check_run_args", "STATUSES"]

STATUSES = ("converged", "max_steps", "diverged")


@dataclass
class Result:
    """The outcome of :func:`solve` (and of the other solvers of the package).

    For a scalar learning rate the fields are scalars and ``W`` has shape
    ``(d, k)``; for ``B`` learning rates ``W`` has shape ``(B, d, k)`` and
    ``status``, ``steps``, ``residual``, ``loss``, ``path_length`` and
    ``message`` have length ``B``.

    Attributes
    ----------
    W : ndarray
        Final iterate; for a diverged run, the last finite iterate (never NaN).
    status : str or ndarray of str
        ``"converged"``, ``"max_steps"`` or ``"diverged"``.
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
        counts = {s: int(np.sum(self.status == s)) for s in STATUSES}
        return f"Result({self.method}, {len(self)} learning rates: {counts})"


def check_lr(lr: float | np.ndarray) -> tuple[np.ndarray, bool]:
    """Validate learning rates; return them as a 1-D array and whether a scalar was given."""
    arr = np.asarray(lr, dtype=np.float64)
    if arr.ndim > 1:
        raise ValueError(f"lr must be a scalar or a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("lr is an empty array")
    if not np.all(np.isfinite(arr)) or not np.all(arr > 0):
        raise ValueError(f"every learning rate must be a positive finite number, got {lr!r}")
    return np.atleast_1d(arr), arr.ndim == 0


def check_run_args(tol: float, max_steps: int, patience: int, blowup: float) -> tuple[int, int]:
    """Validate the stopping-rule arguments shared by every solver; return ``max_steps, patience`` as ints."""
    if not (np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    for name, v in (("max_steps", max_steps), ("patience", patience)):
        try:
            ok = int(v) == v and v >= 0
        except (TypeError, ValueError, OverflowError):  # None, NaN, inf
            ok = False
        if not ok:
            raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
    if not blowup > 1:
        raise ValueError(f"blowup must be > 1, got {blowup!r}")
    return int(max_steps), int(patience)


def _record_grid(max_steps: int, n_record: int) -> np.ndarray:
    dense = np.arange(min(max_steps, n_record) + 1)
    if max_steps <= n_record:
        return dense
    geo = np.unique(np.round(np.geomspace(n_record, max_steps, n_record)).astype(int))
    return np.union1d(dense, geo)


def solve(
    problem: Problem,
    precond: Preconditioner,
    lr: float | np.ndarray,
    loss: Loss | None = None,
    tol: float = 1e-10,
    max_steps: int = 20_000,
    patience: int = 20,
    blowup: float = 1e6,
    n_record: int = 256,
    progress: bool = False,
) -> Result:
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
        A run has converged when its relative residual
        ``||XW_t - Y|| / ||XW_0 - Y||`` is ``<= tol`` and stays there for
        ``patience`` further steps. ``tol = 0`` never stops early.
    max_steps : int
        Largest number of updates.
    patience : int
        Steps the residual must stay below ``tol`` (a run above the stable
        step size can dip below ``tol`` and leave again).
    blowup : float
        A run whose residual exceeds ``blowup`` times its start, or becomes
        non-finite, is stopped as ``"diverged"``.
    n_record : int
        Roughly how many history points to keep.
    progress : bool
        Show a progress bar.

    Returns
    -------
    Result
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a dspgd.Problem, got {type(problem).__name__}")
    if not isinstance(precond, Preconditioner):
        raise TypeError(f"precond must be a dspgd Preconditioner, got {type(precond).__name__}")
    loss = squared() if loss is None else loss
    lrs, scalar = check_lr(lr)
    max_steps, patience = check_run_args(tol, max_steps, patience, blowup)

    X, Y = problem.X, problem.Y
    XT = np.ascontiguousarray(X.T)  # X^T @ R is faster on a contiguous copy than on the view
    n, d, k = problem.n, problem.d, problem.k
    B = lrs.size
    probe = precond.grad(np.zeros((1, d, k)))
    if probe.shape != (1, d, k):
        raise ValueError(f"{precond!r} maps a gradient of shape {(d, k)} to shape {probe.shape[1:]}")

    # working set: the active runs side by side, member b in columns b*k:(b+1)*k
    active = np.arange(B)
    Wa = np.tile(problem.W0, B)
    Ya = np.tile(Y, B)
    lra = np.repeat(lrs, k)
    W_prev = Wa
    wide = precond.columnwise  # precondition the (d, Ba k) block in one call, no transposes
    r0 = float(np.linalg.norm(problem.residual(problem.W0)))
    thresh = tol * r0

    W_out = np.empty((B, d, k))
    status = np.empty(B, dtype=object)
    steps = np.zeros(B, dtype=int)
    res_out = np.zeros(B)
    loss_out = np.zeros(B)
    path = np.zeros(B)
    below = np.zeros(B, dtype=int)
    messages: list[str] = [""] * B

    grid = set(_record_grid(max_steps, n_record).tolist())
    h_steps: list[int] = []
    h_res: list[np.ndarray] = []
    h_loss: list[np.ndarray] = []
    slr = stable_lr(problem, precond, loss)

    bar = tqdm(total=max_steps, disable=not progress, desc=f"DSPGD {precond.name}", leave=False)
    t = 0
    while True:
        Ba = active.size
        R = X @ Wa
        R -= Ya
        res = np.sqrt(np.einsum("nbk,nbk->b", R.reshape(n, Ba, k), R.reshape(n, Ba, k)))

        bad = ~np.isfinite(res) | (res > blowup * max(r0, np.finfo(float).tiny))
        if tol > 0:
            below[active] = np.where(res <= thresh, below[active] + 1, 0)
            done = below[active] > patience
        else:
            done = np.zeros(Ba, dtype=bool)
        done |= bad
        at_end = t >= max_steps
        if at_end:
            done[:] = True

        record = t in grid or bool(done.any())
        if record:
            lv = loss.pointwise(R).reshape(n, Ba, k).sum(axis=(0, 2))
            rr = np.full(B, np.nan)
            ll = np.full(B, np.nan)
            rr[active], ll[active] = res, lv
            rr[active[bad]] = np.nan  # nothing non-finite or absurd in a history
            ll[active[bad]] = np.nan
            h_steps.append(t)
            h_res.append(rr)
            h_loss.append(ll)

        if done.any():
            Wcur = Wa.reshape(d, Ba, k).transpose(1, 0, 2)
            Wold = W_prev.reshape(d, Ba, k).transpose(1, 0, 2)
            for j in np.flatnonzero(done):
                b = active[j]
                steps[b] = t
                if bad[j]:
                    use_cur = np.all(np.isfinite(Wcur[j])) and np.isfinite(res[j])
                    W_out[b] = Wcur[j] if use_cur else Wold[j]
                    fin = Wcur[j] if use_cur else Wold[j]
                    res_out[b] = float(np.linalg.norm(X @ fin - Y))
                    loss_out[b] = loss.value(X @ fin - Y)
                    status[b] = "diverged"
                    hint = (f"; lr {lrs[b]:.3g} exceeds the stable step 2/(L_K beta ||X||^2) = {slr:.3g}"
                            if slr > 0 and lrs[b] > slr else "")
                    messages[b] = (f"diverged at step {t}: the residual grew from {r0:.3g} to "
                                   f"{res[j]:.3g} (limit {blowup:g} times its start){hint}")
                else:
                    W_out[b] = Wcur[j]
                    res_out[b] = res[j]
                    loss_out[b] = loss.value(R.reshape(n, Ba, k)[:, j, :])
                    rel = res[j] / r0 if r0 > 0 else 0.0
                    if tol > 0 and below[b] > patience:
                        status[b] = "converged"
                        messages[b] = (f"converged: relative residual {rel:.2e} <= tol {tol:g} "
                                       f"for {patience} further steps (step {t})")
                        if slr > 0 and lrs[b] > slr:
                            messages[b] += (f"; caution: lr {lrs[b]:.3g} exceeds the stable step "
                                            f"{slr:.3g}, where an unstable mode damped to rounding level "
                                            "can regrow after many steps (check with tol=0 and more steps)")
                    else:
                        status[b] = "max_steps"
                        messages[b] = (f"stopped at max_steps = {max_steps} with relative residual "
                                       f"{rel:.2e} (tol {tol:g}): not converged")
            keep = ~done
            active = active[keep]
            if active.size == 0:
                break
            cols = (np.flatnonzero(keep)[:, None] * k + np.arange(k)).ravel()
            Wa, Ya, lra, R = Wa[:, cols], Ya[:, cols], lra[cols], R[:, cols]
            Ba = active.size

        # one step for the active runs
        G = XT @ loss.grad(R)
        if wide:
            P = precond.grad(G)
        else:
            P = precond.grad(G.reshape(d, Ba, k).transpose(1, 0, 2))
            P = P.transpose(1, 0, 2).reshape(d, Ba * k)
        sq = np.einsum("ij,ij->j", P, P)
        path[active] += lra[::k] * np.sqrt(sq if k == 1 else sq.reshape(Ba, k).sum(axis=1))
        if P.flags.writeable and P.flags.c_contiguous and not np.may_share_memory(P, Wa):
            # the step's own (fresh, cache-warm) buffer becomes the next iterate
            np.multiply(P, lra, out=P)
            W_prev, Wa = Wa, np.subtract(Wa, P, out=P)
        else:
            W_prev, Wa = Wa, Wa - P * lra
        t += 1
        if progress and t % 50 == 0:
            bar.update(50)
            bar.set_postfix(active=active.size)
    bar.close()

    hist_res = np.array(h_res)
    hist_loss = np.array(h_loss)
    method = f"DSPGD[{precond!r}]"
    if scalar:
        return Result(W_out[0], str(status[0]), int(steps[0]), float(res_out[0]), float(loss_out[0]),
                      float(path[0]), np.array(h_steps), hist_res[:, 0], hist_loss[:, 0], messages[0],
                      float(lrs[0]), method)
    return Result(W_out, status.astype(str), steps, res_out, loss_out, path, np.array(h_steps),
                  hist_res, hist_loss, messages, lrs, method)
