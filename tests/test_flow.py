"""Tests of the gradient-flow limit (dspgd.flow)."""

import numpy as np
import pytest

import dspgd
from dspgd.flow import flow_field, flow_limit


@pytest.fixture(scope="module")
def prob():
    return dspgd.gaussian_problem(n=10, d=40, k=1, seed=5)


def _rel(A, B, prob):
    return np.linalg.norm(A - B) / np.linalg.norm(dspgd.gd_limit(prob) - prob.W0)


@pytest.mark.parametrize("k", [1, 2])
def test_gd_flow_is_gd_limit(k):
    prob = dspgd.gaussian_problem(n=10, d=40, k=k, seed=6)
    fl = flow_limit(prob, dspgd.gd())
    assert fl.converged and fl.relative_residual <= 1e-12 * 1.01
    assert _rel(fl.W, dspgd.gd_limit(prob), prob) <= 1e-8


def test_isotropic_flow_with_huber_loss_is_gd_limit(prob):
    fl = flow_limit(prob, dspgd.clip_norm(0.5), loss=dspgd.huber(0.5))
    assert fl.converged
    assert _rel(fl.W, dspgd.gd_limit(prob), prob) <= 1e-8


def test_diagonal_flow_is_diagonal_limit():
    prob = dspgd.gaussian_problem(n=10, d=40, k=2, seed=7)
    D = np.random.default_rng(0).uniform(0.2, 2.0, (40, 2))
    fl = flow_limit(prob, dspgd.diagonal(D))
    W_D = dspgd.diagonal_limit(prob, D)
    assert fl.converged
    assert _rel(fl.W, W_D, prob) <= 1e-8
    # and it is not the GD solution: the test would not see a wrong reference otherwise
    assert _rel(W_D, dspgd.gd_limit(prob), prob) > 0.05


def test_adam_flow_interpolates_and_is_the_small_step_limit(prob):
    p = dspgd.adam(0.05)
    fl = flow_limit(prob, p)
    assert fl.converged
    assert np.linalg.norm(prob.residual(fl.W)) <= 1.01e-12 * np.linalg.norm(prob.residual(prob.W0))
    assert dspgd.relative_distance(fl.W, prob) > 0.05  # still not W_GD
    eta = dspgd.stable_lr(prob, p) * np.array([0.02, 0.08])
    res = dspgd.solve(prob, p, eta, tol=1e-13, max_steps=100_000)
    assert np.all(res.status == "converged")
    err = [_rel(W, fl.W, prob) for W in res.W]
    # first order in eta: dividing eta by 4 divides the distance by about 4
    assert 3.5 < err[1] / err[0] < 4.5
    # Richardson extrapolation to eta = 0 lands much closer to the flow limit
    W0 = (4 * res.W[0] - res.W[1]) / 3
    assert _rel(W0, fl.W, prob) < 0.05 * err[0]


def test_flow_field_is_vectorized(prob):
    f = flow_field(prob, dspgd.adam(0.1))
    rng = np.random.default_rng(1)
    Wm = rng.standard_normal((prob.d * prob.k, 3))
    out = f(0.0, Wm)
    assert out.shape == Wm.shape
    for j in range(3):
        assert np.array_equal(out[:, j], f(0.0, Wm[:, j]))
    G = prob.X.T @ prob.residual(Wm[:, 0].reshape(prob.d, prob.k))
    assert np.allclose(out[:, 0], -dspgd.adam(0.1).grad(G).ravel(), rtol=0, atol=1e-14)


def test_t_max_reached_is_reported(prob):
    fl = flow_limit(prob, dspgd.gd(), t_max=0.5)
    assert fl.status == "t_max" and not fl.converged
    assert fl.t == pytest.approx(0.5) and fl.relative_residual > 1e-6


@pytest.mark.parametrize("kw", [{"t_max": 0.0}, {"t_max": -1.0}, {"rtol": 0.0}, {"atol": -1e-12},
                                {"tol": float("nan")}, {"t_max": float("inf")}])
def test_bad_arguments(prob, kw):
    with pytest.raises(ValueError, match=list(kw)[0]):
        flow_limit(prob, dspgd.gd(), **kw)


def test_bad_types(prob):
    with pytest.raises(TypeError, match="Problem"):
        flow_limit("not a problem", dspgd.gd())
    with pytest.raises(TypeError, match="Preconditioner"):
        flow_limit(prob, lambda G: G)
