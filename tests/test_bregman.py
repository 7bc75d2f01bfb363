"""Tests of dspgd.bregman: Bregman divergences and the convergence diagnostics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dspgd
from dspgd import bregman as bg
from dspgd import theory

D_, K_ = 12, 3


def smooth_potentials():
    rng = np.random.default_rng(5)
    return [dspgd.gd(), dspgd.normalized(0.3), dspgd.clip_norm(1.0), dspgd.adam(0.2),
            dspgd.clip_value(0.5), dspgd.power(1.5, 0.2), dspgd.power(3.0, 0.0), dspgd.spectral(0.3),
            dspgd.diagonal(rng.uniform(0.5, 2.0, (D_, K_)))]


POTS = smooth_potentials()
IDS = [repr(p) for p in POTS]


def rand(seed: int, *shape: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape or (D_, K_))


# ------------------------------------------------------------------ bregman


def test_bregman_of_half_squared_norm_is_half_squared_distance():
    A, B = rand(0), rand(1)
    assert bg.bregman(dspgd.gd(), A, B) == pytest.approx(0.5 * np.sum((A - B) ** 2), rel=1e-13)


def test_bregman_of_fixed_diagonal_is_weighted_distance():
    D = np.random.default_rng(2).uniform(0.5, 2.0, (D_, K_))
    A, B = rand(3), rand(4)
    assert bg.bregman(dspgd.diagonal(D), A, B) == pytest.approx(0.5 * np.sum(D * (A - B) ** 2), rel=1e-12)


def test_bregman_of_clip_value_far_out_is_linear_part():
    # beyond the clip level on the same side, Huber_c is linear: D = 0 between such points
    c = 0.5
    A = np.full((D_, K_), 3.0)
    B = np.full((D_, K_), 2.0)
    assert bg.bregman(dspgd.clip_value(c), A, B) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("F", POTS, ids=IDS)
def test_bregman_nonnegative_for_convex_K(F):
    A = 2 * rand(10, 50, D_, K_)
    B = 2 * rand(11, 50, D_, K_)
    D = bg.bregman(F, A, B)
    scale = np.abs(np.asarray(F.value(A))) + np.abs(np.asarray(F.value(B))) + 1.0
    assert np.all(D >= -1e-12 * scale)
    assert np.max(D) > 0


@pytest.mark.parametrize("F", POTS, ids=IDS)
def test_bregman_is_second_order_at_the_base_point(F):
    # D_F(B + hV, B) = O(h^2) exactly when grad is the gradient of value;
    # a wrong gradient leaves an O(h) term.
    B, V = rand(20), rand(21)
    d1 = bg.bregman(F, B + 1e-2 * V, B)
    d2 = bg.bregman(F, B + 1e-3 * V, B)
    assert d1 > 0
    assert 60 < d1 / d2 < 160


def test_a_wrong_gradient_is_caught_by_the_second_order_check():
    class Wrong:
        def value(self, A):
            return 0.5 * np.sum(A * A, axis=(-2, -1))

        def grad(self, A):
            return 1.1 * A

    B, V = rand(20), rand(21)
    ratio = bg.bregman(Wrong(), B + 1e-2 * V, B) / bg.bregman(Wrong(), B + 1e-3 * V, B)
    assert not (60 < abs(ratio) < 160)


def test_bregman_stack_matches_loop():
    F = dspgd.adam(0.2)
    A, B = rand(30, 4, D_, K_), rand(31, 4, D_, K_)
    out = bg.bregman(F, A, B)
    assert out.shape == (4,)
    for j in range(4):
        assert out[j] == pytest.approx(bg.bregman(F, A[j], B[j]), rel=1e-13)


def test_bregman_broadcasts_one_point_against_a_stack():
    F = dspgd.spectral(0.3)
    A, B = rand(32, 3, D_, K_), rand(33)
    out = bg.bregman(F, A, B)
    assert out.shape == (3,)
    assert out[1] == pytest.approx(bg.bregman(F, A[1], B), rel=1e-13)


# --------------------------------------------------------- three-point identity


@pytest.mark.parametrize("F", POTS, ids=IDS)
def test_three_point_identity(F):
    A, B, C = rand(40, 20, D_, K_), rand(41, 20, D_, K_), rand(42, 20, D_, K_)
    gap = bg.three_point_gap(F, A, B, C)
    scale = (np.abs(bg.bregman(F, A, B)) + np.abs(bg.bregman(F, B, C)) + np.abs(bg.bregman(F, A, C)) + 1.0)
    assert np.all(np.abs(gap) <= 1e-12 * scale)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.05, 5.0))
def test_three_point_identity_random(seed, spread):
    rng = np.random.default_rng(seed)
    A, B, C = (spread * rng.standard_normal((D_, K_)) for _ in range(3))
    for F in (dspgd.adam(0.1), dspgd.normalized(0.2), dspgd.clip_value(0.3)):
        scale = 1.0 + abs(bg.bregman(F, A, B)) + abs(bg.bregman(F, B, C)) + abs(bg.bregman(F, A, C))
        assert abs(bg.three_point_gap(F, A, B, C)) <= 1e-12 * scale


def test_three_point_gap_nonzero_if_the_inner_product_is_wrong():
    # the identity pairs grad F(C) - grad F(B) with A - B; with A - C instead it fails
    F = dspgd.adam(0.2)
    A, B, C = rand(50), rand(51), rand(52)
    lhs = bg.bregman(F, A, B) + bg.bregman(F, B, C) - bg.bregman(F, A, C)
    wrong = np.sum((F.grad(C) - F.grad(B)) * (A - C))
    assert abs(lhs - wrong) > 1e-3
    assert abs(bg.three_point_gap(F, A, B, C)) < 1e-12 * (1 + abs(lhs))


def test_bad_inputs():
    with pytest.raises(ValueError, match="not the same size"):
        bg.bregman(dspgd.gd(), np.zeros((3, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="must be matrices"):
        bg.bregman(dspgd.gd(), np.zeros(3), np.zeros(3))
    with pytest.raises(TypeError, match="value and grad"):
        bg.bregman(object(), np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="not the same size"):
        bg.three_point_gap(dspgd.gd(), np.zeros((3, 2)), np.zeros((3, 2)), np.zeros((3, 3)))


# ---------------------------------------------------------------- the rate


@pytest.fixture(scope="module")
def prob():
    return dspgd.gaussian_problem(n=12, d=60, k=2, seed=3)


def test_contraction_of_gd_at_one_over_beta(prob):
    beta = prob.op_norm**2
    rho = bg.contraction(prob, dspgd.gd(), 1.0 / beta)
    assert rho == pytest.approx(prob.sigma_min**2 / beta, rel=1e-12)


def test_contraction_is_zero_where_the_argument_gives_nothing(prob):
    slr = theory.stable_lr(prob, dspgd.gd())
    assert bg.contraction(prob, dspgd.gd(), slr) == 0.0
    assert bg.contraction(prob, dspgd.sign(), 1e-3) == 0.0
    assert np.all(np.isinf(bg.step_envelope(prob, dspgd.sign(), 1e-3, 5)))
    with pytest.raises(ValueError, match="strongly convex"):
        bg.contraction(prob, dspgd.gd(), 0.1, dspgd.huber())
    with pytest.raises(ValueError, match="positive"):
        bg.contraction(prob, dspgd.gd(), -1.0)


def test_gd_loss_contracts_at_least_at_rate_rho(prob):
    lr = 0.5 * theory.stable_lr(prob, dspgd.gd())
    rho = bg.contraction(prob, dspgd.gd(), lr)
    tr = bg.trajectory(prob, dspgd.gd(), lr, 40)
    L = tr.loss[:, 0]
    assert np.all(L[1:] <= (1 - rho) * L[:-1] * (1 + 1e-12))


@pytest.mark.parametrize("p", [dspgd.gd(), dspgd.adam(0.1), dspgd.clip_value(0.1), dspgd.normalized(0.1),
                               dspgd.spectral(0.1), dspgd.power(1.5, 0.1), dspgd.clip_norm(1.0)],
                         ids=lambda p: p.name)
def test_step_lengths_lie_under_the_envelope(prob, p):
    lr = 0.5 * theory.stable_lr(prob, p)
    T = 300
    tr = bg.trajectory(prob, p, lr, T)
    env = bg.step_envelope(prob, p, lr, T)
    live = tr.residual[:-1, 0] / tr.residual[0, 0] > 1e-12
    assert live.sum() > 10
    assert np.all(tr.step_norm[live, 0] <= env[live])


# ------------------------------------------------------------- trajectory


def test_trajectory_matches_solve(prob):
    p = dspgd.adam(0.1)
    lrs = np.array([0.01, 0.03])
    T = 150
    tr = bg.trajectory(prob, p, lrs, T)
    res = dspgd.solve(prob, p, lrs, tol=0, max_steps=T)
    assert np.allclose(tr.W, res.W, rtol=0, atol=1e-12)
    assert np.allclose(tr.path_length[-1], res.path_length, rtol=1e-12)
    assert np.allclose(tr.residual[-1], res.residual, rtol=1e-10)
    assert tr.step_norm.shape == (T, 2)
    assert tr.residual.shape == tr.loss.shape == tr.distance.shape == (T + 1, 2)


def test_trajectory_loss_record(prob):
    loss = dspgd.logcosh()
    tr = bg.trajectory(prob, dspgd.gd(), 0.1, 5, loss=loss)
    assert tr.loss[0, 0] == pytest.approx(loss.value(prob.residual(prob.W0)), rel=1e-13)


def test_trajectory_stops_at_tol(prob):
    tr = bg.trajectory(prob, dspgd.gd(), 0.5 * theory.stable_lr(prob, dspgd.gd()), 10_000, tol=1e-6)
    T = tr.step_norm.shape[0]
    assert T < 10_000
    assert tr.residual[-1, 0] <= 1e-6 * tr.residual[0, 0] < tr.residual[-2, 0]
    assert np.linalg.norm(prob.residual(tr.W[0])) == pytest.approx(tr.residual[-1, 0], rel=1e-10)
    assert tr.residual.shape[0] == T + 1


def test_trajectory_bad_inputs(prob):
    with pytest.raises(ValueError, match="steps"):
        bg.trajectory(prob, dspgd.gd(), 0.1, 0)
    with pytest.raises(ValueError, match="tol"):
        bg.trajectory(prob, dspgd.gd(), 0.1, 5, tol=-1)
    with pytest.raises(TypeError):
        bg.trajectory("problem", dspgd.gd(), 0.1, 5)


def test_distance_to_interpolators(prob):
    W_gd = theory.gd_limit(prob)
    # W_GD is the projection of W0 on the interpolators
    assert bg.distance_to_interpolators(prob, prob.W0) == pytest.approx(np.linalg.norm(prob.W0 - W_gd), rel=1e-10)
    Q, _ = np.linalg.qr(prob.X.T)
    V = rand(60, prob.d, prob.k)
    V_null = V - Q @ (Q.T @ V)
    assert bg.distance_to_interpolators(prob, W_gd + V_null) < 1e-12
    # moving along the row space by V_row moves the distance by ||V_row||
    V_row = Q @ (Q.T @ V)
    assert bg.distance_to_interpolators(prob, W_gd + V_row + V_null) == pytest.approx(np.linalg.norm(V_row), rel=1e-10)
    out = bg.distance_to_interpolators(prob, np.stack([prob.W0, W_gd]))
    assert out.shape == (2,) and out[1] < 1e-12


def test_trajectory_distance_matches_direct(prob):
    tr = bg.trajectory(prob, dspgd.sign(), 1e-3, 7)
    W = prob.W0.copy()
    for _ in range(7):
        W = W - 1e-3 * np.sign(prob.X.T @ prob.residual(W))
    assert tr.distance[-1, 0] == pytest.approx(bg.distance_to_interpolators(prob, W), rel=1e-10)


# ------------------------------------------------------------- cycles


def test_cycle_gap_zero_on_the_hover_cycle_of_normalized_gd(prob):
    p = dspgd.normalized(0.0)
    tr = bg.trajectory(prob, p, 0.05, 2000)
    assert bg.cycle_gap(prob, p, 0.05, tr.W[0]) < 1e-10
    assert bg.cycle_gap(prob, p, 0.05, prob.W0) > 0.5


def test_cycle_gap_bad_period(prob):
    with pytest.raises(ValueError, match="period"):
        bg.cycle_gap(prob, dspgd.gd(), 0.1, prob.W0, period=0)


# -------------------------------------------- no Euclidean Lyapunov function


def test_escape_threshold_formula(prob):
    p = dspgd.adam(0.1)
    lr = 0.5 * theory.stable_lr(prob, p)
    s_star, U, frac = bg.escape_threshold(prob, p, lr)
    assert np.isfinite(s_star) and U is not None and 0 < frac < 1
    assert np.linalg.norm(prob.X @ U) < 1e-12
    W_gd = theory.gd_limit(prob)
    P = p.grad(prob.X.T @ prob.residual(prob.W0))
    n_null = frac * np.linalg.norm(P)
    for s in (s_star - 1.0, s_star + 1.0, 3 * abs(s_star) + 1):
        change = bg.first_step_change(prob, p, lr, W_gd + s * U)
        assert change == pytest.approx(2 * lr * n_null * (s - s_star), rel=1e-8, abs=1e-10)
    assert bg.first_step_change(prob, p, lr, W_gd + (s_star + 1.0) * U) > 0


@pytest.mark.parametrize("p", [dspgd.gd(), dspgd.normalized(0.1), dspgd.clip_norm(1.0)], ids=lambda p: p.name)
def test_isotropic_steps_have_no_escaping_interpolator(prob, p):
    lr = 0.5 * theory.stable_lr(prob, p)
    s_star, U, frac = bg.escape_threshold(prob, p, lr)
    assert s_star == np.inf and U is None and frac < 1e-12
