"""The notebooks published with the built book (``_build/html/_notebooks``): one per page that runs code.

Checks every page of ``_toc.yml`` whose source has a code cell: the page links
its notebook, the notebook exists, is valid nbformat v4, reads like the page
(no MyST syntax left in its Markdown) and, for the numbered chapters and the ledger, carries
at least one figure. Two notebooks are also run top to bottom in a fresh
kernel, as a reader would run them. Run after ``make book``.

``DSPGD_HTML_ROOT`` selects the HTML to check (default: ``_build/html``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest

from dspgd import gluing
from dspgd.export import leftover_syntax

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
HTML_ROOT = Path(os.environ.get("DSPGD_HTML_ROOT", ROOT / "_build" / "html")).resolve()
BOOK_DIR = HTML_ROOT.parents[1] if len(HTML_ROOT.parents) > 1 else ROOT

#: Notebooks run in a fresh kernel by :func:`test_a_downloaded_notebook_runs` (quick pages that
#: glue with dspgd.gluing only: myst_nb.glue would leave glue outputs in a reader's notebook).
RUN = ["chapters/10_small_step", "intro"]



def toc_docs() -> list[str]:
    toc = BOOK_DIR / "_toc.yml"
    files = re.findall(r"^\s*(?:-\s*)?(?:root|file):\s*(\S+)\s*$", toc.read_text(), flags=re.M)
    return [re.sub(r"\.(md|ipynb)$", "", f) for f in files]


def source(doc: str) -> str:
    path = BOOK_DIR / f"{doc}.md"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def runs_code(doc: str) -> bool:
    return bool(re.search(r"^```\{code-cell\}", source(doc), flags=re.M))


def code_cells(src: str) -> list[tuple[str, str]]:
    """``(options, code)`` of every code cell of a MyST source."""
    cells = []
    for body in re.findall(r"^```\{code-cell\}[^\n]*\n(.*?)^```", src, flags=re.M | re.S):
        lines = body.split("\n")
        if lines and lines[0].strip() == "---":
            end = lines.index("---", 1) if "---" in lines[1:] else 0
            cells.append(("\n".join(lines[: end + 1]), "\n".join(lines[end + 1:])))
        else:
            n = next((i for i, ln in enumerate(lines) if not ln.startswith(":")), len(lines))
            cells.append(("\n".join(lines[:n]), "\n".join(lines[n:])))
    return cells


def is_chapter(doc: str) -> bool:
    """A numbered content chapter (``chapters/NN_name``)."""
    return bool(re.fullmatch(r"chapters/\d\d_\w+", doc))


def is_content(doc: str) -> bool:
    """A page that shows figures and the code that makes them: a numbered chapter, or the claims ledger."""
    return is_chapter(doc) or doc == "chapters/ledger"


NOTEBOOK_DOCS = [d for d in toc_docs() if runs_code(d)]


def notebook_path(doc: str) -> Path:
    return HTML_ROOT / "_notebooks" / f"{doc}.ipynb"


def require_built() -> None:
    if not (HTML_ROOT / "index.html").is_file():
        pytest.fail(f"the book is not built: {HTML_ROOT / 'index.html'} does not exist; run `make book` first")


def test_every_content_page_is_covered():
    docs = set(NOTEBOOK_DOCS)
    chapters = {d for d in toc_docs() if is_chapter(d)}
    assert chapters and chapters <= docs, f"chapters without code cells: {sorted(chapters - docs)}"
    assert "chapters/ledger" in docs


@pytest.mark.parametrize("doc", NOTEBOOK_DOCS)
def test_the_page_links_a_notebook_that_reads_like_it(doc: str) -> None:
    require_built()
    html = (HTML_ROOT / f"{doc}.html").read_text(encoding="utf-8")
    name = Path(doc).name
    links = re.findall(r'href="([^"]*_notebooks/[^"]*\.ipynb)"', html)
    assert links, f"{doc}.html links no notebook"
    for link in links:
        assert (HTML_ROOT / doc).parent.joinpath(link).resolve() == notebook_path(doc).resolve(), link
    assert f"download it as a Jupyter notebook ({name}.ipynb)" in html
    path = notebook_path(doc)
    assert path.is_file(), f"{path} is missing"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        assert "{glue" not in cell.source, cell.source[:300]
        assert "```{prf:" not in cell.source, cell.source[:300]
        assert leftover_syntax(cell.source) == [], leftover_syntax(cell.source)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"], "warnings in the outputs"
    assert not [o for o in outputs if o.output_type == "error"]
    if is_content(doc):
        assert any("image/png" in o.get("data", {}) for o in outputs), f"{doc}: no figure among the outputs"


@pytest.mark.parametrize("doc", [d for d in NOTEBOOK_DOCS if is_content(d)])
def test_every_chapter_shows_the_code_of_its_figures(doc: str) -> None:
    shown = [code for options, code in code_cells(source(doc))
             if "remove-cell" not in options and "remove-input" not in options]
    glued = [c for c in shown if re.search(r"\.glue\(", c)]
    assert glued, f"{doc}: no code cell on the page shows the call that makes a figure"


@pytest.mark.parametrize("doc", RUN)
def test_a_downloaded_notebook_runs(doc: str, tmp_path, monkeypatch) -> None:
    """The notebook runs top to bottom in a fresh kernel, outside the book build, and draws its figures."""
    require_built()
    from nbclient import NotebookClient

    monkeypatch.delenv(gluing.BOOK_BUILD_ENV, raising=False)
    monkeypatch.delenv(gluing.FIGURE_DIR_ENV, raising=False)
    nb = nbformat.read(notebook_path(doc), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure drawn"
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"], [
        o.text[:300] for o in outputs if o.get("name") == "stderr"]
    assert not [o for o in outputs if any(k.startswith("application/papermill") for k in o.get("data", {}))], \
        "glue outputs (Jupyter cannot render them) outside the book build"
    assert list(tmp_path.iterdir()) == [], "running a chapter writes no files"


#: Figures whose provenance command :func:`test_provenance_commands_regenerate_the_published_figures` runs.
REPRODUCED = ["toy-2d", "maps-1d"]


def test_provenance_commands_regenerate_the_published_figures(tmp_path) -> None:
    """``python -m dspgd reproduce --only NAME``, the command under each caption, writes the site's files."""
    require_built()
    import json
    import subprocess
    import sys

    site = HTML_ROOT / "_figures"
    manifest = json.loads((site / "figures.json").read_text())["figures"]
    for name in REPRODUCED:
        assert manifest[name]["command"] == f"python -m dspgd reproduce --only {name}"
    proc = subprocess.run([sys.executable, "-m", "dspgd", "reproduce", "--only", *REPRODUCED, "--out", str(tmp_path),
                           "--no-progress"], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    mine = json.loads((tmp_path / "figures.json").read_text())["figures"]
    for name in REPRODUCED:
        for ext in ("png", "pdf"):
            assert (tmp_path / f"{name}.{ext}").read_bytes() == (site / f"{name}.{ext}").read_bytes(), f"{name}.{ext}"
        assert mine[name]["data"] == manifest[name]["data"]
        assert json.loads((site / f"{name}.json").read_text())["data"] == mine[name]["data"]
