"""Closed forms and constants: ``gd_limit``, ``diagonal_limit``, ``stable_lr``, ``bound_constant``,
``relative_distance`` and ``distance_ratio``."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dspgd
from dspgd import Problem, theory

HYP = settings(derandomize=True, max_examples=40, deadline=None)


def _orthogonal_rows_problem(n: int, d: int, k: int, s: float, seed: int = 0) -> Problem:
    """``X = s Q^T`` with orthonormal ``Q`` (``d x n``): every singular value equals ``s``."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((d, n)))
    return Problem(s * Q.T, rng.standard_normal((n, k)), rng.standard_normal((d, k)))


def _problem_with_condition_number(n: int, d: int, kappa: float, seed: int = 0) -> Problem:
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    V, _ = np.linalg.qr(rng.standard_normal((d, n)))
    X = U @ np.diag(np.geomspace(1.0, 1.0 / kappa, n)) @ V.T
    return Problem(X, rng.standard_normal((n, 2)), rng.standard_normal((d, 2)))


# ------------------------------------------------------------------ gd_limit


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_gd_limit_is_the_minimum_norm_least_squares_solution_of_the_shifted_problem(k, seed):
    """``W_GD = W0 + argmin{||V|| : X V = Y - X W0}``, computed independently by ``lstsq`` (SVD)."""
    p = dspgd.gaussian_problem(12, 50, k, seed=seed)
    V, *_ = np.linalg.lstsq(p.X, p.Y - p.X @ p.W0, rcond=None)
    W = dspgd.gd_limit(p)
    assert W.shape == (50, k)
    assert np.linalg.norm(W - (p.W0 + V)) <= 1e-10 * np.linalg.norm(V)
    # an interpolator, reached from W0 along the row space of X
    assert np.linalg.norm(p.residual(W)) <= 1e-12 * np.linalg.norm(p.Y)
    Q, _ = np.linalg.qr(p.X.T)
    step = W - p.W0
    assert np.linalg.norm(step - Q @ (Q.T @ step)) <= 1e-12 * np.linalg.norm(step)


def test_gd_limit_is_the_interpolator_closest_to_W0(rng):
    p = dspgd.gaussian_problem(6, 20, 2, seed=3)
    W = dspgd.gd_limit(p)
    Q, _ = np.linalg.qr(p.X.T, mode="complete")
    null = Q[:, p.n:]  # basis of the null space of X
    for _ in range(20):
        other = W + null @ rng.standard_normal((p.d - p.n, p.k))
        assert np.linalg.norm(p.residual(other)) <= 1e-10
        assert np.linalg.norm(other - p.W0) > np.linalg.norm(W - p.W0)


def test_gd_limit_is_accurate_for_an_ill_conditioned_X():
    """QR of ``X^T``: the error grows like ``cond(X)``, not like ``cond(X)^2`` (normal equations)."""
    p = _problem_with_condition_number(8, 40, kappa=1e6)
    V, *_ = np.linalg.lstsq(p.X, p.Y - p.X @ p.W0, rcond=None)
    assert np.linalg.norm(dspgd.gd_limit(p) - (p.W0 + V)) <= 1e-8 * np.linalg.norm(V)


@pytest.mark.parametrize("which", ["gd", "diagonal"])
def test_closed_forms_never_form_a_d_by_d_matrix(which):
    """Peak memory of the closed form is O(n d): far below one ``d x d`` matrix (200 MB here)."""
    n, d = 5, 5000
    p = dspgd.gaussian_problem(n, d, 2, seed=0)
    D = np.linspace(0.5, 2.0, d)
    tracemalloc.start()
    try:
        W = dspgd.gd_limit(p) if which == "gd" else dspgd.diagonal_limit(p, D)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert W.shape == (d, 2)
    assert peak < 20 * n * d * 8  # 4 MB, against 200 MB for d x d
    assert peak < d * d * 8 / 50


# ------------------------------------------------------------ diagonal_limit


