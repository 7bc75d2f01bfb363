"""Tests of full Adam (dspgd.adam_memory): torch reproduction, the DSPGD special case, validation."""

import numpy as np
import pytest

import dspgd
from dspgd.adam_memory import AdamRule, Memoryless, MomentumRule, adam_solve, adam_sweep, run_stateful
from dspgd.solver import Context


def _started(rule, B, d, k):
    """``rule`` set up for ``B`` runs on ``d x k`` weights (the runner's stacked layout ``d x (B k)``)."""
    rule.start(Context(dspgd.gaussian_problem(n=2, d=d, k=k, seed=0), dspgd.squared()), B)
    return rule


@pytest.fixture(scope="module")
def prob():
    return dspgd.gaussian_problem(n=10, d=40, k=2, seed=3)


def _torch_adam(prob, lr, betas, eps, steps):
    torch = pytest.importorskip("torch", reason="torch is needed to compare with torch.optim.Adam")
    X = torch.tensor(prob.X, dtype=torch.float64)
    Y = torch.tensor(prob.Y, dtype=torch.float64)
    w = torch.tensor(prob.W0.copy(), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([w], lr=lr, betas=betas, eps=eps)
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * ((X @ w - Y) ** 2).sum()).backward()
        opt.step()
    return w.detach().numpy()


ALL_BETAS = [(0.9, 0.999), (0.9, 0.99), (0.5, 0.9), (0.0, 0.999), (0.3, 0.5)]


@pytest.mark.parametrize("betas", ALL_BETAS)
@pytest.mark.parametrize("eps", [1e-8, 1e-3])
def test_reproduces_torch_adam(prob, betas, eps):
    # 100 steps at a moderate learning rate: iterates agree to round-off for every betas
    lrs = np.array([1e-3, 3e-3])
    res = adam_solve(prob, lrs, betas=betas, eps=eps, tol=0, max_steps=100)
    for b, lr in enumerate(lrs):
        ref = _torch_adam(prob, float(lr), betas, eps, 100)
        assert np.max(np.abs(res.W[b] - ref)) <= 1e-12
        assert np.linalg.norm(ref - prob.W0) > 0.05  # the runs moved


@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.9, 0.99), (0.0, 0.999)])
def test_reproduces_torch_adam_long_runs(prob, betas):
    # with a long second-moment memory the dynamics do not amplify round-off: 300 steps, up to
    # a nearly converged run. (With a short memory, beta2 <= 0.9, Adam's oscillating phase
    # amplifies round-off exponentially, so two correct implementations drift apart;
    # test_one_step_equals_torch covers those betas.)
    lrs = np.array([3e-3, 2e-2])
    res = adam_solve(prob, lrs, betas=betas, eps=1e-8, tol=0, max_steps=300)
    for b, lr in enumerate(lrs):
        ref = _torch_adam(prob, float(lr), betas, 1e-8, 300)
        assert np.max(np.abs(res.W[b] - ref)) <= 1e-12


@pytest.mark.parametrize("betas", ALL_BETAS + [(0.0, 0.0), (0.99, 0.9999)])
@pytest.mark.parametrize("t", [1, 2, 17, 500])
def test_one_step_equals_torch(betas, t):
    """From the same state (W, m, v, step count), one step of AdamRule equals one of torch."""
    torch = pytest.importorskip("torch", reason="torch is needed to compare with torch.optim.Adam")
    rng = np.random.default_rng(t)
    d, k, lr, eps = 30, 2, 7e-3, 1e-6
    W = rng.standard_normal((d, k))
    G = rng.standard_normal((d, k)) * 10.0 ** rng.uniform(-6, 1, (d, k))
    m = rng.standard_normal((d, k)) * 0.1 if t > 1 else np.zeros((d, k))
    v = rng.uniform(0, 0.1, (d, k)) if t > 1 else np.zeros((d, k))
    rule = _started(AdamRule(betas, eps), 1, d, k)
    rule.m[:], rule.v[:] = m, v
    mine = W - lr * rule.direction(G, t)
    w = torch.tensor(W.copy(), requires_grad=True)
    opt = torch.optim.Adam([w], lr=lr, betas=betas, eps=eps)
    w.grad = torch.tensor(G.copy())
    opt.step()  # creates the state (step 1)
    if t > 1:
        with torch.no_grad():
            w.copy_(torch.tensor(W))
        st = opt.state[w]
        st["step"].fill_(t - 1)
        st["exp_avg"].copy_(torch.tensor(m))
        st["exp_avg_sq"].copy_(torch.tensor(v))
        opt.step()
    ref = w.detach().numpy()
    assert np.max(np.abs(mine - ref)) <= 4 * np.finfo(float).eps * np.max(np.abs(W))
    assert np.max(np.abs(ref - W)) > 1e-4  # the step is not negligible


