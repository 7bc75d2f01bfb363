"""The pinned extra for running the chapters live (requirements-lab.txt, ``make lab``)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pins(path: Path) -> dict[str, str]:
    lines = [ln.split("#", 1)[0].strip() for ln in path.read_text().splitlines()]
    return dict(ln.split("==", 1) for ln in lines if ln and not ln.startswith("-"))


def test_lab_requirements_are_exact_pins():
    text = (ROOT / "requirements-lab.txt").read_text()
    reqs = [ln.split("#", 1)[0].strip() for ln in text.splitlines() if ln.split("#", 1)[0].strip()]
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][A-Za-z0-9.]*", r) for r in reqs), reqs
    assert {"jupyterlab", "jupytext", "ipywidgets"} <= set(pins(ROOT / "requirements-lab.txt"))


def test_jupytext_is_pinned_once_for_both():
    assert pins(ROOT / "requirements-lab.txt")["jupytext"] == pins(ROOT / "requirements.txt")["jupytext"]


def test_make_lab_opens_markdown_as_notebooks():
    make = (ROOT / "Makefile").read_text()
    assert re.search(r"^lab: ", make, flags=re.M)
    assert "requirements-lab.txt" in make and '"markdown": "Jupytext Notebook"' in make
