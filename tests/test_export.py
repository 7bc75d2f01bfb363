"""The conversion of a page's MyST Markdown into plain Jupyter Markdown (dspgd.export)."""

from __future__ import annotations

import base64

import nbformat
import pytest

from dspgd.export import HIDDEN_CELL_NOTE, Context, convert_markdown, export_notebook, leftover_syntax

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nnot really a png").decode()


def text_out(value: str) -> dict:
    return {"data": {"text/plain": value}, "metadata": {"scrapbook": {"name": "x"}}}


class Book(Context):
    """A context that knows a few numbers, as the Sphinx extension would."""

    REFS = {
        ("prf:ref", "prop-diag"): "Proposition 10.1",
        ("numref", "fig-small"): "Fig. 10.1",
        ("eq", "eq-flow"): "(10.1)",
        ("ref", "sec-measure"): "The measurement",
        ("doc", "03_convergence"): "Convergence",
    }

    def resolve(self, role, target, title):
        text = self.REFS.get((role, target))
        if text is not None and title and role == "numref":
            return title.replace("{number}", text.split()[-1]).replace("%s", text.split()[-1])
        return title if (text is not None and title) else text

    def cite(self, role, keys):
        names = {"ghane2026dual": ("Ghane et al.", "2026"), "kingma2015adam": ("Kingma and Ba", "2015")}
        if any(k not in names for k in keys):
            return None
        if role == "t":
            return "; ".join(f"{names[k][0]} ({names[k][1]})" for k in keys)
        return "(" + "; ".join(f"{names[k][0]}, {names[k][1]}" for k in keys) + ")"

    def reference_list(self, keys):
        return [f"entry for {k}." for k in keys]


@pytest.fixture
def ctx() -> Book:
    return Book(
        glue={
            "ch10-n": text_out("20"),
            "ch10-slope": text_out("1.00234"),
            "ch10-name": text_out("'adam'"),
            "ch10-frac": text_out("0.125"),
            "fig-small": {"data": {"image/png": PNG, "text/plain": "<Figure>"},
                          "metadata": {"scrapbook": {"name": "fig-small"},
                                       "dspgd": {"alt": "Distances fall with the step.", "execution_count": 2}}},
        },
        blocks=["Definition 10.1", "Proposition 10.1", "Remark 10.2"],
    )


def test_glue_text_with_and_without_format_spec(ctx):
    md = "n = {glue:text}`ch10-n`, slope {glue:text}`ch10-slope:.3f`, {glue:text}`ch10-frac:.0%` of it, {glue}`ch10-name`."
    assert convert_markdown(md, ctx) == "n = 20, slope 1.002, 12% of it, adam."
    assert ctx.problems == []


def test_missing_glue_is_reported_not_hidden(ctx):
    out = convert_markdown("x {glue:text}`nope:.2f` y", ctx)
    assert "nope" in out and "{glue" not in out
    assert any("nope" in p for p in ctx.problems)


def test_roles_inside_code_and_math_are_left_alone(ctx):
    md = "code ``{glue:text}`ch10-n` `` and $a_{glue}$ and {glue:text}`ch10-n`"
    out = convert_markdown(md, ctx)
    assert out.endswith("and 20")
    assert "$a_{glue}$" in out


def test_prf_blocks_get_the_page_numbers_and_titles(ctx):
    md = """Intro.

```{prf:definition} Flow limit
:label: def-flow

The *flow limit* with $n=$ {glue:text}`ch10-n`.
```

```{prf:proposition} Fixed diagonal
:label: prop-diag

Let $X$ have rank $n<d$.
```

```{prf:proof}
Fix a column $j$.

$$
x = y
$$
```

```{prf:remark} A heuristic, not a theorem
:label: rem-h

Write $F$.
```
"""
    out = convert_markdown(md, ctx)
    assert "**Definition 10.1** (Flow limit)\n\nThe *flow limit* with $n=$ 20." in out
    assert "**Proposition 10.1** (Fixed diagonal)\n\nLet $X$ have rank $n<d$." in out
    assert "*Proof.* Fix a column $j$." in out
    assert out.rstrip().endswith("Write $F$.")
    assert "$$\n\n∎" in out  # a proof ending with display math: the end mark on its own line
    assert "**Remark 10.2** (A heuristic, not a theorem)" in out
    assert "```{prf" not in out and ":label:" not in out
    assert ctx.problems == []


