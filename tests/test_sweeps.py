"""Tests of dspgd.sweeps and of the figure functions of the chapters on claims C2 and C4."""

from __future__ import annotations

import numpy as np
import pytest

import dspgd
from dspgd.sweeps import (
    LimitRun,
    bound_factors,
    diagonal_weights,
    halving_increments,
    loglog_slope,
    nearest_interpolator,
    richardson_limit,
    run_limits,
    spec,
)
from dspgd.theory import diagonal_limit, distance_ratio, gd_limit, relative_distance

EPS = np.finfo(float).eps


def _null_vector(prob: dspgd.Problem, rng: np.random.Generator) -> np.ndarray:
    """A random ``(d, k)`` matrix with ``X V = 0``."""
    V = rng.standard_normal((prob.d, prob.k))
    Q, _ = np.linalg.qr(prob.X.T)
    return V - Q @ (Q.T @ V)


# ------------------------------------------------------------------ nearest interpolator


@pytest.mark.parametrize("k", [1, 3])
def test_nearest_interpolator_of_w0_is_the_gd_solution(k):
    prob = dspgd.gaussian_problem(n=8, d=30, k=k, seed=3)
    W = nearest_interpolator(prob, prob.W0)
    assert np.linalg.norm(W - gd_limit(prob)) <= 1e3 * EPS * np.linalg.norm(gd_limit(prob))


def test_nearest_interpolator_interpolates_and_moves_only_in_the_row_space():
    prob = dspgd.gaussian_problem(n=6, d=25, k=2, seed=1)
    rng = np.random.default_rng(0)
    W = rng.standard_normal((4, prob.d, prob.k))  # a batch
    P = nearest_interpolator(prob, W)
    assert P.shape == W.shape
    for b in range(4):
        assert np.linalg.norm(prob.X @ P[b] - prob.Y) <= 1e-12 * np.linalg.norm(prob.Y)
        # the move W - P lies in range(X^T): it is X^T A with A solving the normal equations
        move = W[b] - P[b]
        A = np.linalg.lstsq(prob.X.T, move, rcond=None)[0]
        assert np.linalg.norm(prob.X.T @ A - move) <= 1e-12 * np.linalg.norm(move)
        # and it is the closest interpolator: any other one is farther
        other = P[b] + _null_vector(prob, rng)
        assert np.linalg.norm(W[b] - other) > np.linalg.norm(W[b] - P[b])
    # an interpolator is left where it is
    assert np.allclose(nearest_interpolator(prob, P), P, atol=1e-13, rtol=0)


def test_nearest_interpolator_rejects_wrong_shapes():
    prob = dspgd.gaussian_problem(n=4, d=10, seed=0)
    with pytest.raises(ValueError, match="shape"):
        nearest_interpolator(prob, np.zeros((9, 1)))


def test_pythagoras_ratio_and_relative_distance():
    """For an interpolator, ratio^2 = 1 + relative_distance^2 (the lower bound of claim C4)."""
    prob = dspgd.gaussian_problem(n=7, d=40, k=2, seed=5)
    rng = np.random.default_rng(1)
    Wgd = gd_limit(prob)
    for scale in (0.0, 1e-3, 0.7, 5.0):
        W = Wgd + scale * _null_vector(prob, rng)
        r, rd = distance_ratio(W, prob), relative_distance(W, prob)
        assert r >= 1 - 1e-14
        assert abs(r**2 - 1 - rd**2) <= 1e-12 * (1 + rd**2)


# ------------------------------------------------------------------ specs


def test_diagonal_weights():
    D = diagonal_weights(11, 4.0)
    assert D.max() / D.min() == pytest.approx(4.0)
    assert np.exp(np.mean(np.log(D))) == pytest.approx(1.0)
    assert np.all(np.diff(D) > 0)
    assert np.all(diagonal_weights(5, 1.0) == 1.0)
    with pytest.raises(ValueError, match="spread"):
        diagonal_weights(5, 0.5)
    with pytest.raises(ValueError, match="d must"):
        diagonal_weights(0, 2.0)


def test_spec_hashable_and_validated():
    assert spec("adam", eps=0.1) == spec("adam", eps=0.1)
    assert hash(spec("power", q=1.5, eps=0.01)) == hash(spec("power", eps=0.01, q=1.5))
    assert spec("adam", eps=0.1).get("eps") == 0.1
    assert spec("diagonal", spread=2.0).make(7).lipschitz == pytest.approx(np.sqrt(2.0))
    with pytest.raises(ValueError, match="unknown preconditioner family"):
        spec("momentum")
    with pytest.raises(ValueError, match="eps"):
        spec("adam", eps=-1.0)
    with pytest.raises(ValueError, match="spread"):
        spec("diagonal", D=2.0)
    with pytest.raises(KeyError, match="no parameter"):
        spec("gd").get("eps")


