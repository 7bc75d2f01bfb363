"""Sphinx extension of the book: every page that runs code downloads as a Jupyter notebook.

For each page that myst-nb executed, ``doctree-resolved`` (HTML builders
only) turns the executed notebook (``_build/jupyter_execute/<page>.ipynb``
and its glued values, ``<page>.glue.json``) into a notebook that reads like
the page, with :func:`dspgd.export.export_notebook`, and writes it to
``<html>/_notebooks/<page>.ipynb``. Everything the page shows that the
Markdown does not say (the numbers of theorems, figures and equations,
section titles, citation text, the bibliography) is asked of the Sphinx
environment at that moment, through the same ``resolve_xref`` calls that
write the page (:class:`SphinxContext`), so the notebook says what the page
says. What the conversion cannot render is logged as a warning (which fails
the strict build).

The page gets a link to its notebook under its title, and an ``.ipynb``
entry in the theme's download menu.
"""

from __future__ import annotations

import json
import posixpath
import time
from pathlib import Path
from typing import Any, Sequence

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.errors import NoUri
from sphinx.util import logging
from sphinx.util.osutil import relative_uri

from dspgd.export import Context, export_notebook

logger = logging.getLogger(__name__)

#: Folder of the site that holds the notebooks.
NOTEBOOK_FOLDER = "_notebooks"

_LOWERCASE_TARGETS = {"ref", "numref", "term", "std:ref", "std:numref", "std:term"}
_ROLE_DOMAIN = {
    "prf:ref": ("prf", "ref"),
    "numref": ("std", "numref"),
    "ref": ("std", "ref"),
    "doc": ("std", "doc"),
    "term": ("std", "term"),
    "eq": ("math", "eq"),
    "std:ref": ("std", "ref"),
    "std:doc": ("std", "doc"),
    "std:numref": ("std", "numref"),
    "math:numref": ("math", "numref"),
}


def _execute_folder(app: Sphinx) -> Path:
    cfg = getattr(app.env, "mystnb_config", None)
    return Path(cfg.output_folder) if cfg is not None else Path(app.outdir).parent / "jupyter_execute"


def _prf_headings(app: Sphinx, doctree: nodes.document, docname: str) -> list[str]:
    """The headings the page gives its numbered prf blocks ("Theorem 3.1", ...), in page order."""
    from sphinx_proof.nodes import NODE_TYPES, _

    kinds = tuple(set(NODE_TYPES.values()))
    numbers = app.env.toc_fignumbers.get(docname, {})
    out = []
    for node in doctree.findall(lambda n: isinstance(n, kinds)):
        number = numbers.get(node["countertype"], {}).get(node["ids"][0])
        title = _(node["realtype"].title())
        out.append(f"{title} {'.'.join(map(str, number))}" if number else title)
    return out


class SphinxContext(Context):
    """The numbers, titles and citations of a page, asked of the Sphinx environment."""

    def __init__(self, app: Sphinx, docname: str, glue: dict, blocks: Sequence[str]):
        super().__init__(glue=glue, blocks=list(blocks))
        self.app, self.env, self.docname = app, app.env, docname
        self._other: dict[str, dict] = {}

    def _xref(self, domain: str, typ: str, target: str, title: str | None) -> str | None:
        text = title if title is not None else target
        node = addnodes.pending_xref("", refdomain=domain, reftype=typ, reftarget=target,
                                     refexplicit=title is not None, refdoc=self.docname, refwarn=False)
        node.source, node.line = self.env.doc2path(self.docname), 0
        node.document = None
        contnode = nodes.inline(text, text)
        try:
            res = self.env.get_domain(domain).resolve_xref(self.env, self.docname, self.app.builder, typ, target,
                                                          node, contnode)
        except NoUri:
            return None
        return None if res is None else res.astext()

    def resolve(self, role: str, target: str, title: str | None) -> str | None:
        if role not in _ROLE_DOMAIN:
            return None
        domain, typ = _ROLE_DOMAIN[role]
        if role in _LOWERCASE_TARGETS:
            target = target.lower()
        return self._xref(domain, typ, target, title)

    def cite(self, role: str, keys: Sequence[str]) -> str | None:
        text = self._xref("cite", role, ",".join(keys), None)
        return text or None

    def reference_list(self, keys: Sequence[str]) -> list[str]:
        domain = self.env.get_domain("cite")
        by_key = {c.key: c for c in domain.citations}
        out = []
        for key in keys:
            cit = by_key.get(key)
            if cit is None:
                self.problems.append(f"no bibliography entry for {key!r}")
                continue
            entry = " ".join(cit.formatted_entry.text.render_as("markdown").replace("\\", "").split())
            out.append(f"{self.cite('t', [key]) or key}. {entry}")
        return out

    def glue_output(self, key: str, doc: str | None = None) -> dict | None:
        if doc is None:
            return self.glue.get(key)
        _, path = self.env.relfn2path(doc, self.docname)
        other = self.env.path2doc(path)
        if other is None:
            return None
        if other not in self._other:
            self._other[other] = _read_glue(self.app, other)
        return self._other[other].get(key)