def _diagonal_limit_by_normal_equations(p: Problem, D: np.ndarray) -> np.ndarray:
    """Column j: ``w0 + D_j X^T (X D_j X^T)^{-1} (y - X w0)``, with an ``n x n`` solve."""
    Dk = np.broadcast_to(D[:, None] if D.ndim == 1 else D, (p.d, p.k))
    out = np.empty((p.d, p.k))
    for j in range(p.k):
        dj = Dk[:, j]
        lam = np.linalg.solve((p.X * dj) @ p.X.T, p.Y[:, j] - p.X @ p.W0[:, j])
        out[:, j] = p.W0[:, j] + dj * (p.X.T @ lam)
    return out


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("Dshape", ["d", "dk", "1k"])
def test_diagonal_limit_matches_the_weighted_normal_equations(k, Dshape, rng):
    p = dspgd.gaussian_problem(7, 30, k, seed=k)
    D = {"d": rng.uniform(0.2, 3.0, 30), "dk": rng.uniform(0.2, 3.0, (30, k)), "1k": rng.uniform(0.2, 3.0, (1, k))}[Dshape]
    W = dspgd.diagonal_limit(p, D)
    ref = _diagonal_limit_by_normal_equations(p, D)
    assert np.linalg.norm(W - ref) <= 1e-10 * np.linalg.norm(ref - p.W0)
    # KKT: an interpolator, and D^-1 (W - W0) lies in the row space of X column by column
    assert np.linalg.norm(p.residual(W)) <= 1e-12 * np.linalg.norm(p.Y)
    Dk = np.broadcast_to(D[:, None] if D.ndim == 1 else D, (30, k))
    Q, _ = np.linalg.qr(p.X.T)
    M = (W - p.W0) / Dk
    assert np.linalg.norm(M - Q @ (Q.T @ M)) <= 1e-10 * np.linalg.norm(M)
    if Dshape == "1k":  # a weight constant down each column changes nothing: the GD solution
        assert dspgd.relative_distance(W, p) <= 1e-12
    else:  # otherwise the weighting matters
        assert dspgd.relative_distance(W, p) > 1e-3


def test_diagonal_limit_with_a_constant_D_is_the_gd_limit():
    p = dspgd.gaussian_problem(5, 25, 2, seed=0)
    for D in (3.0, np.full(25, 0.7), np.full((25, 2), 2.0)):
        np.testing.assert_allclose(dspgd.diagonal_limit(p, D), dspgd.gd_limit(p), rtol=0, atol=1e-12)


@pytest.mark.parametrize("D,msg", [
    (np.ones(7), r"D of shape \(7, 1\) does not broadcast to W of shape \(6, 1\)"),
    (np.ones((6, 3)), r"does not broadcast to W of shape"),
    (np.array([1.0, 2.0, 0.0, 1.0, 1.0, 1.0]), "D must be finite and strictly positive"),
    (np.array([1.0, 2.0, np.nan, 1.0, 1.0, 1.0]), "D must be finite and strictly positive"),
    (-1.0, "D must be finite and strictly positive"),
])
def test_diagonal_limit_rejects_a_bad_D(D, msg):
    p = dspgd.gaussian_problem(3, 6, 1, seed=0)
    with pytest.raises(ValueError, match=msg):
        dspgd.diagonal_limit(p, D)


# ----------------------------------------------------------------- stable_lr


def test_stable_lr_is_two_over_LK_beta():
    p = dspgd.gaussian_problem(6, 30, 1, seed=0)
    s2 = np.linalg.norm(p.X, 2) ** 2
    for P in (dspgd.gd(), dspgd.adam(0.05), dspgd.normalized(0.2), dspgd.spectral(0.3), dspgd.power(1.5, 0.04)):
        for loss in (dspgd.squared(), dspgd.huber(0.5), dspgd.logcosh()):
            assert dspgd.stable_lr(p, P, loss) == pytest.approx(2 / (P.lipschitz * loss.smoothness * s2), rel=1e-13)
    for P in (dspgd.sign(), dspgd.normalized(0.0), dspgd.spectral(0.0), dspgd.power(3.0)):
        assert dspgd.stable_lr(p, P) == 0.0


def test_stable_lr_is_the_sharp_stability_threshold_of_gd():
    """For GD with the squared loss the bound is exact: the top mode is multiplied by
    ``1 - lr ||X||^2`` per step, which leaves ``[-1, 1]`` exactly at ``lr = 2 / ||X||^2``."""
    p = dspgd.gaussian_problem(6, 30, 1, seed=0)
    s = dspgd.stable_lr(p, dspgd.gd())
    res = dspgd.solve(p, dspgd.gd(), np.array([0.98 * s, 1.02 * s]), tol=1e-10, max_steps=20_000)
    assert res.status.tolist() == ["converged", "diverged"]


