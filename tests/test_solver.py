"""The DSPGD solver: the limits it reaches, batching, the stopping rule, divergence, bookkeeping
and validation."""

from __future__ import annotations

import numpy as np
import pytest

import dspgd
from dspgd import Problem

FRACS = np.array([0.15, 0.5, 0.9])  # learning rates as fractions of stable_lr


def _hand_loop(p: Problem, P, lr: float, steps: int, loss=None):
    """The update ``W <- W - lr grad K(X^T grad l(XW - Y))`` written out, with its path length."""
    loss = dspgd.squared() if loss is None else loss
    W, path = p.W0.copy(), 0.0
    for _ in range(steps):
        step = lr * P.grad(p.X.T @ loss.grad(p.X @ W - p.Y))
        path += np.linalg.norm(step)
        W = W - step
    return W, path


# ---------------------------------------------------------------- the limits


@pytest.mark.parametrize("P", [dspgd.gd(), dspgd.normalized(0.5), dspgd.clip_norm(0.5), dspgd.spectral(0.5)], ids=repr)
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_isotropic_and_spectral_runs_converge_to_the_gd_solution(P, k, seed):
    """Claim C3 (and its spectral extension), to 1e-10 at every step size.

    Why ``tol = 1e-13`` suffices: the steps of these ``K`` stay in the row space
    of ``X``, so ``W - W_GD`` lies there too and
    ``||W - W_GD|| <= ||X (W - W_GD)|| / sigma_min = ||R|| / sigma_min
    <= tol ||R_0|| / sigma_min <= tol cond(X) ||W0 - W_GD||``; here
    ``cond(X) < 4``, so ``tol = 1e-13`` leaves three orders of magnitude for rounding.
    """
    p = dspgd.gaussian_problem(10, 40, k, seed=seed)
    assert p.condition_number < 4
    lrs = FRACS * dspgd.stable_lr(p, P)
    tol = 1e-13
    res = dspgd.solve(p, P, lrs, tol=tol, max_steps=20_000)
    assert res.status.tolist() == ["converged"] * len(lrs), res.message
    rel = dspgd.relative_distance(res.W, p)
    assert np.all(rel <= 1e-10)
    assert np.all(rel <= 1.01 * tol * p.condition_number + 1e-12)  # the bound of the docstring


@pytest.mark.parametrize("k,Dshape", [(1, "d"), (1, "dk"), (2, "d"), (2, "dk")])
def test_diagonal_runs_converge_to_the_weighted_minimum_distance_interpolator(k, Dshape):
    p = dspgd.gaussian_problem(10, 40, k, seed=3)
    rng = np.random.default_rng(7)
    D = rng.uniform(0.3, 2.0, 40 if Dshape == "d" else (40, k))
    P = dspgd.diagonal(D)
    lrs = FRACS * dspgd.stable_lr(p, P)
    res = dspgd.solve(p, P, lrs, tol=1e-13, max_steps=20_000)
    assert np.all(res.converged), res.message
    W_D = dspgd.diagonal_limit(p, D)
    base = np.linalg.norm(W_D - p.W0)
    err = np.linalg.norm(res.W - W_D, axis=(1, 2)) / base
    assert np.all(err <= 1e-10)
    assert np.all(dspgd.relative_distance(res.W, p) > 1e-3)  # not the GD solution


@pytest.mark.parametrize("P", [dspgd.adam(0.05), dspgd.clip_value(0.05)], ids=repr)
@pytest.mark.parametrize("k", [1, 2])
def test_entrywise_runs_converge_to_another_interpolator_that_depends_on_the_step(P, k):
    """Claims C1, C2, C4: an interpolator, clearly not ``W_GD``, and a different one for each step size."""
    p = dspgd.gaussian_problem(10, 40, k, seed=4)
    lrs = FRACS * dspgd.stable_lr(p, P)
    tol = 1e-12
    res = dspgd.solve(p, P, lrs, tol=tol, max_steps=50_000)
    assert np.all(res.converged), res.message
    r0 = np.linalg.norm(p.residual(p.W0))
    assert np.all(res.residual <= tol * r0)
    rel = dspgd.relative_distance(res.W, p)
    ratio = dspgd.distance_ratio(res.W, p)
    assert np.all(rel > 1e-3)
    assert np.all(ratio >= 1.0)
    # Pythagoras for an interpolator: ratio^2 = 1 + rel^2, up to the residual's share
    np.testing.assert_allclose(ratio**2, 1 + rel**2, rtol=1e-9)
    # the limit moves with the step size
    assert np.min(np.abs(np.diff(rel))) > 1e-3 * np.max(rel)