def _read_glue(app: Sphinx, docname: str) -> dict:
    path = _execute_folder(app) / f"{docname}.glue.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def header(app: Sphinx, docname: str) -> str:
    title = app.env.titles[docname].astext() if docname in app.env.titles else docname
    book = app.config.html_title or app.config.project
    return (
        f"*This notebook is the page “{title}” of the book {book}, with the outputs of the build "
        "that made the page: figures and tables show before anything runs, and the numbers in the text "
        "are the ones that build computed.*\n\n"
        "*To run it, open it in Jupyter with a kernel where the book's package `dspgd` is installed "
        "(from the book's repository: `pip install -r requirements.txt`) and run all cells from the top. "
        "Code cells that the page hides (set-up) are collapsed here; the text is not recomputed.*"
    )


def export_page(app: Sphinx, doctree: nodes.document, docname: str) -> Path | None:
    """Write the notebook of ``docname`` (if it is an executed notebook); return its path."""
    import nbformat

    source = _execute_folder(app) / f"{docname}.ipynb"
    if not source.is_file():
        return None
    nb = nbformat.read(source, as_version=4)
    if not any(c.cell_type == "code" for c in nb.cells):
        return None
    ctx = SphinxContext(app, docname, _read_glue(app, docname), _prf_headings(app, doctree, docname))
    out = export_notebook(nb, ctx, header=header(app, docname))
    target = Path(app.outdir) / NOTEBOOK_FOLDER / f"{docname}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(out, target)
    for problem in dict.fromkeys(ctx.problems):
        logger.warning(f"notebook of {docname}: {problem}", location=docname, type="dspgd", subtype="notebook")
    return target


def _notebook_uri(app: Sphinx, docname: str) -> str:
    return relative_uri(app.builder.get_target_uri(docname), f"{NOTEBOOK_FOLDER}/{docname}.ipynb")


def add_notebook(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Export the page's notebook and link it under the page's title."""
    if app.builder.format != "html":
        return
    t0 = time.perf_counter()
    path = export_page(app, doctree, docname)
    _SECONDS[0] += time.perf_counter() - t0
    if path is None:
        return
    app.env.dspgd_notebooks = getattr(app.env, "dspgd_notebooks", set()) | {docname}
    uri = _notebook_uri(app, docname)
    name = posixpath.basename(docname) + ".ipynb"
    html = (f'<p class="dspgd-notebook-link">Run this page yourself: <a class="reference download" href="{uri}" '
            f'download="{name}">download it as a Jupyter notebook ({name})</a>, with its outputs.</p>')
    link = nodes.raw("", html, format="html")
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is not None and section.children and isinstance(section[0], nodes.title):
        section.insert(1, link)
    else:
        doctree.insert(0, link)


def add_download_button(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Put the notebook first in the theme's download menu."""
    if pagename not in getattr(app.env, "dspgd_notebooks", set()):
        return
    for button in context.get("header_buttons", []):
        if button.get("label") == "download-buttons":
            button["buttons"] = [b for b in button["buttons"] if b.get("label") != "download-notebook-button"]
            button["buttons"].insert(0, {
                "type": "link",
                "url": _notebook_uri(app, pagename),
                "text": ".ipynb",
                "tooltip": "Download this page as a Jupyter notebook, with its outputs",
                "icon": "fas fa-code",
                "label": "download-notebook-button",
            })


#: Time spent exporting notebooks in this process (reported at the end of the build).
_SECONDS = [0.0]


def report(app: Sphinx, exception: Exception | None) -> None:
    n = len(getattr(app.env, "dspgd_notebooks", ()))
    if exception is None and n:
        logger.info(f"notebooks: {n} pages exported to {NOTEBOOK_FOLDER}/ in {_SECONDS[0]:.1f} s")


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("myst_nb")
    app.connect("doctree-resolved", add_notebook)
    app.connect("build-finished", report)
    # after the theme's own download buttons (sphinx-book-theme adds them at priority 501)
    app.connect("html-page-context", add_download_button, priority=502)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": False}
