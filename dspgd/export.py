"""Turn an executed page of the book into a Jupyter notebook that reads like the page.

The book's pages are MyST Markdown notebooks. Their Markdown uses syntax that
only the book's build understands: ``{glue:text}`` roles that paste computed
numbers, ``{glue:figure}`` directives that place a figure with its caption,
theorem and proof directives (``prf:``), citations and cross-references. A
Jupyter notebook shows all of that as raw text. :func:`export_notebook` takes
the notebook that the build executed and rewrites every Markdown cell into
plain Markdown that Jupyter renders as the page does:

* glued values are substituted, with their format specs
  (``{glue:text}`ch10-slope:.3f``` becomes ``1.002``);
* a ``{glue:figure}`` becomes its numbered caption, after the figure (an
  attachment of the cell), unless the figure is the output of the code cells
  just before (then the caption says "(above)");
* ``prf:`` blocks become a bold heading with the number the page gives them
  (``**Proposition 10.1** (title)``) followed by their text; proofs start
  with *Proof.* and end with ∎; admonitions become a bold title and text;
* citations become author–year text, and the cited works are listed at the
  end of the notebook;
* cross-references become the text the page shows (``Proposition 10.1``,
  ``Fig. 10.1``, a section title, ``(3.2)``); references to the package's
  API become inline code.

Code cells keep their code and the outputs of the build; the figures that the
build glued (and so hid from the cell) become visible outputs of the cell that
made them. Cells hidden on the page stay in the notebook (it must run), with
their source collapsed. A page that renders the Markdown its cells output as
MyST (``render_markdown_format: myst`` in its ``mystnb`` metadata, as the
claims ledger does) has those outputs converted like its Markdown cells;
there, badges (``{bdg-success}`pass```) become bold text and definition
lists a paragraph for the term and one for the definition.

Whatever needs the book (numbers of theorems and figures, titles, citation
text) comes from a :class:`Context`; the book's Sphinx extension provides one
built from the Sphinx environment, and the tests provide simple ones. Every
construct the converter cannot render is reported in :attr:`Context.problems`
rather than left silently in the output.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Context",
    "convert_markdown",
    "export_notebook",
    "leftover_syntax",
    "format_glue_text",
    "HIDDEN_CELL_NOTE",
]

#: First line added to the code of a cell that the page does not show.
HIDDEN_CELL_NOTE = "# Set-up cell (not shown on the book's page)."

_DIRECTIVE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,}|:{3,})\{(?P<name>[^}\s]+)\}[ \t]*(?P<arg>.*?)[ \t]*$")
_CODE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_TARGET = re.compile(r"^[ \t]*\([^()\s]+\)=[ \t]*$")
_COMMENT = re.compile(r"^[ \t]*%")
_LABELLED_MATH = re.compile(r"\$\$(?P<body>.+?)\$\$[ \t]*\((?P<label>[^()\s]+)\)", re.S)
_INLINE = re.compile(
    r"(?P<role>\{(?P<name>[A-Za-z][\w:+.-]*)\}(?P<tick>`+)(?P<body>.+?)(?P=tick)(?!`))"
    r"|(?P<code>(?P<ct>`+)(?:.+?)(?P=ct)(?!`))"
    r"|(?P<math>\$\$.+?\$\$|\$(?:\\.|[^$\\])+?\$)",
    re.S,
)
_EXPLICIT = re.compile(r"^(?P<title>.*?)\s*<(?P<target>[^<>]+)>$", re.S)

_ADMONITIONS = {
    "note": "Note", "tip": "Tip", "hint": "Hint", "important": "Important", "warning": "Warning",
    "caution": "Caution", "attention": "Attention", "danger": "Danger", "error": "Error",
    "seealso": "See also",
}
_XREF_ROLES = {"ref", "numref", "doc", "eq", "prf:ref", "any", "term", "std:ref", "std:doc", "math:numref",
               "cite:label"}
_PY_ROLES = {"func", "meth", "class", "mod", "attr", "data", "obj", "exc", "const", "attribute", "method",
             "function", "module"}
_CODE_ROLES = {"code", "samp", "file", "command", "kbd", "program", "envvar", "option", "literal"}
_DROPPED_DIRECTIVES = {"bibliography", "nb-exec-table", "toctree", "tableofcontents", "contents", "index",
                       "only", "raw", "footbibliography"}


def format_glue_text(text: str, spec: str) -> str:
    """Format a glued ``text/plain`` value as ``{glue:text}`key:spec``` does on the page."""
    from myst_nb.core.variables import format_plain_text

    return format_plain_text(text, spec)


@dataclass
class Context:
    """What the converter needs to know about a page and its book.

    The base class knows only the glued values; every cross-reference falls
    back to its plain target and is reported in :attr:`problems`. The book's
    Sphinx extension subclasses it to answer from the Sphinx environment.

    Attributes
    ----------
    glue : mapping
        Glued outputs of the page by key, each ``{"data": {mime: value},
        "metadata": {...}}`` (the ``.glue.json`` that myst-nb writes).
    blocks : sequence of str
        The headings the page gives its numbered ``prf:`` blocks, in the order
        of the page (``"Definition 10.1"``, ``"Proposition 10.1"``, ...).
    problems : list of str
        What could not be converted, filled by :func:`convert_markdown`.
    """

    glue: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    blocks: Sequence[str] = ()
    problems: list[str] = field(default_factory=list)
    cited: list[str] = field(default_factory=list)
    #: Figures shown as outputs of the code cells since the last Markdown cell:
    #: their captions refer to them instead of showing them again.
    shown_above: set[str] = field(default_factory=set)
    _next_block: int = 0

    # -- to be refined by subclasses -------------------------------------------------
    def resolve(self, role: str, target: str, title: str | None) -> str | None:
        """The text the page shows for a cross-reference role, or ``None`` if unknown."""
        return None

    def cite(self, role: str, keys: Sequence[str]) -> str | None:
        """The text the page shows for a citation role (``cite:t``, ``cite:p``...), or ``None``."""
        return None

    def reference_list(self, keys: Sequence[str]) -> list[str]:
        """Markdown bibliography entries for ``keys``, in the book's order."""
        return [f"{k}" for k in keys]

    def glue_output(self, key: str, doc: str | None = None) -> Mapping[str, Any] | None:
        """The glued output ``key`` (of another page ``doc`` when given)."""
        return self.glue.get(key) if doc is None else None

    # -- used by the converter -------------------------------------------------------
    def next_block(self, kind: str) -> str | None:
        """The heading of the next numbered ``prf:`` block, checked to be of ``kind``."""
        if self._next_block >= len(self.blocks):
            self.problems.append(f"no number known for a prf:{kind} block")
            return None
        heading = self.blocks[self._next_block]
        self._next_block += 1
        if not heading.lower().startswith(kind.lower()):
            self.problems.append(f"prf:{kind} block matched with the page's {heading!r}")
        return heading


