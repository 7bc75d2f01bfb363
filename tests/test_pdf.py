"""The PDF edition (``make pdf``): linked from the book, complete, and typeset without loss.

``make test`` builds the PDF where TeX Live is installed (always in CI) and
then runs these checks with the browser test. Without a PDF they are skipped,
except in CI (``CI`` set), where a missing PDF is an error.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
PDF_NAME = "dspgd-book.pdf"
SITE_PDF = BUILD / "html" / PDF_NAME
LATEX = BUILD / "latex"
LOG = LATEX / "dspgd-book.log"
TEX = LATEX / "dspgd-book.tex"
CITE_PAGE = BUILD / "html" / "chapters" / "cite.html"


@pytest.fixture(scope="module")
def pdf() -> Path:
    if not SITE_PDF.is_file():
        reason = f"no PDF edition: {SITE_PDF.relative_to(ROOT)} is not built (make pdf; it needs TeX Live, see README.md)"
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI builds it")
        pytest.skip(reason)
    return SITE_PDF


def test_the_book_links_the_pdf() -> None:
    """The "How to cite" page links the PDF at the root of the site."""
    if not CITE_PAGE.is_file():
        pytest.fail(f"{CITE_PAGE.relative_to(ROOT)} is not built (make book)")
    links = re.findall(r'<a [^>]*href="([^"]*' + re.escape(PDF_NAME) + r')"', CITE_PAGE.read_text(encoding="utf-8"))
    assert links, f"no link to {PDF_NAME} on the How to cite page"
    for link in links:
        assert (CITE_PAGE.parent / link).resolve() == SITE_PDF.resolve(), f"the link {link} does not lead to {SITE_PDF}"


def test_pdf_is_a_pdf_of_the_current_book(pdf: Path) -> None:
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-"), f"{pdf} is not a PDF"
    assert data.rstrip().endswith(b"%%EOF"), f"{pdf} is truncated"
    stamp = BUILD / ".book-stamp"
    if stamp.is_file():
        assert pdf.stat().st_mtime >= stamp.stat().st_mtime, f"{pdf} is older than the last build of the book (make pdf)"


def test_pdf_has_every_chapter_theorem_and_figure(pdf: Path) -> None:
    """The LaTeX source holds every page of the table of contents, theorem boxes, figures as PDF, a bibliography."""
    tex = TEX.read_text(encoding="utf-8")
    toc = (ROOT / "_toc.yml").read_text()
    for doc in re.findall(r"^\s*-\s*file:\s*(\S+)\s*$", toc, flags=re.M):
        source = (ROOT / f"{doc}.md").read_text(encoding="utf-8")
        if re.fullmatch(r"#[^\n]*\s*```\{bibliography\}\s*```\s*", source):
            continue  # a page that is only the bibliography: its entries close the PDF (checked below)
        assert f"\\label{{\\detokenize{{{doc}::doc}}}}" in tex, f"{doc} is not in the PDF"
    assert tex.count("\\begin{sphinxadmonition}") > 20, "too few theorem boxes"
    figures = re.findall(r"\\sphinxincludegraphics(?:\[[^]]*\])?\{\{([^}]*)\}(\.[a-z]+)\}", tex)
    assert figures, "no figure in the PDF"
    raster = sorted({name + ext for name, ext in figures if ext != ".pdf"})
    assert not raster, f"figures included as raster images, not vector PDF: {raster}"
    assert "\\begin{sphinxthebibliography}" in tex, "no bibliography in the PDF"


def test_pdf_typeset_without_loss(pdf: Path) -> None:
    """No undefined reference or citation, no character missing from the fonts."""
    log = LOG.read_text(encoding="utf-8", errors="replace")
    undefined = re.findall(r"LaTeX Warning: (?:Reference|Citation|Hyper reference) [^\n]* undefined", log)
    assert not undefined, "undefined references in the PDF:\n" + "\n".join(undefined[:10])
    missing = sorted(set(re.findall(r"Missing character: There is no (.+?) in font", log)))
    assert not missing, f"characters missing from the fonts (printed as nothing): {missing}"
