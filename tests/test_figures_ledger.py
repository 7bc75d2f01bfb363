"""The figure of the ledger page: each row's measured number against its threshold, from rows run once."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from dspgd import ledger
from dspgd.figures import ledger as lf


def _row(key, op, threshold, measured, chapter="chapters/03_convergence", source="book: observation"):
    c = ledger.Claim(key, source, "s", "m", op, threshold, lambda: measured, chapter)
    return ledger.run(c)


ROWS = [
    _row("A1", "<=", 1e-14, 2e-15, "chapters/01_setting", "paper"),
    _row("A2", ">=", 0.2, 0.25, "chapters/01_setting"),
    _row("A3", "in", (1.0, 2.0), 1.9),
    _row("A4", "in", (0.0, 1.0), 0.5),
    _row("A5", "<=", 0.0, -1e-28),                  # no scale: drawn at the left edge
    _row("A6", "<=", 1e-14, 3e-14),                 # fails
    _row("A7", "in", (1.0, 2.0), float("nan")),     # no number
]


def test_the_figure_reports_every_row_and_the_ones_nearest_their_thresholds():
    out = lf.draw_margins(ROWS)
    D = out.data
    assert (D["n_rows"], D["n_passed"], D["n_failed"]) == (7, 5, 2)
    assert (D["n_one_sided"], D["n_band"]) == (4, 3)
    assert [r["key"] for r in D["rows"]] == [r.claim.key for r in ROWS]
    assert D["rows"][1]["margin"] == pytest.approx(0.8)
    assert D["largest_ratio"] == {"key": "A6", "ratio": pytest.approx(3.0)}
    assert D["nearest_band_end"] == {"key": "A3", "position": pytest.approx(0.9)}
    assert np.isnan(D["rows"][-1]["margin"]) and D["rows"][-1]["passed"] is False
    # one y tick per row, and a header per chapter
    ax = out.fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [r.claim.key for r in ROWS]
    assert sum("ch. " in t.get_text() for t in ax.texts) == 2


def test_no_rows_is_an_error():
    with pytest.raises(ValueError, match="at least one"):
        lf.draw_margins([])


def test_the_registered_figure_runs_the_checks_once(monkeypatch):
    calls = []
    monkeypatch.setattr(ledger, "run_all", lambda: calls.append(1) or list(ROWS))
    lf.checked_rows.cache_clear()
    try:
        first = lf.ledger_margins()
        rows = lf.checked_rows()
        second = lf.ledger_margins()
        assert calls == [1]
        assert list(rows) == ROWS and first.data["largest_ratio"] == second.data["largest_ratio"]
        assert first.name == "ledger-margins" and first.entry.alt.endswith(".")
    finally:
        lf.checked_rows.cache_clear()