# -- inline ----------------------------------------------------------------------------

def _split_explicit(body: str) -> tuple[str | None, str]:
    m = _EXPLICIT.match(body)
    if m and m.group("title"):
        return m.group("title"), m.group("target").strip()
    return None, body.strip()


def _glue_role(name: str, body: str, ctx: Context) -> str:
    kind = name.split(":", 1)[1] if ":" in name else "any"
    key, spec = body, ""
    if kind in ("text", "md") and ":" in body.replace("::", "\0"):
        key, spec = body.rsplit(":", 1)
    doc = None
    if "::" in key:
        doc, key = key.split("::", 1)
    out = ctx.glue_output(key, doc)
    if out is None:
        ctx.problems.append(f"no glued value {key!r}")
        return f"**[{key}]**"
    data = out.get("data", {})
    if kind == "md" and "text/markdown" in data:
        return _text(data["text/markdown"])
    if kind == "math" and "text/latex" in data:
        return f"${_strip_math(_text(data['text/latex']))}$"
    if "text/plain" not in data:
        ctx.problems.append(f"glued value {key!r} has no text/plain")
        return f"**[{key}]**"
    try:
        return format_glue_text(_text(data["text/plain"]), spec if kind == "text" else "")
    except Exception as exc:  # the page would show a warning too
        ctx.problems.append(f"glued value {key!r} cannot be formatted with {spec!r}: {exc}")
        return _text(data["text/plain"])


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _strip_math(latex: str) -> str:
    s = latex.strip()
    for a, b in (("$$", "$$"), ("$", "$"), (r"\[", r"\]"), (r"\(", r"\)")):
        if s.startswith(a) and s.endswith(b) and len(s) >= len(a) + len(b):
            return s[len(a): len(s) - len(b)].strip()
    return s


