"""The PDF edition: the LaTeX settings of ``make pdf``.

``make pdf`` runs Sphinx's LaTeX builder on the doctrees of the HTML build
(nothing is executed twice) and typesets the result with XeLaTeX through
latexmk. Jupyter Book adds sphinx-jupyterbook-latex, which turns the parts of
``_toc.yml`` into LaTeX parts and the chapters into chapters, and sets its own
document class; this extension runs after it and

- keeps Sphinx's ``manual`` class instead of that class (which needs the
  ``bbm`` fonts, not in Debian's ``texlive-fonts-recommended``, and sets a
  17.5 cm line), and defines the two environments its code cells use;
- defines the macros that MathJax gets from ``mathjax3_config`` (so one list
  serves both);
- lets figures float with generous float fractions, so that a large figure
  moves to the top of a page instead of leaving half a page empty (the
  caption is part of the float and moves with it);
- uses ``makeindex`` for the index (Sphinx's default for XeLaTeX is xindy, a
  further Debian package), and leaves out the index of theorem labels (a list
  of names such as ``def-ch1-interpolators``), keeping the Python module index;
- numbers theorems as the HTML pages do (Definition 4.1, not the 4.1.1 that
  sphinx-jupyterbook-latex's setting gives them), figures as LaTeX does
  (Fig. 4.1);
- typesets the tables that a code cell shows as HTML (the build status page)
  as LaTeX tables: for those, the LaTeX builder would otherwise fall back to
  the plain-text form, ``<IPython.core.display.HTML object>``;
- sets a table with many rows as a longtable, which breaks across pages,
  with column widths in proportion to the length of their text (a tabulary
  cannot break and ran off the bottom of the page: the claims ledger);
- leaves out a chapter that is empty in the PDF (the bibliography's: its
  entries are moved to the end of the book by sphinx-jupyterbook-latex);
- gives each proof box the title "Proof" (sphinx-proof writes a proof as a
  box without a title, which LaTeX shows as an empty title bar, and starts
  its text with "Proof. ");
- writes each theorem box's label and number from the file being written.
  sphinx-proof 0.4 finds the chapter of a theorem by comparing the chapter's
  title with its section names, which fails when the title has an apostrophe
  (smart quotes change the title, not the names): the boxes of such a chapter
  came out unnumbered, labelled ``None:...``, and every reference to them
  undefined.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.builders.latex import LaTeXBuilder
from sphinx.config import Config
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.writers.latex import LaTeXTranslator
from sphinx_proof import nodes as proof_nodes

PREAMBLE = r"""
%% --- dspgd PDF edition (_ext/book_pdf.py) ---
%% code cells of sphinx-jupyterbook-latex: inputs and outputs as plain verbatim blocks
\newenvironment{sphinxVerbatimInput}{}{}
\newenvironment{sphinxVerbatimOutput}{\small}{}
%% floats: up to 90% of a page may be figures, a float page must be 80% full
\renewcommand{\topfraction}{0.9}
\renewcommand{\bottomfraction}{0.6}
\renewcommand{\textfraction}{0.07}
\renewcommand{\floatpagefraction}{0.8}
\setcounter{topnumber}{3}
\setcounter{bottomnumber}{2}
\setcounter{totalnumber}{4}
"""


def _math_macros(config: Config) -> str:
    """``\\newcommand`` lines for the MathJax macros of ``mathjax3_config``."""
    macros = ((config.mathjax3_config or {}).get("tex") or {}).get("macros") or {}
    lines = []
    for name, body in macros.items():
        if isinstance(body, (list, tuple)):  # MathJax form: [body, number of arguments]
            body, nargs = body[0], int(body[1])
            lines.append(f"\\newcommand{{\\{name}}}[{nargs}]{{{body}}}")
        else:
            lines.append(f"\\newcommand{{\\{name}}}{{{body}}}")
    return "\n".join(lines)


def _latex_settings(app: Sphinx, config: Config) -> None:
    app.env_numfig_secnum_depth = config["numfig_secnum_depth"]  # type: ignore[attr-defined]
    config["latex_theme"] = "manual"
    config["latex_use_xindy"] = False
    config["latex_domain_indices"] = ["py-modindex"]
    elements = dict(config["latex_elements"] or {})
    elements.setdefault("papersize", "a4paper")
    elements.setdefault("pointsize", "11pt")
    elements.setdefault("figure_align", "htbp")
    # a PDF read on screen: no blank page to make chapters start on the right
    elements.setdefault("extraclassoptions", "openany,oneside")
    # the introduction follows the contents: it must not carry "Contents" in its page footers
    elements.setdefault("tableofcontents", r"\sphinxtableofcontents\markboth{}{}")
    elements["preamble"] = elements.get("preamble", "") + PREAMBLE + _math_macros(config) + "\n"
    config["latex_elements"] = elements


def _number_theorems_as_html(app: Sphinx) -> None:
    """Theorem numbers as in the HTML pages.

    sphinx-jupyterbook-latex sets ``numfig_secnum_depth = 2`` when the LaTeX
    builder starts, since with the parts of the table of contents as LaTeX
    parts, LaTeX needs 2 to number figures within chapters (Fig. 4.1).
    Sphinx also numbers theorems with it, before writing (Definition 4.1.1
    instead of the pages' 4.1). So: the book's own value while Sphinx numbers
    (this handler), the LaTeX one back once the book is assembled for writing
    (the LaTeX builder emits no write-started event).
    """
    if isinstance(app.builder, LaTeXBuilder):
        app.latex_numfig_secnum_depth = app.config["numfig_secnum_depth"]  # type: ignore[attr-defined]
        app.config["numfig_secnum_depth"] = app.env_numfig_secnum_depth  # type: ignore[attr-defined]


def _number_figures_as_latex(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    if isinstance(app.builder, LaTeXBuilder):
        app.config["numfig_secnum_depth"] = app.latex_numfig_secnum_depth  # type: ignore[attr-defined]


def _visit_theorem(self: LaTeXTranslator, node: nodes.Element) -> None:
    # a target at the box itself (the label of sphinx-proof points at the section before it)
    self.body.append(self.hypertarget(node.attributes["label"], anchor=True))
    self.body.append(proof_nodes.latex_admonition_start)


def _depart_theorem(self: LaTeXTranslator, node: nodes.Element) -> None:
    realtype = node.attributes.get("realtype", "")
    title = realtype.title()
    if not isinstance(node, proof_nodes.unenumerable_node):
        key = node.attributes.get("countertype", "")
        fignumbers = self.builder.env.toc_fignumbers.get(self.curfilestack[-1], {})
        number = fignumbers.get(key, {}).get(node["ids"][0], ())
        title += " " + ".".join(map(str, number))
    # the title goes where sphinx-proof puts it: into the first argument group after the box starts
    start = proof_nodes.list_rindex(self.body, proof_nodes.latex_admonition_start)
    self.body.insert(start + 2, title)
    self.body.append(proof_nodes.latex_admonition_end)


class _TableParser(HTMLParser):
    """The rows of the HTML tables in a fragment: lists of (is_header, text) cells."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[tuple[bool, str]]] = []
        self._cell: list[str] | None = None
        self._header = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th") and self.rows:
            self._cell, self._header = [], tag == "th"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append((self._header, " ".join("".join(self._cell).split())))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _docutils_table(rows: list[list[tuple[bool, str]]]) -> nodes.table:
    ncols = max(len(r) for r in rows)
    table = nodes.table(classes=["colwidths-auto"])
    group = nodes.tgroup(cols=ncols)
    table += group
    group += [nodes.colspec(colwidth=1) for _ in range(ncols)]
    head = [r for r in rows if r and all(h for h, _ in r)]
    parts = [(nodes.thead(), head), (nodes.tbody(), [r for r in rows if r not in head])]
    for part, part_rows in parts:
        for cells in part_rows:
            row = nodes.row()
            for _, text in cells + [(False, "")] * (ncols - len(cells)):
                row += nodes.entry("", nodes.paragraph(text=text))
            part += row
        if part_rows:
            group += part
    return table


class HtmlTablesForLatex(SphinxPostTransform):
    """A code cell's HTML table, with nothing LaTeX can show in its place, as a docutils table."""

    default_priority = 3  # before myst-nb picks one output per builder (SelectMimeType, 4)
    formats = ("latex",)
    SHOWABLE = {"application/pdf", "image/png", "image/jpeg", "text/latex", "text/markdown"}

    def run(self, **kwargs: Any) -> None:
        for bundle in list(self.document.findall(nodes.container)):
            if bundle.get("nb_element") != "mime_bundle":
                continue
            kinds = {child.get("mime_type"): child for child in bundle.children}
            if "text/html" not in kinds or self.SHOWABLE & set(kinds):
                continue
            parser = _TableParser()
            parser.feed(kinds["text/html"].astext())
            if parser.rows and any(parser.rows):
                bundle.replace_self(_docutils_table([r for r in parser.rows if r]))


class LongTablesForLatex(SphinxPostTransform):
    """A table of more than ``ROWS`` rows as a longtable, its columns as wide as their text needs."""

    default_priority = 500
    formats = ("latex",)
    ROWS = 12
    NARROWEST = 0.15  # the least share of the line a column gets

    def run(self, **kwargs: Any) -> None:
        for table in self.document.findall(nodes.table):
            rows = list(table.findall(nodes.row))
            if len(rows) <= self.ROWS or "longtable" in table["classes"]:
                continue
            group = next(iter(table.findall(nodes.tgroup)))
            specs = [c for c in group.children if isinstance(c, nodes.colspec)]
            lengths = [0.0] * len(specs)
            for row in rows:
                for i, entry in enumerate(row.children[: len(specs)]):
                    lengths[i] += len(entry.astext()) / len(rows)
            total = sum(lengths) or 1.0
            shares = [max(n / total, self.NARROWEST) for n in lengths]
            for spec, share in zip(specs, shares):
                spec["colwidth"] = max(1, round(100 * share / sum(shares)))
            table["classes"] = [c for c in table["classes"] if c != "colwidths-auto"]
            table["classes"] += ["longtable", "colwidths-given"]


class EmptyChaptersForLatex(SphinxPostTransform):
    """Leave out a document that has nothing but its title (and empty nodes) in the assembled book."""

    default_priority = 800  # after sphinx-jupyterbook-latex moved the bibliography (700)
    formats = ("latex",)

    def run(self, **kwargs: Any) -> None:
        from sphinx_jupyterbook_latex.nodes import HiddenCellNode

        for start in list(self.document.findall(addnodes.start_of_file)):
            sections = [c for c in start.children if isinstance(c, nodes.section)]
            if len(sections) != 1 or len(start.children) != 1:
                continue
            body = [c for c in sections[0].children if not isinstance(c, (nodes.title, HiddenCellNode))]
            # nothing to read: no text (an empty container is left where the bibliography was) and no image
            if not any(c.astext().strip() or next(iter(c.findall(nodes.image)), None) for c in body):
                start.parent.remove(start)


class ProofTitlesForLatex(SphinxPostTransform):
    """A proof box titled "Proof", its text without the "Proof. " that sphinx-proof puts first."""

    default_priority = 500
    formats = ("latex",)
    LEAD = "Proof. "

    def run(self, **kwargs: Any) -> None:
        for proof in self.document.findall(proof_nodes.proof_node):
            box = next(iter(proof.findall(nodes.admonition)), None)
            if box is None or (box.children and isinstance(box[0], nodes.title)):
                continue
            text = next(iter(box.findall(nodes.Text)), None)
            if text is not None and str(text).startswith(self.LEAD):
                text.parent.replace(text, nodes.Text(str(text)[len(self.LEAD):]))
            box.insert(0, nodes.title("", "Proof"))


def _fix_theorem_boxes(app: Sphinx) -> None:
    for cls in [proof_nodes.unenumerable_node, *proof_nodes.NODE_TYPES.values()]:
        app.add_node(cls, override=True, latex=(_visit_theorem, _depart_theorem))


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx_proof")
    _fix_theorem_boxes(app)
    # after sphinx-jupyterbook-latex's own handlers (priority 500)
    app.connect("config-inited", _latex_settings, priority=900)
    app.connect("builder-inited", _number_theorems_as_html, priority=900)
    app.connect("doctree-resolved", _number_figures_as_latex)
    app.add_post_transform(HtmlTablesForLatex)
    app.add_post_transform(ProofTitlesForLatex)
    app.add_post_transform(LongTablesForLatex)
    app.add_post_transform(EmptyChaptersForLatex)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
