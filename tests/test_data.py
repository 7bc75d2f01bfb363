"""The digits problem: offline loading, determinism, validation, held-out evaluation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dspgd
from dspgd.data import (
    digits_features,
    gaussian_twin,
    load_digit_images,
    marchenko_pastur_quantiles,
    random_features,
)

ROOT = Path(__file__).resolve().parents[1]


def test_digits_load_offline(tmp_path):
    """The loader needs no network and no cache: it runs with sockets disabled and an empty home/data dir."""
    code = (
        "import socket\n"
        "def refuse(*a, **k):\n"
        "    raise OSError('network access attempted')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from dspgd.data import digits_features\n"
        "D = digits_features(n=50, d=200, seed=3)\n"
        "print(D.problem.n, D.problem.d, D.n_test)\n"
    )
    env = {**os.environ, "HOME": str(tmp_path), "SCIKIT_LEARN_DATA": str(tmp_path / "sk"),
           "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["50", "200", "1747"]
    assert not (tmp_path / "sk").exists(), "the loader wrote a download cache"


def test_images_and_labels():
    X, y = load_digit_images()
    assert X.shape == (1797, 64) and y.shape == (1797,)
    assert X.min() == 0 and X.max() == 1
    assert set(np.unique(y)) == set(range(10))
    with pytest.raises(ValueError):
        X[0, 0] = 1.0  # read-only: the cached copy cannot be corrupted


def test_problem_shapes_split_and_determinism():
    a = digits_features(n=60, d=400, seed=1)
    b = digits_features(n=60, d=400, seed=1)
    c = digits_features(n=60, d=400, seed=2)
    p = a.problem
    assert isinstance(p, dspgd.Problem) and (p.n, p.d, p.k) == (60, 400, 10)
    assert a.X_test.shape == (1797 - 60, 400) and a.labels_test.shape == (1737,)
    np.testing.assert_array_equal(p.X, b.problem.X)
    assert not np.allclose(p.X, c.problem.X)
    np.testing.assert_array_equal(p.Y.sum(axis=1), np.ones(60))  # one-hot
    np.testing.assert_array_equal(np.argmax(p.Y, axis=1), a.labels)
    assert np.all(p.W0 == 0)
    # unit-norm images and E||x||^2 = 1: the mean squared row norm is close to 1
    assert abs(np.mean(np.sum(p.X**2, axis=1)) - 1) < 0.1


def test_train_and_test_are_disjoint():
    """The training rows and the held-out rows come from different images."""
    D = digits_features(n=80, d=300, seed=0)
    both = np.vstack([D.problem.X, D.X_test])
    assert np.unique(np.round(both, 12), axis=0).shape[0] >= 1797 - 5  # a few exact duplicate images exist


def test_accuracy_of_min_norm_interpolator_is_that_of_a_classifier():
    D = digits_features(n=200, d=1500, seed=0)
    acc = D.accuracy(dspgd.gd_limit(D.problem))
    assert 0.85 < acc <= 1.0
    assert D.accuracy(np.zeros((1500, 10))) < 0.2  # all-zero outputs predict class 0 only
    with pytest.raises(ValueError, match="shape"):
        D.accuracy(np.zeros((10, 1500)))


def test_relu_features_and_bandwidth():
    Z = np.eye(3)
    F = random_features(Z, 5000, seed=0, features="relu")
    assert np.all(F >= 0)
    G = random_features(Z, 20000, seed=0, features="fourier", gamma=1.0)
    # E <x(z), x(z')> = exp(-gamma^2 ||z - z'||^2 / 2) = exp(-1) for orthonormal z, z'
    assert abs(G[0] @ G[1] - np.exp(-1.0)) < 0.03
    assert abs(G[0] @ G[0] - 1.0) < 0.03


@pytest.mark.parametrize("kw, match", [
    (dict(n=5), "n must be"), (dict(n=1797), "no held-out"), (dict(n=100, d=100), "not overparameterized"),
    (dict(features="rbf"), "unknown features"), (dict(gamma=0.0), "gamma"), (dict(init_scale=-1.0), "init_scale"),
])
def test_bad_arguments(kw, match):
    args = dict(n=50, d=200) | kw
    with pytest.raises(ValueError, match=match):
        digits_features(**args)


def test_gaussian_twin_keeps_labels_and_init():
    D = digits_features(n=40, d=300, seed=0, init_scale=0.5)
    T = gaussian_twin(D.problem, seed=4)
    np.testing.assert_array_equal(T.Y, D.problem.Y)
    np.testing.assert_array_equal(T.W0, D.problem.W0)
    assert T.X.shape == D.problem.X.shape and not np.allclose(T.X, D.problem.X)
    with pytest.raises(TypeError):
        gaussian_twin(D)


def test_marchenko_pastur_quantiles_match_a_gaussian_spectrum():
    q = marchenko_pastur_quantiles(300, 3000)
    assert q[0] <= (1 + np.sqrt(0.1)) ** 2 and q[-1] >= (1 - np.sqrt(0.1)) ** 2
    assert np.all(np.diff(q) < 0)
    ev = dspgd.gaussian_problem(300, 3000, seed=0).singular_values ** 2
    assert np.max(np.abs(ev - q)) < 0.06  # finite-size edge fluctuations only
    with pytest.raises(ValueError):
        marchenko_pastur_quantiles(10, 10)
