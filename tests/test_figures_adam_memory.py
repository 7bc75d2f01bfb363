"""The figure module of the chapter on Adam with memory: the experiment on more seeds and its table."""

import numpy as np
import pytest

from dspgd.figures import adam_memory as amf


@pytest.fixture(scope="module")
def small():
    return amf.adam_memory_seeds(seeds=(1, 2), n=10, d=40, lrs=(3e-3, 1e-2), max_steps=3000)


def test_seeds_summary_is_consistent(small):
    rows = small["per_seed"]
    assert [r["seed"] for r in rows] == [1, 2]
    assert small["n_runs"] == 2 * len(amf.BETAS) * 2
    assert 0 < small["n_converged"] <= small["n_runs"]
    for r in rows:
        assert r["memory_min"] <= r["memory_max"] and r["ratio_min"] <= r["ratio_max"]
        assert r["ratio_min"] >= 1.0 - 1e-12           # W_GD is the interpolator closest to W0
        assert r["memory_min"] > 1e-3                    # full Adam does not end at W_GD
    assert small["memory_min"] == min(r["memory_min"] for r in rows)
    assert small["ratio_max"] == max(r["ratio_max"] for r in rows)


def test_seed_table_has_one_row_per_problem(small):
    table = amf.adam_memory_seed_table(small)
    assert list(table["seed"]) == [1, 2]
    assert table["converged"].iloc[0] == f"{small['per_seed'][0]['n_converged']} of {small['per_seed'][0]['n_runs']}"


def test_bias_row_reads_the_figure_data():
    """The first row of the table is computed from the figure's runs at the same eps and rates."""
    runs = {
        "beta0.9_0.999-eps0.001": {"betas": [0.9, 0.999], "eps": 1e-3, "status": ["converged", "max_steps", "converged"],
                            "rel_distance": [0.6, 0.9, 0.7], "ratio": [1.1, 1.5, 1.2]},
        "beta0_0-eps0.001": {"betas": [0.0, 0.0], "eps": 1e-3, "status": ["converged", "converged", "diverged"],
                      "rel_distance": [0.5, 0.5, 9.0], "ratio": [1.05, 1.06, 9.0]},
        "beta0_0-eps1e-08": {"betas": [0.0, 0.0], "eps": 1e-8, "status": ["converged"] * 3,
                      "rel_distance": [0.1] * 3, "ratio": [3.0] * 3},
    }
    bias = {"seed": 0, "lrs": [1e-4, 1e-3, 1e-2], "runs": runs}
    row = amf._bias_row(bias, 1e-3, [1e-3, 1e-2])
    assert row == {"seed": 0, "n_runs": 4, "n_converged": 2, "memory_min": 0.7, "memory_max": 0.7,
                   "dspgd_min": 0.5, "dspgd_max": 0.5, "ratio_min": 1.06, "ratio_max": 1.2}
    with pytest.raises(ValueError, match="learning rates"):
        amf._bias_row(bias, 1e-3, [5e-3])
    table = amf.adam_memory_seed_table({"per_seed": [], "eps": 1e-3, "lrs": [1e-3, 1e-2]}, bias)
    assert list(table["seed"]) == [0]
    assert table["distance to W_GD, memoryless"].iloc[0] == "0.500"


def test_run_keys_are_readable_glue_names():
    """A run's key is its part of a glue name as it is (nothing replaced by ``_``)."""
    from dspgd.gluing import flatten

    assert amf.run_key((0.9, 0.999), 1e-8) == "beta0.9_0.999-eps1e-08"
    assert amf.run_key((0.0, 0.0), 1e-3) == "beta0_0-eps0.001"
    assert amf.eps_key(1e-3) == "eps0.001"
    keys = [amf.run_key(b, e) for b in amf.BETAS for e in (1e-8, 1e-3)]
    assert len(set(keys)) == len(keys)
    names = flatten({"runs": {k: {"x": 1.0} for k in keys}}, "ch8")
    assert sorted(names) == sorted(f"ch8-runs-{k}-x" for k in keys)