# ------------------------------------------------------------- the iteration


@pytest.mark.parametrize("P,k,loss", [
    (dspgd.adam(0.05), 1, dspgd.huber(0.5)),
    (dspgd.spectral(0.2), 3, dspgd.squared()),
    (dspgd.clip_norm(0.3), 2, dspgd.logcosh()),
    (dspgd.diagonal(np.linspace(0.5, 2.0, 20)), 2, dspgd.squared()),
], ids=["adam-huber", "spectral-k3", "clip_norm-logcosh", "diagonal-k2"])
def test_solve_performs_exactly_the_dspgd_update_and_sums_the_step_lengths(P, k, loss):
    p = dspgd.gaussian_problem(5, 20, k, seed=1)
    lr = 0.5 * dspgd.stable_lr(p, P, loss)
    for T in (1, 2, 7):
        W, path = _hand_loop(p, P, lr, T, loss)
        res = dspgd.solve(p, P, lr, loss=loss, tol=0, max_steps=T)
        assert res.steps == T
        np.testing.assert_allclose(res.W, W, rtol=0, atol=1e-13 * np.max(np.abs(W)))
        assert res.path_length == pytest.approx(path, rel=1e-13)
        assert res.path_length >= np.linalg.norm(res.W - p.W0) * (1 - 1e-14)  # the triangle inequality
        assert res.residual == pytest.approx(np.linalg.norm(p.residual(W)), rel=1e-12)
        assert res.loss == pytest.approx(loss.value(p.residual(W)), rel=1e-12)


def test_path_length_bounds_the_displacement_at_convergence():
    p = dspgd.gaussian_problem(8, 30, 2, seed=0)
    P = dspgd.adam(0.05)
    res = dspgd.solve(p, P, FRACS * dspgd.stable_lr(p, P), tol=1e-10)
    disp = np.linalg.norm(res.W - p.W0, axis=(1, 2))
    assert np.all(res.path_length >= disp)
    assert np.all(res.path_length > 0)


@pytest.mark.parametrize("P", [dspgd.normalized(0.3), dspgd.adam(0.05), dspgd.spectral(0.3)], ids=repr)
@pytest.mark.parametrize("k", [1, 3])
def test_batched_equals_looped(P, k):
    """One call with ``B`` learning rates = ``B`` calls with one (the runs stop at different
    steps, so the shrinking working set is exercised)."""
    p = dspgd.gaussian_problem(8, 30, k, seed=5)
    lrs = np.array([0.05, 0.3, 0.6, 0.95]) * dspgd.stable_lr(p, P)
    batched = dspgd.solve(p, P, lrs, tol=1e-11, max_steps=20_000)
    assert len(set(batched.steps.tolist())) == len(lrs)
    for b, lr in enumerate(lrs):
        one = dspgd.solve(p, P, float(lr), tol=1e-11, max_steps=20_000)
        assert one.status == batched.status[b] == "converged"
        assert one.steps == batched.steps[b]
        np.testing.assert_allclose(batched.W[b], one.W, rtol=0, atol=1e-12)
        assert abs(batched.residual[b] - one.residual) <= 1e-12
        assert abs(batched.path_length[b] - one.path_length) <= 1e-12 * one.path_length
        # and indexing a batched result gives the same scalar result
        member = batched[b]
        assert member.status == one.status and member.steps == one.steps and member.lr == lr
        np.testing.assert_array_equal(member.W, batched.W[b])


# ------------------------------------------------------------ stopping rule


