"""The claims ledger as a framework: registration, verdicts, rendering, and its links to the book.

That every row passes, and fails under a planted bug, is tested in
``test_ledger_mutations.py`` (which runs the ledger once for both).
"""

import re
from pathlib import Path

import numpy as np
import pytest

from dspgd import ledger, solver

ROOT = Path(__file__).resolve().parents[1]


def _claim(op="<=", threshold=1.0, check=lambda: 0.5, source="book: observation"):
    return ledger.Claim("X", source, "s", "m", op, threshold, check, "chapters/ledger")


@pytest.mark.parametrize("op, threshold, measured, passed", [
    ("<=", 1.0, 0.5, True), ("<=", 1.0, 1.5, False),
    (">=", 1.0, 1.5, True), (">=", 1.0, 0.5, False),
    ("in", (1.0, 2.0), 1.5, True), ("in", (1.0, 2.0), 2.5, False), ("in", (1.0, 2.0), 0.5, False),
])
def test_verdicts(op, threshold, measured, passed):
    assert ledger.run(_claim(op, threshold, lambda: measured)).passed is passed


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_measurement_fails(value):
    for op, thr in (("<=", 1.0), (">=", 0.0), ("in", (-np.inf, np.inf))):
        assert not ledger.run(_claim(op, thr, lambda: value)).passed


def test_a_check_that_raises_fails_and_says_why():
    def broken():
        raise RuntimeError("solver exploded")

    row = ledger.run(_claim(check=broken))
    assert not row.passed and "solver exploded" in row.error
    assert "solver exploded" in ledger.markdown_rows([row])


def test_non_convergence_fails_the_rows_that_need_it(monkeypatch):
    # A solver that never converges must fail the rows that need convergence, not pass them.
    real = solver.solve
    monkeypatch.setattr(solver, "solve", lambda *a, **kw: real(*a, **{**kw, "max_steps": 3}))
    for key in ("C1", "C2", "C3", "C4", "C4b", "B1", "B2", "B10"):
        row = ledger.run(ledger.CLAIMS[key])
        assert not row.passed and not row.error, key


@pytest.mark.parametrize("kwargs, match", [
    (dict(op="=="), "op must be"),
    (dict(source="folklore"), "source must be"),
    (dict(op="in", threshold=1.0), "band"),
    (dict(op="in", threshold=(2.0, 1.0)), "band"),
    (dict(op="<=", threshold=(0.0, 1.0)), "single number"),
])
def test_bad_claims_rejected(kwargs, match):
    args = dict(key="Y", source="paper", statement="s", measure="m", op="<=", threshold=0.0,
                chapter="chapters/x")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ledger.claim(**args)


def test_a_key_registers_once():
    with pytest.raises(ValueError, match="twice"):
        ledger.claim("C1", "paper", "s", "m", "<=", 0.0, "chapters/x")(lambda: 0.0)


def test_rows_render_with_badges_and_numbers():
    good = ledger.run(_claim("in", (1.0, 2.0), lambda: 1.5))
    bad = ledger.run(_claim("<=", 1e-12, lambda: 3e-5))
    text = ledger.markdown_rows([good, bad])
    assert text.count("{bdg-success}`pass`") == 1 and text.count("{bdg-danger}`FAIL`") == 1
    assert r"1.5 \in [1, 2]" in text
    assert r"3.00\times 10^{-5} \le 1.00\times 10^{-12}" in text
    summary = ledger.markdown_summary([good, bad])
    assert "| book: observation | 2 | 1 | 1 |" in summary and "| **all** | **2** | **1** | **1** |" in summary


def test_shared_experiments_are_recomputed_for_a_fresh_row():
    ledger._CACHE["_bound_runs"] = "stale"
    ledger.run(_claim(), fresh=True)
    assert "_bound_runs" not in ledger._CACHE


def test_every_row_points_at_a_chapter_and_labels_that_exist():
    labels = set()
    for f in (ROOT / "chapters").glob("*.md"):
        labels |= set(re.findall(r"^:label:\s*(\S+)", f.read_text(), flags=re.M))
    for c in ledger.CLAIMS.values():
        assert (ROOT / f"{c.chapter}.md").is_file(), (c.key, c.chapter)
        assert c.source in ledger.SOURCES
        for lab in c.refs:
            assert lab in labels, f"{c.key} cites {lab!r}, which no chapter defines"


