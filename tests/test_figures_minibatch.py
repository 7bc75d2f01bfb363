"""The figure module of the mini-batch chapter: the fixed diagonal K keeps its limit W_D."""

import pytest

from dspgd.figures import minibatch as mb


def test_minibatch_diagonal_ends_at_the_closed_form_for_every_batch_size_and_seed():
    D = mb.minibatch_diagonal(n=6, d=24, batch_sizes=(1, 3, 6), seeds=(0, 1), lr=0.05, tol=1e-13)
    assert D["all_converged"]
    assert len(D["runs"]) == 6
    assert D["max_distance_to_WD"] < 1e-10                    # rounding level
    assert D["WD_to_WGD"] > 1e-2                              # and W_D is not W_GD
    assert D["min_distance_to_WGD"] == pytest.approx(D["WD_to_WGD"], rel=1e-6)
    assert {(r["batch_size"], r["seed"]) for r in D["runs"]} == {(b, s) for b in (1, 3, 6) for s in (0, 1)}


def test_minibatch_diagonal_rejects_too_large_batches():
    with pytest.raises(ValueError, match="batch sizes"):
        mb.minibatch_diagonal(n=5, d=20, batch_sizes=(6,))
