"""Sphinx extension of the book: figures a reader can use.

Every figure that a chapter glues with :meth:`dspgd.figures.Figure.glue`
gets, with no per-figure markup in the chapter:

* its alt text (the sentence registered with ``register(..., alt=...)``);
* a link from the image to its full-resolution PNG, and links to its PDF
  and to its numbers (``_figures/NAME.png``, ``.pdf``, ``.json`` in the site);
* under the caption, one line of provenance: the command that regenerates
  it, ``python -m dspgd reproduce --only NAME``, and a link to the source of
  the function that draws it.

How: :func:`setup` sets :data:`dspgd.gluing.BOOK_BUILD_ENV` in the build's
environment, and :data:`dspgd.gluing.FIGURE_DIR_ENV` to ``<html>/_figures``;
the kernels that execute the chapters inherit both.
In the build, ``Figure.glue`` then saves each registered figure there (with
the function ``python -m dspgd reproduce`` uses, so the files are the ones the
command writes) and describes it in the metadata of the glued output. The
``glue:figure`` directive is replaced by one that reads that metadata
(:class:`GluedFigure`), and ``doctree-resolved`` adds the links; at
``build-finished`` the numbers of every figure are gathered into
``_figures/figures.json``, laid out as the command's ``figures.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.osutil import relative_uri

from dspgd import gluing

logger = logging.getLogger(__name__)

#: Folder of the site that holds every figure's PNG, PDF and numbers.
FIGURE_FOLDER = "_figures"
_STATIC = Path(__file__).parent / "static"


def _figure_directive():
    from myst_nb.ext.glue.directives import PasteFigureDirective
    from myst_nb.ext.glue.utils import retrieve_glue_data
    from myst_nb.core.variables import RetrievalError

    class GluedFigure(PasteFigureDirective):
        """``glue:figure``, which also takes the figure's alt text and provenance from its glued output."""

        def run(self):
            key = self.arguments[0]
            try:
                meta = dict(retrieve_glue_data(self.document, key).metadata.get("dspgd", {}))
            except RetrievalError:
                return super().run()  # myst-nb reports the missing key
            env = self.state.document.settings.env
            if not meta.get("figure"):
                logger.warning(f"glued figure {key!r} is not a registered dspgd figure glued with "
                               "Figure.glue: it gets no alt text, full-size link or provenance",
                               location=(env.docname, self.lineno), type="dspgd", subtype="figure")
            elif meta.get("command") is None:
                logger.warning(f"figure {meta['figure']!r} is glued with non-default arguments "
                               f"({', '.join(meta.get('arguments', []))}): `python -m dspgd reproduce "
                               f"--only {meta['figure']}` would not regenerate it",
                               location=(env.docname, self.lineno), type="dspgd", subtype="figure")
            if meta.get("alt") and "alt" not in self.options:
                self.options["alt"] = meta["alt"]
            out = super().run()
            if meta.get("figure"):
                info = {k: meta.get(k) for k in ("figure", "function", "command", "alt", "title")}
                for node in out:
                    if isinstance(node, nodes.figure):
                        node["dspgd_figure"] = info
                env.dspgd_figures.setdefault(env.docname, {})[meta["figure"]] = info
            return out

    return GluedFigure


def _static_uri(app: Sphinx, docname: str, path: str) -> str:
    return relative_uri(app.builder.get_target_uri(docname), path)


def _source_uri(app: Sphinx, docname: str, qualname: str) -> str | None:
    """The viewcode page of ``qualname`` (``pkg.mod.func``), or its API entry; ``None`` if neither exists."""
    env = app.env
    modname, _, name = qualname.rpartition(".")
    entry = getattr(env, "_viewcode_modules", {}).get(modname)
    if entry and name in entry[1]:
        return _static_uri(app, docname, "_modules/" + modname.replace(".", "/") + ".html") + "#" + name
    obj = env.get_domain("py").objects.get(qualname)
    if obj is not None:
        return app.builder.get_relative_uri(docname, obj.docname) + "#" + obj.node_id
    return None


def _link(text: str, uri: str, title: str | None = None, literal: bool = False) -> nodes.reference:
    ref = nodes.reference("", "", refuri=uri, internal=False)
    if title:
        ref["reftitle"] = title
    ref += nodes.literal(text, text) if literal else nodes.Text(text)
    return ref


