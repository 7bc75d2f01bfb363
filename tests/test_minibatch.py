"""Mini-batch DSPGD: isotropic K keep GD's limit, coordinate-wise K do not; mini-batch mirror descent."""

import numpy as np
import pytest

import dspgd
from dspgd import mirror
from dspgd.minibatch import batch_sequence, minibatch_solve, stochastic_mirror_descent


@pytest.fixture(scope="module")
def prob():
    return dspgd.gaussian_problem(12, 60, k=1, seed=2)


# ------------------------------------------------------------------ the implicit bias


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("precond,lr", [(dspgd.gd(), 0.05), (dspgd.normalized(0.5), 0.025),
                                        (dspgd.clip_norm(1.0), 0.05)])
def test_isotropic_minibatch_ends_at_gd(k, precond, lr):
    prob = dspgd.gaussian_problem(12, 60, k=k, seed=2)
    for b in (1, 3, 7):
        res = minibatch_solve(prob, precond, lr, b, seed=b, tol=1e-13)
        assert res.status == "converged", res.message
        assert dspgd.relative_distance(res.W, prob) <= 1e-10


def test_spectral_minibatch_ends_at_gd():
    # not isotropic for k > 1, but grad K(G) = G M(G) keeps every step in the row space of X
    prob = dspgd.gaussian_problem(12, 60, k=3, seed=2)
    res = minibatch_solve(prob, dspgd.spectral(0.5), 0.02, 4, seed=0, tol=1e-13)
    assert res.status == "converged", res.message
    assert dspgd.relative_distance(res.W, prob) <= 1e-10


@pytest.mark.parametrize("precond,lr", [(dspgd.adam(0.1), 0.005), (dspgd.clip_value(0.1), 0.05)])
def test_coordinatewise_minibatch_does_not_end_at_gd(prob, precond, lr):
    full = dspgd.solve(prob, precond, lr, tol=1e-13)
    assert full.status == "converged"
    for b in (1, 4):
        res = minibatch_solve(prob, precond, lr, b, seed=0, tol=1e-13)
        assert res.status == "converged", res.message
        assert np.linalg.norm(res.residual) <= 1e-13 * np.linalg.norm(prob.residual(prob.W0)) * (1 + 1e-12)
        assert dspgd.relative_distance(res.W, prob) > 1e-2
        # ... and not at the full-batch limit of the same K either
        assert dspgd.relative_distance(res.W, prob, full.W) > 1e-2


def test_limit_depends_on_seed_for_adam(prob):
    a = minibatch_solve(prob, dspgd.adam(0.1), 0.005, 3, seed=0, tol=1e-13)
    b = minibatch_solve(prob, dspgd.adam(0.1), 0.005, 3, seed=1, tol=1e-13)
    assert a.status == b.status == "converged"
    assert dspgd.relative_distance(a.W, prob, b.W) > 1e-3


def test_full_batch_size_is_full_batch_dspgd(prob):
    # b = n uses every row (in a random order): the same iterates as solve, up to rounding
    for precond, lr in ((dspgd.adam(0.1), 0.005), (dspgd.gd(), 0.05)):
        full = dspgd.solve(prob, precond, lr, tol=1e-12)
        mb = minibatch_solve(prob, precond, lr, prob.n, seed=3, tol=1e-12)
        assert mb.steps == full.steps
        assert dspgd.relative_distance(mb.W, prob, full.W) < 1e-10


# ------------------------------------------------------------------ mechanics


def test_deterministic_for_a_seed(prob):
    a = minibatch_solve(prob, dspgd.adam(0.1), 0.005, 2, seed=7, tol=1e-11)
    b = minibatch_solve(prob, dspgd.adam(0.1), 0.005, 2, seed=7, tol=1e-11)
    assert np.array_equal(a.W, b.W) and a.steps == b.steps
    assert a.extra == {"batch_size": 2, "seed": 7}


def test_batched_members_share_the_batches(prob):
    lrs = np.array([0.002, 0.005])
    batch = minibatch_solve(prob, dspgd.adam(0.1), lrs, 3, seed=4, tol=1e-11)
    for j, lr in enumerate(lrs):
        one = minibatch_solve(prob, dspgd.adam(0.1), lr, 3, seed=4, tol=1e-11)
        assert one.steps == batch.steps[j]
        assert np.max(np.abs(one.W - batch.W[j])) < 1e-12


def test_update_rule_by_hand(prob):
    # the first steps, recomputed from batch_sequence with the n/b scaling
    P, lr, b, T = dspgd.adam(0.1), 0.01, 4, 6
    seq = batch_sequence(prob.n, b, T, seed=5)
    W = prob.W0.copy()
    for t in range(T):
        idx = seq[t]
        G = (prob.n / b) * prob.X[idx].T @ (prob.X[idx] @ W - prob.Y[idx])
        W = W - lr * P.grad(G)
    res = minibatch_solve(prob, P, lr, b, seed=5, tol=0, max_steps=T)
    assert res.status == "max_steps" and res.steps == T
    assert np.max(np.abs(res.W - W)) < 1e-13