def _labelled_statements() -> dict[str, str]:
    """Label -> kind of every labelled prf directive of the chapters, definitions aside."""
    out = {}
    for f in (ROOT / "chapters").glob("*.md"):
        for kind, lab in re.findall(r"\{prf:(\w+)\}[^\n]*\n(?::\w+:[^\n]*\n)*?:label:\s*(\S+)", f.read_text()):
            if kind != "definition":
                out[lab] = kind
    return out


def test_every_labelled_statement_has_a_row_or_says_why_not():
    statements = _labelled_statements()
    assert len(statements) > 50  # the pattern finds the book's statements
    cited = {lab for c in ledger.CLAIMS.values() for lab in c.refs}
    missing = sorted(set(statements) - cited - set(ledger.WITHOUT_ROW))
    assert not missing, f"labelled statements with no row and not in ledger.WITHOUT_ROW: {missing}"
    assert not set(ledger.WITHOUT_ROW) & cited, "a label in WITHOUT_ROW has a row: remove it from the list"
    unknown = sorted(set(ledger.WITHOUT_ROW) - set(statements))
    assert not unknown, f"labels listed without a row that no chapter defines: {unknown}"


def test_the_statements_without_a_row_render_as_references():
    text = ledger.markdown_without_row()
    for lab in ledger.WITHOUT_ROW:
        assert f"{{prf:ref}}`{lab}`" in text


def test_the_ledger_page_has_a_section_for_every_chapter_with_rows():
    page = (ROOT / "chapters" / "ledger.md").read_text()
    for chapter in {c.chapter for c in ledger.CLAIMS.values()}:
        name = chapter.split("/")[-1]
        assert f'rows_of("{name}")' in page, name


@pytest.mark.parametrize("op, threshold, measured, expected", [
    ("<=", 1e-14, 2e-15, 0.2),          # an upper bound: the part of the allowance used
    ("<=", 1.0, -0.5, -0.5),            # beyond zero
    ("<=", -1.0, -4.0, 0.25),           # an upper bound below zero: threshold over number
    ("<=", -1.0, 0.5, np.inf),
    (">=", 0.2, 0.4, 0.5),              # a lower bound: threshold over number
    (">=", 0.2, -0.1, np.inf),
    (">=", -5e-15, -1e-15, 0.2),        # a rounding allowance below zero
    (">=", -1e-14, 3.0, -3e14),
    ("<=", 0.0, -1e-28, 0.0),           # a threshold of 0 has no scale
    ("<=", 0.0, 1e-28, np.inf),
    (">=", 0.0, 0.0, 0.0),
    ("in", (1.0, 2.0), 1.25, 0.25),     # the position in the band
    ("in", (1.0, 2.0), 2.5, 1.5),
    ("in", (1.0, 1.0), 1.0, 0.5),
    ("in", (1.0, 2.0), np.nan, np.nan),
    ("<=", 1.0, np.inf, np.nan),
])
def test_margin(op, threshold, measured, expected):
    m = ledger.margin(ledger.run(_claim(op, threshold, lambda: measured)))
    if np.isnan(expected):
        assert np.isnan(m)
    else:
        assert m == pytest.approx(expected, rel=1e-12)


def test_the_margin_says_what_the_verdict_says():
    """A one-sided row passes exactly when its ratio is <= 1, a band row when its position is in [0, 1]."""
    rng = np.random.default_rng(0)
    for _ in range(2000):
        op = rng.choice(["<=", ">=", "in"])
        scale = 10.0 ** rng.integers(-15, 3)
        thr = tuple(sorted(rng.normal(size=2) * scale)) if op == "in" else float(rng.choice([0.0, 1.0, -1.0])
                                                                                 * rng.uniform(0.5, 2) * scale)
        value = float(rng.normal() * scale * rng.choice([0.5, 1.0, 3.0]))
        row = ledger.run(_claim(op, thr, lambda: value))
        m = ledger.margin(row)
        assert row.passed == ((0.0 <= m <= 1.0) if op == "in" else (m <= 1.0)), (op, thr, value, m)
