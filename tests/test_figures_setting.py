"""Tests of the helpers behind the chapters "The setting" and "Dual space preconditioning"."""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

import dspgd
from dspgd import theory
from dspgd.figures import maps, setting
from dspgd.figures._paths import record_path

# ---------------------------------------------------------------- record_path


@pytest.mark.parametrize("precond", [dspgd.gd(), dspgd.adam(eps=0.1), dspgd.spectral(eps=1e-2),
                                     dspgd.clip_value(c=0.3), dspgd.sign(), dspgd.normalized(eps=0.0)],
                         ids=lambda p: p.name)
@pytest.mark.parametrize("loss", [dspgd.squared(), dspgd.huber(0.5)], ids=lambda f: f.name)
def test_record_path_ends_where_solve_ends(precond, loss):
    prob = dspgd.gaussian_problem(n=5, d=12, k=2, seed=3)
    steps = 250
    path = record_path(prob, precond, 0.1, steps, loss)
    res = dspgd.solve(prob, precond, 0.1, loss=loss, tol=0, max_steps=steps)
    assert path.shape == (steps + 1, 12, 2)
    assert res.steps == steps
    np.testing.assert_array_equal(path[0], prob.W0)
    assert np.max(np.abs(path[-1] - res.W)) <= 1e-12 * max(1.0, np.max(np.abs(res.W)))


def test_record_path_steps_are_the_update():
    prob = dspgd.gaussian_problem(n=3, d=7, k=1, seed=0)
    p = dspgd.adam(eps=0.05)
    path = record_path(prob, p, 0.2, 5)
    for t in range(5):
        G = prob.X.T @ (prob.X @ path[t] - prob.Y)
        np.testing.assert_allclose(path[t + 1], path[t] - 0.2 * G / (np.abs(G) + 0.05), rtol=0, atol=1e-14)


@pytest.mark.parametrize("kw, msg", [
    (dict(lr=0.0, steps=3), "lr"), (dict(lr=np.nan, steps=3), "lr"),
    (dict(lr=0.1, steps=-1), "steps"), (dict(lr=0.1, steps=2.5), "steps"),
    (dict(lr=0.1, steps=10**7), "tiny"),
])
def test_record_path_rejects_bad_input(kw, msg):
    prob = dspgd.gaussian_problem(n=3, d=7, seed=0)
    with pytest.raises(ValueError, match=msg):
        record_path(prob, dspgd.gd(), **kw)


# ---------------------------------------------------------------- chapter 1


def test_toy_problem_gd_limit_is_foot_of_perpendicular():
    prob = setting.toy_problem((1.0, 0.4), 2.0, (-0.6, -0.2))
    W = theory.gd_limit(prob)[:, 0]
    x = np.array([1.0, 0.4])
    assert abs(x @ W - 2.0) < 1e-14
    step = W - np.array([-0.6, -0.2])
    assert abs(step[0] * x[1] - step[1] * x[0]) < 1e-14  # parallel to x: perpendicular to the line
    # and it is the closest point of the line: moving along the line only increases the distance
    t = np.array([-x[1], x[0]])
    for s in (-0.3, 0.1, 0.7):
        assert np.linalg.norm(W + s * t - [-0.6, -0.2]) > np.linalg.norm(step)


def test_toy_problem_rejects_bad_shapes():
    with pytest.raises(ValueError, match="pairs"):
        setting.toy_problem((1.0, 0.4, 0.2), 1.0, (0.0, 0.0))


def test_toy_2d_isotropic_land_on_gd_others_do_not():
    out = setting.toy_2d()
    plt.close(out.fig)
    m = out.data["methods"]
    assert set(m) == {"gd", "normalized", "adam", "clip_value"}
    for name in ("gd", "normalized"):
        assert m[name]["status"] == "converged"
        assert m[name]["rel_dist_to_gd"] < 1e-10
        assert abs(m[name]["ratio"] - 1) < 1e-10
    for name in ("adam", "clip_value"):
        assert m[name]["status"] == "converged"
        assert m[name]["rel_dist_to_gd"] > 0.05
        assert m[name]["ratio"] > 1.0
    for v in m.values():
        # the limit is an interpolator: x . w = y
        assert abs(np.dot(out.data["x"], v["end"]) - out.data["y"]) < 1e-9
        # the drawn path has reached the limit (to the eye)
        assert v["path_end_gap"] < 1e-2 * out.data["dist_w0_wgd"]


