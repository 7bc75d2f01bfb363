"""Gluing numbers and figures: one call per figure, in the book build and in Jupyter (dspgd.gluing, Figure.glue)."""

from __future__ import annotations

import base64
import json
import struct

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from dspgd import figures, gluing
from dspgd.figures import Figure
from dspgd.reproduce import PNG_DPI, to_jsonable

NAME = "test-gluing-line"


@pytest.fixture
def line():
    """A registered figure (removed afterwards)."""

    @figures.register(NAME, chapter="tests", title="a line", alt="A straight line through the origin.")
    def draw_line(slope: float = 2.0) -> Figure:
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot([0, 1], [0, slope])
        return Figure(fig, {"slope": np.float64(slope), "points": [0, 1],
                            "fit": {"adam": {"rate": np.float32(0.5), "ok": np.bool_(True)}, "label": "lin"}})

    yield draw_line
    figures.REGISTRY.pop(NAME, None)


@pytest.fixture
def outside(monkeypatch):
    monkeypatch.delenv(gluing.BOOK_BUILD_ENV, raising=False)
    monkeypatch.setattr(gluing, "GLUED", {})
    shown = []
    monkeypatch.setattr(gluing, "show", shown.append)
    return shown


@pytest.fixture
def inside(monkeypatch, tmp_path):
    """The book build: glue calls recorded instead of going to a kernel."""
    monkeypatch.setenv(gluing.BOOK_BUILD_ENV, "1")
    monkeypatch.setenv(gluing.FIGURE_DIR_ENV, str(tmp_path / "_figures"))
    calls = {"glue": [], "display": []}
    import IPython.display
    import myst_nb

    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: calls["glue"].append((name, value, display)))
    monkeypatch.setattr(IPython.display, "display",
                        lambda obj, raw=False, metadata=None: calls["display"].append((obj, metadata)))
    return calls


def test_flatten_naming_rule():
    data = {"n": 20, "rate": {"adam": np.float64(0.25), "sign|0.9,0.99": 3}, "ok": np.bool_(False),
            "label": "x", "list": [1, 2], "none": None, "arr": np.arange(3), 7: np.int64(4)}
    flat = gluing.flatten(data, "ch3-conv")
    assert flat == {"ch3-conv-n": 20, "ch3-conv-rate-adam": 0.25, "ch3-conv-rate-sign_0.9_0.99": 3,
                    "ch3-conv-ok": False, "ch3-conv-label": "x", "ch3-conv-7": 4}
    assert type(flat["ch3-conv-rate-adam"]) is float and type(flat["ch3-conv-7"]) is int
    assert type(flat["ch3-conv-ok"]) is bool


def test_flatten_rejects_collisions_and_non_mappings():
    with pytest.raises(ValueError, match="two key paths"):
        gluing.flatten({"a b": 1, "a_b": 2}, "p")
    with pytest.raises(ValueError, match="empty key"):
        gluing.flatten({"": 1}, "p")
    with pytest.raises(TypeError, match="mapping"):
        gluing.flatten([1, 2], "p")


def test_glue_outside_the_book_keeps_values_and_shows_only_when_asked(outside):
    gluing.glue("a", np.float64(1.5), display=False)
    gluing.glue("b", "text")
    assert gluing.GLUED == {"a": 1.5, "b": "text"} and type(gluing.GLUED["a"]) is float
    assert outside == ["text"]
    assert gluing.glue_values("p", {"x": {"y": 2}}) is None
    assert gluing.glued("p") == {"p-x-y": 2}


def test_glue_in_the_book_goes_to_myst_nb(inside):
    gluing.glue_values("p", {"x": np.int64(3), "s": "a"})
    assert inside["glue"] == [("p-x", 3, False), ("p-s", "a", False)]
    assert type(inside["glue"][0][1]) is int, "numpy scalars are glued as Python scalars (format specs apply)"


def test_figure_glue_outside_the_book_shows_the_figure_once(line, outside):
    out = line()
    assert out.glue("fig-line", "ln") is None
    assert outside == [out.fig]
    assert not plt.fignum_exists(out.fig.number), "closed, so Jupyter does not show it twice"
    assert gluing.GLUED == {"ln-slope": 2.0, "ln-fit-adam-rate": 0.5, "ln-fit-adam-ok": True, "ln-fit-label": "lin"}


def test_figure_glue_prefix_defaults_to_the_key(line, outside):
    line().glue("fig-line")
    assert set(gluing.GLUED) == {"fig-line-slope", "fig-line-fit-adam-rate", "fig-line-fit-adam-ok",
                                 "fig-line-fit-label"}


