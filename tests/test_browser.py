"""The built book, opened page by page in a real browser (headless Chromium).

Serves ``_build/html`` on a loopback port and checks every page, at the width
of a phone (390 px) and of a laptop (1280 px): no console error, no failed
request, no request leaving the local server, math typeset by the local
MathJax, every image loaded, theorem boxes and glued numbers present; the
page does not scroll sideways, and no formula is cut off by a box around it
that does not scroll. A full-page screenshot of each page at each width goes
to ``_build/screenshots``.

Run after ``make book``; ``make test`` does both. Environment variables:

``DSPGD_HTML_ROOT``
    The HTML to check (default: ``_build/html`` of this repository).
``DSPGD_SCREENSHOTS``
    Where the screenshots go (default: ``screenshots`` beside the HTML root).
``CHROMIUM``
    The Chromium executable (default: ``chromium`` on the ``PATH``).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
HTML_ROOT = Path(os.environ.get("DSPGD_HTML_ROOT", ROOT / "_build" / "html")).resolve()
BOOK_DIR = HTML_ROOT.parents[1] if len(HTML_ROOT.parents) > 1 else ROOT
SHOTS = Path(os.environ.get("DSPGD_SCREENSHOTS", HTML_ROOT.parent / "screenshots"))
LOCAL_HOST = "127.0.0.1"
NOT_BUILT = "book-not-built"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# a phone (an iPhone 12 to 15 is 390 CSS px wide) and a laptop
WIDTHS = (390, 1280)
INSTALL_CHROMIUM = "apt-get install chromium"
# Waits (up to 20 s) for MathJax, when the page loads it, to finish typesetting;
# then reports the math on the page.
MATH_REPORT = """async () => {
    const uses = !!document.querySelector('script[src*="mathjax" i]');
    let started = false;
    if (uses) {
        for (let i = 0; i < 200 && !started; i++) {
            started = !!(window.MathJax && MathJax.startup && MathJax.startup.promise);
            if (!started) await new Promise(r => setTimeout(r, 100));
        }
        if (started) await MathJax.startup.promise;
    }
    const spans = Array.from(document.querySelectorAll('.math'));
    return {
        uses_mathjax: uses,
        started: started,
        math: spans.length,
        untypeset: spans.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.trim().slice(0, 80)),
        containers: document.querySelectorAll('mjx-container').length,
        errors: Array.from(document.querySelectorAll('mjx-merror, mjx-container [style*="color: red"]'))
            .map(e => (e.closest('mjx-container').querySelector('mjx-assistive-mml') || e).textContent.slice(0, 80)),
    };
}"""
DOM_REPORT = """() => {
    const main = (document.querySelector('main') || document.body).cloneNode(true);
    main.querySelectorAll('pre, code').forEach(e => e.remove());
    return {
        images: Array.from(document.images)
            .filter(img => !img.complete || img.naturalWidth === 0).map(img => img.getAttribute('src')),
        proofs: document.querySelectorAll('div.proof').length,
        pasted_text: document.querySelectorAll('.pasted-text').length,
        pasted_any: Array.from(document.querySelectorAll('span.output')).filter(e => !e.closest('.cell_output')).length,
        figures: document.querySelectorAll('figure').length,
        // a caption that names the function behind a figure must link its API entry
        unlinked_provenance: Array.from(document.querySelectorAll('figcaption'))
            .filter(c => /Produced by/.test(c.textContent))
            .filter(c => !c.querySelector('a[href*="api.html#dspgd.figures."]'))
            .map(c => c.textContent.trim().slice(-120)),
        tracebacks: document.querySelectorAll('.output.traceback, .output.error, .cell_output .stderr').length,
        raw_glue: main.innerText.match(/\\{glue(:[a-z]+)?\\}/g),
        // inline formulas that scroll sideways but show no shaded edge (_static/math-scroll.js)
        scroll_unmarked: Array.from(document.querySelectorAll('span.math'))
            .filter(e => e.querySelector('mjx-math') && !e.classList.contains('more-right') &&
                         e.querySelector('mjx-math').getBoundingClientRect().width > e.clientWidth + 1)
            .map(e => ((e.querySelector('mjx-assistive-mml') || e).textContent.trim().slice(0, 60))),
        // the search controls a reader sees, by the bar that holds them (one is right; newer
        // releases of the theme add a second field in a bar across the top)
        search_controls: Array.from(document.querySelectorAll('.search-button-field, button.search-button__button'))
            .filter(e => { const r = e.getBoundingClientRect();
                           return r.width > 0 && r.height > 0 && r.right > 0 && r.left < window.innerWidth &&
                                  getComputedStyle(e).visibility !== 'hidden'; })
            .map(e => (e.closest('header, .bd-header-article, .bd-sidebar-primary') || document.body).className.split(' ')[0]),
    };
}"""


# Whether the page scrolls sideways, which elements stick out of it, and which
# formulas are cut off. An element sticks out when its box, or the text that
# spills out of it, passes the right edge of the window and no box around it
# scrolls or clips (fixed and hidden elements, such as the theme's closed side
# panels, do not count); the innermost such elements are named. A formula
# (mjx-container) is cut off when its box passes the edge of a box around it
# whose overflow is hidden or clip before any box around it that scrolls, or
# when it hides part of itself (overflow-y hidden and a taller content).
LAYOUT_REPORT = """() => {
    const root = document.documentElement;
    const width = root.clientWidth;
    const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
        (typeof e.className === 'string' && e.className.trim() ? '.' + e.className.trim().split(/\\s+/).slice(0, 2).join('.') : '');
    const words = e => ((e.querySelector && e.querySelector('mjx-assistive-mml')) || e).textContent
        .trim().replace(/\\s+/g, ' ').slice(0, 70);
    const clips = s => /hidden|clip/.test(s);
    const scrolls = s => /auto|scroll/.test(s);
    window.scrollTo(1e6, window.scrollY);
    const scrolled = window.scrollX;
    window.scrollTo(0, 0);
    const wide = [];
    for (const e of document.querySelectorAll('body *')) {
        const r = e.getBoundingClientRect();
        const own = getComputedStyle(e);
        // with the text that spills out of it, unless the element clips or scrolls it itself
        const spill = clips(own.overflowX) || scrolls(own.overflowX) ? 0 : r.left + e.scrollWidth;
        const right = Math.max(r.right, spill);
        if (r.width === 0 || right <= width + 1) continue;
        let free = true;
        for (let a = e; a && a !== root; a = a.parentElement) {
            const s = getComputedStyle(a);
            if (s.position === 'fixed' || s.visibility === 'hidden' ||
                (a !== e && (clips(s.overflowX) || scrolls(s.overflowX)))) { free = false; break; }
        }
        if (free) wide.push({el: e, what: name(e) + ' "' + words(e) + '" reaches ' + Math.round(right) + ' px'});
    }
    // the innermost: the elements that cause it, not the page boxes around them
    const innermost = wide.filter(w => !wide.some(v => v !== w && w.el.contains(v.el)));
    const cut = [];
    for (const m of document.querySelectorAll('mjx-container')) {
        const r = m.getBoundingClientRect();
        if (r.width === 0 && r.height === 0) continue;  // not shown (a folded block)
        const own = getComputedStyle(m);
        if (clips(own.overflowY) && m.scrollHeight > m.clientHeight + 1) {
            cut.push('"' + words(m) + '" cut at the top or bottom by its own box');
            continue;
        }
        for (let a = m.parentElement; a && a !== root; a = a.parentElement) {
            const s = getComputedStyle(a);
            const ar = a.getBoundingClientRect();
            const outX = r.right > ar.right + 1 || r.left < ar.left - 1;
            const outY = r.bottom > ar.bottom + 1 || r.top < ar.top - 1;
            if ((clips(s.overflowX) && outX) || (clips(s.overflowY) && outY)) {
                cut.push('"' + words(m) + '" cut off by ' + name(a));
                break;
            }
            if (scrolls(s.overflowX) || scrolls(s.overflowY)) break;  // it scrolls inside that box
        }
    }
    return {
        width: width,
        page_width: root.scrollWidth,
        scrolls_sideways: scrolled > 0 || root.scrollWidth > width + 1,
        wide: innermost.map(w => w.what),
        cut: cut,
    };
}"""


def layout_problems(report: dict) -> list[str]:
    """What is wrong with a page's layout, from :data:`LAYOUT_REPORT`."""
    problems = []
    if report["scrolls_sideways"] or report["wide"]:
        problems.append(
            f"the page is {report['page_width']} px wide in a {report['width']} px window"
            + "".join(f"\n    sticks out: {w}" for w in report["wide"][:10])
        )
    problems += [f"math cut off: {c}" for c in report["cut"][:20]]
    return problems