def test_interpolator_checks_confirm_the_proposition():
    c = setting.interpolator_checks(n=10, d=40, k=2, seed=1, n_random=50)
    assert c["dim"] == 60
    for key in ("rel_residual", "row_space_defect", "normal_eq_gap", "pythagoras_gap", "gd_rel_dist"):
        assert c[key] < 1e-10, key
    assert c["min_ratio"] >= 1.0
    assert c["gd_status"] == "converged"


# ---------------------------------------------------------------- chapter 2: checks


def _points(d=5, k=3, seed=0, n=5):
    return maps._points(d, k, n, seed)


def test_fd_grad_error_small_for_true_gradients_and_large_for_wrong_ones():
    G = _points()[0]
    for p in maps.table_preconditioners():
        assert maps.fd_grad_error(p, G) < 1e-6 * max(1.0, np.max(np.abs(p.grad(G))))
    good = dspgd.gd()
    wrong = dataclasses.replace(good, _grad=lambda A: 2 * A)
    assert maps.fd_grad_error(wrong, G) > 0.1 * np.max(np.abs(G))


def test_radial_and_span_defects():
    G = _points()[1]
    assert maps.radial_defect(dspgd.normalized(eps=0.1), G) < 1e-14
    assert maps.radial_defect(dspgd.adam(eps=0.1), G) > 1e-2
    assert maps.span_defect(dspgd.spectral(eps=0.1), G) < 1e-13
    assert maps.radial_defect(dspgd.spectral(eps=0.1), G) > 1e-2
    assert maps.span_defect(dspgd.sign(), G) > 1e-2
    with pytest.raises(ValueError, match="d > k"):
        maps.span_defect(dspgd.gd(), np.ones((3, 3)))
    with pytest.raises(ValueError, match="shape"):
        maps.radial_defect(dspgd.gd(), np.ones(3))


def test_verify_agrees_with_flags_and_catches_false_flags():
    for p in maps.table_preconditioners():
        v = maps.verify(p, n_points=8)
        assert v["isotropic_ok"] and v["keeps_span_ok"], p
        assert v["min_descent"] >= 0.0, p
        assert maps.formula_key(p) in maps.FORMULAS, p
    liar = dataclasses.replace(dspgd.adam(eps=0.1), isotropic=True)
    assert not maps.verify(liar, n_points=4)["isotropic_ok"]
    liar = dataclasses.replace(dspgd.clip_value(c=1.0), keeps_span=True)
    assert not maps.verify(liar, n_points=4)["keeps_span_ok"]


def test_preconditioner_table_is_complete_and_well_formed():
    main, checks, data = maps.preconditioner_table(n_points=5)
    keys = {r["key"] for r in data["rows"]}
    assert keys == set(maps.FORMULAS)       # every formula used, every row has one
    exact = {r["key"]: r["label"] for r in data["rows"] if r["key"].endswith("_exact")}
    assert set(exact) == {"normalized_exact", "spectral_exact"}
    for key in exact:                       # the exact rows print formulas without epsilon
        assert "epsilon" not in "".join(maps.FORMULAS[key])
    assert "flat_ball" in keys
    assert data["all_flags_ok"]
    assert data["fd_step"] == maps.FD_STEP and (data["D_low"], data["D_high"]) == maps.D_RANGE
    assert data["min_point_norm"] > 0
    assert data["max_fd_error"] < 1e-6
    assert data["max_defect_flagged"] < 1e-12 < data["min_defect_unflagged"]
    for table, ncol in ((main, 5), (checks, 4)):
        lines = table.splitlines()
        assert len(lines) == 2 + data["n_rows"]
        for line in lines:
            assert line.count("|") == ncol + 1, line  # no stray pipe inside a cell


