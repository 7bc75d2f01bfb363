"""Figures and ledger rows of the real-data and network chapters, on small settings."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

import dspgd
from dspgd.figures import digits, network


def test_gd_steps_to_is_exact():
    prob = dspgd.gaussian_problem(20, 80, k=2, seed=3)
    t = digits.gd_steps_to(prob, 0.7, 1e-6)
    lr = 0.7 * dspgd.stable_lr(prob, dspgd.gd())
    W = prob.W0.copy()
    r0 = np.linalg.norm(prob.residual(W))
    rel = []
    for _ in range(t + 1):
        rel.append(np.linalg.norm(prob.residual(W)) / r0)
        W = W - lr * prob.X.T @ prob.residual(W)
    assert rel[t] <= 1e-6 < rel[t - 1]
    with pytest.raises(ValueError):
        digits.gd_steps_to(prob, 1.5, 1e-3)


def test_spectrum_energies_add_up():
    prob = dspgd.gaussian_problem(15, 60, k=3, seed=1)
    lam, e, dist = digits.spectrum(prob)
    assert np.all(np.diff(lam) <= 0)
    np.testing.assert_allclose(e.sum(), np.linalg.norm(prob.residual(prob.W0)) ** 2, rtol=1e-10)
    np.testing.assert_allclose(dist.sum(), np.linalg.norm(dspgd.gd_limit(prob) - prob.W0) ** 2, rtol=1e-8)


def test_scaled_preconditioners_follow_the_gradient_scale():
    G = np.random.default_rng(0).standard_normal((50, 2))
    a, b = digits.scaled_preconditioners(G), digits.scaled_preconditioners(10 * G)
    for p, q in zip(a, b):
        assert p.name == q.name
        for key in p.params:
            assert q.params[key] == pytest.approx(10 * p.params[key])
    with pytest.raises(ValueError):
        digits.scaled_preconditioners(np.zeros((3, 1)))


def test_digits_figures_small():
    s = digits.digits_spectrum(n=60, d=600, gammas=(2.0,))
    P = s.data["problems"]
    assert P["digits"]["kappa2"] > 5 * P["gaussian"]["kappa2"]  # far from Marchenko-Pastur
    assert P["gaussian"]["lam_above_mp"] <= 3
    c = digits.digits_claims(n=60, d=600, fractions=(0.9, 0.3))
    assert c.data["all_converged"]
    assert c.data["iso_max"] < 1e-12
    for prob in ("digits", "gaussian"):
        for fam in ("adam", "clip_value"):
            v = c.data["problems"][prob][fam]
            assert min(v["distance"]) > 1e-3
            assert all(1.0 <= r <= cc for r, cc in zip(v["ratio"], v["c"]))  # claim C4 with the book's c
            assert v["trace_change"] < 1e-3 * min(v["distance"])  # the limit estimate is accurate


def test_network_figures_small():
    e = network.network_eta(n=12, p=8, m=24, seed=3, fractions=(0.2, 0.1, 0.05))
    assert 0.8 < e.data["slope_min"] and e.data["slope_max"] < 1.6
    assert e.data["gap_min"] > 0.05
    w = network.network_width(n=12, p=8, widths=(8, 32, 128), seed=3, fraction=0.2)
    assert w.data["nvl_last_max"] < w.data["nvl_first_max"]
    assert w.data["iso_slope_max"] < 0