def built_pages() -> list[str]:
    """Every page of the built book, as paths relative to the HTML root."""
    if not (HTML_ROOT / "index.html").is_file():
        return []
    return sorted(
        p.relative_to(HTML_ROOT).as_posix()
        for p in HTML_ROOT.rglob("*.html")
        if p.relative_to(HTML_ROOT).parts[0] not in ("_static", "_sources")
    )


def not_built_message() -> str:
    return (
        f"the book is not built: {HTML_ROOT / 'index.html'} does not exist. "
        "Run `make book` first (or `make test`, which builds it and then runs this test)."
    )


def toc_pages() -> list[str]:
    """The pages the table of contents promises, as ``.html`` paths."""
    toc = BOOK_DIR / "_toc.yml"
    if not toc.is_file():
        return []
    files = re.findall(r"^\s*(?:-\s*)?(?:root|file):\s*(\S+)\s*$", toc.read_text(), flags=re.M)
    return [re.sub(r"\.(md|ipynb)$", "", f) + ".html" for f in files]


def source_of(page: str) -> str:
    """The Markdown source of a page (empty when there is none)."""
    stem = page[: -len(".html")]
    for ext in (".md", ".ipynb"):
        for base in (BOOK_DIR, HTML_ROOT / "_sources"):
            p = base / (stem + ext)
            if p.is_file():
                return p.read_text(encoding="utf-8")
    return ""