def _py_role(kind: str, body: str) -> str:
    title, target = _split_explicit(body)
    if title is not None:
        return f"`{title}`"
    short = target.lstrip("~.!")
    if target.startswith("~"):
        short = short.rsplit(".", 1)[-1]
    if kind in ("func", "meth", "function", "method") and not short.endswith(")"):
        short += "()"
    return f"`{short}`"


def _role(name: str, body: str, ctx: Context) -> str:
    if name == "glue" or name.startswith("glue:"):
        return _glue_role(name, body, ctx)
    if name.startswith("cite"):
        keys = [k.strip() for k in body.split(",") if k.strip()]
        for k in keys:
            if k not in ctx.cited:
                ctx.cited.append(k)
        text = ctx.cite(name.split(":", 1)[1] if ":" in name else "p", keys)
        if text is None:
            ctx.problems.append(f"citation {body!r} not resolved")
            return "[" + ", ".join(keys) + "]"
        return text
    if name in ("math", "m"):
        return f"${body}$"
    if name in ("sub", "sup"):
        return f"<{name}>{body}</{name}>"
    if name == "bdg" or name.startswith("bdg-"):
        # a sphinx-design badge ({bdg-success}`pass`): its text in bold
        title, target = _split_explicit(body)
        return f"**{title or target}**"
    if name in ("abbr", "index", "guilabel", "menuselection", "dfn", "emphasis", "strong"):
        title, target = _split_explicit(body)
        text = title if name == "index" and title else (target if title is None else body)
        return {"emphasis": f"*{text}*", "strong": f"**{text}**"}.get(name, text)
    bare = name.split(":", 1)[1] if name.startswith("py:") else name
    if bare in _PY_ROLES:
        return _py_role(bare, body)
    if name in _CODE_ROLES:
        return f"`{body}`"
    if name in _XREF_ROLES or name.startswith("prf:") or name.startswith("std:"):
        title, target = _split_explicit(body)
        text = ctx.resolve(name, target, title)
        if text is None:
            ctx.problems.append(f"{{{name}}}`{body}` not resolved")
            return title or target
        return text
    ctx.problems.append(f"unknown role {{{name}}}")
    return f"`{body}`"


def _inline(text: str, ctx: Context) -> str:
    def sub(m: re.Match) -> str:
        if m.group("role"):
            return _role(m.group("name"), m.group("body"), ctx)
        return m.group(0)

    return _INLINE.sub(sub, text)


def _labelled_math(text: str, ctx: Context) -> str:
    def sub(m: re.Match) -> str:
        number = ctx.resolve("eq", m.group("label"), None)
        if number is None:
            ctx.problems.append(f"equation label {m.group('label')!r} not resolved")
            return f"$${m.group('body')}$$"
        return f"$${m.group('body').rstrip()}\n\\tag{{{number.strip('()')}}}\n$$"

    return _LABELLED_MATH.sub(sub, text)


# -- blocks ----------------------------------------------------------------------------

@dataclass
class _Directive:
    name: str
    arg: str
    options: dict[str, str]
    body: str


def _closes(line: str, fence: str) -> bool:
    s = line.strip()
    return len(s) >= len(fence) and set(s) == {fence[0]}


def _parse_options(lines: list[str]) -> tuple[dict[str, str], list[str]]:
    options: dict[str, str] = {}
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
        if end is not None:
            for raw in lines[1:end]:
                if ":" in raw and not raw.startswith((" ", "\t")):
                    k, v = raw.split(":", 1)
                    options[k.strip()] = v.strip()
            return options, lines[end + 1:]
    i = 0
    while i < len(lines):
        m = re.match(r"^[ \t]*:([\w-]+):[ \t]*(.*)$", lines[i])
        if not m:
            break
        options[m.group(1)] = m.group(2).strip()
        i += 1
    return options, lines[i:]


def _blocks(text: str) -> list[str | _Directive]:
    """Split MyST text into plain segments, code fences (kept as text) and directives."""
    lines = text.split("\n")
    out: list[str | _Directive] = []
    buf: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        d = _DIRECTIVE_OPEN.match(line)
        c = None if d else _CODE_OPEN.match(line)
        if d or c:
            fence = (d or c).group("fence")
            j = i + 1
            while j < len(lines) and not _closes(lines[j], fence):
                j += 1
            inner = lines[i + 1: j]
            if d:
                if buf:
                    out.append("\n".join(buf))
                    buf = []
                indent = len(d.group("indent"))
                inner = [ln[indent:] if ln[:indent].strip() == "" else ln for ln in inner]
                options, body = _parse_options(inner)
                out.append(_Directive(d.group("name"), d.group("arg"), options, "\n".join(body).strip("\n")))
            else:
                buf.extend(lines[i: j + 1])
            i = j + 1
            continue
        buf.append(line)
        i += 1
    if buf:
        out.append("\n".join(buf))
    return out