def test_batch_sequence_rows_are_distinct_and_uniform():
    seq = batch_sequence(10, 4, 3000, seed=0)
    assert seq.shape == (3000, 4)
    assert all(len(set(r)) == 4 for r in seq)
    assert seq.min() >= 0 and seq.max() <= 9
    counts = np.bincount(seq.ravel(), minlength=10) / seq.size
    assert np.max(np.abs(counts - 0.1)) < 0.01  # 12000 draws: sd of a frequency ~ 0.003
    assert np.array_equal(seq, batch_sequence(10, 4, 3000, seed=0))
    assert not np.array_equal(seq, batch_sequence(10, 4, 3000, seed=1))


def test_divergence_is_flagged(prob):
    res = minibatch_solve(prob, dspgd.gd(), np.array([0.05, 5.0]), 2, seed=0, tol=1e-10)
    assert list(res.status) == ["converged", "diverged"]
    assert np.all(np.isfinite(res.W))


# ------------------------------------------------------------------ stochastic mirror descent


@pytest.mark.parametrize("potential", [mirror.pnorm(1.5), mirror.pnorm(3.0)])
def test_stochastic_mirror_descent_ends_at_the_bregman_projection(potential):
    prob = dspgd.gaussian_problem(20, 100, k=1, seed=0)
    ref = mirror.mirror_limit(prob, potential)
    for b, seed in ((2, 0), (5, 1)):
        res = stochastic_mirror_descent(prob, potential, 0.04 * b, b, seed=seed, tol=1e-13)
        assert res.status == "converged", res.message
        assert dspgd.relative_distance(res.W, prob, ref) <= 1e-11
        assert res.extra == {"batch_size": b, "seed": seed}


def test_stochastic_mirror_descent_update_by_hand(prob):
    # the first steps, recomputed from batch_sequence: the batch gradient moves grad psi(W)
    pot, lr, b, T = mirror.pnorm(3.0), 0.05, 3, 6
    seq = batch_sequence(prob.n, b, T, seed=2)
    Z = pot.grad(prob.W0)
    for t in range(T):
        idx = seq[t]
        W = pot.grad_inverse(Z)
        Z = Z - lr * (prob.n / b) * prob.X[idx].T @ (prob.X[idx] @ W - prob.Y[idx])
    res = stochastic_mirror_descent(prob, pot, lr, b, seed=2, tol=0, max_steps=T)
    assert res.status == "max_steps" and res.steps == T
    assert np.max(np.abs(res.W - pot.grad_inverse(Z))) < 1e-13


def test_stochastic_mirror_descent_quadratic_is_minibatch_diagonal(prob):
    # psi = sum W^2 / (2D): the mirror step is the DSPGD step of the fixed diagonal K, batch by batch
    D = np.linspace(0.5, 2.0, prob.d)[:, None]
    a = stochastic_mirror_descent(prob, mirror.weighted_quadratic(D), 0.02, 4, seed=3, tol=0, max_steps=200)
    b = minibatch_solve(prob, dspgd.diagonal(D), 0.02, 4, seed=3, tol=0, max_steps=200)
    assert np.max(np.abs(a.W - b.W)) <= 1e-13 * np.max(np.abs(b.W))


def test_stochastic_mirror_descent_full_batch_is_mirror_descent(prob):
    pot = mirror.pnorm(1.5)
    full = mirror.mirror_descent(prob, pot, 0.05, tol=1e-12)
    mb = stochastic_mirror_descent(prob, pot, 0.05, prob.n, seed=3, tol=1e-12)
    assert mb.steps == full.steps
    assert dspgd.relative_distance(mb.W, prob, full.W) < 1e-10


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize("b", [0, -1, 13])
def test_batch_size_out_of_range(prob, b):
    with pytest.raises(ValueError, match=r"batch_size must be a positive integer \(at most 12\)"):
        minibatch_solve(prob, dspgd.gd(), 0.05, b)


@pytest.mark.parametrize("b", [2.5, True, None, "4"])
def test_batch_size_of_the_wrong_kind(prob, b):
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        minibatch_solve(prob, dspgd.gd(), 0.05, b)


def test_bad_inputs(prob):
    with pytest.raises(ValueError, match="seed"):
        minibatch_solve(prob, dspgd.gd(), 0.05, 2, seed=-1)
    with pytest.raises(ValueError, match="learning rate"):
        minibatch_solve(prob, dspgd.gd(), 0.0, 2)
    with pytest.raises(ValueError, match="tol"):
        minibatch_solve(prob, dspgd.gd(), 0.05, 2, tol=np.nan)
    with pytest.raises(TypeError, match="Preconditioner"):
        minibatch_solve(prob, "adam", 0.05, 2)
    with pytest.raises(ValueError, match="batch_size"):
        batch_sequence(5, 6, 3)


def test_stochastic_mirror_descent_bad_inputs(prob):
    with pytest.raises(TypeError, match="Potential"):
        stochastic_mirror_descent(prob, dspgd.gd(), 0.05, 2)
    with pytest.raises(ValueError, match="batch_size"):
        stochastic_mirror_descent(prob, mirror.pnorm(3.0), 0.05, 0)
    with pytest.raises(ValueError, match="seed"):
        stochastic_mirror_descent(prob, mirror.pnorm(3.0), 0.05, 2, seed=-1)
