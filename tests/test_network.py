"""The two-layer network: gradients against finite differences, training, the time-change proposition."""

from __future__ import annotations

import numpy as np
import pytest

import dspgd
from dspgd.network import (
    NetworkProblem,
    gradient_check,
    network_problem,
    project_to_interpolant,
    reference_lr,
    train,
)


@pytest.mark.parametrize("activation", ["tanh", "softplus"])
def test_gradient_matches_finite_differences(activation):
    P = network_problem(n=7, p=5, m=6, seed=3, activation=activation)
    V = P.V0 + 0.3 * np.random.default_rng(0).standard_normal(P.V0.shape)
    assert gradient_check(P, V) < 1e-7


@pytest.mark.parametrize("activation", ["tanh", "softplus"])
def test_jacobian_matches_finite_differences(activation):
    P = network_problem(n=6, p=4, m=5, seed=1, activation=activation)
    V = P.V0 + 0.2
    J = P.jacobian(V)
    h = 1e-6
    E = np.eye(V.size).reshape(V.size, *V.shape) * h
    fd = ((P.predict(V + E) - P.predict(V - E)) / (2 * h)).T
    assert np.max(np.abs(J - fd)) < 1e-8 * max(1.0, np.max(np.abs(J)))
    # the gradient is J^T r
    G, r = P.gradient(V)
    np.testing.assert_allclose(G.ravel(), J.T @ r, rtol=1e-12, atol=1e-14)


def test_a_broken_gradient_fails_the_check(monkeypatch):
    P = network_problem(n=6, p=4, m=5, seed=1)
    real = NetworkProblem.gradient
    monkeypatch.setattr(NetworkProblem, "gradient", lambda self, V: (1.01 * real(self, V)[0], real(self, V)[1]))
    assert gradient_check(P) > 1e-3


def test_batched_equals_looped():
    P = network_problem(n=10, p=6, m=12, seed=2)
    lrs = np.array([0.2, 0.4]) * reference_lr(P)
    batch = train(P, dspgd.adam(0.01), lrs, tol=1e-8)
    for b, lr in enumerate(lrs):
        one = train(P, dspgd.adam(0.01), lr, tol=1e-8)
        assert one.steps == batch.steps[b]
        np.testing.assert_allclose(one.W, batch.W[b], rtol=0, atol=1e-12)


def test_mixed_preconditioners_equal_separate_runs():
    P = network_problem(n=10, p=6, m=12, seed=2)
    eta = 0.3 * reference_lr(P)
    mixed = train(P, [dspgd.gd(), dspgd.clip_value(0.01)], [eta, eta], tol=1e-8)
    for b, K in enumerate([dspgd.gd(), dspgd.clip_value(0.01)]):
        np.testing.assert_allclose(train(P, K, eta, tol=1e-8).W, mixed.W[b], rtol=0, atol=1e-12)


def test_training_interpolates_and_projection_polishes():
    P = network_problem(n=12, p=8, m=20, seed=5)
    res = train(P, dspgd.gd(), 0.5 * reference_lr(P), tol=1e-5)
    assert res.status == "converged"
    assert np.linalg.norm(P.residual(res.W)) <= 1e-5 * np.linalg.norm(P.residual(P.V0)) * 1.0001
    V = project_to_interpolant(P, res.W)
    assert np.linalg.norm(P.residual(V)) < 1e-12 * np.linalg.norm(P.y)
    # the polish moves V by about the leftover residual over sigma_min(J), not more
    assert np.linalg.norm(V - res.W) < 1e-3 * np.linalg.norm(res.W - P.V0)


def test_divergence_is_reported():
    # softplus is unbounded, so a too-large step blows the residual up (tanh would only saturate)
    P = network_problem(n=8, p=4, m=10, seed=0, activation="softplus")
    res = train(P, dspgd.gd(), 10 * reference_lr(P), tol=1e-8, max_steps=500)
    assert res.status == "diverged" and "diverged" in res.message
    assert np.all(np.isfinite(res.W))


def test_max_steps_is_reported():
    P = network_problem(n=8, p=4, m=10, seed=0)
    res = train(P, dspgd.gd(), 0.01 * reference_lr(P), tol=1e-12, max_steps=5)
    assert res.status == "max_steps" and "not converged" in res.message


@pytest.mark.parametrize("kw, err", [
    (dict(lr=-1.0), ValueError), (dict(lr=[[1.0]]), ValueError), (dict(tol=-1.0), ValueError),
    (dict(max_steps=1.5), ValueError), (dict(blowup=1.0), ValueError),
])
def test_train_rejects_bad_arguments(kw, err):
    P = network_problem(n=4, p=3, m=4, seed=0)
    args = dict(lr=0.1) | kw
    lr = args.pop("lr")
    with pytest.raises(err):
        train(P, dspgd.gd(), lr, **args)