def find_chromium() -> str | None:
    exe = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    return exe if exe and os.access(exe, os.X_OK) else None


def skip_or_fail(reason: str) -> None:
    """Skip where the browser is missing on a workstation; never in CI."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the browser test")
    pytest.skip(reason)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # a browser that closes a connection early is not an error of the book
        pass


@pytest.fixture(scope="module")
def server():
    if not built_pages():
        pytest.fail(not_built_message())
    handler = functools.partial(_QuietHandler, directory=str(HTML_ROOT))
    srv = _Server((LOCAL_HOST, 0), handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://{LOCAL_HOST}:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the playwright package is not installed (pip install -r requirements.txt)")
    exe = find_chromium()
    if exe is None:
        skip_or_fail(
            f"no browser check: chromium is not installed ({INSTALL_CHROMIUM}, or set CHROMIUM to its path)"
        )
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_the_book_is_built():
    assert built_pages(), not_built_message()
    missing = [p for p in toc_pages() if not (HTML_ROOT / p).is_file()]
    assert not missing, f"pages in _toc.yml that were not built: {missing}"


def test_no_remote_resource_in_html_or_css():
    """No tag or stylesheet of the book loads anything from another host.

    Links a reader follows (``<a href>``, ``<link rel="canonical">``) are not
    loads and are allowed.
    """
    if not built_pages():
        pytest.fail(not_built_message())
    remote = re.compile(r"^\s*(?:https?:)?//(?!127\.0\.0\.1[:/]|localhost[:/])", re.I)
    loads = re.compile(r"stylesheet|preload|prefetch|icon|manifest", re.I)
    tag = re.compile(r"<(script|img|iframe|source|video|audio|embed|link)\b([^>]*)>", re.I)
    attr = re.compile(r"""\b(src|href|rel)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
    css_url = re.compile(r"""(?:@import\s+|url\()\s*["']?([^"')\s;]+)""", re.I)
    bad = []
    for path in HTML_ROOT.rglob("*"):
        if path.suffix not in (".html", ".css"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        where = path.relative_to(HTML_ROOT)
        if path.suffix == ".css":
            bad += [f"{where}: {m.group(0)}" for m in css_url.finditer(text) if remote.match(m.group(1))]
            continue
        for m in tag.finditer(text):
            attrs = {a.group(1).lower(): next(g for g in a.groups()[1:] if g is not None)
                     for a in attr.finditer(m.group(2))}
            url = attrs.get("href") if m.group(1).lower() == "link" else attrs.get("src")
            if m.group(1).lower() == "link" and not loads.search(attrs.get("rel", "")):
                continue
            if url and remote.match(url):
                bad.append(f"{where}: {m.group(0)[:160]}")
    assert not bad, "resources on other hosts:\n" + "\n".join(bad)


def _count_blocks(source: str, kinds: str) -> int:
    return len(re.findall(r"^\s*(?:`{3,}|:{3,})\{(?:" + kinds + r")\}", source, flags=re.M))


@pytest.mark.parametrize("width", WIDTHS, ids=lambda w: f"{w}px")
@pytest.mark.parametrize("page", built_pages() or [NOT_BUILT])
def test_page_in_browser(page: str, width: int, server: str, browser) -> None:
    if page == NOT_BUILT:
        pytest.fail(not_built_message())
    requests: list[str] = []
    problems: list[str] = []

    ctx = browser.new_context(viewport={"width": width, "height": 900}, service_workers="block")
    pg = ctx.new_page()

    def on_request(req) -> None:
        requests.append(req.url)
        scheme = urlsplit(req.url).scheme
        if scheme in ("http", "https", "ws", "wss") and urlsplit(req.url).hostname != LOCAL_HOST:
            problems.append(f"request leaves the local server: {req.method} {req.url}")

    def on_response(resp) -> None:
        if resp.status >= 400:
            problems.append(f"HTTP {resp.status} for {resp.url}")

    pg.on("request", on_request)
    pg.on("response", on_response)
    pg.on("requestfailed", lambda req: problems.append(f"request failed: {req.url} ({req.failure})"))
    pg.on("console", lambda msg: msg.type == "error" and problems.append(f"console error: {msg.text}"))
    pg.on("pageerror", lambda exc: problems.append(f"uncaught exception: {exc}"))
    # nothing may leave the machine: requests to other hosts are recorded above and aborted here
    pg.route(
        re.compile(r"^(?!https?://127\.0\.0\.1[:/]).*"),
        lambda route: route.abort() if route.request.url.startswith(("http:", "https:")) else route.continue_(),
    )

    try:
        url = f"{server}/{page}"
        refresh = re.search(
            r"<meta[^>]+http-equiv=[\"']?refresh[^>]+url=([^\"'>\s]+)", (HTML_ROOT / page).read_text(), re.I
        )
        if refresh:
            # a redirect page (index.html): check that it leads to a page, and check that page
            pg.goto(url, wait_until="commit", timeout=60_000)
            pg.wait_for_url(urljoin(url, refresh.group(1)), wait_until="load", timeout=60_000)
        else:
            pg.goto(url, wait_until="load", timeout=60_000)
        math = pg.evaluate(MATH_REPORT)
        dom = pg.evaluate(DOM_REPORT)
        layout = pg.evaluate(LAYOUT_REPORT)
        SHOTS.mkdir(parents=True, exist_ok=True)
        shot = f"{page.replace('/', '__')[: -len('.html')]}-{width}px.png"
        pg.screenshot(path=str(SHOTS / shot), full_page=True, timeout=180_000)  # the API page is long
    finally:
        ctx.close()

    src = source_of(page)
    if math["math"]:
        assert math["uses_mathjax"], "the page has math but loads no MathJax"
        assert math["started"], "MathJax did not start (its script did not load?)\n" + "\n".join(problems)
        assert not math["untypeset"], f"math not typeset by MathJax: {math['untypeset'][:5]}"
        assert math["containers"] >= math["math"], math
    assert not math["errors"], f"MathJax errors or undefined macros: {math['errors'][:5]}"
    assert not dom["images"], f"images that did not load: {dom['images']}"
    n = _count_blocks(src, r"prf:[a-z]+")
    assert dom["proofs"] >= n, f"{n} prf directives in the source, {dom['proofs']} theorem boxes on the page"
    n = len(re.findall(r"\{glue:text\}`", src))
    assert dom["pasted_text"] >= n, f"{n} {{glue:text}} roles in the source, {dom['pasted_text']} on the page"
    n = len(re.findall(r"\{glue\}`", src))
    assert dom["pasted_any"] >= n, f"{n} {{glue}} roles in the source, {dom['pasted_any']} on the page"
    n = _count_blocks(src, r"glue:figure")
    assert dom["figures"] >= n, f"{n} glued figures in the source, {dom['figures']} figures on the page"
    assert not dom["unlinked_provenance"], f"captions without a link to their function: {dom['unlinked_provenance']}"
    assert not dom["raw_glue"], f"unrendered glue roles on the page: {dom['raw_glue']}"
    assert not dom["tracebacks"], "the page shows an error output of a code cell"
    assert not dom["scroll_unmarked"], f"formulas that scroll with no cue: {dom['scroll_unmarked'][:5]}"
    assert len(dom["search_controls"]) == 1, f"visible search controls (one expected): {dom['search_controls']}"
    assert not problems, "\n".join(problems)
    assert requests, "no request was recorded"
    bad = layout_problems(layout)
    assert not bad, f"at {width} px wide:\n" + "\n".join(bad)


# Two defects planted in a built page, the kind the layout check exists for: a
# long reference that cannot break (as the theme rendered a dspgd.figures...()
# reference in a caption before _static/responsive.css), and a formula in a
# box that hides what does not fit (as the theme treated all inline math).
PLANT_DEFECTS = """async () => {
    const article = document.querySelector('article') || document.body;
    const ref = document.createElement('p');
    ref.innerHTML = '<a class="reference internal" href="#"><code class="xref py py-func docutils literal">' +
        '<span class="pre" style="white-space: nowrap; overflow-wrap: normal">dspgd.figures.' +
        'a_deliberately_long_unbreakable_name_'.repeat(4) + '()</span></code></a>';
    article.appendChild(ref);
    const box = document.createElement('p');
    box.innerHTML = '<span class="math notranslate nohighlight" style="overflow: hidden">' +
        '\\\\(W_{GD} = W_0 + X^\\\\top (X X^\\\\top)^{-1} (Y - X W_0) + W_0 + X^\\\\top (X X^\\\\top)^{-1} (Y - X W_0)\\\\)</span>';
    article.appendChild(box);
    await MathJax.typesetPromise([box]);
}"""


def test_layout_check_catches_planted_defects(server: str, browser) -> None:
    """The layout check is not blind: it reports a planted unbreakable reference and a cut formula."""
    pages = [p for p in built_pages() if "$" in source_of(p)]
    if not pages:
        pytest.fail(not_built_message())
    ctx = browser.new_context(viewport={"width": WIDTHS[0], "height": 900}, service_workers="block")
    try:
        pg = ctx.new_page()
        pg.goto(f"{server}/{pages[0]}", wait_until="load", timeout=60_000)
        assert pg.evaluate(MATH_REPORT)["started"], "MathJax did not start"
        clean = layout_problems(pg.evaluate(LAYOUT_REPORT))
        pg.evaluate(PLANT_DEFECTS)
        planted = pg.evaluate(LAYOUT_REPORT)
    finally:
        ctx.close()
    assert not clean, f"{pages[0]} has layout problems before anything is planted: {clean}"
    assert planted["scrolls_sideways"], planted
    assert any("a_deliberately_long_unbreakable_name" in w for w in planted["wide"]), planted["wide"]
    assert any("cut off by span.math" in c for c in planted["cut"]), planted["cut"]
    # what a failing page reports
    print("\n".join(layout_problems(planted)))
