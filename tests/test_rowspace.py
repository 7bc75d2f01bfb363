"""Row-space invariance: the null-space component, span/isotropy defects, and traced runs."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import null_space

import dspgd
from dspgd import theory
from dspgd.rowspace import (
    gradient_defects,
    isotropy_defect,
    null_component,
    rowspace_residual,
    span_defect,
    trace,
)


def _dense_null_projector(X: np.ndarray) -> np.ndarray:
    """The explicit d x d projector I - X^T (X X^T)^{-1} X (tests only, small d)."""
    return np.eye(X.shape[1]) - X.T @ np.linalg.solve(X @ X.T, X)


def _all_preconditioners(d: int, k: int) -> list:
    rng = np.random.default_rng(7)
    return [
        dspgd.gd(), dspgd.normalized(0.1), dspgd.normalized(0.0), dspgd.clip_norm(0.1),
        dspgd.adam(0.1), dspgd.clip_value(0.05), dspgd.power(1.5, 0.01), dspgd.power(2.0),
        dspgd.spectral(0.1), dspgd.spectral(0.0), dspgd.diagonal(rng.uniform(0.5, 2.0, (d, k))),
        dspgd.diagonal(2.0), dspgd.sign(),
    ]


@pytest.fixture(params=[1, 3])
def prob(request):
    return dspgd.gaussian_problem(8, 30, request.param, seed=2)


def test_rowspace_residual_matches_dense_projector(prob):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((prob.d, prob.k))
    P = _dense_null_projector(prob.X)
    W_gd = theory.gd_limit(prob)
    want = np.linalg.norm(P @ (W - prob.W0)) / np.linalg.norm(prob.W0 - W_gd)
    assert rowspace_residual(W, prob) == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(null_component(W, prob), P @ (W - prob.W0), atol=1e-13)


def test_rowspace_residual_of_an_explicit_decomposition(prob):
    """W = W0 + X^T A + N with N in null(X): the residual is ||N|| / ||W0 - W_GD||."""
    rng = np.random.default_rng(1)
    Nb = null_space(prob.X)  # d x (d - n)
    N = Nb @ rng.standard_normal((Nb.shape[1], prob.k))
    A = rng.standard_normal((prob.n, prob.k))
    W = prob.W0 + prob.X.T @ A + N
    scale = np.linalg.norm(prob.W0 - theory.gd_limit(prob))
    assert rowspace_residual(W, prob) == pytest.approx(np.linalg.norm(N) / scale, rel=1e-11)
    assert rowspace_residual(prob.W0 + prob.X.T @ A, prob) < 1e-14
    assert rowspace_residual(prob.W0, prob) == 0.0


def test_gd_solution_is_the_only_interpolator_in_the_row_space(prob):
    W_gd = theory.gd_limit(prob)
    assert rowspace_residual(W_gd, prob) < 1e-14
    # any other interpolator differs from W_GD by a null-space matrix, and for an
    # interpolator the row-space residual equals the relative distance to W_GD
    rng = np.random.default_rng(2)
    Nb = null_space(prob.X)
    W = W_gd + Nb @ rng.standard_normal((Nb.shape[1], prob.k))
    assert np.linalg.norm(prob.residual(W)) < 1e-12
    assert rowspace_residual(W, prob) == pytest.approx(theory.relative_distance(W, prob), rel=1e-10)
    assert rowspace_residual(W, prob) > 0.1


@settings(max_examples=30, deadline=None)
@given(c=st.floats(-50, 50, allow_nan=False), seed=st.integers(0, 10_000))
def test_rowspace_residual_is_absolutely_homogeneous(c, seed):
    prob = dspgd.gaussian_problem(5, 12, 2, seed=3)
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((prob.d, prob.k))
    r1 = rowspace_residual(prob.W0 + V, prob)
    rc = rowspace_residual(prob.W0 + c * V, prob)
    assert rc == pytest.approx(abs(c) * r1, rel=1e-9, abs=1e-13)


def test_rowspace_residual_batched_and_validation(prob):
    rng = np.random.default_rng(3)
    Ws = rng.standard_normal((4, prob.d, prob.k))
    batch = rowspace_residual(Ws, prob)
    assert batch.shape == (4,)
    np.testing.assert_allclose(batch, [rowspace_residual(W, prob) for W in Ws], rtol=1e-14)
    with pytest.raises(ValueError, match="shape"):
        rowspace_residual(np.zeros((prob.d + 1, prob.k)), prob)
    with pytest.raises(ValueError, match="shape"):
        rowspace_residual(np.zeros(prob.d), prob)


def test_rowspace_residual_rejects_interpolating_start():
    X = np.array([[1.0, 0.0, 0.0]])
    prob = dspgd.Problem(X, np.array([[2.0]]), np.array([[2.0], [1.0], [1.0]]))
    with pytest.raises(ValueError, match="interpolates"):
        rowspace_residual(prob.W0, prob)


def test_keeps_span_flag_matches_measured_span_defect():
    rng = np.random.default_rng(4)
    for k in (1, 3):
        d = 25
        G = rng.standard_normal((d, k))
        for p in _all_preconditioners(d, k):
            s = span_defect(p, G)
            if p.keeps_span:
                assert s < 1e-13, (p, k, s)
            else:
                assert s > 1e-3, (p, k, s)


def test_isotropic_flag_matches_measured_isotropy_defect():
    rng = np.random.default_rng(5)
    G = rng.standard_normal((25, 3))
    for p in _all_preconditioners(25, 3):
        iso = isotropy_defect(p, G)
        if p.isotropic:
            assert iso < 1e-13, (p, iso)
        else:
            assert iso > 1e-3, (p, iso)


def test_spectral_is_isotropic_only_for_one_column():
    rng = np.random.default_rng(6)
    p = dspgd.spectral(0.1)
    assert isotropy_defect(p, rng.standard_normal((20, 1))) < 1e-14
    assert isotropy_defect(p, rng.standard_normal((20, 3))) > 1e-2
    # rank-deficient G: the exact map U V^T still stays in col(G)
    g = rng.standard_normal((20, 1))
    G = np.hstack([g, 2 * g, rng.standard_normal((20, 1))])
    assert span_defect(dspgd.spectral(0.0), G) < 1e-13


def test_defects_validate_input():
    with pytest.raises(ValueError, match="zero"):
        span_defect(dspgd.gd(), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="shape"):
        isotropy_defect(dspgd.gd(), np.ones(4))


def test_gradient_defects_rows(prob):
    rows = gradient_defects(prob, [dspgd.gd(), dspgd.adam(0.1), dspgd.spectral(0.1)])
    assert [r["name"] for r in rows] == ["gd", "adam", "spectral"]
    assert rows[0]["isotropy_defect"] < 1e-14 and rows[0]["span_defect"] < 1e-14
    assert rows[1]["span_defect"] > 1e-2
    assert rows[2]["span_defect"] < 1e-13
    if prob.k > 1:
        assert rows[2]["isotropy_defect"] > 1e-2


def test_trace_matches_solver():
    prob = dspgd.gaussian_problem(6, 20, 2, seed=4)
    p = dspgd.normalized(0.2)
    lrs = np.array([0.05, 0.2])
    tr = trace(prob, p, lrs, steps=37, every=5)
    res = dspgd.solve(prob, p, lrs, tol=0, max_steps=37)
    np.testing.assert_allclose(tr.W, res.W, rtol=1e-12, atol=1e-13)
    assert tr.steps.tolist() == [0, 5, 10, 15, 20, 25, 30, 35, 37]
    assert tr.rowspace.shape == tr.distance.shape == tr.residual.shape == (2, 9)
    np.testing.assert_allclose(tr.distance[:, 0], 1.0)
    np.testing.assert_allclose(tr.residual[:, 0], 1.0)
    np.testing.assert_allclose(tr.distance[:, -1], theory.relative_distance(res.W, prob), rtol=1e-10)


@pytest.mark.parametrize("p", [dspgd.gd(), dspgd.normalized(0.05), dspgd.clip_norm(0.1),
                               dspgd.spectral(0.1), dspgd.spectral(0.0)])
def test_span_keeping_iterates_stay_in_row_space(p):
    prob = dspgd.gaussian_problem(10, 40, 3, seed=5)
    lr = 0.01 if not p.smooth else 0.5 * theory.stable_lr(prob, p)
    tr = trace(prob, p, lr, steps=400, every=10)
    assert tr.rowspace.max() < 1e-13
    assert tr.distance[0, -1] < tr.distance[0, 0]


def test_adam_iterates_leave_row_space():
    prob = dspgd.gaussian_problem(10, 40, 3, seed=5)
    p = dspgd.adam(0.1)
    tr = trace(prob, p, 0.5 * theory.stable_lr(prob, p), steps=2000, every=100)
    assert tr.rowspace[0, -1] > 1e-2
    # it interpolates, so its distance to W_GD is all null-space component
    assert tr.residual[0, -1] < 1e-8
    assert tr.distance[0, -1] == pytest.approx(tr.rowspace[0, -1], rel=1e-6)


def test_isotropic_limit_is_gd_solution_for_nonquadratic_loss():
    prob = dspgd.gaussian_problem(10, 40, 2, seed=8)
    for loss in (dspgd.huber(0.3), dspgd.logcosh()):
        p = dspgd.clip_norm(0.2)
        res = dspgd.solve(prob, p, 0.5 * theory.stable_lr(prob, p, loss), loss=loss, tol=1e-14)
        assert res.status == "converged"
        assert theory.relative_distance(res.W, prob) < 1e-12


def test_exact_spectral_hovers_at_a_distance_proportional_to_lr():
    prob = dspgd.gaussian_problem(10, 40, 3, seed=5)
    lrs = np.array([0.01, 0.04])
    tr = trace(prob, dspgd.spectral(0.0), lrs, steps=3000, every=3000)
    d = tr.distance[:, -1]
    assert np.all(d > 1e-6)  # it does not converge
    assert 2.0 < d[1] / d[0] < 8.0  # roughly linear in lr
    assert tr.rowspace.max() < 1e-13


def test_trace_validation():
    prob = dspgd.gaussian_problem(4, 10, 1, seed=0)
    with pytest.raises(ValueError, match="steps"):
        trace(prob, dspgd.gd(), 0.1, steps=-1)
    with pytest.raises(ValueError, match="every"):
        trace(prob, dspgd.gd(), 0.1, every=0)
    with pytest.raises(ValueError, match="learning rate"):
        trace(prob, dspgd.gd(), -0.1)
    with pytest.raises(TypeError):
        trace("not a problem", dspgd.gd(), 0.1)


def test_newton_schulz_is_a_polynomial_in_the_singular_values():
    from dspgd.rowspace import newton_schulz

    rng = np.random.default_rng(9)
    for shape in [(40, 3), (3, 40), (6, 6)]:
        G = rng.standard_normal(shape)
        Z = newton_schulz(G)
        assert Z.shape == G.shape
        # Z = U p(S) V^T: same singular vectors, so Z^T Z commutes with G^T G
        A, B = Z.T @ Z, G.T @ G
        assert np.linalg.norm(A @ B - B @ A) < 1e-12 * np.linalg.norm(A) * np.linalg.norm(B)
        # and its columns stay in col(G)
        U = np.linalg.svd(G, full_matrices=False)[0]
        assert np.linalg.norm(Z - U @ (U.T @ Z)) < 1e-13 * np.linalg.norm(Z)
        s = np.linalg.svd(Z, compute_uv=False)
        assert s.min() > 0.3 and s.max() < 1.6  # roughly orthogonalized
    # zero steps: just the Frobenius normalization
    np.testing.assert_allclose(newton_schulz(G, steps=0), G / np.linalg.norm(G))
    with pytest.raises(ValueError, match="steps"):
        newton_schulz(G, steps=-1)


def test_muon_float64_stays_in_row_space():
    from dspgd.rowspace import muon_trace

    prob = dspgd.gaussian_problem(10, 40, 3, seed=5)
    tr = muon_trace(prob, 0.01, steps=300, every=10)
    assert tr.rowspace.max() < 1e-13
    assert tr.distance[0, -1] < 0.05


def _torch_with_muon():
    """PyTorch with ``torch.optim.Muon``, or skip (the book itself does not need PyTorch)."""
    torch = pytest.importorskip(
        "torch", reason="PyTorch is optional: only the comparison with torch.optim.Muon needs it")
    if not hasattr(torch.optim, "Muon"):
        pytest.skip("this PyTorch has no torch.optim.Muon")
    return torch


def test_muon_numpy_matches_torch_muon_to_bfloat16_precision():
    _torch_with_muon()
    from dspgd.rowspace import muon_trace

    prob = dspgd.gaussian_problem(10, 40, 3, seed=5)
    for steps in (1, 3):
        a = muon_trace(prob, 0.02, steps=steps, backend="numpy").W[0]
        b = muon_trace(prob, 0.02, steps=steps, backend="torch").W[0]
        move = np.linalg.norm(a - prob.W0)
        assert np.linalg.norm(a - b) < 0.03 * move  # bfloat16 Newton-Schulz vs float64
    # the bfloat16 run leaves the row space, by about bfloat16 rounding
    tr = muon_trace(prob, 0.02, steps=50, backend="torch")
    assert 1e-6 < tr.rowspace[0, -1] < 0.1


def _bits(u: int) -> np.ndarray:
    """The float32 with bit pattern ``u``, as a 1-element array."""
    return np.array([u], dtype=np.uint32).view(np.float32)


def _as_bits(x) -> int:
    return int(np.asarray(x, dtype=np.float32).reshape(1).view(np.uint32)[0])


@pytest.mark.parametrize("pattern, expected", [
    (0x3F800000, 0x3F800000),  # 1.0 is a bfloat16 number
    (0x3F808000, 0x3F800000),  # 1 + 2^-8: tie between 1 (even) and 1 + 2^-7 (odd) -> 1
    (0x3F818000, 0x3F820000),  # 1 + 3 2^-8: tie between 1 + 2^-7 (odd) and 1 + 2^-6 (even) -> up
    (0x3F807FFF, 0x3F800000),  # just below the tie -> down
    (0x3F808001, 0x3F810000),  # just above the tie -> up
    (0xBF808000, 0xBF800000),  # negative tie, to even
    (0xBF808001, 0xBF810000),  # negative, just above the tie in magnitude
    (0x3FFF8000, 0x40000000),  # tie with odd last bit, carry into the exponent -> 2.0
    (0x7F7F8000, 0x7F800000),  # tie above the largest finite bfloat16 -> +inf
    (0x7F800000, 0x7F800000),  # +inf stays
    (0x00000001, 0x00000000),  # smallest float32 subnormal -> +0
    (0x00008000, 0x00000000),  # subnormal tie, to even (0)
    (0x00018000, 0x00020000),  # subnormal tie, to even (up)
])
def test_bfloat16_round_to_nearest_even_on_bit_patterns(pattern, expected):
    from dspgd.rowspace import bfloat16_round

    assert _as_bits(bfloat16_round(_bits(pattern))) == expected


def test_bfloat16_round_keeps_nan_and_shape():
    from dspgd.rowspace import bfloat16_round

    out = bfloat16_round(np.array([[np.nan, 1.0], [-np.inf, 0.0]]))
    assert out.dtype == np.float32 and out.shape == (2, 2)
    assert np.isnan(out[0, 0]) and out[0, 1] == 1.0 and out[1, 0] == -np.inf and out[1, 1] == 0.0


def test_bfloat16_representable_values_are_unchanged():
    from dspgd.rowspace import bfloat16_round

    rng = np.random.default_rng(10)
    hi = rng.integers(0, 2**16, 20_000, dtype=np.uint32)
    hi = hi[(hi & 0x7F80) != 0x7F80]  # drop inf/NaN exponents
    x = (hi << np.uint32(16)).view(np.float32)
    np.testing.assert_array_equal(bfloat16_round(x).view(np.uint32), x.view(np.uint32))
    # from float64 too, and idempotence on arbitrary values
    np.testing.assert_array_equal(bfloat16_round(x.astype(np.float64)), x)
    y = rng.standard_normal(1000) * 10.0 ** rng.integers(-20, 20, 1000)
    np.testing.assert_array_equal(bfloat16_round(bfloat16_round(y)), bfloat16_round(y))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bfloat16_round_is_nearest_with_relative_error_at_most_2_to_minus_8(dtype):
    from dspgd.rowspace import bfloat16_round

    rng = np.random.default_rng(11)
    x = (rng.uniform(-1, 1, 50_000) * 2.0 ** rng.integers(-100, 100, 50_000)).astype(dtype)
    r = bfloat16_round(x)
    assert np.all((r.view(np.uint32) & 0xFFFF) == 0)  # a bfloat16 number
    rel = np.abs(r.astype(np.float64) - x.astype(np.float64)) / np.abs(x.astype(np.float64))
    assert rel.max() <= 2.0**-8
    assert rel.max() > 2.0**-9  # the bound is nearly attained: only 8 significant bits are kept
    # nearest: neither bfloat16 neighbour of r is closer to x
    up = (r.view(np.uint32) + np.uint32(1 << 16)).view(np.float32).astype(np.float64)
    down = (r.view(np.uint32) - np.uint32(1 << 16)).view(np.float32).astype(np.float64)
    err = np.abs(r.astype(np.float64) - x.astype(np.float64))
    nz = np.abs(r) > 0
    assert np.all(err[nz] <= np.abs(up - x.astype(np.float64))[nz])
    assert np.all(err[nz] <= np.abs(down - x.astype(np.float64))[nz])


def test_bfloat16_spacing():
    from dspgd.rowspace import bfloat16_spacing

    assert bfloat16_spacing(1.0) == 2.0**-7
    assert bfloat16_spacing(2.0) == 2.0**-6
    assert bfloat16_spacing(-0.5) == 2.0**-8
    with pytest.raises(ValueError, match="bfloat16"):
        bfloat16_spacing(1.0 + 2.0**-10)


def test_bfloat16_round_matches_torch():
    torch = _torch_with_muon()
    from dspgd.rowspace import bfloat16_round

    rng = np.random.default_rng(12)
    x = rng.standard_normal(100_000) * 10.0 ** rng.integers(-30, 30, 100_000)
    want = torch.from_numpy(x).bfloat16().float().numpy()
    np.testing.assert_array_equal(bfloat16_round(x), want)


def test_newton_schulz_bfloat16_leaks_out_of_the_column_space_at_bfloat16_level():
    from dspgd.rowspace import bfloat16_spacing, newton_schulz, newton_schulz_bfloat16

    eps = bfloat16_spacing(1.0)
    rng = np.random.default_rng(13)
    for shape in [(60, 3), (3, 60), (8, 8)]:
        G = rng.standard_normal(shape)
        Z = newton_schulz_bfloat16(G)
        assert Z.shape == G.shape and Z.dtype == np.float64
        assert np.all((Z.astype(np.float32).view(np.uint32) & 0xFFFF) == 0)
        U = np.linalg.svd(G, full_matrices=False)[0]
        if U.shape[0] > U.shape[1]:
            leak = np.linalg.norm(Z - U @ (U.T @ Z)) / np.linalg.norm(Z)
            assert eps / 100 < leak < 10 * eps
        # the same polynomial, in low precision: close to the float64 iteration
        Z64 = newton_schulz(G)
        assert np.linalg.norm(Z - Z64) < 0.2 * np.linalg.norm(Z64)
    # zero steps: the normalization alone, with three bfloat16 roundings (of G, of the norm,
    # of the quotient), each of relative size at most u = 2^-8
    u = 2.0**-8
    Z0, want = newton_schulz_bfloat16(G, steps=0), G / np.linalg.norm(G)
    assert np.all(np.abs(Z0 - want) <= (3 * u + 3 * u**2) * np.abs(want))
    assert np.any(Z0 != want)
    with pytest.raises(ValueError, match="steps"):
        newton_schulz_bfloat16(G, steps=-1)
    with pytest.raises(ValueError, match="shape"):
        newton_schulz_bfloat16(np.ones(3))


def test_newton_schulz_bfloat16_matches_torch():
    torch = _torch_with_muon()
    from torch.optim import _muon  # private helper of torch.optim.Muon
    from dspgd.rowspace import MUON_COEFFICIENTS, newton_schulz_bfloat16

    if not hasattr(_muon, "_zeropower_via_newtonschulz"):
        pytest.skip("torch.optim.Muon's Newton-Schulz helper has moved")
    rng = np.random.default_rng(14)
    for shape in [(100, 3), (3, 100), (40, 40), (300, 20)]:
        G = rng.standard_normal(shape)
        want = _muon._zeropower_via_newtonschulz(torch.from_numpy(G), MUON_COEFFICIENTS, 5, 1e-7)
        want = want.double().numpy()
        got = newton_schulz_bfloat16(G)
        # float32 summation order may differ: allow a few entries one bfloat16 unit apart
        assert np.mean(got == want) > 0.99
        assert np.linalg.norm(got - want) < 1e-3 * np.linalg.norm(want)


def test_muon_bfloat16_emulation_tracks_torch_muon():
    _torch_with_muon()
    from dspgd.rowspace import muon_trace

    prob = dspgd.gaussian_problem(10, 40, 3, seed=5)
    for steps in (1, 3):
        e = muon_trace(prob, 0.02, steps=steps, backend="bfloat16").W[0]
        b = muon_trace(prob, 0.02, steps=steps, backend="torch").W[0]
        a = muon_trace(prob, 0.02, steps=steps, backend="numpy").W[0]
        # far closer to torch than the float64 iteration is
        assert np.linalg.norm(e - b) < 1e-3 * np.linalg.norm(a - b)


def test_muon_bfloat16_emulation_leaks_like_torch_muon():
    _torch_with_muon()
    from dspgd.rowspace import muon_trace

    prob = dspgd.gaussian_problem(10, 40, 3, seed=5)
    kw = dict(lr=0.02, steps=200, every=10)
    emu = muon_trace(prob, backend="bfloat16", **kw).rowspace[0, 1:]
    ref = muon_trace(prob, backend="torch", **kw).rowspace[0, 1:]
    assert np.all(ref > 0)
    ratio = emu / ref
    assert np.all((ratio > 0.1) & (ratio < 10)), ratio  # the same order of magnitude, all along


def test_muon_bfloat16_emulation_leaves_row_space_float64_does_not():
    from dspgd.rowspace import bfloat16_spacing, muon_trace

    prob = dspgd.gaussian_problem(10, 40, 3, seed=5)
    eps = bfloat16_spacing(1.0)
    bf = muon_trace(prob, 0.02, steps=300, every=10, backend="bfloat16")
    f64 = muon_trace(prob, 0.02, steps=300, every=10, backend="numpy")
    assert f64.rowspace.max() < 1e-13
    assert eps / 100 < bf.rowspace[0, -1] < 10 * eps
    # it still gets close to W_GD: the leak is at the level of the arithmetic
    assert bf.distance[0, -1] < 0.05 and f64.distance[0, -1] < 0.05


def test_muon_trace_validation():
    from dspgd.rowspace import muon_trace

    prob = dspgd.gaussian_problem(4, 10, 2, seed=0)
    with pytest.raises(ValueError, match="backend"):
        muon_trace(prob, 0.1, backend="jax")
    with pytest.raises(ValueError, match="momentum"):
        muon_trace(prob, 0.1, momentum=1.0)
    with pytest.raises(ValueError, match="lr"):
        muon_trace(prob, 0.0)