def test_problem_validation():
    P = network_problem(n=4, p=3, m=4, seed=0)
    with pytest.raises(ValueError, match="not overparameterized"):
        NetworkProblem(P.X, P.y, P.a[:1], P.V0[:1], P.X_test)
    with pytest.raises(ValueError, match="activation"):
        NetworkProblem(P.X, P.y, P.a, P.V0, P.X_test, activation="relu")
    with pytest.raises(ValueError, match="finite"):
        NetworkProblem(P.X * np.nan, P.y, P.a, P.V0, P.X_test)
    with pytest.raises(ValueError, match="agree"):
        NetworkProblem(P.X, P.y[:-1], P.a, P.V0, P.X_test)
    with pytest.raises(TypeError):
        train(P.X, dspgd.gd(), 0.1)


def test_linearized_problem_is_the_first_order_model():
    P = network_problem(n=8, p=5, m=30, seed=4)
    lin = P.linearized()
    assert isinstance(lin, dspgd.Problem) and lin.X.shape == (8, 150) and lin.k == 1
    # at V0 the linear model and the network agree, with the same gradient
    np.testing.assert_allclose(lin.residual(lin.W0)[:, 0], P.residual(P.V0), atol=1e-12)
    G, _ = P.gradient(P.V0)
    np.testing.assert_allclose((lin.X.T @ lin.residual(lin.W0)).ravel(), G.ravel(), atol=1e-12)


def test_time_change_isotropic_distance_halves_with_the_step():
    """The proposition of the network chapter, on a network not used there (other seed, width, sizes).

    Normalized GD and clipping by norm end within O(eta) of GD's end point: halving eta halves the
    distance, within 20 %. Adam (beta = 0) keeps an O(1) gap.
    """
    P = network_problem(n=20, p=16, m=40, seed=11)
    G0, _ = P.gradient(P.V0)
    g = np.linalg.norm(G0)
    rms = g / np.sqrt(G0.size)
    Ks = [dspgd.gd(), dspgd.normalized(0.1 * g), dspgd.clip_norm(0.3 * g), dspgd.adam(0.1 * rms)]
    fr = np.array([0.1, 0.05])
    eta = reference_lr(P)
    precs = [K for K in Ks for _ in fr]
    lrs = np.array([f * eta / K.lipschitz for K in Ks for f in fr])
    res = train(P, precs, lrs, tol=1e-7)
    assert np.all(res.status == "converged")
    V = project_to_interpolant(P, res.W).reshape(len(Ks), fr.size, P.m, P.p)
    scale = np.linalg.norm(V[0, -1] - P.V0)
    dist = np.linalg.norm(V[1:] - V[0][None], axis=(-2, -1)) / scale  # (K, fraction), same fraction as GD
    for k in (0, 1):  # normalized GD, clip by norm
        ratio = dist[k, 0] / dist[k, 1]
        assert 1.6 <= ratio <= 2.4, (k, dist[k])
    assert dist[2, 1] > 0.05 and dist[2, 1] > 0.8 * dist[2, 0]  # Adam: no O(eta) approach


def test_flow_points_of_an_isotropic_flow_are_gds_and_bad_levels_are_refused():
    """Normalized GD's flow passes where GD's flow passes (a time change); Adam's does not."""
    from dspgd.network import flow_points

    P = network_problem(n=10, p=8, m=12, seed=4)
    G0, _ = P.gradient(P.V0)
    g = float(np.linalg.norm(G0))
    L0 = float(P.loss(P.V0))
    levels = L0 * np.array([0.5, 0.1, 0.01])
    ref = flow_points(P, dspgd.gd(), levels)
    scale = np.linalg.norm(ref[-1] - P.V0)
    iso = flow_points(P, dspgd.normalized(0.1 * g), levels)
    non = flow_points(P, dspgd.adam(0.1 * g / np.sqrt(G0.size)), levels)
    assert ref.shape == (3, P.m, P.p)
    assert np.max(np.linalg.norm(iso - ref, axis=(-2, -1))) / scale < 1e-7
    assert np.max(np.linalg.norm(non - ref, axis=(-2, -1))) / scale > 1e-2
    for bad in ([0.1 * L0, 0.5 * L0], [2 * L0], [0.5 * L0, -1.0], []):
        with pytest.raises(ValueError, match="levels"):
            flow_points(P, dspgd.gd(), bad)