# ------------------------------------------------------------------ run_limits


FR = (0.8, 0.4, 0.2)


def test_isotropic_limits_are_the_gd_solution_at_machine_precision():
    for sp in (spec("gd"), spec("normalized", eps=0.5), spec("clip_norm", c=0.3)):
        r = run_limits(sp, 6, 40, 0, FR)
        assert r.all_converged
        assert np.all(r.rel_distance < 1e-13)
        assert np.all(np.abs(r.ratio - 1) < 1e-13)


def test_diagonal_limit_matches_the_closed_form_for_every_lr():
    sp = spec("diagonal", spread=3.0)
    r = run_limits(sp, 6, 40, 1, FR)
    Wd = diagonal_limit(r.problem, diagonal_weights(40, 3.0))
    err = np.linalg.norm(r.W - Wd, axis=(-2, -1)) / r.scale
    assert np.all(err < 1e-8)
    assert r.rel_distance.min() > 1e-2  # and it is not the GD solution


def test_adam_limit_depends_on_the_lr_and_stays_within_the_bound():
    r = run_limits(spec("adam", eps=0.05), 6, 40, 2, FR)
    assert r.all_converged
    assert np.all(r.rel_distance > 1e-2)
    assert np.ptp(r.rel_distance) > 1e-4  # claim C2: different lr, different limit
    assert np.all(r.ratio >= 1 - 1e-12)
    # the route bounds the whole path length, hence the displacement
    assert np.all(r.path_length <= r.bound * r.scale)
    assert np.all(r.ratio <= r.bound)


def test_run_limits_rejects_bad_fractions_and_nonsmooth_maps():
    with pytest.raises(ValueError, match="fractions"):
        run_limits(spec("gd"), 4, 10, 0, (0.5, 1.2))
    with pytest.raises(ValueError, match="stable step"):
        run_limits(spec("normalized", eps=0.0), 4, 10, 0, (0.5,))


# ------------------------------------------------------------------ increments, slopes, extrapolation


def _fake_run(fractions, W, scale=1.0) -> LimitRun:
    prob = dspgd.gaussian_problem(n=2, d=4, seed=0)
    fr = np.asarray(fractions, dtype=float)
    z = np.zeros(fr.size)
    return LimitRun(spec("gd"), prob, fr, fr, 1.0, np.asarray(W, dtype=float), z.astype(str), z, z, z, z, z,
                    scale)


def test_halving_increments_and_slope_of_a_linear_limit():
    fr = 0.9 * 2.0 ** -np.arange(6)
    A = np.arange(4.0).reshape(4, 1)
    B = np.ones((4, 1))
    W = A + fr[:, None, None] * B  # W_inf(lr) = A + lr B: first order exactly
    x, inc = halving_increments(_fake_run(fr, W, scale=2.0))
    assert np.all(np.diff(x) > 0)
    assert np.allclose(inc, (x / 2) * np.linalg.norm(B) / 2.0)
    assert loglog_slope(x, inc) == pytest.approx(1.0)
    W2 = A + (fr**2)[:, None, None] * B  # second order
    x2, inc2 = halving_increments(_fake_run(fr, W2))
    assert loglog_slope(x2, inc2) == pytest.approx(2.0)


def test_halving_increments_needs_ratio_two():
    with pytest.raises(ValueError, match="ratio 2"):
        halving_increments(_fake_run([0.9, 0.3, 0.1], np.zeros((3, 4, 1))))


def test_loglog_slope_validates():
    assert loglog_slope(np.array([1.0, 10.0, 100.0]), np.array([3.0, 3e-1, 3e-2])) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="positive"):
        loglog_slope(np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="same length"):
        loglog_slope(np.array([1.0, 2.0]), np.array([1.0]))
    with pytest.raises(ValueError, match="finite"):
        loglog_slope(np.array([1.0, 2.0]), np.array([1.0, np.inf]))


def test_the_ledgers_slope_is_the_shared_one_and_nan_on_bad_values():
    from dspgd import ledger

    x, y = np.array([1.0, 10.0, 100.0]), np.array([3.0, 3e-1, 3e-2])
    assert ledger._loglog_slope(x, y) == loglog_slope(x, y)
    for bad in (np.array([1.0, 0.0, 1.0]), np.array([1.0, np.inf, 1.0]), np.array([1.0, np.nan, 1.0])):
        assert np.isnan(ledger._loglog_slope(x, bad))  # a row built on it FAILs


