"""The entrywise losses: gradients, constants, minimum at zero, numerical stability."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dspgd

HYP = settings(derandomize=True, max_examples=30, deadline=None)

LOSSES = {
    "squared": dspgd.squared(),
    "huber": dspgd.huber(0.7),
    "logcosh": dspgd.logcosh(),
}
SHAPES = [(5, 1), (4, 3), (2, 4, 3)]  # (n, k) and a stack (B, n, k)


def _fd_grad(f, R: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar ``f`` at ``R``, entry by entry."""
    out = np.empty_like(R)
    for idx in np.ndindex(R.shape):
        E = np.zeros_like(R)
        E[idx] = h
        out[idx] = (f(R + E) - f(R - E)) / (2 * h)
    return out


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@HYP
@given(seed=st.integers(0, 2**32 - 1), log_scale=st.floats(-2, 1))
def test_grad_is_the_gradient_of_value(name, shape, seed, log_scale):
    loss = LOSSES[name]
    R = 10.0**log_scale * np.random.default_rng(seed).standard_normal(shape)
    g = loss.grad(R)
    assert g.shape == R.shape
    fd = _fd_grad(loss.value, R)
    np.testing.assert_allclose(g, fd, rtol=0, atol=1e-7 * max(1.0, np.max(np.abs(g))))


@pytest.mark.parametrize("name", LOSSES)
def test_value_is_the_sum_of_the_pointwise_values(name, rng):
    loss = LOSSES[name]
    R = rng.standard_normal((2, 5, 3))
    assert loss.value(R) == pytest.approx(float(np.sum(loss.pointwise(R))), rel=1e-15)


@pytest.mark.parametrize("name", LOSSES)
@HYP
@given(a=st.floats(-50, 50), b=st.floats(-50, 50))
def test_smoothness_and_strong_convexity_constants(name, a, b):
    """``mu <= (f'(a) - f'(b)) / (a - b) <= beta``: the declared constants bracket every slope."""
    loss = LOSSES[name]
    if abs(a - b) < 1e-6:
        return
    slope = float((loss.grad(np.array([a])) - loss.grad(np.array([b])))[0] / (a - b))
    assert loss.strong_convexity - 1e-9 <= slope <= loss.smoothness + 1e-9


@pytest.mark.parametrize("name", LOSSES)
def test_the_constants_are_the_best_ones(name):
    """``beta`` is attained (slope 1 at 0); ``mu`` is 0 exactly when the slope decays at infinity."""
    loss = LOSSES[name]
    h = 1e-7
    slope0 = float((loss.grad(np.array([h])) - loss.grad(np.array([-h])))[0] / (2 * h))
    assert slope0 == pytest.approx(loss.smoothness, rel=1e-8)
    far = float((loss.grad(np.array([40.0 + h])) - loss.grad(np.array([40.0 - h])))[0] / (2 * h))
    assert far == pytest.approx(loss.strong_convexity, abs=1e-6)


@pytest.mark.parametrize("name", LOSSES)
def test_minimized_exactly_at_zero(name, rng):
    loss = LOSSES[name]
    assert loss.value(np.zeros((3, 2))) == 0.0
    np.testing.assert_array_equal(loss.grad(np.zeros((3, 2))), 0.0)
    R = rng.standard_normal((3, 2))
    assert np.all(loss.pointwise(R) > 0)
    assert np.all(loss.grad(R) * R > 0)  # the gradient points away from 0


def test_logcosh_matches_log_cosh_and_stays_finite_where_cosh_overflows():
    loss = dspgd.logcosh()
    r = np.linspace(-300, 300, 1201)
    np.testing.assert_allclose(loss.pointwise(r), np.log(np.cosh(r)), rtol=1e-13, atol=1e-15)
    big = np.array([-1e4, 1e4, 1e300])
    with np.errstate(over="raise"):
        v = loss.pointwise(big)
    np.testing.assert_allclose(v, np.abs(big) - np.log(2.0), rtol=1e-15)


def test_huber_is_quadratic_then_linear():
    delta = 0.7
    loss = dspgd.huber(delta)
    r = np.array([-0.5, 0.3, 0.7, 2.0, -3.0])
    expect = np.where(np.abs(r) <= delta, r**2 / 2, delta * np.abs(r) - delta**2 / 2)
    np.testing.assert_allclose(loss.pointwise(r), expect, rtol=1e-15)
    np.testing.assert_allclose(loss.grad(r), np.clip(r, -delta, delta), rtol=0)


@pytest.mark.parametrize("delta", [0.0, -1.0, np.nan, np.inf])
def test_huber_rejects_a_bad_threshold(delta):
    with pytest.raises(ValueError, match="huber delta must be a positive finite number"):
        dspgd.huber(delta)