def test_a_block_of_the_wrong_kind_is_reported(ctx):
    convert_markdown("```{prf:theorem} T\n:label: t\n\nx\n```", ctx)
    assert any("Definition 10.1" in p for p in ctx.problems)


def test_nested_directives_and_colon_fences(ctx):
    md = """````{prf:remark} Outer
:label: rem-o

Text.

```{note}
Inner {glue:text}`ch10-n`.
```
````

:::{warning}
Careful.
:::
"""
    ctx.blocks = ["Remark 3.4"]
    out = convert_markdown(md, ctx)
    assert "**Remark 3.4** (Outer)" in out
    assert "**Note.** Inner 20." in out
    assert "**Warning.** Careful." in out
    assert leftover_syntax(out) == []


def test_citations_in_author_year_form(ctx):
    out = convert_markdown("As {cite:t}`ghane2026dual` show {cite:p}`ghane2026dual,kingma2015adam`.", ctx)
    assert out == "As Ghane et al. (2026) show (Ghane et al., 2026; Kingma and Ba, 2015)."
    assert ctx.cited == ["ghane2026dual", "kingma2015adam"]


def test_cross_references_as_the_page_shows_them(ctx):
    md = ("See {prf:ref}`prop-diag`, {numref}`fig-small`, {eq}`eq-flow`, {ref}`sec-measure`, "
          "{doc}`03_convergence`, {ref}`this section <sec-measure>`, "
          "{py:func}`dspgd.flow.flow_limit`, {py:func}`~dspgd.flow.flow_limit`, {py:class}`dspgd.Problem`, "
          "{py:mod}`dspgd.solver`, {math}`x^2`.")
    out = convert_markdown(md, ctx)
    assert out == ("See Proposition 10.1, Fig. 10.1, (10.1), The measurement, Convergence, this section, "
                   "`dspgd.flow.flow_limit()`, `flow_limit()`, `dspgd.Problem`, `dspgd.solver`, $x^2$.")
    assert ctx.problems == []


def test_unresolved_reference_falls_back_and_is_reported(ctx):
    out = convert_markdown("{prf:ref}`nowhere`", ctx)
    assert out == "nowhere"
    assert ctx.problems


def test_glue_figure_becomes_image_and_numbered_caption(ctx):
    md = """```{glue:figure} fig-small
:name: fig-small

Distance against the step, $n=$ {glue:text}`ch10-n`, see {prf:ref}`prop-diag`.
```"""
    att: dict = {}
    out = convert_markdown(md, ctx, att)
    assert out.startswith("![Distances fall with the step.](attachment:fig-small.png)")
    assert "**Fig. 10.1** Distance against the step, $n=$ 20, see Proposition 10.1." in out
    assert att == {"fig-small.png": {"image/png": PNG}}
    assert leftover_syntax(out) == []


def test_targets_comments_and_labelled_math(ctx):
    md = "(sec-measure)=\n## The measurement\n% a comment\n$$\n\\dot W = F(W)\n$$ (eq-flow)\n\nText."
    out = convert_markdown(md, ctx)
    assert out == "## The measurement\n$$\n\\dot W = F(W)\n\\tag{10.1}\n$$\n\nText."


def test_code_fences_are_kept_verbatim(ctx):
    md = "```python\nglue('{glue:text}`x`')\n```\n\n{glue:text}`ch10-n`"
    assert convert_markdown(md, ctx) == "```python\nglue('{glue:text}`x`')\n```\n\n20"


def test_leftover_syntax_finds_roles_and_fences():
    assert leftover_syntax("a {glue:text}`k` b") == ["{glue:text}`k`"]
    assert leftover_syntax("```{prf:lemma} L\nx\n```") == ["```{prf:lemma} L"]
    assert leftover_syntax("plain $x$ and `code`") == []
    assert leftover_syntax("markup such as `{glue:text}` in code") == []
    assert leftover_syntax("```python\nglue('{glue:text}`x`')\n```") == []


def notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "jupytext": {"text_representation": {"format_name": "myst"}}, "source_map": [1, 2]})
    setup = nbformat.v4.new_code_cell("out = f()\nout.glue('fig-small', 'ch10')", metadata={"tags": ["remove-cell"]},
                                      execution_count=2)
    setup.outputs = [nbformat.v4.new_output("stream", name="stderr", text="IProgress not found\n")]
    shown = nbformat.v4.new_code_cell("print(1)", execution_count=3)
    shown.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title\n\nn = {glue:text}`ch10-n`, {cite:t}`ghane2026dual`."),
        setup,
        shown,
        nbformat.v4.new_markdown_cell("```{glue:figure} fig-small\n:name: fig-small\n\nCaption.\n```"),
    ]
    return nb


def test_export_notebook(ctx):
    nb = notebook()
    before = nbformat.writes(nb)
    out = export_notebook(nb, ctx, header="About this notebook.")
    assert nbformat.writes(nb) == before, "the input notebook must not change"
    nbformat.validate(out)
    assert out.nbformat == 4
    assert set(out.metadata) == {"kernelspec"}
    kinds = [c.cell_type for c in out.cells]
    assert kinds == ["markdown", "markdown", "code", "code", "markdown", "markdown"]
    assert out.cells[0].source == "About this notebook."
    assert out.cells[1].source == "# Title\n\nn = 20, Ghane et al. (2026)."
    setup = out.cells[2]
    assert setup.source.startswith(HIDDEN_CELL_NOTE + "\n")
    assert setup.metadata["jupyter"]["source_hidden"] is True
    assert [o.output_type for o in setup.outputs] == ["display_data"], "stderr dropped, the glued figure shown"
    assert setup.outputs[0].data["image/png"] == PNG and not setup.outputs[0].metadata
    assert out.cells[3].outputs[0].text == "1\n"
    assert out.cells[4].source == "**Fig. 10.1** (above) Caption.", "shown just above: not repeated"
    assert "attachments" not in out.cells[4]
    assert out.cells[5].source == "## References\n\n- entry for ghane2026dual."
    assert [c.id for c in out.cells] == [f"cell-{i}" for i in range(6)]
    assert ctx.problems == []
    assert nbformat.writes(export_notebook(notebook(), Book(glue=ctx.glue, blocks=ctx.blocks),
                                           header="About this notebook.")) == nbformat.writes(out)


def test_figure_without_execution_count_is_placed_by_its_key(ctx):
    ctx.glue["fig-small"]["metadata"].pop("dspgd")
    out = export_notebook(notebook(), ctx)
    assert any(o.get("data", {}).get("image/png") for o in out.cells[1].outputs)
    assert ctx.problems == []


def test_a_figure_far_from_its_cell_is_shown_with_its_caption(ctx):
    nb = notebook()
    nb.cells.insert(3, nbformat.v4.new_markdown_cell("Some prose between the code and the figure."))
    out = export_notebook(nb, ctx)
    fig = out.cells[-2]
    assert fig.source.startswith("![Distances fall with the step.](attachment:fig-small.png)\n\n**Fig. 10.1** Caption.")
    assert fig.attachments == {"fig-small.png": {"image/png": PNG}}


def test_markdown_outputs_of_a_myst_page_read_like_the_page():
    """A page that renders its Markdown outputs as MyST (the ledger) gets them converted; other pages do not."""
    ctx = Book(glue={})
    rows = ("{bdg-success}`pass` **B2** · {prf:ref}`prop-diag`\n: The limit is $W_D$.\n\n"
            "  **Measured** $1 \\le 2$ (`check`).\n")
    out_cell = nbformat.v4.new_code_cell("rows_of('x')", execution_count=4)
    out_cell.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": rows, "text/plain": "<md>"})]
    nb = nbformat.v4.new_notebook(metadata={"mystnb": {"render_markdown_format": "myst"}})
    nb.cells = [out_cell, nbformat.v4.new_markdown_cell("A term\n: its definition.")]
    out = export_notebook(nb, ctx)
    md = out.cells[0].outputs[0].data["text/markdown"]
    assert md == "**pass** **B2** · Proposition 10.1\n\nThe limit is $W_D$.\n\n  **Measured** $1 \\le 2$ (`check`)."
    assert out.cells[1].source == "A term\n\nits definition."
    assert ctx.problems == [] and leftover_syntax(md) == []
    assert nb.cells[0].outputs[0].data["text/markdown"] == rows, "the input notebook must not change"
    nb.metadata = {}
    assert export_notebook(nb, ctx).cells[0].outputs[0].data["text/markdown"] == rows