def _segment(text: str, ctx: Context) -> str:
    """Convert a run of plain MyST text (no directives; code fences left alone)."""
    kept = [ln for ln in text.split("\n") if not (_TARGET.match(ln) or _COMMENT.match(ln))]
    parts, fence = [], None
    chunk: list[str] = []
    for ln in kept + [None]:
        if ln is not None and fence is not None:
            chunk.append(ln)
            if _closes(ln, fence):
                parts.append("\n".join(chunk))
                chunk, fence = [], None
            continue
        m = _CODE_OPEN.match(ln) if ln is not None else None
        if ln is None or m:
            if chunk:
                parts.append(_inline(_labelled_math(_definitions("\n".join(chunk)), ctx), ctx))
            chunk = [ln] if ln is not None else []
            fence = m.group("fence") if m else None
            continue
        chunk.append(ln)
    return "\n".join(parts)


_DEFINITION = re.compile(r"^(?P<term>[^\n]*\S[^\n]*)\n:[ \t]+", re.M)


def _definitions(text: str) -> str:
    """A definition list (``term`` then ``: definition``) as the term's paragraph, then the definition's."""
    return _DEFINITION.sub(lambda m: m.group("term") + "\n\n", text)


def _lead(body: str, lead: str, tail: str = "") -> str:
    """``lead`` in front of the first paragraph of ``body`` (and ``tail`` after the last)."""
    body = body.strip("\n")
    first = body.split("\n", 1)[0]
    starts_para = bool(first.strip()) and not re.match(r"^\s*(\$\$|[-*+] |\d+[.)] |#|>|`{3}|~{3}|\||<)", first)
    out = f"{lead} {body}" if starts_para else f"{lead}\n\n{body}"
    if tail:
        last = out.rstrip().split("\n")[-1]
        ends_para = bool(last.strip()) and not re.match(r"^\s*(\$\$|`{3}|~{3}|\|)", last) and not last.rstrip().endswith("$$")
        out = out.rstrip() + (f" {tail}" if ends_para else f"\n\n{tail}")
    return out


def _figure_markdown(d: _Directive, ctx: Context, attachments: dict[str, dict[str, str]]) -> str:
    key = d.arg.strip()
    out = ctx.glue_output(key)
    label = d.options.get("name")
    heading = ctx.resolve("numref", label, None) if label else None
    if label and heading is None:
        ctx.problems.append(f"figure {label!r}: number not resolved")
    caption = convert_markdown(d.body, ctx, attachments) if d.body else ""
    lines, above = [], False
    if out is None:
        ctx.problems.append(f"glued figure {key!r} not found")
    elif key in ctx.shown_above:
        above = True
    else:
        data = out.get("data", {})
        mime = next((m for m in ("image/png", "image/jpeg", "image/svg+xml") if m in data), None)
        if mime is None:
            ctx.problems.append(f"glued figure {key!r} has no image")
        else:
            meta = out.get("metadata", {}).get("dspgd", {})
            alt = d.options.get("alt") or meta.get("alt") or meta.get("title") or key
            name = f"{key}.{mime.split('/')[1].split('+')[0]}"
            attachments[name] = {mime: _text(data[mime])}
            lines.append(f"![{_escape_alt(alt)}](attachment:{name})")
    head = (f"**{heading}**" if heading else "**Figure.**") + (" (above)" if above else "")
    lines.append(_lead(caption, head) if caption else head)
    return "\n\n".join(lines)


def _escape_alt(alt: str) -> str:
    return alt.replace("[", "(").replace("]", ")").replace("\n", " ")


