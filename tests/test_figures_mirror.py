"""The figure module of the mirror-descent chapter: the numbers behind the drift of Fig. 9.2(a)."""

import numpy as np
import pytest

from dspgd.figures import mirror as mf


@pytest.fixture(scope="module")
def side():
    return mf.mirror_vs_dspgd(n=5, d=30, n_lr=3, lr_min=0.01, lr_max=0.1, adam_lr_min=0.01, adam_lr_max=0.05,
                              max_steps=40_000, hover_steps=50).data


def test_mirror_distance_follows_the_final_residual(side):
    """The distance to the projection is a bounded multiple of the residual at which a run stops."""
    assert 0.2 < side["mirror_distance_over_residual_min"] <= side["mirror_distance_over_residual_max"] < 10
    for v in side["mirror"].values():
        d, r = np.array(v["distance"]), np.array(v["final_rel_residual"])
        assert np.all(r < side["tol"])
        assert np.all(d < 10 * side["tol"])


def test_mirror_summary_extremes(side):
    M = side["mirror"].values()
    assert side["mirror_distance_first_max"] == max(v["distance"][0] for v in M)
    assert side["mirror_distance_last_min"] <= side["mirror_distance_last_max"]
    assert side["mirror_steps_first_max"] > side["mirror_steps_last_max"]     # smaller steps take longer


def test_mirror_plane_paths_end_at_the_projection():
    D = mf.mirror_plane(steps=800).data
    assert D["max_path_end_distance"] < 1e-10
    assert set(D["limits"]) == {"pnorm3", "gd", "pnorm1.5"}
