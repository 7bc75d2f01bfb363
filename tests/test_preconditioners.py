"""Preconditioners ``K``: gradients, convexity (monotone and co-coercive ``grad K``), the declared
constants (``lipschitz``, ``local_monotonicity``), the structural flags, and validation."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dspgd
from dspgd import Preconditioner

HYP = settings(derandomize=True, max_examples=25, deadline=None)


def _D(shape: tuple[int, ...]) -> np.ndarray:
    """A positive, non-constant diagonal of the shape ``(d, k)`` of one gradient."""
    d, k = shape[-2:]
    return np.linspace(0.5, 2.0, d * k).reshape(d, k)


# name -> factory(shape of G) for every smooth preconditioner of the engine
SMOOTH: dict[str, Callable[[tuple[int, ...]], Preconditioner]] = {
    "gd": lambda s: dspgd.gd(),
    "normalized": lambda s: dspgd.normalized(0.3),
    "clip_norm": lambda s: dspgd.clip_norm(0.8),
    "adam": lambda s: dspgd.adam(0.2),
    "clip_value": lambda s: dspgd.clip_value(0.6),
    "power1.5": lambda s: dspgd.power(1.5, 0.3),
    "power3": lambda s: dspgd.power(3.0, 0.3),
    "power3-exact": lambda s: dspgd.power(3.0, 0.0),
    "spectral": lambda s: dspgd.spectral(0.3),
    "diagonal": lambda s: dspgd.diagonal(_D(s)),
    "flat_ball": lambda s: dspgd.flat_ball(0.5),
}
# the exact (non-smooth) maps, differentiable at generic points
EXACT: dict[str, Callable[[tuple[int, ...]], Preconditioner]] = {
    "normalized0": lambda s: dspgd.normalized(0.0),
    "sign": lambda s: dspgd.sign(),
    "spectral0": lambda s: dspgd.spectral(0.0),
}
ALL = {**SMOOTH, **EXACT}
SHAPES = [(5, 1), (4, 3), (2, 4, 3)]  # (d, k) and a stack (B, d, k)


def _fd_grad(f, G: np.ndarray, h: float = 1e-6) -> np.ndarray:
    out = np.empty_like(G)
    for idx in np.ndindex(G.shape):
        E = np.zeros_like(G)
        E[idx] = h
        out[idx] = (f(G + E) - f(G - E)) / (2 * h)
    return out


def _inner(A: np.ndarray, B: np.ndarray) -> float:
    return float(np.sum(A * B))


# ------------------------------------------------------------ grad = d value


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@HYP
@given(seed=st.integers(0, 2**32 - 1), log_scale=st.floats(-1.5, 1))
def test_grad_is_the_finite_difference_gradient_of_value(name, shape, seed, log_scale):
    """At generic points (no zero entry, full rank, off every kink) for smooth and exact maps."""
    G = 10.0**log_scale * np.random.default_rng(seed).standard_normal(shape)
    p = ALL[name](shape)
    g = p.grad(G)
    assert g.shape == G.shape
    fd = _fd_grad(lambda A: float(np.sum(p.value(A))), G)
    np.testing.assert_allclose(g, fd, rtol=0, atol=1e-6 * max(1.0, np.max(np.abs(g))))


@pytest.mark.parametrize("name", ALL)
def test_a_stack_is_preconditioned_member_by_member(name, rng):
    G = rng.standard_normal((3, 4, 2))
    p = ALL[name](G.shape)
    v, g = p.value(G), p.grad(G)
    assert np.shape(v) == (3,)
    for b in range(3):
        assert v[b] == pytest.approx(p.value(G[b]), rel=1e-14)
        np.testing.assert_allclose(g[b], p.grad(G[b]), rtol=1e-13, atol=1e-15)
    assert isinstance(p.value(G[0]), float)


@pytest.mark.parametrize("name", ALL)
def test_grad_at_zero_is_zero(name):
    """``grad K(0) = 0``: DSPGD stops exactly at an interpolator (``G = 0`` there)."""
    p = ALL[name]((4, 2))
    np.testing.assert_array_equal(p.grad(np.zeros((4, 2))), 0.0)
    np.testing.assert_array_equal(p.grad(np.zeros((2, 4, 2))), 0.0)


# ------------------------------------------------------------ the exact maps


def test_exact_normalized_is_G_over_its_norm(rng):
    p = dspgd.normalized(0.0)
    G = rng.standard_normal((2, 6, 3))
    expect = G / np.linalg.norm(G, axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(p.grad(G), expect, rtol=1e-14)
    assert p.value(G[0]) == pytest.approx(np.linalg.norm(G[0]), rel=1e-14)
    assert not p.smooth and p.lipschitz == np.inf


def test_sign_descent_is_the_sign(rng):
    p = dspgd.sign()
    G = rng.standard_normal((6, 3))
    G[0, 0] = 0.0
    np.testing.assert_array_equal(p.grad(G), np.sign(G))
    assert p.value(G) == pytest.approx(np.abs(G).sum(), rel=1e-14)


def test_exact_spectral_is_U_V_transpose(rng):
    p = dspgd.spectral(0.0)
    G = rng.standard_normal((3, 7, 3))
    U, s, Vt = np.linalg.svd(G, full_matrices=False)
    np.testing.assert_allclose(p.grad(G), U @ Vt, atol=1e-12)
    assert p.value(G[1]) == pytest.approx(s[1].sum(), rel=1e-12)  # the nuclear norm
    # rank one: only the nonzero singular direction is kept, u1 v1^T
    u, v = rng.standard_normal(7), rng.standard_normal(3)
    R1 = np.outer(u, v)
    np.testing.assert_allclose(p.grad(R1), np.outer(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)), atol=1e-10)


def test_smoothed_spectral_is_the_matrix_function_of_the_svd(rng):
    eps = 0.3
    G = rng.standard_normal((7, 3))
    U, s, Vt = np.linalg.svd(G, full_matrices=False)
    np.testing.assert_allclose(dspgd.spectral(eps).grad(G), U @ np.diag(s / np.sqrt(s**2 + eps**2)) @ Vt, atol=1e-13)


# ------------------------------------------------ monotone and co-coercive


def _pairs(shape):
    el = st.floats(-5, 5, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    return st.tuples(hnp.arrays(np.float64, shape, elements=el), hnp.arrays(np.float64, shape, elements=el))


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("shape", [(4, 2), (3, 4, 2)], ids=str)
@HYP
@given(data=st.data())
def test_grad_K_is_monotone_and_co_coercive_with_its_lipschitz_constant(name, shape, data):
    """``<dK, dG> >= ||dK||^2 / L_K`` (Baillon-Haddad) for smooth ``K``; ``>= 0`` for all.

    ``dG = A - B`` and ``dK = grad K(A) - grad K(B)``, member by member for a
    stack. The slack only absorbs rounding (relative 1e-12 of the terms plus
    an absolute 1e-11 scaled by the size of the inputs).
    """
    A, B = data.draw(_pairs(shape))
    p = ALL[name](shape)
    dG = (A - B).reshape(-1, *shape[-2:])
    dK = (p.grad(A) - p.grad(B)).reshape(dG.shape)
    for b in range(dG.shape[0]):
        lhs = _inner(dK[b], dG[b])
        rhs = _inner(dK[b], dK[b]) / p.lipschitz if p.smooth else 0.0
        slack = 1e-12 * (abs(lhs) + rhs) + 1e-11 * (1.0 + np.sum(A**2) + np.sum(B**2)) * max(1.0, p.lipschitz if p.smooth else 1.0)
        assert lhs >= rhs - slack, (lhs, rhs)


@pytest.mark.parametrize("name", [n for n in SMOOTH if SMOOTH[n]((4, 2)).smooth and n != "flat_ball"])
def test_the_lipschitz_constant_is_attained(name):
    """``L_K`` is the best constant: some pair has ``||dK|| / ||dG||`` equal to it.

    (So ``stable_lr = 2 / (L_K beta)`` is not needlessly small.) The pair is
    ``+-h E`` for a unit ``E`` at the entry/direction of largest curvature.
    """
    shape = (4, 2)
    p = SMOOTH[name](shape)
    E = np.zeros(shape)
    if name == "diagonal":
        E[np.unravel_index(np.argmax(_D(shape)), shape)] = 1.0
    else:
        E[0, 0] = 1.0
    h = 1e-9  # the curvature is largest at 0; the relative bias is O(h / eps)
    ratio = np.linalg.norm(p.grad(h * E) - p.grad(-h * E)) / (2 * h)
    assert ratio == pytest.approx(p.lipschitz, rel=1e-6)


@pytest.mark.parametrize("name", ["power3", "power3-exact", "normalized0", "sign", "spectral0"])
def test_non_smooth_maps_declare_an_infinite_lipschitz_constant(name):
    p = ALL[name]((4, 2))
    assert not p.smooth
    # and indeed the difference quotient is unbounded (near 0 for the exact maps, far out for q = 3)
    E = np.zeros((4, 2))
    E[0, 0] = 1.0
    quotients = [np.linalg.norm(p.grad(a * E) - p.grad(b * E)) / abs(a - b)
                 for a, b in [(1e-9, -1e-9), (1e3, 1e3 + 1e-3)]]
    assert max(quotients) > 1e3


# ------------------------------------------------------- restricted strong monotonicity at 0 (local_monotonicity)


@pytest.mark.parametrize("name", ALL)
@HYP
@given(seed=st.integers(0, 2**32 - 1), log_r=st.floats(-3, 2), frac=st.floats(0.01, 1.0), sparse=st.booleans())
def test_local_monotonicity_is_a_lower_bound(name, seed, log_r, frac, sparse):
    """``<grad K(G), G> / ||G||^2 >= mu_K(r)`` for every ``G`` with ``0 < ||G||_F <= r``."""
    shape = (5, 3)
    p = ALL[name](shape)
    r = 10.0**log_r
    G = np.random.default_rng(seed).standard_normal(shape)
    if sparse:  # the extreme directions of the entrywise maps have one nonzero entry
        G[np.abs(G) < np.max(np.abs(G))] = 0.0
    G *= frac * r / np.linalg.norm(G)
    ratio = _inner(p.grad(G), G) / _inner(G, G)
    assert ratio >= p.local_monotonicity(r) * (1 - 1e-12)


def test_exact_power_has_no_local_monotonicity():
    """``q > 2``, ``eps = 0``: ``grad K(g) = g |g|^(q-2)`` is flat at 0, so ``mu_K = 0``."""
    p = dspgd.power(3.0, 0.0)
    assert p.local_monotonicity(1.0) == 0.0
    G = np.full((2, 2), 1e-8)
    assert _inner(p.grad(G), G) / _inner(G, G) < 1e-7


@pytest.mark.parametrize("name", [n for n in ALL if n not in ("sign", "power3-exact", "flat_ball")])
@pytest.mark.parametrize("r", [1e-2, 0.5, 7.0])
def test_local_monotonicity_is_attained(name, r):
    """The bound is the infimum, not just a bound: a witness ``G`` with ``||G|| <= r`` attains it.

    (``sign`` is excluded: it declares the valid but loose bound 0; exact ``q = 3``
    has infimum 0, see above; ``flat_ball`` has infimum 0, attained inside its ball,
    see ``test_flat_ball_*``.)
    """
    shape = (5, 3)
    p = ALL[name](shape)
    G = np.zeros(shape)
    if name == "diagonal":
        G[np.unravel_index(np.argmin(_D(shape)), shape)] = r
    elif name == "power3":  # q > 2: the infimum is approached as G -> 0
        G[0, 0] = 1e-9 * r
    else:
        G[0, 0] = r
    ratio = _inner(p.grad(G), G) / _inner(G, G)
    assert ratio == pytest.approx(p.local_monotonicity(r), rel=1e-12, abs=1e-15)


# ----------------------------------------------------------- structural flags


@pytest.mark.parametrize("name", ALL)
def test_isotropic_means_a_nonnegative_multiple_of_G(name, rng):
    p = ALL[name]((6, 3))
    G = rng.standard_normal((6, 3))
    g = p.grad(G)
    phi = _inner(g, G) / _inner(G, G)
    off = np.linalg.norm(g - phi * G) / np.linalg.norm(g)
    if p.isotropic:
        assert phi > 0 and off < 1e-14
        # and K depends on ||G|| only
        H = rng.standard_normal((6, 3))
        H *= np.linalg.norm(G) / np.linalg.norm(H)
        assert p.value(H) == pytest.approx(p.value(G), rel=1e-13)
    else:
        assert off > 1e-3


@pytest.mark.parametrize("name", ALL)
def test_keeps_span_means_the_columns_stay_in_the_column_space_of_G(name, rng):
    p = ALL[name]((6, 3))
    G = rng.standard_normal((6, 3))
    g = p.grad(G)
    Q, _ = np.linalg.qr(G)
    off = np.linalg.norm(g - Q @ (Q.T @ g)) / np.linalg.norm(g)
    if p.keeps_span:
        assert off < 1e-13
    else:
        assert off > 1e-3
    if p.isotropic:
        assert p.keeps_span


def test_flags_of_the_spectral_and_diagonal_families():
    assert not dspgd.spectral(0.1).isotropic and dspgd.spectral(0.1).keeps_span
    assert dspgd.diagonal(2.0).isotropic and dspgd.diagonal(np.full(4, 2.0)).isotropic
    assert not dspgd.diagonal(np.arange(1.0, 5.0)).keeps_span
    assert dspgd.power(2.0).isotropic and not dspgd.power(1.5).isotropic


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("k", [1, 3])
def test_columnwise_flag_is_exactly_when_side_by_side_stacking_is_valid(name, k, rng):
    """``columnwise``: ``grad`` of ``B`` gradients side by side as a ``(d, B k)`` matrix is
    the side-by-side ``grad`` of each (what the solver's fast path relies on)."""
    B, d = 4, 6
    p = ALL[name]((d, 1)) if name == "diagonal" else ALL[name]((d, k))
    if name == "diagonal" and k > 1:
        p = dspgd.diagonal(_D((d, k)))
    Gs = rng.standard_normal((B, d, k))
    wide_input = np.concatenate(list(Gs), axis=1)
    separate = np.concatenate([p.grad(G) for G in Gs], axis=1)
    if p.columnwise:
        np.testing.assert_array_equal(p.grad(wide_input), separate)
    else:
        with np.errstate(all="ignore"):
            try:
                wide = p.grad(wide_input)
            except ValueError:  # e.g. a (d, k) diagonal does not even broadcast
                return
        assert np.max(np.abs(wide - separate)) > 1e-6


def test_diagonal_flags_depend_on_the_shape_of_D():
    assert dspgd.diagonal(np.arange(1.0, 5.0)).columnwise
    assert dspgd.diagonal(3.0).columnwise
    assert not dspgd.diagonal(np.ones((4, 2)) + np.arange(2)).columnwise


def test_repr_and_labels():
    assert repr(dspgd.adam(0.001)) == "adam(eps=0.001)"
    assert "array" in repr(dspgd.diagonal(np.arange(1.0, 5.0)))
    assert dspgd.adam(1e-3).label.endswith(r"($\epsilon=10^{-3}$)")
    for name, make in ALL.items():
        p = make((4, 2))
        assert p.label and p.name in {"gd", "normalized", "clip_norm", "adam", "clip_value",
                                      "power", "spectral", "diagonal", "sign", "flat_ball"}


# ------------------------------------------------------- the flat-ball counterexample


def test_flat_ball_vanishes_on_its_ball_and_is_one_smooth_outside(rng):
    p = dspgd.flat_ball(2.0)
    G = rng.standard_normal((6, 3))
    G *= 1.9 / np.linalg.norm(G)
    assert p.value(G) == 0.0 and not np.any(p.grad(G))
    assert p.local_monotonicity(1.0) == 0.0 and p.local_monotonicity(10.0) == 0.0
    # outside the ball the radial derivative of grad K is 1: L_K = 1 is attained
    U = G / np.linalg.norm(G)
    ratio = np.linalg.norm(p.grad(50.0 * U) - p.grad(49.0 * U))
    assert ratio == pytest.approx(p.lipschitz, rel=1e-12)
    assert p.isotropic and p.keeps_span and p.smooth


def test_flat_ball_dspgd_stops_at_a_point_that_does_not_interpolate():
    """Convex, isotropic, 1-smooth, grad K(0) = 0, and still no interpolator: the last step is 0.

    The solver stops such a run at once as ``"stalled"`` (the iterate can never change again),
    instead of running on to ``max_steps``.
    """
    prob = dspgd.gaussian_problem(20, 100, seed=0)
    p = dspgd.flat_ball(1.0)
    res = dspgd.solve(prob, p, 0.5 * dspgd.stable_lr(prob, p), tol=1e-10, max_steps=5000)
    assert res.status == "stalled"
    assert res.steps < 200  # it stalled at once (after about 100 steps), not at max_steps
    assert "step is exactly zero" in res.message and "does not interpolate" in res.message
    rel = res.residual / np.linalg.norm(prob.residual(prob.W0))
    assert rel > 0.05
    assert f"{rel:.2e}" in res.message
    G = prob.X.T @ prob.residual(res.W)
    assert np.linalg.norm(G) <= 1.0 and not np.any(p.grad(G))  # a fixed point of the iteration
    assert dspgd.relative_distance(res.W, prob) > 0.05


# ----------------------------------------------------------------- validation


@pytest.mark.parametrize("make,msg", [
    (lambda: dspgd.normalized(-0.1), "normalized eps must be a finite number >= 0"),
    (lambda: dspgd.normalized(np.nan), "normalized eps must be a finite number >= 0"),
    (lambda: dspgd.spectral(-1e-3), "spectral eps must be a finite number >= 0"),
    (lambda: dspgd.spectral(np.inf), "spectral eps must be a finite number >= 0"),
    (lambda: dspgd.power(1.5, -0.1), "power eps must be a finite number >= 0"),
    (lambda: dspgd.adam(0.0), "adam eps must be a finite number > 0"),
    (lambda: dspgd.adam(-1e-3), "adam eps must be a finite number > 0"),
    (lambda: dspgd.adam(np.nan), "adam eps must be a finite number > 0"),
    (lambda: dspgd.clip_norm(0.0), "clip_norm c must be a finite number > 0"),
    (lambda: dspgd.clip_norm(-2.0), "clip_norm c must be a finite number > 0"),
    (lambda: dspgd.clip_value(0.0), "clip_value c must be a finite number > 0"),
    (lambda: dspgd.flat_ball(0.0), "flat_ball radius must be a finite number > 0"),
    (lambda: dspgd.flat_ball(np.inf), "flat_ball radius must be a finite number > 0"),
    (lambda: dspgd.clip_value(-1.0), "clip_value c must be a finite number > 0"),
    (lambda: dspgd.power(1.0), "power q must be a finite number > 1"),
    (lambda: dspgd.power(0.5), "power q must be a finite number > 1"),
    (lambda: dspgd.power(np.nan), "power q must be a finite number > 1"),
    (lambda: dspgd.diagonal(np.array([1.0, 0.0, 2.0])), "D must be finite and strictly positive"),
    (lambda: dspgd.diagonal(np.array([1.0, -1.0])), "D must be finite and strictly positive"),
    (lambda: dspgd.diagonal(np.array([1.0, np.nan])), "D must be finite and strictly positive"),
    (lambda: dspgd.diagonal(np.array([1.0, np.inf])), "D must be finite and strictly positive"),
    (lambda: dspgd.diagonal(np.array([])), "D must be finite and strictly positive"),
    (lambda: dspgd.diagonal(np.ones((2, 2, 2))), "D must be a scalar, a .* array, got shape"),
])
def test_bad_parameters_are_rejected(make, msg):
    with pytest.raises(ValueError, match=msg):
        make()


def test_bad_gradients_and_radii_are_rejected():
    p = dspgd.adam(0.1)
    with pytest.raises(ValueError, match=r"G must have shape \(d, k\) or \(\.\.\., d, k\)"):
        p.grad(np.ones(3))
    with pytest.raises(ValueError, match="radius must be a number .*>= 0"):
        p.local_monotonicity(-1.0)
    with pytest.raises(ValueError, match="radius must be a number .*>= 0"):
        p.local_monotonicity(np.nan)
    with pytest.raises(ValueError, match=r"D of shape \(3, 1\) does not broadcast to G of shape \(4, 2\)"):
        dspgd.diagonal(np.ones(3)).grad(np.ones((4, 2)))