@pytest.mark.parametrize("P", [dspgd.gd(), dspgd.normalized(0.2), dspgd.clip_norm(0.3), dspgd.adam(0.05),
                               dspgd.clip_value(0.05), dspgd.power(1.5, 0.05), dspgd.spectral(0.2),
                               dspgd.diagonal(np.linspace(0.3, 2.0, 24))], ids=repr)
@pytest.mark.parametrize("loss", [dspgd.squared(), dspgd.huber(0.3), dspgd.logcosh()], ids=lambda l: l.name)
def test_below_stable_lr_the_loss_never_increases(P, loss):
    """The descent lemma: ``lr < 2 / (L_K beta)`` gives a monotone loss, step after step."""
    p = dspgd.gaussian_problem(6, 24, 1, seed=2)
    lr = 0.95 * dspgd.stable_lr(p, P, loss)
    res = dspgd.solve(p, P, lr, loss=loss, tol=0, max_steps=300, n_record=300)
    L = res.loss_history
    assert np.array_equal(res.history_steps, np.arange(301))
    assert np.all(np.diff(L) <= 1e-13 * L[0])
    assert L[-1] < L[0]


# ------------------------------------------------------------ bound_constant


SMOOTH = [dspgd.gd(), dspgd.normalized(0.2), dspgd.clip_norm(0.3), dspgd.adam(0.05), dspgd.clip_value(0.1),
          dspgd.power(1.5, 0.05), dspgd.spectral(0.2)]


@HYP
@given(seed=st.integers(0, 10_000), n=st.integers(1, 6), extra=st.integers(1, 20), k=st.integers(1, 3),
       which=st.integers(0, len(SMOOTH)), frac=st.floats(1e-3, 0.999))
def test_bound_constant_is_at_least_one(seed, n, extra, k, which, frac):
    """``c >= 1`` wherever finite, as it must be (``W_GD`` is the closest interpolator).

    Why: with ``a = lr L_K beta_l s^2 in (0, 2)`` and
    ``theta = (mu_K / L_K)(mu / beta_l)(sigma / s)^2 <= 1``, ``rho = theta a (2 - a)``, so
    ``sqrt(1 - rho) >= |1 - a|`` and ``1 - sqrt(1 - rho) <= 1 - |1 - a| <= a``; hence
    ``c = a sqrt(beta_l / mu) / (1 - sqrt(1 - rho)) >= sqrt(beta_l / mu) >= 1``.
    """
    p = dspgd.gaussian_problem(n, n + extra, k, seed=seed)
    P = SMOOTH[which] if which < len(SMOOTH) else dspgd.diagonal(np.linspace(0.2, 3.0, n + extra))
    c = dspgd.bound_constant(p, P, frac * dspgd.stable_lr(p, P))
    assert np.isfinite(c)
    assert c >= 1.0 - 1e-12


def test_bound_constant_is_exact_for_gd_when_all_singular_values_are_equal():
    """``X = s Q^T``: GD moves along a straight line, ``W_t - W_GD = (1 - a)^t (W0 - W_GD)``
    with ``a = lr s^2``, so the path length is ``a / (1 - |1 - a|) ||W0 - W_GD||`` -- exactly
    the bound (``rho = a (2 - a)``). So the constant of the route cannot be improved here."""
    p = _orthogonal_rows_problem(5, 20, 2, s=1.7)
    W_gd = dspgd.gd_limit(p)
    base = np.linalg.norm(W_gd - p.W0)
    # (a = 1 exactly is avoided: there rho = 1 up to rounding and sqrt(1 - rho) turns an error
    # of 1e-16 in rho into 1e-8 in c)
    lrs = np.array([0.2, 0.7, 0.95, 1.3, 1.8]) / p.op_norm**2
    res = dspgd.solve(p, dspgd.gd(), lrs, tol=1e-14, max_steps=5000)
    assert np.all(res.converged)
    for b, lr in enumerate(lrs):
        c = dspgd.bound_constant(p, dspgd.gd(), lr)
        a = lr * p.op_norm**2
        assert c == pytest.approx(a / (1 - abs(1 - a)), rel=1e-12)
        assert res.path_length[b] / base == pytest.approx(c, rel=1e-9)