def provenance(app: Sphinx, docname: str, info: dict[str, Any]) -> nodes.paragraph:
    """The provenance line of one figure: command, source, numbers, PNG, PDF."""
    name, function = info["figure"], info["function"]
    par = nodes.paragraph(classes=["dspgd-provenance"])
    par += nodes.Text("Regenerate: ")
    par += nodes.literal(info["command"], info["command"])
    par += nodes.Text(" · source: ")
    uri = _source_uri(app, docname, function)
    short = function.rsplit(".", 1)[-1] + "()"
    if uri is None:
        logger.warning(f"figure {name!r}: no source page for {function} (is its module in the API page?)",
                       location=docname, type="dspgd", subtype="figure")
        par += nodes.literal(short, short)
    else:
        par += _link(short, uri, title=function, literal=True)
    par += nodes.Text(" · numbers: ")
    par += _link(f"{name}.json", _static_uri(app, docname, f"{FIGURE_FOLDER}/{name}.json"))
    par += nodes.Text(" · full size: ")
    par += _link("PNG", _static_uri(app, docname, f"{FIGURE_FOLDER}/{name}.png"))
    par += nodes.Text(", ")
    par += _link("PDF", _static_uri(app, docname, f"{FIGURE_FOLDER}/{name}.pdf"))
    return par


def add_links(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Link each glued figure's image to its full-size PNG and add the provenance line."""
    if app.builder.format != "html":
        return
    for fig in list(doctree.findall(nodes.figure)):
        info = fig.get("dspgd_figure")
        if not info:
            continue
        png = _static_uri(app, docname, f"{FIGURE_FOLDER}/{info['figure']}.png")
        for image in list(fig.findall(nodes.image)):
            if isinstance(image.parent, nodes.reference):
                continue
            ref = nodes.reference("", "", refuri=png, internal=False, classes=["dspgd-fullsize"],
                                  reftitle="full-size PNG")
            image.replace_self(ref)
            ref += image
        legend = next(iter(fig.findall(nodes.legend)), None)
        if legend is None:
            legend = nodes.legend()
            fig += legend
        legend += provenance(app, docname, info)


def init_env(app: Sphinx) -> None:
    if not hasattr(app.env, "dspgd_figures"):
        app.env.dspgd_figures = {}


def add_static(app: Sphinx, config: Any) -> None:
    if str(_STATIC) not in config.html_static_path:
        config.html_static_path.append(str(_STATIC))


def purge(app: Sphinx, env: Any, docname: str) -> None:
    getattr(env, "dspgd_figures", {}).pop(docname, None)


def merge(app: Sphinx, env: Any, docnames: Any, other: Any) -> None:
    for doc in docnames:
        if doc in getattr(other, "dspgd_figures", {}):
            env.dspgd_figures[doc] = other.dspgd_figures[doc]


def write_manifest(app: Sphinx, exception: Exception | None) -> None:
    """Gather the numbers of every figure of the book into ``_figures/figures.json``."""
    if exception is not None or app.builder.format != "html":
        return
    from dspgd.reproduce import _software, dumps

    folder = Path(app.outdir) / FIGURE_FOLDER
    shown = sorted({name for figs in app.env.dspgd_figures.values() for name in figs})
    records = {}
    for name in shown:
        path = folder / f"{name}.json"
        missing = [f"{name}.{ext}" for ext in ("json", "png", "pdf") if not (folder / f"{name}.{ext}").is_file()]
        if missing:
            logger.warning(f"figure {name!r}: {', '.join(missing)} not written by the build (was its chapter "
                           "executed?)", type="dspgd", subtype="figure")
            continue
        records[name] = json.loads(path.read_text(encoding="utf-8"))
    for stale in folder.glob("*"):
        if stale.stem not in records and stale.name != "figures.json":
            stale.unlink()
    if folder.is_dir():
        (folder / "figures.json").write_text(dumps({"figures": records, "software": _software()}), encoding="utf-8")


def setup(app: Sphinx) -> dict[str, Any]:
    # inherited by the kernels that execute the chapters (see dspgd.gluing)
    os.environ[gluing.BOOK_BUILD_ENV] = "1"
    os.environ[gluing.FIGURE_DIR_ENV] = str(Path(app.outdir) / FIGURE_FOLDER)
    app.setup_extension("myst_nb")
    app.add_directive_to_domain("glue", "figure", _figure_directive(), override=True)
    app.connect("config-inited", add_static)
    app.connect("builder-inited", init_env)
    app.connect("env-purge-doc", purge)
    app.connect("env-merge-info", merge)
    app.connect("doctree-resolved", add_links)
    app.connect("build-finished", write_manifest)
    app.add_css_file("dspgd-book.css")
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
