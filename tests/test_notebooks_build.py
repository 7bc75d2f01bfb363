"""The book's Sphinx extensions (_ext/) on a two-page fixture book, built by plain ``jupyter-book build``.

``tests/fixtures/book`` has one executed chapter with everything the notebook
export converts (glued values with format specs, a glued figure, prf blocks
with and without labels, a proof, citations, references of every kind, a
labelled equation, an admonition). The test builds it with ``jupyter-book
build`` (strict, as ``make book`` does) into a temporary folder and checks the
notebook, the figure's links and files, and the manifest. It takes about a
minute (one kernel), so it is marked ``book`` and runs with the browser tests.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from dspgd import gluing
from dspgd.export import HIDDEN_CELL_NOTE, leftover_syntax

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "book"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fixture-book")
    exe = Path(sys.executable).with_name("jupyter-book")
    env = {k: v for k, v in __import__("os").environ.items() if k not in (gluing.BOOK_BUILD_ENV, gluing.FIGURE_DIR_ENV)}
    proc = subprocess.run([str(exe), "build", str(FIXTURE), "--path-output", str(out), "-W", "--keep-going"],
                          capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return out / "_build" / "html"


def test_the_notebook_reads_like_the_page(built):
    nb = nbformat.read(built / "_notebooks" / "chapter.ipynb", as_version=4)
    nbformat.validate(nb)
    md = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert leftover_syntax(md) == [], leftover_syntax(md)
    assert "{glue" not in md and "```{prf:" not in md and ":label:" not in md
    # glued values, with their format specs
    assert r"$\pi \approx$ 3.142" in md
    assert re.search(r"with \d+ steps", md)
    # numbered blocks, as the page numbers them
    for heading in ("**Definition 1** (Interpolators)", "**Theorem 1** (The toy theorem)",
                    "**Remark 1** (Unlabelled)", "*Proof.* By Definition 1, Pythagoras."):
        assert heading in md
    # references, equations, citations and the bibliography
    assert "(see The setting)" in md and "is written (1)" in md and "\\tag{1}" in md
    assert "Fig. 1 shows Theorem 1; API documents the function." in md
    assert "Ghane et al. [2026] show" in md and "[Boyd and Vandenberghe, 2004]" in md
    refs = nb.cells[-1].source
    assert refs.startswith("## References") and "Convex Optimization" in refs and "Hassibi" in refs
    # the caption, after the cell that draws the figure
    assert "**Fig. 1** (above) The toy picture" in md


def test_the_notebook_carries_the_outputs_and_the_hidden_cells(built):
    nb = nbformat.read(built / "_notebooks" / "chapter.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source.startswith(HIDDEN_CELL_NOTE) and code[0].metadata["jupyter"]["source_hidden"]
    assert code[0].outputs == []
    pngs = [o for o in code[1].outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == 1, "the glued figure is a visible output of the cell that made it"
    assert not any(o.output_type == "stream" and o.name == "stderr" for c in code for o in c.outputs)
    assert not any("scrapbook" in o.get("metadata", {}) for c in code for o in c.outputs)
    assert "jupytext" not in nb.metadata and nb.metadata["kernelspec"]["name"] == "python3"


def test_the_page_links_its_notebook(built):
    html = (built / "chapter.html").read_text(encoding="utf-8")
    assert 'href="_notebooks/chapter.ipynb"' in html and "download it as a Jupyter notebook" in html
    assert not (built / "_notebooks" / "index.ipynb").exists(), "a page without code has no notebook"
    assert "_notebooks/index.ipynb" not in (built / "index.html").read_text(encoding="utf-8")


def test_the_figure_has_alt_text_full_size_links_and_provenance(built):
    html = (built / "chapter.html").read_text(encoding="utf-8")
    fig = re.search(r"<figure.*?</figure>", html, flags=re.S).group(0)
    assert re.search(r'<a class="dspgd-fullsize[^"]*" href="_figures/toy-2d.png"[^>]*><img alt="([^"]+)"', fig)
    alt = re.search(r'<img alt="([^"]+)"', fig).group(1)
    assert not re.fullmatch(r"[0-9a-f]{64}(\.png)?", alt) and alt
    prov = re.search(r'<p class="dspgd-provenance">.*?</p>', fig, flags=re.S).group(0)
    text = re.sub(r"<[^>]+>", "", prov)
    assert "python -m dspgd reproduce --only toy-2d" in " ".join(text.split())
    for href in ("_modules/dspgd/figures/setting.html#toy_2d", "_figures/toy-2d.json", "_figures/toy-2d.png",
                 "_figures/toy-2d.pdf"):
        assert f'href="{href}"' in prov
        assert (built / href.split("#")[0]).is_file(), href
    assert 'id="toy_2d"' in (built / "_modules/dspgd/figures/setting.html").read_text(encoding="utf-8")


def test_the_figure_files_are_those_the_command_writes(built, tmp_path):
    """The provenance command, run as written, regenerates the published figure and its numbers."""
    proc = subprocess.run([sys.executable, "-m", "dspgd", "reproduce", "--only", "toy-2d", "--out", str(tmp_path),
                           "--no-progress"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    for ext in ("png", "pdf"):
        assert (tmp_path / f"toy-2d.{ext}").read_bytes() == (built / "_figures" / f"toy-2d.{ext}").read_bytes(), ext
    mine = json.loads((tmp_path / "figures.json").read_text())["figures"]["toy-2d"]
    site = json.loads((built / "_figures" / "figures.json").read_text())
    assert site["figures"]["toy-2d"]["data"] == mine["data"]
    assert json.loads((built / "_figures" / "toy-2d.json").read_text())["data"] == mine["data"]
    assert set(site["figures"]) == {"toy-2d"} and "software" in site