def test_adam_algorithm1_with_zero_betas_is_dspgd():
    prob = dspgd.gaussian_problem(n=6, d=15, k=2, seed=2)
    ref = maps.adam_algorithm1_path(prob, lr=0.05, steps=200, beta1=0.0, beta2=0.0, eps=1e-2)
    ours = record_path(prob, dspgd.adam(eps=1e-2), 0.05, 200)
    assert np.max(np.abs(ref - ours)) < 1e-12
    # with memory the iterates differ: full Adam is not of the DSPGD form
    full = maps.adam_algorithm1_path(prob, lr=0.05, steps=200, eps=1e-2)
    assert np.max(np.abs(full - ours)) > 1e-3


def test_adam_algorithm1_matches_torch():
    torch = pytest.importorskip("torch")
    prob = dspgd.gaussian_problem(n=4, d=9, k=2, seed=5)
    X, Y = torch.tensor(prob.X), torch.tensor(prob.Y)
    for betas in ((0.0, 0.0), (0.9, 0.999)):
        W = torch.tensor(prob.W0, requires_grad=True)
        opt = torch.optim.Adam([W], lr=0.03, betas=betas, eps=1e-3)
        for _ in range(60):
            opt.zero_grad()
            (0.5 * ((X @ W - Y) ** 2).sum()).backward()
            opt.step()
        ref = maps.adam_algorithm1_path(prob, 0.03, 60, beta1=betas[0], beta2=betas[1], eps=1e-3)
        assert np.max(np.abs(W.detach().numpy() - ref[-1])) < 1e-12
    ours = record_path(prob, dspgd.adam(eps=1e-3), 0.03, 60)
    W = torch.tensor(prob.W0, requires_grad=True)
    opt = torch.optim.Adam([W], lr=0.03, betas=(0.0, 0.0), eps=1e-3)
    for _ in range(60):
        opt.zero_grad()
        (0.5 * ((X @ W - Y) ** 2).sum()).backward()
        opt.step()
    assert np.max(np.abs(W.detach().numpy() - ours[-1])) < 1e-12


@pytest.mark.parametrize("kw", [dict(beta1=1.0), dict(beta2=-0.1), dict(eps=0.0), dict(steps=-2)])
def test_adam_algorithm1_rejects_bad_input(kw):
    prob = dspgd.gaussian_problem(n=3, d=7, seed=0)
    args = dict(lr=0.1, steps=3) | kw
    with pytest.raises(ValueError):
        maps.adam_algorithm1_path(prob, **args)


# ---------------------------------------------------------------- chapter 2: figures


def test_maps_1d_slope_at_zero_is_lipschitz_constant():
    out = maps.maps_1d()
    plt.close(out.fig)
    for c in out.data["curves"]:
        if np.isfinite(c["lipschitz"]):
            assert abs(c["slope_at_0"] - c["lipschitz"]) < 1e-4 * c["lipschitz"], c["label"]
        else:
            assert c["slope_at_0"] > 1e6
    slopes = out.data["slope_at_0"]
    assert list(slopes) == ["gd", "adam_eps_0.1", "adam_eps_0.01", "clip_value", "power", "sign"]
    assert slopes["adam_eps_0.01"] == pytest.approx(100, rel=1e-4)   # 1 / eps


def test_maps_2d_isotropic_panels_are_radial():
    out = maps.maps_2d(n_bg=61)
    plt.close(out.fig)
    for panel in out.data["panels"]:
        if panel["isotropic"]:
            assert panel["max_angle_deg"] < 1e-10, panel["label"]
        else:
            assert panel["max_angle_deg"] > 10, panel["label"]
    assert out.data["spectral_vs_normalized_k1"] < 1e-14
    assert out.data["max_angle_deg"]["sign"] > 40 and out.data["isotropic_max_angle_deg"] < 1e-10


def test_registered():
    from dspgd.figures import REGISTRY
    for name in ("toy-2d", "maps-1d", "maps-2d"):
        assert name in REGISTRY


def test_adam_check_memoryless_equal_memory_different():
    c = maps.adam_check(n=6, d=20, k=2, steps=150)
    assert c["gap_memoryless"] < 1e-12 * max(1.0, c["scale"])
    assert c["gap_memory"] > 1e-2 * c["scale"]