def _transient_dip_problem() -> tuple[Problem, float]:
    """A problem on which GD above the stable step has a residual that dips below ``tol`` and leaves.

    ``X`` (2 x 4) has singular values 1 and 1/sqrt(3), so ``stable_lr = 2``; at
    ``lr = 3`` the residual's component along the second left singular vector
    is multiplied by ``1 - 3/3 = 0`` (gone after one step) and the one along
    the first by ``1 - 3 = -2``. Starting with a component ``1e-12`` along the
    first, the relative residual is ``2^t 1e-12``: below ``tol = 1e-9`` for
    steps 1 to 9, above it from step 10 on, then growing until divergence.
    """
    rng = np.random.default_rng(0)
    U, _ = np.linalg.qr(rng.standard_normal((2, 2)))
    V, _ = np.linalg.qr(rng.standard_normal((4, 2)))
    X = U @ np.diag([1.0, 1.0 / np.sqrt(3.0)]) @ V.T
    R0 = U[:, 1] + 1e-12 * U[:, 0]
    return Problem(X, -R0, np.zeros(4)), 3.0


def test_a_transient_dip_below_tol_is_not_convergence():
    p, lr = _transient_dip_problem()
    assert lr == pytest.approx(1.5 * dspgd.stable_lr(p, dspgd.gd()))
    tol = 1e-9
    hist = dspgd.solve(p, dspgd.gd(), lr, tol=0, max_steps=45, n_record=45)
    below = hist.residual_history / hist.residual_history[0] <= tol
    dip = np.flatnonzero(below)
    # the dip: steps 1..9, contiguous, shorter than the default patience (20), then growth
    assert dip.tolist() == list(range(1, 10))
    assert hist.residual_history[-1] > hist.residual_history[0]
    eager = dspgd.solve(p, dspgd.gd(), lr, tol=tol, patience=0)
    assert eager.status == "converged" and eager.steps == 1  # fooled by the dip
    careful = dspgd.solve(p, dspgd.gd(), lr, tol=tol)  # default patience
    assert careful.status == "diverged"
    # patience counts further steps below tol: 8 further steps are within the dip, 9 are not
    assert dspgd.solve(p, dspgd.gd(), lr, tol=tol, patience=8).status == "converged"
    assert dspgd.solve(p, dspgd.gd(), lr, tol=tol, patience=9).status == "diverged"


def test_gd_just_above_the_stable_step_is_not_reported_converged():
    """At ``1.05 stable_lr`` the top mode is multiplied by ``1 - 2.1 = -1.1``: growing oscillation."""
    p = dspgd.gaussian_problem(10, 40, 1, seed=0)
    lr = 1.05 * dspgd.stable_lr(p, dspgd.gd())
    res = dspgd.solve(p, dspgd.gd(), lr, tol=1e-8, max_steps=5000)
    assert res.status == "diverged"
    R = res.residual_history[np.isfinite(res.residual_history)]
    assert np.min(R) > 1e-8 * R[0]


def test_adam_just_above_the_stable_step_oscillates_without_converging():
    """Near an interpolator Adam(beta=0) is GD with step ``lr / eps``: unstable above ``stable_lr``,
    but its steps are at most ``lr`` per entry, so the oscillation stays bounded."""
    p = dspgd.gaussian_problem(10, 40, 1, seed=0)
    P = dspgd.adam(0.05)
    lr = 1.05 * dspgd.stable_lr(p, P)
    res = dspgd.solve(p, P, lr, tol=1e-8, max_steps=4000)
    assert res.status == "max_steps"
    assert "not converged" in res.message
    R = res.residual_history
    late = R[res.history_steps >= 2000]
    assert np.all(np.isfinite(late)) and np.min(late) > 1e-8 * R[0]
    assert np.max(late) < R[0]
    # the same problem converges just below the stable step
    assert dspgd.solve(p, P, 0.95 * dspgd.stable_lr(p, P), tol=1e-8, max_steps=20_000).status == "converged"


# -------------------------------------------------------------- divergence