def test_scalar_lr_gives_scalar_result(prob):
    res = adam_solve(prob, 1e-2, max_steps=50, tol=0)
    assert res.W.shape == (prob.d, prob.k) and isinstance(res.status, str) and res.steps == 50
    assert res.extra == {"betas": (0.9, 0.999), "eps": 1e-8}


def _same_runs(a, b, rtol=1e-12):
    """Same statuses and stopping steps; iterates and path lengths equal up to round-off.

    (Bit-for-bit equality of two runs is not a property of the mathematics: OpenBLAS
    rounds a product with X differently for C- and Fortran-ordered operands, and the
    order in which each loop keeps its working set is an implementation detail.)
    """
    assert list(a.status) == list(b.status)
    assert np.array_equal(a.steps, b.steps) and np.array_equal(a.history_steps, b.history_steps)
    for A, B in zip(a.W, b.W):
        assert np.max(np.abs(A - B)) <= rtol * max(1.0, np.max(np.abs(B)))
    assert np.allclose(a.path_length, b.path_length, rtol=rtol, atol=0)
    assert np.allclose(a.residual_history, b.residual_history, rtol=1e-9, atol=1e-12, equal_nan=True)


def test_betas_zero_is_dspgd_adam(prob):
    # learning rates chosen so that runs stop at different steps (two above the stable step)
    eps = 0.05
    lrs = np.geomspace(2e-3, 3 * dspgd.stable_lr(prob, dspgd.adam(eps)), 6)
    a = adam_solve(prob, lrs, betas=(0.0, 0.0), eps=eps, max_steps=4000)
    b = dspgd.solve(prob, dspgd.adam(eps), lrs, max_steps=4000)
    assert len(set(b.steps.tolist())) > 2, "the test needs runs that stop at different times"
    _same_runs(a, b)


def test_rule_direction_betas_zero_bitwise():
    """With betas = (0, 0) the Adam direction is g / (|g| + eps) bit for bit, at every step."""
    rng = np.random.default_rng(0)
    G = rng.standard_normal((50, 3 * 2)) * 10.0 ** rng.uniform(-12, 6, (50, 3 * 2))  # 3 runs, k = 2
    rule = _started(AdamRule((0.0, 0.0), 1e-3), 3, 50, 2)
    for t in (1, 2, 7):
        assert np.array_equal(rule.direction(G, t), G / (np.abs(G) + 1e-3))


@pytest.mark.parametrize("precond", [dspgd.gd(), dspgd.clip_value(0.05), dspgd.spectral(0.01),
                                     dspgd.normalized(0.1)])
def test_generic_loop_reproduces_solve(prob, precond):
    slr = dspgd.stable_lr(prob, precond)
    lrs = np.array([0.1, 0.5, 0.9, 1.5]) * slr  # the last one may oscillate or diverge
    a = run_stateful(prob, Memoryless(precond), lrs, max_steps=3000)
    b = dspgd.solve(prob, precond, lrs, max_steps=3000)
    _same_runs(a, b)


