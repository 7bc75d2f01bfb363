"""The figure module of the spectral chapter: the fast bfloat16 rounding and the batched Muon runs."""

import numpy as np
import pytest

import dspgd
from dspgd.figures import spectral as sf
from dspgd.rowspace import bfloat16_round, muon_trace, newton_schulz_bfloat16, null_component


def _patterns(n: int, seed: int = 0) -> np.ndarray:
    """float32 numbers from random bit patterns (normal range), half of them exact bfloat16 ties."""
    rng = np.random.default_rng(seed)
    u = rng.integers(0x00800000, 0x70000000, n, dtype=np.uint32)
    u[: n // 2] = (u[: n // 2] & np.uint32(0xFFFF0000)) | np.uint32(0x8000)
    x = u.view(np.float32)
    return np.concatenate([x, -x, np.zeros(3, np.float32)])


def test_round_bfloat16_inplace_is_bfloat16_round_bit_for_bit():
    x = _patterns(200_000)
    want = bfloat16_round(x)
    got = sf.round_bfloat16_inplace(x.copy(), np.empty_like(x))
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


def test_round_bfloat16_inplace_rounds_in_place_and_checks_its_arguments():
    x = np.array([1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8, 3.14159], dtype=np.float32)
    out = sf.round_bfloat16_inplace(x, np.empty_like(x))
    assert out is x
    assert x[0] == 1.0 and x[1] == 1.0 + 2.0**-6       # ties go to the even neighbour
    assert np.all(x.view(np.uint32) & np.uint32(0xFFFF) == 0)
    with pytest.raises(ValueError, match="float32"):
        sf.round_bfloat16_inplace(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="same shape"):
        sf.round_bfloat16_inplace(np.ones(3, np.float32), np.ones(2, np.float32))


def test_muon_runs_reproduces_muon_trace_bfloat16_bit_for_bit():
    """Two problems and two rates in one batch: each member is the single-run emulation."""
    p0, p1 = dspgd.gaussian_problem(10, 40, 3, seed=0), dspgd.gaussian_problem(10, 40, 3, seed=1)
    runs = sf.muon_runs([p0, p0, p1], [0.01, 0.05, 0.02], 120, [60])
    for i, (p, lr) in enumerate([(p0, 0.01), (p0, 0.05), (p1, 0.02)]):
        tr = muon_trace(p, lr, steps=120, backend="bfloat16")
        assert np.array_equal(runs.W[i], tr.W[0])
        assert runs.rowspace[i, -1] == pytest.approx(tr.rowspace[0, -1], rel=1e-12)
    assert runs.steps.tolist() == [0, 60, 120]


def test_muon_runs_newton_schulz_step_matches_the_package_emulation():
    """One step from W0 with momentum 0: the update is lr * scale * newton_schulz_bfloat16(G)."""
    p = dspgd.gaussian_problem(10, 40, 2, seed=3)
    runs = sf.muon_runs([p], [0.1], 1, [1], momentum=0.0)
    G = p.X.T @ p.residual(p.W0)
    step = 0.1 * np.sqrt(40 / 2) * newton_schulz_bfloat16(G)
    assert np.array_equal(runs.W[0], p.W0 - step)


def test_muon_runs_float64_matches_muon_trace_and_stays_in_the_row_space():
    p = dspgd.gaussian_problem(10, 40, 3, seed=2)
    runs = sf.muon_runs([p], [0.02], 60, [30], bfloat16=False)
    tr = muon_trace(p, 0.02, steps=60, backend="numpy")
    np.testing.assert_allclose(runs.W[0], tr.W[0], atol=1e-12)
    assert runs.rowspace.max() < 1e-13
    bf = sf.muon_runs([p], [0.02], 60, [30])
    assert bf.rowspace[0, -1] > 1e-4            # bfloat16 leaves the row space


def test_muon_runs_weight_decay_shrinks_the_null_space_part_geometrically():
    p = dspgd.gaussian_problem(10, 40, 3, seed=4)
    lr, wd, T = 0.05, 0.1, 200
    runs = sf.muon_runs([p], [lr], T, [T], bfloat16=False, weight_decay=wd)
    # null_component(W) = P_null(W - W0), so P_null W = null_component(W) - null_component(0)
    origin = null_component(np.zeros_like(p.W0), p)
    n0 = np.linalg.norm(origin)
    nT = np.linalg.norm(null_component(runs.W[0], p) - origin)
    assert nT / n0 == pytest.approx((1 - lr * wd) ** T, rel=1e-8)


def test_muon_runs_schedule_per_step_and_member():
    p = dspgd.gaussian_problem(10, 40, 3, seed=0)
    sched = np.zeros((50, 2))
    sched[:, 1] = 0.05
    runs = sf.muon_runs([p, p], sched, 50, [])
    assert np.array_equal(runs.W[0], p.W0)                 # a zero rate never moves
    assert runs.distance[1, -1] < 0.9


@pytest.mark.parametrize("kw, match", [
    (dict(problems=[dspgd.gaussian_problem(3, 4, 5, seed=0)]), "tall"),
    (dict(lr=[0.1, 0.2]), "shape"),
    (dict(lr=[-0.1]), "non-negative"),
    (dict(steps=-1), "steps"),
    (dict(record=[99]), "record"),
    (dict(momentum=1.0), "momentum"),
    (dict(weight_decay=-1.0), "weight_decay"),
])
def test_muon_runs_validation(kw, match):
    args = dict(problems=[dspgd.gaussian_problem(5, 12, 2, seed=0)], lr=[0.1], steps=5, record=[])
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        sf.muon_runs(args.pop("problems"), args.pop("lr"), args.pop("steps"), args.pop("record"), **args)


def test_muon_runs_rejects_non_problems():
    with pytest.raises(TypeError):
        sf.muon_runs([], [0.1], 5, [])


def test_muon_bfloat16_long_small():
    """A short version of the chapter's figure: growth in t and lr, a decay freezes the error."""
    out = sf.muon_bfloat16_long(n=10, d=40, steps=3000, decay_starts=(500, 1000, 2000), fit_from=500,
                                half_life=50, f64_steps=1000, n_record=30)
    D = out.data
    assert D["f64_rowspace_max"] < 1e-12
    assert 0.2 < D["top_rate"]["slope_t"] < 1.0  # grows, sub-linearly
    assert [r["lr"] for r in D["rates"]] == [0.01, 0.02, 0.05] and D["top_rate"]["lr"] == 0.05
    assert D["top_rate"]["rowspace_eps"] == D["rates"][-1]["rowspace_eps"]
    assert D["bf16_significand_bits"] == 8 and D["last_decay_start"] == 2000
    assert D["decay_residual_end_max"] == max(dec["residual_end"] for dec in D["decays"])
    assert 0.5 < D["slope_lr"] < 1.5             # roughly in proportion to lr
    for dec in D["decays"]:
        assert dec["rowspace_end"] == pytest.approx(dec["rowspace_at_start"], rel=0.1)   # frozen
        assert dec["residual_end"] < 1e-6                                              # near an interpolator
        assert dec["distance_end"] > 1e-4                                              # not W_GD
    assert D["f64_decay_distance_end"] < 1e-4
    assert D["wd_null_fraction_removed"] == pytest.approx(D["wd_predicted_fraction_removed"], rel=1e-9)
    with pytest.raises(ValueError):
        sf.muon_bfloat16_long(steps=100, decay_starts=(1000,))