def test_divergence_is_flagged_with_a_finite_iterate():
    p = dspgd.gaussian_problem(10, 40, 2, seed=0)
    s = dspgd.stable_lr(p, dspgd.gd())
    res = dspgd.solve(p, dspgd.gd(), np.array([0.5 * s, 3 * s]), max_steps=5000)
    assert res.status.tolist() == ["converged", "diverged"]
    bad = res[1]
    assert "exceeds the stable step" in bad.message and f"{s:.3g}" in bad.message
    assert np.all(np.isfinite(bad.W)) and np.isfinite(bad.residual) and np.isfinite(bad.loss)
    assert bad.residual == pytest.approx(np.linalg.norm(p.residual(bad.W)), rel=1e-12)
    r0 = np.linalg.norm(p.residual(p.W0))
    assert bad.residual > 1e6 * r0
    assert bad.steps < 5000
    assert np.isnan(res.residual_history[-1, 1])


def test_an_overflowing_run_returns_the_last_finite_iterate():
    """With ``q = 3`` the step is quadratic in the gradient: the residual squares each step and
    overflows to inf before a huge ``blowup`` catches it; the previous iterate is returned."""
    p = dspgd.gaussian_problem(5, 20, 1, seed=0)
    with np.errstate(over="ignore", invalid="ignore"):  # the overflow is the point
        res = dspgd.solve(p, dspgd.power(3.0, 0.0), 10.0, blowup=1e300, max_steps=1000)
    assert res.status == "diverged"
    assert np.all(np.isfinite(res.W)) and np.isfinite(res.residual)
    assert res.residual == pytest.approx(np.linalg.norm(p.residual(res.W)), rel=1e-12)
    # below the blowup limit: so the run was stopped by a non-finite iterate, and this is the one before
    assert res.residual < 1e300 * np.linalg.norm(p.residual(p.W0))
    with np.errstate(over="ignore", invalid="ignore"):
        W_next, _ = _hand_loop(Problem(p.X, p.Y, res.W), dspgd.power(3.0, 0.0), 10.0, 1)
        assert not np.isfinite(np.linalg.norm(p.residual(W_next)))
    assert "stable step" not in res.message  # power(3) has no stable step to quote


# ------------------------------------------------------------ bookkeeping


@pytest.mark.parametrize("T", [0, 1, 37, 300])
def test_tol_zero_runs_exactly_max_steps(T):
    p = dspgd.gaussian_problem(5, 20, 2, seed=0)
    P = dspgd.adam(0.1)
    res = dspgd.solve(p, P, np.array([0.1, 0.5]) * dspgd.stable_lr(p, P), tol=0, max_steps=T)
    assert res.steps.tolist() == [T, T]
    assert res.status.tolist() == ["max_steps", "max_steps"]
    assert res.history_steps[-1] == T
    if T == 0:
        np.testing.assert_array_equal(res.W[0], p.W0)
        assert res.path_length.tolist() == [0.0, 0.0]


def test_history_records_the_start_and_every_stop():
    p = dspgd.gaussian_problem(6, 24, 1, seed=0)
    P = dspgd.gd()
    res = dspgd.solve(p, P, np.array([0.2, 0.9]) * dspgd.stable_lr(p, P), tol=1e-10, n_record=16)
    r0 = np.linalg.norm(p.residual(p.W0))
    assert res.residual_history[0].tolist() == pytest.approx([r0, r0], rel=1e-14)
    assert res.loss_history[0, 0] == pytest.approx(0.5 * r0**2, rel=1e-14)
    assert np.all(np.diff(res.history_steps) > 0)
    for b in range(2):
        i = int(np.searchsorted(res.history_steps, res.steps[b]))
        assert res.history_steps[i] == res.steps[b]
        assert res.residual_history[i, b] == pytest.approx(res.residual[b], rel=1e-14)
        assert np.all(np.isnan(res.residual_history[i + 1:, b]))  # nothing after a run stopped


