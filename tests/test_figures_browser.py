"""Figures a reader can use, checked in headless Chromium on the built book.

Every figure of every page has a real alt text (a sentence, not the hashed
file name that myst-nb gives the image), its image links to the full-size
PNG, and its caption carries the provenance line (the command that
regenerates it, and links to its source, numbers, PNG and PDF), and every one
of those links loads. Uses the server and browser of ``test_browser.py``.
"""

from __future__ import annotations

import re

import pytest

from test_browser import (  # noqa: F401  (browser and server are fixtures)
    HTML_ROOT, NOT_BUILT, browser, built_pages, not_built_message, server, toc_pages,
)

pytestmark = pytest.mark.book

FIGURES_REPORT = """() => Array.from(document.querySelectorAll('main figure')).map(f => {
    const img = f.querySelector('img');
    const a = img && img.closest('a');
    const prov = f.querySelector('.dspgd-provenance');
    return {
        id: f.id,
        alt: img ? (img.getAttribute('alt') || '') : null,
        src: img ? img.getAttribute('src') : null,
        full: a ? a.href : null,
        provenance: prov ? prov.textContent.replace(/\\s+/g, ' ').trim() : null,
        links: prov ? Array.from(prov.querySelectorAll('a')).map(x => x.href) : [],
    };
})"""


def content_pages() -> list[str]:
    """The built pages of the table of contents (the pages that can show figures)."""
    built = set(built_pages())
    return [p for p in toc_pages() if p in built]


@pytest.mark.parametrize("page", content_pages() or [NOT_BUILT])
def test_every_figure_has_alt_text_a_full_size_link_and_provenance(page: str, server: str, browser) -> None:  # noqa: F811
    if page == NOT_BUILT:
        pytest.fail(not_built_message())
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, service_workers="block")
    try:
        pg = ctx.new_page()
        pg.goto(f"{server}/{page}", wait_until="load", timeout=60_000)
        figures = pg.evaluate(FIGURES_REPORT)
        problems = []
        for f in figures:
            where = f"{page}#{f['id']}"
            alt = f["alt"] or ""
            stem = (f["src"] or "").rsplit("/", 1)[-1].rsplit(".", 1)[0]
            if len(alt.split()) < 3 or re.fullmatch(r"[0-9a-f]{16,}(\.\w+)?", alt) or (stem and stem in alt):
                problems.append(f"{where}: no real alt text ({alt!r})")
            if not (f["full"] or "").endswith(".png") or "_figures/" not in (f["full"] or ""):
                problems.append(f"{where}: the image does not link its full-size PNG ({f['full']!r})")
            name = re.search(r"_figures/([^/]+)\.png$", f["full"] or "")
            if not f["provenance"] or not name or f"python -m dspgd reproduce --only {name.group(1)}" not in f["provenance"]:
                problems.append(f"{where}: no provenance line naming its command ({f['provenance']!r})")
            for url in [f["full"], *f["links"]]:
                if url and pg.request.get(url.split("#")[0]).status != 200:
                    problems.append(f"{where}: link does not load: {url}")
        assert not problems, "\n".join(problems)
    finally:
        ctx.close()
