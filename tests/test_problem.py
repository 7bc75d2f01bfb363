"""The problem ``XW = Y``: shapes, spectral quantities, and every validation error."""

from __future__ import annotations

import numpy as np
import pytest

import dspgd
from dspgd import Problem, gaussian_problem


def _data(n=4, d=9, k=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal((n, k)), rng.standard_normal((d, k))


def test_shapes_and_one_dimensional_labels_and_init():
    X, Y, W0 = _data(k=1)
    p = Problem(X, Y[:, 0], W0[:, 0])
    assert (p.n, p.d, p.k) == (4, 9, 1)
    assert p.Y.shape == (4, 1) and p.W0.shape == (9, 1)
    np.testing.assert_array_equal(p.Y[:, 0], Y[:, 0])
    assert repr(p) == "Problem(n=4, d=9, k=1)"


def test_spectral_quantities_and_residual():
    X, Y, W0 = _data()
    p = Problem(X, Y, W0)
    s = np.linalg.svd(X, compute_uv=False)
    np.testing.assert_allclose(p.singular_values, s, rtol=1e-14)
    assert p.op_norm == pytest.approx(np.linalg.norm(X, 2), rel=1e-14)
    assert p.sigma_min == pytest.approx(s[-1], rel=1e-14)
    assert p.condition_number == pytest.approx(s[0] / s[-1], rel=1e-14)
    np.testing.assert_allclose(p.residual(W0), X @ W0 - Y, rtol=1e-15)


def test_reduced_qr_of_X_transpose():
    X, Y, W0 = _data(n=5, d=40)
    Q, R = Problem(X, Y, W0)._qr
    assert Q.shape == (40, 5) and R.shape == (5, 5)
    np.testing.assert_allclose(Q @ R, X.T, atol=1e-14)
    np.testing.assert_allclose(Q.T @ Q, np.eye(5), atol=1e-14)


def test_arrays_are_stored_as_float64_copies_of_the_input_values():
    X, Y, W0 = _data()
    p = Problem(X.tolist(), Y.astype(np.float32), W0)
    assert p.X.dtype == np.float64 and p.Y.dtype == np.float64
    np.testing.assert_array_equal(p.X, X)


def test_gaussian_problem_is_reproducible_and_scaled():
    a, b, c = gaussian_problem(6, 300, 2, seed=3), gaussian_problem(6, 300, 2, seed=3), gaussian_problem(6, 300, 2, seed=4)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.W0, b.W0)
    assert not np.array_equal(a.X, c.X)
    # N(0, 1/d) entries: every row has squared norm about 1
    assert np.all(np.abs(np.sum(a.X**2, axis=1) - 1) < 0.5)
    assert (a.n, a.d, a.k) == (6, 300, 2)


# ----------------------------------------------------------------- validation


def test_X_must_be_two_dimensional():
    X, Y, W0 = _data(k=1)
    with pytest.raises(ValueError, match="X must be a 2-D array, got 1 dimensions"):
        Problem(X[0], Y, W0)
    with pytest.raises(ValueError, match="X must be a 2-D array, got 3 dimensions"):
        Problem(X[None], Y, W0)


@pytest.mark.parametrize("which", ["Y", "W0"])
def test_labels_and_init_must_be_at_most_two_dimensional(which):
    X, Y, W0 = _data()
    args = {"X": X, "Y": Y, "W0": W0}
    args[which] = args[which][None]
    with pytest.raises(ValueError, match=f"{which} must be a 2-D array, got 3 dimensions"):
        Problem(**args)


@pytest.mark.parametrize("which", ["X", "Y", "W0"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_entries_are_rejected(which, bad):
    X, Y, W0 = _data()
    args = {"X": X.copy(), "Y": Y.copy(), "W0": W0.copy()}
    args[which][1, 1] = bad
    with pytest.raises(ValueError, match=f"{which} has 1 non-finite entries"):
        Problem(**args)


@pytest.mark.parametrize("which", ["X", "Y", "W0"])
def test_empty_and_non_numeric_arrays_are_rejected(which):
    X, Y, W0 = _data()
    args = {"X": X, "Y": Y, "W0": W0}
    args[which] = np.zeros((0, 3))
    with pytest.raises(ValueError, match=f"{which} is empty"):
        Problem(**args)
    args[which] = [["a", "b"], ["c", "d"]]
    with pytest.raises(TypeError, match=f"{which} must be a real numeric array"):
        Problem(**args)


def test_mismatched_shapes_are_rejected():
    X, Y, W0 = _data(n=4, d=9, k=2)
    with pytest.raises(ValueError, match="Y has 3 rows but X has 4"):
        Problem(X, Y[:3], W0)
    with pytest.raises(ValueError, match="W0 has 8 rows but X has 9 columns"):
        Problem(X, Y, W0[:8])
    with pytest.raises(ValueError, match="W0 has 1 columns but Y has 2: both must have k columns"):
        Problem(X, Y, W0[:, :1])


@pytest.mark.parametrize("n,d", [(9, 9), (12, 9)])
def test_the_model_must_be_overparameterized(n, d):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=rf"X has {n} rows and {d} columns: the model is not overparameterized"):
        Problem(rng.standard_normal((n, d)), rng.standard_normal((n, 1)), rng.standard_normal((d, 1)))


def test_rank_deficient_X_is_rejected():
    X, Y, W0 = _data(n=4, d=9)
    X[3] = 2.0 * X[0] - X[1]  # a dependent row
    with pytest.raises(ValueError, match="X has rank 3 < n = 4: it must have full row rank"):
        Problem(X, Y, W0)
    X[2] = X[0]  # a duplicate row as well
    with pytest.raises(ValueError, match="X has rank 2 < n = 4"):
        Problem(X, Y, W0)


def test_well_conditioned_but_badly_scaled_X_is_accepted():
    """The rank test is relative to ``||X||``: a tiny but full-rank ``X`` is fine."""
    X, Y, W0 = _data(n=4, d=9)
    p = Problem(1e-150 * X, Y, W0)
    assert p.sigma_min > 0


@pytest.mark.parametrize("kw,msg", [
    ({"n": 0, "d": 5}, "n must be a positive integer"),
    ({"n": 2, "d": 5, "k": -1}, "k must be a positive integer"),
])
def test_gaussian_problem_rejects_bad_sizes(kw, msg):
    with pytest.raises(ValueError, match=msg):
        gaussian_problem(**kw)


def test_gaussian_problem_needs_n_below_d():
    with pytest.raises(ValueError, match="not overparameterized"):
        gaussian_problem(10, 10)


def test_problem_is_immutable():
    p = dspgd.gaussian_problem(3, 10)
    with pytest.raises(AttributeError):
        p.X = np.zeros((3, 10))  # type: ignore[misc]