def _directive(d: _Directive, ctx: Context, attachments: dict[str, dict[str, str]]) -> str:
    name = d.name
    body = lambda: convert_markdown(d.body, ctx, attachments)  # noqa: E731
    if name == "glue:figure":
        return _figure_markdown(d, ctx, attachments)
    if name in ("glue", "glue:", "glue:any", "glue:md", "glue:text"):
        return _glue_role("glue:md" if name == "glue:md" else "glue:any", d.arg.strip(), ctx)
    if name == "glue:math":
        out = ctx.glue_output(d.arg.strip())
        if out is None or "text/latex" not in out.get("data", {}):
            ctx.problems.append(f"glued math {d.arg!r} not found")
            return ""
        latex = _strip_math(_text(out["data"]["text/latex"]))
        label = d.options.get("label")
        number = ctx.resolve("eq", label, None) if label else None
        tag = f"\n\\tag{{{number.strip('()')}}}" if number else ""
        return f"$$\n{latex}{tag}\n$$"
    if name == "prf:proof":
        return _lead(body(), "*Proof.*", "∎")
    if name.startswith("prf:"):
        kind = name.split(":", 1)[1]
        heading = None if "nonumber" in d.options else ctx.next_block(kind)
        heading = heading or kind.title()
        title = _inline(d.arg, ctx).strip()
        head = f"**{heading}** ({title})" if title else f"**{heading}**"
        return f"{head}\n\n{body()}" if d.body.strip() else head
    if name in _ADMONITIONS or name in ("admonition", "dropdown"):
        title = _inline(d.arg, ctx).strip() if d.arg.strip() else _ADMONITIONS.get(name, "")
        return _lead(body(), f"**{title}.**") if title else body()
    if name in ("math",):
        label = d.options.get("label")
        number = ctx.resolve("eq", label, None) if label else None
        tag = f"\n\\tag{{{number.strip('()')}}}" if number else ""
        return f"$$\n{d.body.strip()}{tag}\n$$"
    if name in ("code-block", "code", "sourcecode"):
        return f"```{d.arg.strip()}\n{d.body}\n```"
    if name == "eval-rst":
        ctx.problems.append("an eval-rst block is shown as reStructuredText")
        return f"```rst\n{d.body}\n```"
    if name in ("epigraph", "container", "div", "card", "margin", "sidebar", "topic", "rubric"):
        title = _inline(d.arg, ctx).strip()
        return (f"**{title}**\n\n" if title else "") + body()
    if name in _DROPPED_DIRECTIVES:
        return ""
    ctx.problems.append(f"directive {{{name}}} rendered as its text")
    return body()


def convert_markdown(text: str, ctx: Context, attachments: dict[str, dict[str, str]] | None = None) -> str:
    """MyST Markdown of a page as plain Jupyter Markdown (see the module docstring).

    Parameters
    ----------
    text : str
        The Markdown of one cell.
    ctx : Context
        Glued values, numbers and references of the page; problems are
        appended to ``ctx.problems``.
    attachments : dict, optional
        Filled with the images the Markdown now shows (``{name: {mime: base64}}``),
        to be attached to the cell.

    Returns
    -------
    str
    """
    attachments = {} if attachments is None else attachments
    parts = []
    for block in _blocks(text):
        if isinstance(block, _Directive):
            parts.append("\n" + _directive(block, ctx, attachments).strip("\n") + "\n")
        else:
            parts.append(_segment(block, ctx))
    out = "\n".join(parts)
    return re.sub(r"\n{3,}", "\n\n", out).strip("\n")


def leftover_syntax(markdown: str) -> list[str]:
    """MyST roles and directive fences left in converted Markdown (code spans and code blocks excepted)."""
    prose = re.sub(r"^(`{3,}|~{3,})(?![^\n]*\{)[^\n]*\n.*?^\1[ \t]*$", "", markdown, flags=re.M | re.S)
    prose = _INLINE.sub(lambda m: m.group(0) if m.group("role") else "", prose)
    found = re.findall(r"\{[A-Za-z][\w:+.-]*\}`[^`\n]*`?", prose)
    found += re.findall(r"^[ \t]*(?:`{3,}|~{3,}|:{3,})\{[^}]*\}.*$", markdown, flags=re.M)
    return found


# -- notebook --------------------------------------------------------------------------

_HIDDEN_TAGS = {"remove-cell", "remove-input", "hide-input", "hide-cell"}


def _glue_figure_outputs(glue: Mapping[str, Mapping[str, Any]]) -> dict[int | None, list[tuple[str, dict]]]:
    """Glued images by the execution count of the cell that glued them."""
    by_cell: dict[int | None, list[tuple[str, dict]]] = {}
    for key, out in glue.items():
        data = out.get("data", {})
        if not any(m.startswith("image/") for m in data):
            continue
        meta = out.get("metadata", {})
        count = meta.get("dspgd", {}).get("execution_count")
        clean = {k: v for k, v in meta.items() if k not in ("scrapbook", "dspgd")}
        visible = {"output_type": "display_data", "data": dict(data), "metadata": clean}
        by_cell.setdefault(count, []).append((key, visible))
    return by_cell