@pytest.mark.parametrize("P", [dspgd.adam(0.1), dspgd.clip_value(0.1), dspgd.power(1.5, 0.1),
                               dspgd.diagonal(np.linspace(0.3, 2.0, 24))], ids=repr)
def test_observed_ratio_and_path_length_respect_the_bound(P):
    """``||W_inf - W0|| <= path length <= c ||W_GD - W0||`` at several step sizes below ``stable_lr``."""
    p = dspgd.gaussian_problem(6, 24, 1, seed=5)
    fracs = np.array([0.1, 0.4, 0.9])
    lrs = fracs * dspgd.stable_lr(p, P)
    res = dspgd.solve(p, P, lrs, tol=1e-10, max_steps=50_000)
    assert np.all(res.converged), res.message
    base = np.linalg.norm(dspgd.gd_limit(p) - p.W0)
    ratio = dspgd.distance_ratio(res.W, p)
    for b, lr in enumerate(lrs):
        c = dspgd.bound_constant(p, P, lr)
        assert 1.0 - 1e-8 <= ratio[b] <= res.path_length[b] / base + 1e-12
        assert res.path_length[b] / base <= c


def test_bound_constant_edge_cases():
    p = dspgd.gaussian_problem(5, 20, 1, seed=0)
    s = dspgd.stable_lr(p, dspgd.adam(0.1))
    assert dspgd.bound_constant(p, dspgd.adam(0.1), s) == np.inf  # at the stable step: nothing
    assert dspgd.bound_constant(p, dspgd.adam(0.1), 2 * s) == np.inf
    assert dspgd.bound_constant(p, dspgd.sign(), 1e-3) == np.inf  # not smooth
    assert dspgd.bound_constant(p, dspgd.power(3.0, 0.1), 1e-3) == np.inf
    # small-step limit: rho ~ 2 a theta, so c -> sqrt(beta_l / mu) / theta = (L_K / mu_K) cond(X)^2
    P = dspgd.adam(0.1)
    L0 = dspgd.squared().value(p.residual(p.W0))
    mu_K = P.local_monotonicity(p.op_norm * np.sqrt(2 * L0))
    assert dspgd.bound_constant(p, P, 1e-9 * s) == pytest.approx(P.lipschitz / mu_K * p.condition_number**2, rel=1e-6)
    with pytest.raises(ValueError, match="bound_constant needs a strongly convex loss; huber has mu = 0"):
        dspgd.bound_constant(p, dspgd.gd(), 0.1, loss=dspgd.huber())
    with pytest.raises(ValueError, match="needs a strongly convex loss; logcosh"):
        dspgd.bound_constant(p, dspgd.gd(), 0.1, loss=dspgd.logcosh())
    for lr in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="lr must be a positive finite number"):
            dspgd.bound_constant(p, dspgd.gd(), lr)


# --------------------------------------------------- distances to the GD limit


def test_relative_distance_and_distance_ratio(rng):
    p = dspgd.gaussian_problem(5, 20, 2, seed=1)
    W_gd = dspgd.gd_limit(p)
    assert dspgd.relative_distance(W_gd, p) == pytest.approx(0.0, abs=1e-14)
    assert dspgd.distance_ratio(W_gd, p) == pytest.approx(1.0, rel=1e-14)
    assert dspgd.relative_distance(p.W0, p) == pytest.approx(1.0, rel=1e-14)
    assert dspgd.distance_ratio(p.W0, p) == 0.0
    # Pythagoras: for every interpolator W, ratio^2 = 1 + relative_distance^2
    Q, _ = np.linalg.qr(p.X.T, mode="complete")
    Ws = np.stack([W_gd + Q[:, p.n:] @ rng.standard_normal((p.d - p.n, p.k)) for _ in range(4)])
    rel, ratio = dspgd.relative_distance(Ws, p), dspgd.distance_ratio(Ws, p)
    assert rel.shape == ratio.shape == (4,)
    np.testing.assert_allclose(ratio**2, 1 + rel**2, rtol=1e-12)
    assert np.all(ratio > 1)
    # another reference point
    assert dspgd.relative_distance(Ws[0], p, W_ref=Ws[0]) == 0.0
    assert isinstance(dspgd.distance_ratio(Ws[0], p), float)
