"""Tests of the book's plotting style: one colour per family, and families that can be told apart."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dspgd import plotting


def test_every_family_has_its_own_distinct_colour():
    rgb = {f: np.asarray(plotting.color_of(f), dtype=float) for f in plotting.FAMILIES}
    for a, b in itertools.combinations(plotting.FAMILIES, 2):
        # RGB distance; the two nearest families of the palette are about 0.29 apart
        assert np.linalg.norm(rgb[a] - rgb[b]) > 0.25, (a, b)


def test_adam_and_normalized_gd_are_far_apart():
    """They share figures in every chapter; the palette's vermillion and orange were nearly the same hue."""
    a, n = (np.asarray(plotting.color_of(f)) for f in ("adam", "normalized"))
    assert np.linalg.norm(a - n) > 0.4


def test_unknown_family_is_a_clear_error():
    with pytest.raises(KeyError, match="no colour for family 'nope'"):
        plotting.color_of("nope")
