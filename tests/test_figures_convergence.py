"""Tests of the figures of the chapter "Convergence (claim C1)", on small settings."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

import dspgd
from dspgd import theory
from dspgd.figures import REGISTRY, Figure, convergence

SMALL = dict(n=12, d=60, k=2, seed=1)


def close(out: Figure) -> dict:
    assert isinstance(out, Figure)
    json.dumps(out.data)  # serializable
    plt.close(out.fig)
    return out.data


def test_registered():
    for name in ("convergence-curves", "iterates-settle", "step-size-bound", "nonsmooth-hover",
                 "flat-ball-stall"):
        assert name in REGISTRY
        assert REGISTRY[name].chapter == "chapters/03_convergence"


def test_book_preconditioners_cover_every_family():
    prob = convergence.book_problem(**SMALL)
    ps = convergence.book_preconditioners(prob)
    assert {p.name for p in ps} == {"gd", "normalized", "clip_norm", "adam", "clip_value", "power",
                                    "spectral", "diagonal", "sign"}
    assert [p.smooth for p in ps] == [True] * 8 + [False] * 2
    with pytest.raises(ValueError, match="diag_range"):
        convergence.book_preconditioners(prob, diag_range=(2.0, 1.0))


def test_book_lr_gives_fixed_step_length_for_nonsmooth():
    prob = convergence.book_problem(**SMALL)
    for p in (dspgd.normalized(0.0), dspgd.sign()):
        lr = convergence.book_lr(prob, p, dspgd.squared(), step_length=0.05)
        step = lr * p.grad(prob.X.T @ prob.residual(prob.W0))
        assert np.linalg.norm(step) == pytest.approx(0.05, rel=1e-12)
    p = dspgd.adam(0.1)
    assert convergence.book_lr(prob, p, dspgd.huber(), fraction=0.3) == pytest.approx(
        0.3 * theory.stable_lr(prob, p, dspgd.huber()))


def test_convergence_curves_small():
    data = close(convergence.convergence_curves(**SMALL, losses=("squared", "logcosh"), steps=600))
    assert data["all_smooth_reach_level"]
    assert data["loss_increases_smooth"] == 0          # the loss-decrease lemma
    assert data["loss_increases_nonsmooth"] > 0        # hovering: the loss goes up and down
    for lname in ("squared", "logcosh"):
        for rec in data[lname].values():
            if rec["smooth"]:
                assert rec["final_relative_residual"] < 1e-12
            else:
                assert rec["steps_to_level"] == -1 and rec["final_relative_residual"] > 1e-5
    with pytest.raises(ValueError, match="unknown loss"):
        convergence.convergence_curves(**SMALL, losses=("cubic",))


def test_iterates_settle_small():
    data = close(convergence.iterates_settle(**SMALL, steps=600))
    assert 0 < data["max_envelope_ratio"] <= 1.0       # the proposition's step envelope
    for rec in data["runs"].values():
        assert rec["path_length"] >= rec["displacement"] * (1 - 1e-12)
        if rec["smooth"]:
            assert rec["last_step"] < 1e-10
            assert rec["displacement"] >= 1 - 1e-9      # W_GD is the closest interpolator
        else:
            assert rec["last_step"] == pytest.approx(0.05, rel=1e-9)
    # the summaries the chapter quotes: span-keeping K end at W_GD, as far from W0 as GD
    assert data["keeps_span_displacement_deviation"] < 1e-9
    assert data["displacement_min_smooth"] >= 1 - 1e-9 and data["displacement_max_smooth"] > 1.01
    assert data["last_step_max_smooth"] < 1e-10 and data["path_length_max_nonsmooth"] > 1
    assert 0 < data["rho_gd"] < 1


def test_step_size_bound_small():
    data = close(convergence.step_size_bound(**SMALL, steps=1500, sweep=(0.5, 3.0, 5), sweep_steps=600,
                                             fine=(0.99, 1.01), fine_steps=2500))
    gd, ad = data["panels"]["gd"], data["panels"]["adam"]
    assert gd["0.9"]["status"] == "converged" and gd["0.99"]["status"] == "converged"
    assert gd["1.01"]["status"] == "diverged" and gd["1.1"]["status"] == "diverged"
    assert ad["0.9"]["status"] == "converged" and ad["0.99"]["status"] == "converged"
    assert ad["1.1"]["status"] == "oscillating" and ad["1.1"]["cycle_gap"] < 1e-8
    assert gd["0.9"]["loss_increases"] == 0 and ad["0.99"]["loss_increases"] == 0
    assert data["adam_largest_converging"] == 0.99 and data["adam_smallest_failing"] == 1.01
    assert data["diagonal_threshold_ratio"] > 1
    assert data["diagonal_below_status"] == "converged" and data["diagonal_above_status"] == "diverged"
    above = data["adam_above_bound"]
    assert (above["multiplier_low"], above["multiplier_high"]) == (1.01, 1.1)
    assert above["amplitude_high"] == ad["1.1"]["tail_amplitude"] and above["cycle_gap_max"] < 1e-8
    assert (data["sweep_min"], data["sweep_max"]) == pytest.approx((0.5, 3.0))
    assert 0 < data["sweep_saturating_max_amplitude"] < 1        # Adam and clipping never diverge


def test_nonsmooth_hover_small():
    data = close(convergence.nonsmooth_hover(**SMALL, step_lengths=(0.02, 0.2, 4), steps=1500, tail=300,
                                             example_steps=800))
    for fam in ("normalized", "sign"):
        assert data["slope"][fam] == pytest.approx(1.0, abs=0.05)
        assert data["final_exact"][fam] > 1e-3
        assert data["cycle_gap"][fam] < 1e-8
    # exact normalized GD ends on a 2-cycle straddling the interpolators: mean distance gamma/2
    assert np.allclose(data["mean_over_gamma"]["normalized"], 0.5, atol=1e-8)
    for v in data["final_smooth"].values():
        assert v < 1e-12
    for frac in data["smooth_lr_fraction"].values():
        assert 0.4 < frac < 0.6
    assert data["normalized_half_deviation"] < 1e-8 and data["cycle_gap_max"] < 1e-8
    assert data["n_gamma"] == 4 and (data["gamma_min"], data["gamma_max"]) == pytest.approx((0.02, 0.2))
    assert 0.4 < data["mean_over_gamma_min"]["sign"] <= data["mean_over_gamma_max"]["sign"] < 0.6
    assert data["final_smooth_max"] < 1e-12 < 1e-3 < data["final_exact_min"]


def test_flat_ball_stall_small():
    """The flat ball stops, exactly, short of the interpolators; GD on the same problem does not."""
    data = close(convergence.flat_ball_stall(**SMALL, steps=300))
    fl, g = data["flat"], data["gd"]
    assert fl["first_zero_step"] > 0 and fl["zero_steps_after"]   # the step is exactly 0 from then on
    assert fl["relative_residual"] > 0.05                          # not an interpolator
    assert fl["distance_to_gd"] > 0.05                             # and not W_GD
    # isotropic: the end point is in W0 + range(X^T), so its distance to W_GD is its distance to the set
    assert fl["distance_to_gd"] == pytest.approx(fl["distance_to_interpolators"], rel=1e-9)
    assert fl["grad_norm"] == pytest.approx(fl["radius"], rel=1e-12)  # it stopped on the sphere
    assert abs(fl["grad_excess"]) < 1e-12
    assert g["relative_residual"] < 1e-13 and g["distance_to_gd"] < 1e-12
    # dspgd.solve stops the same run as "stalled" at its first zero step, long before its step cap
    assert fl["solver_status"] == "stalled"
    assert fl["solver_steps"] == fl["first_zero_step"] + 1 < fl["solver_max_steps"]


def test_nonsmooth_preconditioners_are_dashed():
    prob = convergence.book_problem(**SMALL)
    for p in convergence.book_preconditioners(prob):
        assert convergence._style(p)["ls"] == ("-" if p.smooth else "--")
