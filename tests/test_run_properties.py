"""Properties of the one iteration loop (``dspgd.solver.run``), on random problems.

Hypothesis draws small problems, a method (DSPGD with any preconditioner, Adam with memory,
mirror descent, mini-batch DSPGD and mini-batch mirror descent), a set of learning rates (some far above the stable step, so
that runs diverge or overflow) and a stopping rule; derandomized, so every run of the suite
checks the same examples.

* batched = looped: one call with ``B`` learning rates gives, member by member, the status and
  step count of ``B`` calls with one learning rate, and the same iterate up to round-off;
* a stopped run never changes again: its outcome does not depend on how long the other runs
  go on, and its history is NaN after it stopped;
* every field of a result is finite, or the status says why (the history after a stop, the
  history entry of a diverged run).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dspgd
from dspgd.adam_memory import adam_solve
from dspgd.minibatch import minibatch_solve, stochastic_mirror_descent
from dspgd.mirror import mirror_descent, pnorm, weighted_quadratic

HYP = settings(derandomize=True, max_examples=25, deadline=None)

PRECONDITIONERS = {
    "gd": lambda d, k: dspgd.gd(),
    "normalized": lambda d, k: dspgd.normalized(0.3),
    "clip_norm": lambda d, k: dspgd.clip_norm(0.5),
    "adam": lambda d, k: dspgd.adam(0.05),
    "clip_value": lambda d, k: dspgd.clip_value(0.1),
    "power": lambda d, k: dspgd.power(1.5, 0.1),
    "spectral": lambda d, k: dspgd.spectral(0.2),
    "diagonal": lambda d, k: dspgd.diagonal(np.linspace(0.5, 2.0, d * k).reshape(d, k)),
    "sign": lambda d, k: dspgd.sign(),
    "flat_ball": lambda d, k: dspgd.flat_ball(0.3),
}


@st.composite
def cases(draw, methods=("dspgd",)):
    """A problem, a method, a preconditioner, learning rates and a stopping rule.

    Hypothesis draws one integer; the case is built from it with NumPy's generator, so that
    the few derandomized examples spread over every method, preconditioner and outcome.
    """
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 7))
    d = int(rng.integers(n + 2, 19))
    k = int(rng.integers(1, 4))
    prob = dspgd.gaussian_problem(n, d, k, seed=int(rng.integers(10_000)))
    method = str(rng.choice(methods))
    precond = PRECONDITIONERS[str(rng.choice(sorted(PRECONDITIONERS)))](d, k)
    base = dspgd.stable_lr(prob, precond) or 0.1 / prob.op_norm**2
    if method == "adam_memory":  # Adam's step is about lr per entry: its own scale
        base = 1e-3
    fractions = rng.choice([0.02, 0.1, 0.4, 0.9, 1.5, 4.0, 1e3, 1e300], size=int(rng.integers(1, 6)))
    stop = {"tol": float(rng.choice([0.0, 1e-6, 1e-10])), "max_steps": int(rng.choice([0, 3, 300, 1500])),
            "patience": int(rng.integers(0, 6)), "blowup": float(rng.choice([1e3, 1e6, np.inf]))}
    return prob, method, precond, fractions * base, stop, fractions, seed


def _run(prob, method, precond, lr, stop):
    if method == "dspgd":
        return dspgd.solve(prob, precond, lr, **stop)
    if method == "adam_memory":
        return adam_solve(prob, lr, betas=(0.9, 0.99), eps=1e-3, **stop)
    if method == "mirror_quadratic":
        return mirror_descent(prob, weighted_quadratic(np.linspace(0.5, 2.0, prob.d)), lr, **stop)
    if method == "mirror_pnorm":
        return mirror_descent(prob, pnorm(3.0), lr, **stop)
    if method == "stochastic_mirror":
        return stochastic_mirror_descent(prob, pnorm(3.0), lr, batch_size=max(1, prob.n // 2), seed=3, **stop)
    return minibatch_solve(prob, precond, lr, batch_size=max(1, prob.n // 2), seed=3, **stop)


def _close(A, B):
    scale = max(1.0, float(np.max(np.abs(B))))
    return float(np.max(np.abs(A - B))) <= 1e-9 * scale


METHODS = ("dspgd", "dspgd", "adam_memory", "mirror_quadratic", "mirror_pnorm", "minibatch", "stochastic_mirror")


@HYP
@given(cases(METHODS))
def test_batched_equals_looped(case):
    prob, method, precond, lrs, stop, fractions, _ = case
    batched = _run(prob, method, precond, lrs, stop)
    for b, lr in enumerate(lrs):
        one = _run(prob, method, precond, float(lr), stop)
        assert one.status == batched.status[b], (b, one.message, batched.message[b])
        assert one.steps == batched.steps[b]
        # The products with X round differently for one column and for B (BLAS blocking): the
        # iterates agree to round-off where the iteration does not amplify it, below the
        # stable step (above it, e.g. Adam oscillating, round-off grows exponentially).
        if fractions[b] <= 1:
            assert _close(batched.W[b], one.W)
            assert abs(one.path_length - batched.path_length[b]) <= 1e-9 * max(1.0, one.path_length)


@HYP
@given(cases(METHODS), st.integers(1, 200))
def test_a_stopped_run_never_changes_again(case, more):
    prob, method, precond, lrs, stop, fractions, _ = case
    short = _run(prob, method, precond, lrs, stop)
    longer = _run(prob, method, precond, lrs, {**stop, "max_steps": stop["max_steps"] + more})
    for b in range(len(lrs)):
        if short.status[b] == "max_steps":
            continue
        # stopped before max_steps: going on longer changes nothing for this run
        assert longer.status[b] == short.status[b] and longer.steps[b] == short.steps[b]
        np.testing.assert_array_equal(longer.W[b], short.W[b])
        assert longer.path_length[b] == short.path_length[b]
        after = longer.history_steps > longer.steps[b]
        assert np.all(np.isnan(longer.residual_history[after, b]))
        assert np.all(np.isnan(longer.loss_history[after, b]))


@HYP
@given(cases(METHODS))
def test_every_field_is_finite_or_the_status_says_why(case):
    prob, method, precond, lrs, stop, fractions, _ = case
    res = _run(prob, method, precond, lrs, stop)
    assert set(res.status) <= set(dspgd.solver.STATUSES)
    assert np.all(np.isfinite(res.W))
    for field in (res.residual, res.loss, res.path_length, res.lr):
        assert np.all(np.isfinite(field))
    assert np.all((res.steps >= 0) & (res.steps <= stop["max_steps"]))
    for b in range(len(lrs)):
        upto = res.history_steps < res.steps[b]
        assert np.all(np.isfinite(res.residual_history[upto, b]))
        at = res.history_steps == res.steps[b]
        assert at.sum() == 1
        assert np.isfinite(res.residual_history[at, b][0]) == (res.status[b] != "diverged")
        assert res.message[b]
        if res.status[b] == "stalled":
            assert method == "dspgd" and precond.name == "flat_ball"
        if res.status[b] == "converged" and res.steps[b] > 0:
            r0 = np.linalg.norm(prob.residual(prob.W0))
            assert res.residual[b] <= max(stop["tol"] * r0, dspgd.solver.rounding_level(prob))


@pytest.mark.parametrize("radius", [0.05, 0.3, 1.0])
def test_flat_ball_stalls_at_a_fixed_point_that_does_not_interpolate(radius):
    """The step at the returned iterate leaves it exactly unchanged (zero, or below rounding)."""
    prob = dspgd.gaussian_problem(6, 20, 2, seed=1)
    p = dspgd.flat_ball(radius)
    lrs = np.array([0.2, 0.9]) * dspgd.stable_lr(prob, p)
    res = dspgd.solve(prob, p, lrs, max_steps=20_000)
    r0 = np.linalg.norm(prob.residual(prob.W0))
    for b in range(2):
        assert res.status[b] == "stalled" and res.steps[b] < 20_000, res.message[b]
        G = prob.X.T @ prob.residual(res.W[b])
        assert np.array_equal(res.W[b] - lrs[b] * p.grad(G), res.W[b])
        assert res.residual[b] > 1e-3 * r0
        assert ("exactly zero" in res.message[b]) == (not np.any(p.grad(G)))