def test_figure_glue_in_the_book(line, inside, tmp_path):
    out = line()
    out.glue("fig-line", "ln")
    assert [c[0] for c in inside["glue"]] == ["ln-slope", "ln-fit-adam-rate", "ln-fit-adam-ok", "ln-fit-label"]
    (bundle, meta), = inside["display"]
    assert all(k.startswith("application/papermill.record/") for k in bundle)
    assert "application/papermill.record/image/png" in bundle
    assert meta["scrapbook"] == {"name": "fig-line", "mime_prefix": "application/papermill.record/"}
    d = meta["dspgd"]
    assert d["figure"] == NAME and d["alt"] == "A straight line through the origin."
    assert d["command"] == f"python -m dspgd reproduce --only {NAME}"
    assert d["function"].endswith("draw_line") and d["arguments"] == []
    folder = tmp_path / "_figures"
    assert sorted(p.name for p in folder.iterdir()) == [f"{NAME}.json", f"{NAME}.pdf", f"{NAME}.png"]
    png = (folder / f"{NAME}.png").read_bytes()
    assert base64.b64decode(bundle["application/papermill.record/image/png"]) == png, "the page shows the saved PNG"
    width = struct.unpack(">I", png[16:20])[0]
    assert meta["image/png"] == {"width": round(width * out.fig.dpi / PNG_DPI)}
    rec = json.loads((folder / f"{NAME}.json").read_text())
    assert rec["data"] == to_jsonable(out.data)
    assert rec["files"] == [f"{NAME}.png", f"{NAME}.pdf"] and rec["command"] == d["command"]
    assert not plt.fignum_exists(out.fig.number)


def test_non_default_arguments_are_recorded(line, inside):
    out = line(slope=3.0)
    assert out.kwargs == {"slope": 3.0}
    out.glue("fig-line")
    (_, meta), = inside["display"]
    assert meta["dspgd"]["command"] is None and meta["dspgd"]["arguments"] == ["slope"]


def test_unregistered_figure_is_glued_without_description(inside, tmp_path):
    fig, _ = plt.subplots()
    Figure(fig, {"a": 1}).glue("fig-x")
    (_, meta), = inside["display"]
    assert "dspgd" not in meta
    assert not (tmp_path / "_figures").exists()


def test_alt_text_rules():
    deco = figures.register("test-alt", chapter="tests", title="T", alt="  Two   lines\n cross. ")
    try:
        deco(lambda: None)
        assert figures.REGISTRY["test-alt"].alt == "Two lines cross."
    finally:
        figures.REGISTRY.pop("test-alt", None)
    with pytest.raises(ValueError, match="sentence"):
        figures.register("test-alt2", chapter="tests", title="T", alt="no full stop")
    deco = figures.register("test-alt3", chapter="tests", title="The title")
    try:
        deco(lambda: None)
        assert figures.REGISTRY["test-alt3"].alt == "The title"
    finally:
        figures.REGISTRY.pop("test-alt3", None)


def test_every_figure_of_the_book_has_its_own_alt_text():
    reg = figures.load_all()
    missing = sorted(n for n, e in reg.items() if not n.startswith("test-")
                     and e.alt == e.title)
    assert not missing, f"figures registered without alt= (one sentence saying what the figure shows): {missing}"


def test_a_kernel_without_ipywidgets_imports_dspgd_without_warnings():
    """tqdm.auto warns "IProgress not found" in a kernel without ipywidgets; importing dspgd must not."""
    import nbformat
    from nbclient import NotebookClient

    hide = "import sys\nsys.modules['ipywidgets'] = None  # as if ipywidgets were not installed"
    check = "import dspgd\nfrom tqdm.auto import tqdm\nprint(sorted({c.__module__ for c in tqdm.__mro__}))"
    # the same import without dspgd's precaution, to show that the warning is real
    control = "import importlib, warnings\nwarnings.simplefilter('always')\nimport tqdm.autonotebook as m\nimportlib.reload(m)"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in (hide, check, control)])
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    out = nb.cells[1].outputs
    assert [o.name for o in out] == ["stdout"], [o.get("text", "") for o in out]
    assert "tqdm.notebook" not in out[0].text and "tqdm.std" in out[0].text, "the fallback: text progress bars"
    warned = [o.text for o in nb.cells[2].outputs if o.get("name") == "stderr"]
    assert warned and "IProgress not found" in warned[0]