def test_stopping_rule_and_residual(prob):
    res = adam_solve(prob, np.array([1e-3, 1e-2]), betas=(0.9, 0.99), eps=1e-3, tol=1e-9,
                     patience=10, max_steps=20000)
    r0 = np.linalg.norm(prob.residual(prob.W0))
    for b in range(2):
        assert res.status[b] == "converged"
        assert res.residual[b] <= 1e-9 * r0
        assert np.isclose(res.residual[b], np.linalg.norm(prob.residual(res.W[b])))
        assert np.nanmin(res.residual_history[:, b]) <= 1e-9 * r0


def test_divergence_is_flagged_and_W_finite(prob):
    res = adam_solve(prob, np.array([1e-3, 1e4]), betas=(0.9, 0.999), eps=1e-8, blowup=10.0,
                     max_steps=200, tol=0)
    assert res.status[1] == "diverged" and res.status[0] == "max_steps"
    assert np.all(np.isfinite(res.W))
    assert "diverged" in res.message[1]


def test_momentum_alone_lands_on_gd_but_adam_does_not(prob):
    W_gd = dspgd.gd_limit(prob)
    mom = run_stateful(prob, MomentumRule(0.9), np.array([0.2, 1.0]), tol=1e-12, max_steps=20000)
    assert np.all(mom.status == "converged")
    assert np.max(dspgd.relative_distance(mom.W, prob, W_gd)) < 1e-10
    ad = adam_solve(prob, 1e-2, betas=(0.9, 0.999), eps=1e-3, tol=1e-12, max_steps=20000)
    assert ad.status == "converged"
    assert dspgd.relative_distance(ad.W, prob, W_gd) > 0.05
    assert dspgd.distance_ratio(ad.W, prob, W_gd) > 1.0


def test_sweep_members_match_single_runs(prob):
    betas = [(0.9, 0.999), (0.5, 0.9)]
    eps = [1e-8, 1e-3]
    lrs = np.array([1e-3, 1e-2])
    sw = adam_sweep(prob, lrs, betas, eps, tol=0, max_steps=60)
    assert sw.extra["grid"] == (2, 2, 2)
    for i, b in enumerate(betas):
        for j, e in enumerate(eps):
            one = adam_solve(prob, lrs, betas=b, eps=e, tol=0, max_steps=60)
            for l in range(2):
                m = (i * 2 + j) * 2 + l
                assert tuple(sw.extra["betas"][m]) == b and sw.extra["eps"][m] == e
                assert np.allclose(sw.W[m], one.W[l], rtol=0, atol=1e-13)
                assert not np.allclose(sw.W[m], prob.W0, atol=1e-3)


@pytest.mark.parametrize("betas", [(1.0, 0.9), (0.9, 1.0), (-0.1, 0.9), (float("nan"), 0.9),
                                   (0.9,), (0.9, 0.99, 0.5), 0.9])
def test_bad_betas(prob, betas):
    with pytest.raises(ValueError, match="beta"):
        adam_solve(prob, 1e-3, betas=betas)


@pytest.mark.parametrize("betas", ["ab", None, ("a", "b")])
def test_betas_of_the_wrong_kind(prob, betas):
    with pytest.raises(TypeError, match="betas must be a pair"):
        adam_solve(prob, 1e-3, betas=betas)


@pytest.mark.parametrize("eps", [0.0, -1e-8, float("nan"), float("inf")])
def test_bad_eps(prob, eps):
    with pytest.raises(ValueError, match="eps"):
        adam_solve(prob, 1e-3, eps=eps)


@pytest.mark.parametrize("lr", [0.0, -1e-3, float("nan"), np.array([[1e-3]]), np.array([]),
                                np.array([1e-3, -1.0])])
def test_bad_lr(prob, lr):
    with pytest.raises(ValueError, match="lr|learning rate"):
        adam_solve(prob, lr)


def test_per_run_parameters_must_match_lr_count(prob):
    with pytest.raises(ValueError, match="entries but there are"):
        run_stateful(prob, AdamRule([(0.9, 0.999)] * 3, 1e-8), np.array([1e-3, 1e-2]))
