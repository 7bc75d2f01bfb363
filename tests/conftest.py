"""Shared fixtures of the test suite."""

from __future__ import annotations

import numpy as np
import pytest

import dspgd


@pytest.fixture
def make_problem():
    """Factory of small random problems: ``make_problem(k=1, seed=0, n=8, d=32)``."""

    def make(k: int = 1, seed: int = 0, n: int = 8, d: int = 32) -> dspgd.Problem:
        return dspgd.gaussian_problem(n=n, d=d, k=k, seed=seed)

    return make


@pytest.fixture
def rng() -> np.random.Generator:
    """A fixed-seed generator (each test gets a fresh one)."""
    return np.random.default_rng(12345)