def test_result_interface():
    p = dspgd.gaussian_problem(5, 20, 1, seed=0)
    one = dspgd.solve(p, dspgd.adam(0.1), 0.01, tol=1e-8)
    assert one.converged is True and len(one) == 0 and isinstance(one.steps, int)
    assert "adam" in repr(one) and "converged" in repr(one)
    with pytest.raises(TypeError, match="not batched"):
        one[0]
    many = dspgd.solve(p, dspgd.adam(0.1), np.array([0.01, 0.02]), tol=1e-8)
    assert len(many) == 2 and many.converged.tolist() == [True, True]
    assert "2 learning rates" in repr(many)
    assert many.W.shape == (2, 20, 1)


def test_progress_bar_option_runs(capsys):
    p = dspgd.gaussian_problem(5, 20, 1, seed=0)
    quiet = dspgd.solve(p, dspgd.gd(), np.array([0.5, 1.0]), tol=0, max_steps=120)
    loud = dspgd.solve(p, dspgd.gd(), np.array([0.5, 1.0]), tol=0, max_steps=120, progress=True)
    np.testing.assert_array_equal(loud.W, quiet.W)
    capsys.readouterr()


# --------------------------------------------------------------- validation


@pytest.fixture
def small():
    return dspgd.gaussian_problem(4, 12, 1, seed=0)


@pytest.mark.parametrize("lr", [0.0, -0.1, np.nan, np.inf, [0.1, -0.1], [0.1, np.nan]])
def test_bad_learning_rates_are_rejected(small, lr):
    with pytest.raises(ValueError, match="every learning rate must be a positive finite number"):
        dspgd.solve(small, dspgd.gd(), lr)


def test_learning_rates_must_be_a_scalar_or_a_nonempty_1d_array(small):
    with pytest.raises(ValueError, match=r"lr must be a scalar or a 1-D array, got shape \(2, 2\)"):
        dspgd.solve(small, dspgd.gd(), np.full((2, 2), 0.1))
    with pytest.raises(ValueError, match="lr is an empty array"):
        dspgd.solve(small, dspgd.gd(), np.array([]))


@pytest.mark.parametrize("kw,msg", [
    ({"tol": -1e-8}, "tol must be a finite number >= 0"),
    ({"tol": np.nan}, "tol must be a finite number >= 0"),
    ({"tol": np.inf}, "tol must be a finite number >= 0"),
    ({"max_steps": -1}, "max_steps must be a non-negative integer"),
    ({"patience": -3}, "patience must be a non-negative integer"),
    ({"blowup": 1.0}, "blowup must be > 1"),
    ({"blowup": np.nan}, "blowup must be > 1"),
])
def test_bad_stopping_parameters_are_rejected(small, kw, msg):
    with pytest.raises(ValueError, match=msg):
        dspgd.solve(small, dspgd.gd(), 0.1, **kw)


@pytest.mark.parametrize("kw,msg", [
    ({"max_steps": 2.5}, "max_steps must be an integer"),
    ({"max_steps": np.inf}, "max_steps must be an integer"),
    ({"max_steps": np.nan}, "max_steps must be an integer"),
    ({"max_steps": None}, "max_steps must be an integer"),
    ({"patience": 1.5}, "patience must be an integer"),
    ({"blowup": "big"}, "blowup must be a real number"),
])
def test_stopping_parameters_of_the_wrong_kind_are_rejected(small, kw, msg):
    with pytest.raises(TypeError, match=msg):
        dspgd.solve(small, dspgd.gd(), 0.1, **kw)


def test_a_diagonal_that_does_not_fit_the_problem_is_rejected_at_solve_time(small):
    with pytest.raises(ValueError, match=r"D of shape \(13, 1\) does not broadcast to G of shape"):
        dspgd.solve(small, dspgd.diagonal(np.ones(13)), 0.1)
    with pytest.raises(ValueError, match=r"maps a gradient of shape \(12, 1\) to shape \(12, 2\)"):
        dspgd.solve(small, dspgd.diagonal(np.ones((12, 2))), 0.1)


def test_wrong_argument_types_are_rejected(small):
    with pytest.raises(TypeError, match="problem must be a dspgd.Problem"):
        dspgd.solve((small.X, small.Y), dspgd.gd(), 0.1)
    with pytest.raises(TypeError, match="precond must be a dspgd Preconditioner"):
        dspgd.solve(small, lambda G: G, 0.1)