def test_richardson_limit_removes_the_first_order_term():
    fr = np.array([0.8, 0.4, 0.2, 0.1])
    A, B, C = np.ones((4, 1)), 2 * np.ones((4, 1)), -3 * np.ones((4, 1))
    W = A + fr[:, None, None] * B + (fr**2)[:, None, None] * C
    W0 = richardson_limit(_fake_run(fr, W))
    h = fr.min()
    # 2 W(h) - W(2h) = A + (2 h^2 - 4 h^2) C = A - 2 h^2 C
    assert np.allclose(W0, A - 2 * h**2 * C)
    with pytest.raises(ValueError, match="ratio 2"):
        richardson_limit(_fake_run([0.9, 0.3], np.zeros((2, 4, 1))))


# ------------------------------------------------------------------ the constant of claim C4


@pytest.mark.parametrize("p", [dspgd.gd(), dspgd.adam(eps=0.1), dspgd.clip_value(c=0.2),
                               dspgd.power(q=1.5, eps=0.01), dspgd.normalized(eps=0.3)])
@pytest.mark.parametrize("frac", [0.05, 0.5, 0.95])
def test_bound_factors_multiply_to_c(p, frac):
    prob = dspgd.gaussian_problem(n=10, d=50, seed=4)
    lr = frac * dspgd.stable_lr(prob, p)
    f = bound_factors(prob, p, lr)
    assert f["c"] == pytest.approx(f["kappa2"] * f["LK_over_muK"] * f["loss_factor"] * f["chi"], rel=1e-12)
    # chi lies between 1/(2(1 - lr/stable)) and 1/(1 - lr/stable)
    assert 1 / (2 * (1 - frac)) * (1 - 1e-12) <= f["chi"] <= 1 / (1 - frac) * (1 + 1e-12)
    assert f["c"] >= 1


def test_bound_constant_of_gd_tends_to_kappa_squared():
    prob = dspgd.gaussian_problem(n=10, d=50, seed=0)
    lr = 1e-6 * dspgd.stable_lr(prob, dspgd.gd())
    assert bound_factors(prob, dspgd.gd(), lr)["c"] == pytest.approx(prob.condition_number**2, rel=1e-5)


def test_bound_factors_without_a_constant():
    prob = dspgd.gaussian_problem(n=5, d=20, seed=0)
    f = bound_factors(prob, dspgd.adam(eps=0.1), 1.5 * dspgd.stable_lr(prob, dspgd.adam(eps=0.1)))
    assert f["c"] == np.inf and f["chi"] == np.inf


# ------------------------------------------------------------------ the figure functions (small settings)


def test_lr_dependence_figure_small():
    from dspgd.figures import lr_dependence as m

    out = m.lr_dependence(n=5, d=30, seeds=(0,), fractions=m.default_fractions(0.9, 3))
    assert out.data["isotropic_max"] < 1e-13
    assert out.data["nonlinear_distance_min"] > 1e-3
    assert out.data["diagonal_closed_form_error"] < 1e-8
    assert out.data["all_converged"]
    assert out.data["n_fractions"] == 4
    for v in out.data["methods"].values():
        if "slopes" in v:  # the extremes the chapter quotes are those of the per-seed slopes
            assert (v["slope_min"], v["slope_max"]) == (min(v["slopes"]), max(v["slopes"]))
            assert v["distance_slope_max"] == max(v["distance_slopes"])


def test_bound_ratio_figure_small():
    from dspgd.figures import bound as m

    out = m.bound_ratio(n=5, d_over_n=(4,), seeds=(0,), fractions=(0.5, 0.25), adam_eps=(0.1,), clip_c=(0.1,))
    assert out.data["n_inside"] == out.data["n_points"]
    assert out.data["violations"] == []
    assert out.data["pythagoras_max_error"] < 1e-12
    assert 1 <= out.data["ratio_max"] <= out.data["c_max"]


def test_default_fractions():
    from dspgd.figures.lr_dependence import default_fractions

    fr = default_fractions(0.96, 7)
    assert len(fr) == 8 and fr[0] == 0.96 and fr[-1] == pytest.approx(0.96 / 128)
    with pytest.raises(ValueError, match="top"):
        default_fractions(1.5, 3)
