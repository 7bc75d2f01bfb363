"""Mirror descent: potentials, the iteration, and its step-size-free limit (computed by scipy)."""

import numpy as np
import pytest
from scipy import optimize

import dspgd
from dspgd.mirror import (
    Potential,
    dual_residual,
    mirror_descent,
    mirror_limit,
    mirror_path,
    pnorm,
    weighted_quadratic,
)

RNG = np.random.default_rng(12345)


def _pots(d):
    return [pnorm(3.0), pnorm(1.5), weighted_quadratic(np.geomspace(0.5, 2.0, d))]


def _rel(A, B, W0):
    return np.linalg.norm(A - B, axis=(-2, -1)) / np.linalg.norm(W0 - B)


# ------------------------------------------------------------------ potentials


@pytest.mark.parametrize("pot", [pnorm(3.0), pnorm(1.5), pnorm(1.2), weighted_quadratic(np.linspace(0.3, 3, 7))])
def test_mirror_map_inverse_conjugate_and_derivative(pot):
    W = RNG.standard_normal((7, 2))
    Z = pot.grad(W)
    assert np.allclose(pot.grad_inverse(Z), W, rtol=1e-12, atol=1e-14)
    # Fenchel-Young equality: psi(W) + psi*(grad psi(W)) = <W, grad psi(W)>
    assert np.isclose(pot.value(W) + pot.conjugate(Z), np.sum(W * Z), rtol=1e-12)
    # derivative of the inverse map, by central differences
    h = 1e-6
    fd = (pot.grad_inverse(Z + h) - pot.grad_inverse(Z - h)) / (2 * h)
    assert np.allclose(pot.inverse_derivative(Z), fd, rtol=1e-6)
    # grad psi by central differences of psi (entry by entry, psi is separable)
    E = np.zeros_like(W)
    E[3, 1] = h
    assert np.isclose((pot.value(W + E) - pot.value(W - E)) / (2 * h), Z[3, 1], rtol=1e-6)


def test_divergence_nonnegative_and_zero_on_diagonal():
    for pot in _pots(6):
        A, B = RNG.standard_normal((2, 6, 3))
        assert pot.divergence(A, B) > 0
        assert abs(pot.divergence(A, A)) < 1e-14
        stack = pot.divergence(np.stack([A, B]), np.stack([B, A]))
        assert stack.shape == (2,) and np.all(stack > 0)


def test_weighted_quadratic_is_diagonal_dspgd():
    # the mirror step W - lr D*G is DSPGD with K(G) = 1/2 sum D g^2: same iterates
    prob = dspgd.gaussian_problem(10, 40, k=2, seed=3)
    D = np.linspace(0.5, 2.0, 40)
    lrs = np.array([0.05, 0.2])
    a = mirror_descent(prob, weighted_quadratic(D), lrs, tol=0, max_steps=300)
    b = dspgd.solve(prob, dspgd.diagonal(D), lrs, tol=0, max_steps=300)
    assert np.max(np.abs(a.W - b.W)) < 1e-12


# ------------------------------------------------------------------ the limit


@pytest.mark.parametrize("k", [1, 2])
def test_mirror_limit_satisfies_kkt_and_beats_other_interpolators(k):
    prob = dspgd.gaussian_problem(8, 30, k=k, seed=4)
    Q, _ = np.linalg.qr(prob.X.T, mode="complete")
    null = Q[:, prob.n:]  # basis of the null space of X
    for pot in _pots(30):
        W = mirror_limit(prob, pot)
        assert np.linalg.norm(prob.residual(W)) <= 1e-12 * np.linalg.norm(prob.Y)
        assert dual_residual(prob, pot, W) < 1e-10
        best = pot.divergence(W, prob.W0)
        for _ in range(20):
            V = W + 0.05 * null @ RNG.standard_normal((null.shape[1], k))
            assert np.linalg.norm(prob.residual(V)) < 1e-10
            assert pot.divergence(V, prob.W0) > best


@pytest.mark.parametrize("pot", [pnorm(3.0), pnorm(1.5)])
def test_mirror_limit_matches_a_primal_constrained_solver(pot):
    # an independent route: minimize D_psi(W, W0) subject to XW = Y directly (SLSQP)
    prob = dspgd.gaussian_problem(3, 8, k=1, seed=5)
    w0 = prob.W0[:, 0]

    def f(w):
        return pot.divergence(w[:, None], prob.W0)

    def g(w):
        return (pot.grad(w[:, None]) - pot.grad(prob.W0))[:, 0]

    cons = {"type": "eq", "fun": lambda w: prob.X @ w - prob.Y[:, 0], "jac": lambda w: prob.X}
    opt = optimize.minimize(f, dspgd.gd_limit(prob)[:, 0], jac=g, constraints=[cons], method="SLSQP",
                            options={"ftol": 1e-15, "maxiter": 1000})
    W = mirror_limit(prob, pot)
    assert opt.success
    assert np.linalg.norm(opt.x - W[:, 0]) / np.linalg.norm(w0 - W[:, 0]) < 1e-6


