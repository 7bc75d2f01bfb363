"""Tests of the figures of the chapter "General preconditioners stay within a constant" (claim C4)."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

import dspgd
from dspgd.figures import REGISTRY, bound


def test_registered():
    for name in ("bound-ratio", "bound-scaling"):
        assert REGISTRY[name].chapter == "chapters/06_general_bound"


def test_scaled_problem_scales_w0_minus_wgd_and_keeps_the_rest():
    prob = dspgd.gaussian_problem(n=6, d=20, k=2, seed=3)
    big = bound.scaled_problem(prob, 7.0)
    assert np.array_equal(big.X, prob.X) and np.array_equal(big.W0, prob.W0)
    d0 = dspgd.gd_limit(prob) - prob.W0
    assert np.allclose(dspgd.gd_limit(big) - big.W0, 7.0 * d0, rtol=1e-12, atol=1e-12)
    for bad in (0.0, -1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="scale"):
            bound.scaled_problem(prob, bad)


def test_bound_constant_grows_with_the_scale_for_adam_not_for_gd():
    """The book's c depends on W0: linearly in the scale for Adam, not at all for GD."""
    prob = dspgd.gaussian_problem(n=10, d=40, seed=0)
    for p, lo, hi in ((dspgd.gd(), 1 - 1e-12, 1 + 1e-12), (dspgd.adam(0.1), 50.0, 150.0)):
        lr = 0.5 * dspgd.stable_lr(prob, p)
        c1 = dspgd.bound_constant(prob, p, lr)
        c100 = dspgd.bound_constant(bound.scaled_problem(prob, 100.0), p, lr)
        assert lo < c100 / c1 < hi


def test_bound_scaling_small():
    out = bound.bound_scaling(n=8, d=32, scales=(1.0, 10.0), c_scales=(1.0, 100.0), eta_fractions=(0.5, 0.9))
    json.dumps(out.data)
    plt.close(out.fig)
    m = out.data["methods"]
    assert set(m) == {"gd", "adam", "clip_value"}
    g = m["gd"]
    assert g["c_growth"] == pytest.approx(1.0, rel=1e-12)
    assert np.allclose(g["ratio"] + g["eta_ratio"], 1.0, atol=1e-12)
    for fam in ("adam", "clip_value"):
        r = m[fam]
        assert 50 < r["c_growth"] < 150                      # c grows like the scale (factor 100)
        assert r["ratio"][1] > r["ratio"][0] >= 1.0          # the ratio grows, a little
        assert max(r["ratio"] + r["eta_ratio"]) < 1.5
        assert r["identity_gap"] < 1e-10                     # scale s with eps = run with eps / s
        for c, ratio in zip(r["c"] + r["eta_c"], r["ratio"] + r["eta_ratio"]):
            assert 1.0 <= ratio <= c                         # the theorem's inequality, run by run
    for rec in m.values():                                   # c blows up near the stable step
        assert rec["c_at_max_fraction"] > 100 * rec["eta_c"][0]
    assert out.data["ratio_max"] == max(max(v["ratio"] + v["eta_ratio"]) for v in m.values())
    assert out.data["identity_gap_max"] == max(m["adam"]["identity_gap"], m["clip_value"]["identity_gap"])
    assert out.data["scale_max"] == 10.0 and out.data["c_scale_max"] == pytest.approx(100.0)
    for rec in m.values():                                   # the values the prose quotes
        assert (rec["c_at_scale_min"], rec["c_at_scale_max"]) == (rec["c"][0], rec["c"][-1])
        assert (rec["ratio_at_scale_min"], rec["ratio_at_scale_max"]) == (rec["ratio"][0], rec["ratio"][-1])
        assert (rec["eta_ratio_min"], rec["eta_ratio_max"]) == (min(rec["eta_ratio"]), max(rec["eta_ratio"]))


def test_in_words_names_the_parameter_only_where_the_sweep_varies_it():
    from dspgd.sweeps import spec

    assert bound.in_words(spec("adam", eps=0.01)) == "Adam (β = 0) with ε = 0.01"
    assert bound.in_words(spec("clip_value", c=0.025)) == "clipping by value with τ = 0.025"
    assert bound.in_words(spec("normalized", eps=0.5)) == "normalized GD"
    assert bound.in_words(spec("diagonal", spread=3.0)) == "the fixed diagonal"
    with pytest.raises(ValueError, match="family"):
        bound.in_words(spec("spectral", eps=0.1))


def test_bound_ratio_describes_the_points_the_prose_quotes():
    out = bound.bound_ratio(n=5, d_over_n=(4,), seeds=(0,), fractions=(0.5, 0.25), adam_eps=(0.1, 0.03),
                            clip_c=(0.1,))
    plt.close(out.fig)
    d = out.data
    slack = {(p["method"], p["fraction"]): p["c"] / p["ratio"] for p in d["points"]}
    loose = d["adam_loosest_point"]
    assert loose["family"] == "adam" and loose["description"].startswith("Adam (β = 0) with ε = ")
    assert loose["slack"] == max(v for (m, _), v in slack.items() if m.startswith("adam"))
    assert {"kappa2", "LK_over_muK", "chi", "radius"} <= set(loose)
    assert d["ratio_max_point"]["ratio"] == d["ratio_max"]
    assert d["slack_min_point"]["slack"] == pytest.approx(d["slack_min"], rel=1e-12)
    assert d["n_violations"] == 0 and d["n_fractions"] == 2 and d["n_d_over_n"] == 1
    means = d["adam_ratio_mean"]["4"]                      # eps = 0.1, then 0.03
    assert d["adam_ratio_mean_max_at_smallest_eps"] == means[1]
    assert d["adam_ratio_mean_min_at_largest_eps"] == means[0]
    json.dumps(d)
