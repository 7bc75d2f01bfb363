"""The claims ledger: every check passes, and a broken one would show as failing."""

import numpy as np
import pytest

from dspgd import ledger


@pytest.mark.parametrize("key", list(ledger.CLAIMS))
def test_claim_holds(key):
    row = ledger.run(ledger.CLAIMS[key])
    assert row.passed, f"{key}: measured {row.measured} is not {row.claim.op} {row.claim.threshold}"


def test_broken_gd_limit_fails_the_isotropic_row(monkeypatch):
    # If gd_limit were wrong (here: off by a constant), the C3 row must fail.
    import dspgd.theory as theory

    real = theory.gd_limit
    monkeypatch.setattr(theory, "gd_limit", lambda prob: real(prob) + 1e-3)
    row = ledger.run(ledger.CLAIMS["C3"])
    assert not row.passed
    assert row.measured > ledger.CLAIMS["C3"].threshold


def test_non_convergence_fails_a_row(monkeypatch):
    # A solver that never converges must fail the rows that need convergence, not pass them.
    import dspgd.ledger as L

    real = L.solve
    monkeypatch.setattr(L, "solve", lambda *a, **kw: real(*a, **{**kw, "max_steps": 3}))
    for key in ("C1", "C2", "C3", "C4", "B1"):
        row = ledger.run(ledger.CLAIMS[key])
        assert not row.passed, key


def test_non_finite_measurement_fails():
    c = ledger.Claim("X", "book: observation", "s", "m", ">=", 0.0, lambda: float("nan"), "chapters/x")
    assert not ledger.run(c).passed


def test_markdown_table_marks_failures():
    c = ledger.Claim("X", "book: observation", "s", "m", "<=", 1.0, lambda: 2.0, "chapters/ledger")
    table = ledger.markdown_table([ledger.run(c)])
    assert "FAIL" in table and "pass" not in table
    assert table.count("\n") == 3


def test_bad_op_rejected():
    with pytest.raises(ValueError, match="op must be"):
        ledger.claim("Y", "paper", "s", "m", "==", 0.0, "chapters/x")