def test_weighted_quadratic_limit_is_the_diagonal_closed_form():
    for k in (1, 2):
        prob = dspgd.gaussian_problem(15, 60, k=k, seed=6)
        D = RNG.uniform(0.2, 5.0, size=(60, k))
        W = mirror_limit(prob, weighted_quadratic(D))
        assert _rel(W, dspgd.diagonal_limit(prob, D), prob.W0) < 1e-12
    assert _rel(mirror_limit(prob, weighted_quadratic(1.0)), dspgd.gd_limit(prob), prob.W0) < 1e-12


# ------------------------------------------------------------------ the iteration


@pytest.mark.parametrize("k", [1, 2])
def test_mirror_descent_converges_to_the_bregman_projection_for_every_lr(k):
    prob = dspgd.gaussian_problem(12, 80, k=k, seed=7)
    lrs = np.array([0.02, 0.06, 0.2])
    for pot in _pots(80):
        ref = mirror_limit(prob, pot)
        res = mirror_descent(prob, pot, lrs, tol=1e-12)
        assert np.all(res.status == "converged"), res.message
        dist = _rel(res.W, ref, prob.W0)
        assert np.all(dist <= 1e-8), (pot, dist)
        # eta-independence, member against member
        assert np.max(_rel(res.W, res.W[0], prob.W0)[1:]) <= 1e-8
        # the conservation law holds at the end of every run
        assert np.all(dual_residual(prob, pot, res.W) < 1e-10)


def test_mirror_limit_is_not_gd_for_pnorm():
    prob = dspgd.gaussian_problem(12, 80, seed=7)
    for pot in (pnorm(3.0), pnorm(1.5)):
        assert dspgd.relative_distance(mirror_limit(prob, pot), prob) > 1e-2


def test_batched_equals_scalar_runs_and_path():
    prob = dspgd.gaussian_problem(10, 50, k=2, seed=8)
    pot = pnorm(1.5)
    lrs = np.array([0.03, 0.1])
    batch = mirror_descent(prob, pot, lrs, tol=1e-11)
    for j, lr in enumerate(lrs):
        one = mirror_descent(prob, pot, lr, tol=1e-11)
        assert one.status == batch.status[j] and one.steps == batch.steps[j]
        assert np.max(np.abs(one.W - batch.W[j])) < 1e-12
        assert isinstance(one.residual, float)
    path = mirror_path(prob, pot, 0.1, 25)
    short = mirror_descent(prob, pot, 0.1, tol=0, max_steps=25)
    assert path.shape == (26, 50, 2)
    assert np.max(np.abs(path[-1] - short.W)) < 1e-12
    assert np.isclose(short.path_length, np.sum(np.linalg.norm(np.diff(path, axis=0), axis=(1, 2))))


def test_divergence_is_flagged_and_W_stays_finite():
    prob = dspgd.gaussian_problem(12, 80, seed=7)
    res = mirror_descent(prob, pnorm(1.5), np.array([0.05, 5.0]), tol=1e-10)
    assert res.status[0] == "converged"
    assert res.status[1] == "diverged"
    assert np.all(np.isfinite(res.W))
    assert "diverged" in res.message[1]


def test_max_steps_status():
    prob = dspgd.gaussian_problem(12, 80, seed=7)
    res = mirror_descent(prob, pnorm(3.0), 0.01, tol=1e-12, max_steps=50)
    assert res.status == "max_steps" and res.steps == 50


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize("p", [2.0, 1.0, 0.5, np.nan, np.inf])
def test_pnorm_rejects_bad_p(p):
    with pytest.raises(ValueError, match="pnorm"):
        pnorm(p)


@pytest.mark.parametrize("D", [0.0, -1.0, np.nan, np.ones((2, 2, 2)), np.array([])])
def test_weighted_quadratic_rejects_bad_D(D):
    with pytest.raises(ValueError, match="weighted_quadratic"):
        weighted_quadratic(D)


def test_bad_inputs():
    prob = dspgd.gaussian_problem(5, 20, seed=1)
    pot = pnorm(3.0)
    with pytest.raises(ValueError, match="learning rate|lr must"):
        mirror_descent(prob, pot, -0.1)
    with pytest.raises(ValueError, match="learning rate|lr must"):
        mirror_descent(prob, pot, np.ones((2, 2)))
    with pytest.raises(ValueError, match="tol"):
        mirror_descent(prob, pot, 0.1, tol=-1)
    with pytest.raises(TypeError, match="max_steps must be an integer"):
        mirror_descent(prob, pot, 0.1, max_steps=2.5)
    with pytest.raises(ValueError, match="patience"):
        mirror_descent(prob, pot, 0.1, patience=-1)
    with pytest.raises(TypeError, match="potential"):
        mirror_descent(prob, dspgd.gd(), 0.1)
    with pytest.raises(TypeError, match="potential"):
        mirror_limit(prob, dspgd.gd())
    with pytest.raises(TypeError, match="problem"):
        mirror_descent(prob.X, pot, 0.1)
    with pytest.raises(ValueError, match="broadcast"):
        mirror_descent(prob, weighted_quadratic(np.ones(7)), 0.1)
    with pytest.raises(ValueError, match="shape"):
        pot.grad(np.ones(3))
    assert isinstance(pot, Potential)
    assert "pnorm" in repr(pot)