def _export_code_cell(cell: Any, figures: dict[int | None, list[tuple[str, dict]]], ctx: Context,
                      myst_outputs: bool = False) -> Any:
    import nbformat

    tags = set(cell.get("metadata", {}).get("tags", []))
    outputs = [o for o in cell.get("outputs", [])
               if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
               and "scrapbook" not in o.get("metadata", {})]
    glued = figures.pop(cell.get("execution_count"), []) if cell.get("execution_count") is not None else []
    for key, _ in list(figures.get(None, [])):
        if re.search(r"""["']""" + re.escape(key) + r"""["']""", _text(cell.source)):
            glued += [kv for kv in figures[None] if kv[0] == key]
            figures[None] = [kv for kv in figures[None] if kv[0] != key]
    for key, o in glued:
        outputs.append(nbformat.from_dict(o))
        ctx.shown_above.add(key)
    cell = copy.deepcopy(cell)
    cell.outputs = outputs
    if myst_outputs:
        # the page renders Markdown outputs as MyST (badges, references, definition lists): convert them too
        for i, o in enumerate(cell.outputs):
            if "text/markdown" in o.get("data", {}):
                o = cell.outputs[i] = copy.deepcopy(o)  # the build's notebook stays as it is
                o.data["text/markdown"] = convert_markdown(_text(o.data["text/markdown"]), ctx)
    meta = cell.setdefault("metadata", {})
    if tags & _HIDDEN_TAGS:
        meta.setdefault("jupyter", {})["source_hidden"] = True
    if "remove-cell" in tags and not _text(cell.source).startswith(HIDDEN_CELL_NOTE):
        cell.source = HIDDEN_CELL_NOTE + "\n" + _text(cell.source)
    if "remove-output" in tags or "hide-output" in tags:
        meta.setdefault("jupyter", {})["outputs_hidden"] = True
    return cell


def export_notebook(nb: Any, ctx: Context, *, header: str = "", footer_title: str = "References") -> Any:
    """The notebook a reader downloads for one page.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The page as the build executed it (myst-nb's ``jupyter_execute`` copy:
        MyST Markdown cells, code cells with their outputs).
    ctx : Context
        Glued values and everything the page resolves; see :class:`Context`.
    header : str
        Markdown of a first cell (what the notebook is, how to run it); none if empty.
    footer_title : str
        Heading of the last cell, which lists the works cited.

    Returns
    -------
    nbformat.NotebookNode
        A new nbformat v4 notebook; ``nb`` is not modified.
    """
    import nbformat

    figures = _glue_figure_outputs(ctx.glue)
    myst_outputs = nb.metadata.get("mystnb", {}).get("render_markdown_format") == "myst"
    cells = []
    if header:
        cells.append(nbformat.v4.new_markdown_cell(header))
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            attachments: dict[str, dict[str, str]] = {}
            text = convert_markdown(_text(cell.source), ctx, attachments)
            ctx.shown_above = set()
            if not text.strip():
                continue
            new = nbformat.v4.new_markdown_cell(text)
            if attachments:
                new.attachments = attachments
            cells.append(new)
        elif cell.cell_type == "code":
            cells.append(_export_code_cell(cell, figures, ctx, myst_outputs))
        else:
            cells.append(copy.deepcopy(cell))
    for count, left in figures.items():
        for key, _ in left:
            ctx.problems.append(f"glued figure {key!r} (cell {count}) could not be placed in a code cell")
    if ctx.cited:
        entries = ctx.reference_list(ctx.cited)
        cells.append(nbformat.v4.new_markdown_cell(f"## {footer_title}\n\n" + "\n".join(f"- {e}" for e in entries)))
    for c in cells:
        if c.cell_type == "markdown":
            for bad in leftover_syntax(_text(c.source)):
                ctx.problems.append(f"MyST syntax left in the notebook: {bad[:80]!r}")
    meta = {k: copy.deepcopy(v) for k, v in nb.metadata.items() if k in ("kernelspec", "language_info")}
    out = nbformat.v4.new_notebook(cells=cells, metadata=meta)
    for i, c in enumerate(out.cells):
        c["id"] = f"cell-{i}"  # stable ids: two builds write the same file
    return out
