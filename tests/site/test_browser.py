"""Open every page of the built site in headless Chromium, the way a reader sees it.

For each page of the toc: it loads with no console error, no uncaught exception and no failed
or refused request; every request goes to the local server (anything else is blocked and
reported, so the test also proves the site works offline); maths is typeset by MathJax
(``mjx-container`` present, no MathJax error, no raw ``$$`` or ``\\(`` left in the text);
every image has loaded. The search page finds "forget gate".

What a reader sees, checked the same way on every page (each rule below can fail: the
``test_inspect_*`` tests feed it a page that breaks it):

- no raw Markdown table (``| --- |``) and no LaTeX escape (``\\_``, ``\\texttt``) in the
  text, and no backslash in the text MathJax typeset (a macro it printed instead of reading);
- nothing overflows horizontally. The rule: prose, cell outputs, figures, images and tables
  must fit the column (``scrollWidth <= clientWidth``); only code *listings* (a cell's
  input, a ``literalinclude``) and display equations may scroll sideways, on purpose:
  wrapping code misleads and an equation cannot wrap (``book/_static/course.css`` gives a
  display equation its own scrollbar). The page itself never scrolls sideways;
- the page has a favicon and it loads (a browser asks for one on a first visit);
- equation numbers start at (1) on every page and run (1), (2), ... in reading order;
- one search box;
- the text of every matplotlib figure is at least ``MIN_FIGURE_TEXT_PX`` CSS pixels high as
  displayed: the PNG records its smallest font size and dpi (``lstm_ref.site.figures``), the
  page gives the displayed and natural widths. A matplotlib PNG without that record fails.
"""

import base64
import re
from urllib.parse import unquote, urlsplit

import pytest

from lstm_ref.site.figures import DPI_KEY, MIN_FONT_KEY, png_text_chunks

pytestmark = pytest.mark.browser

LOCAL_SCHEMES = {"data", "blob", "about"}

# Wait for MathJax (loaded with `defer`) to finish typesetting, when the page loads it.
WAIT_MATHJAX = """async () => {
    if (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise) {
        await window.MathJax.startup.promise;
        return true;
    }
    return false;
}"""

# Smallest text in a figure, in CSS pixels at the size the figure is displayed.
MIN_FIGURE_TEXT_PX = 9.0

# Raw Markdown/LaTeX that must never reach the reader's text.
RAW_SOURCE = {
    "a raw Markdown table": re.compile(r"\|\s*:?-{3,}:?\s*\|"),
    "a LaTeX escape \\_": re.compile(r"\\_"),
    "\\texttt": re.compile(r"\\texttt"),
    "$$": re.compile(r"\$\$"),
}

# Elements that must fit the column, and those allowed to scroll (code listings).
OVERFLOW = """() => {
    const main = document.querySelector("main, article, body");
    const mayScroll = e => (e.closest(".cell_input, .highlight") && !e.closest(".cell_output, .output"))
        || (e.matches("mjx-container[display='true']")
            && ["auto", "scroll"].includes(getComputedStyle(e).overflowX));
    const checked = main.querySelectorAll(
        ".cell_output pre, .cell_output, .output pre, figure, img, table, " +
        "mjx-container[display='true'], p, li, dd, .admonition, .proof");
    const out = [];
    for (const e of checked) {
        if (mayScroll(e) || e.clientWidth === 0) continue;
        if (e.scrollWidth > e.clientWidth + 1) {
            out.push(`${e.tagName.toLowerCase()}.${[...e.classList].join(".")}: ` +
                     `${e.scrollWidth}px of content in ${e.clientWidth}px: ` +
                     JSON.stringify((e.innerText || e.getAttribute("src") || "").slice(0, 60)));
        }
    }
    const root = document.documentElement;
    if (root.scrollWidth > root.clientWidth + 1) {
        out.push(`the page scrolls sideways (${root.scrollWidth}px in ${root.clientWidth}px)`);
    }
    return out;
}"""

# Equation numbers in reading order: Sphinx's (span.eqno) and MathJax's (\\tag, ams).
EQUATION_NUMBERS = """() => {
    const out = [];
    const all = document.querySelectorAll("span.eqno, mjx-assistive-mml mlabeledtr > mtd:first-child");
    for (const e of all) {
        const m = (e.textContent || "").match(/\\(\\s*(\\d+)\\s*\\)/);
        if (m) out.push(parseInt(m[1], 10));
    }
    return out;
}"""

# The page's favicon, fetched as the browser would on a first visit.
FAVICON = """async () => {
    const link = document.querySelector("link[rel~='icon']");
    const href = link ? link.href : new URL("/favicon.ico", location.href).href;
    try {
        const r = await fetch(href, {cache: "no-store"});
        return {linked: !!link, href, status: r.status, type: r.headers.get("content-type")};
    } catch (err) {
        return {linked: !!link, href, status: 0, type: String(err)};
    }
}"""

# Search boxes and buttons a reader can see.
SEARCH_BOXES = """() => Array.from(document.querySelectorAll(
        "input[type='search'], .search-button, form.bd-search, .search-button-field"))
    .filter(e => e.offsetParent !== null && !e.closest(".search-button, .search-button-field") ||
                 e.matches(".search-button, .search-button-field") && e.offsetParent !== null)
    .map(e => e.className || e.tagName)"""

# Every image: where it comes from, its natural and displayed widths.
IMAGES = """() => {
    const content = document.querySelector("main, article, body");
    return Array.from(document.images).map(i => ({
        src: i.getAttribute("src"), natural: i.naturalWidth,
        displayed: i.clientWidth || Math.min(i.naturalWidth, content.clientWidth)}));
}"""

# The page's state after typesetting: what a reader would see.
INSPECT = """() => {
    const body = document.body.cloneNode(true);
    body.querySelectorAll("pre, code, script, style, mjx-container, .highlight")
        .forEach(e => e.remove());
    return {
        mathText: Array.from(document.querySelectorAll("mjx-assistive-mml"))
            .map(e => e.textContent).join(" "),
        hasMathSource: document.querySelectorAll(".math").length > 0,
        mjx: document.querySelectorAll("mjx-container").length,
        mjxErrors: Array.from(document.querySelectorAll("mjx-merror"))
            .map(e => e.getAttribute("data-mjx-error") || e.textContent).slice(0, 5),
        text: body.innerText,
        brokenImages: Array.from(document.images)
            .filter(i => !i.complete || i.naturalWidth === 0)
            .map(i => i.getAttribute("src")),
        title: document.title,
    };
}"""


class PageLog:
    """Everything that goes wrong while one page loads."""

    def __init__(self, base):
        self.host = urlsplit(base).netloc
        self.problems = []

    def attach(self, context, page):
        context.route("**/*", self._route)
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"uncaught exception: {exc}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _route(self, route):
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in LOCAL_SCHEMES or parts.netloc == self.host:
            route.continue_()
        else:
            self.problems.append(f"request leaves 127.0.0.1: {url}")
            route.abort()

    def _console(self, msg):
        if msg.type == "error":
            self.problems.append(f"console error: {msg.text}")

    def _failed(self, request):
        if urlsplit(request.url).netloc == self.host:  # remote ones are reported by _route
            self.problems.append(f"request failed: {request.url} ({request.failure})")

    def _response(self, response):
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")


def open_page(browser, base, path):
    """Load ``base/path`` in a fresh context; return (PageLog, page state after typesetting)."""
    log = PageLog(base)
    context = browser.new_context()
    try:
        page = context.new_page()
        log.attach(context, page)
        page.goto(f"{base}/{path}", wait_until="load", timeout=30_000)
        page.evaluate(WAIT_MATHJAX)
        page.wait_for_load_state("networkidle", timeout=15_000)
        state = page.evaluate(INSPECT)
        state["overflow"] = page.evaluate(OVERFLOW)
        state["equations"] = page.evaluate(EQUATION_NUMBERS)
        state["favicon"] = page.evaluate(FAVICON)
        state["search"] = page.evaluate(SEARCH_BOXES)
        state["images"] = page.evaluate(IMAGES)
    finally:
        context.close()
    return log, state


def raw_source_problems(text, math_text):
    """What of RAW_SOURCE shows in the text, and backslashes in typeset maths."""
    out = [f"{name} in the text" for name, pattern in RAW_SOURCE.items() if pattern.search(text)]
    if "\\" in math_text:
        at = math_text.index("\\")
        out.append(f"a backslash in typeset maths: {math_text[max(0, at - 20):at + 20]!r}")
    return out


def equation_problems(numbers):
    """Equation numbers must be 1, 2, ..., k in reading order."""
    if numbers and numbers != list(range(1, len(numbers) + 1)):
        return [f"equation numbers {numbers[:8]} do not run (1), (2), ... from the top"]
    return []


def _image_bytes(site, page_path, src):
    if src.startswith("data:"):
        return base64.b64decode(src.split(",", 1)[1]) if ";base64," in src else b""
    path = (site / page_path).parent / unquote(urlsplit(src).path)
    return path.read_bytes() if path.is_file() else b""


def figure_text_problems(site, page_path, images, minimum=MIN_FIGURE_TEXT_PX):
    """Matplotlib PNGs whose smallest text is below ``minimum`` CSS px as displayed."""
    out = []
    for img in images:
        if not img["src"] or not img["natural"]:
            continue
        chunks = png_text_chunks(_image_bytes(site, page_path, img["src"]))
        if not chunks.get("Software", "").startswith("Matplotlib"):
            continue
        if MIN_FONT_KEY not in chunks:
            out.append(f"{img['src'][:60]}: a matplotlib figure without the font record of "
                       "lstm_ref.site.figures (stale execution cache?)")
            continue
        px = (float(chunks[MIN_FONT_KEY]) * float(chunks[DPI_KEY]) / 72
              * img["displayed"] / img["natural"])
        if px < minimum:
            out.append(f"{img['src'][:60]}: smallest text {px:.1f}px as displayed "
                       f"({chunks[MIN_FONT_KEY]}pt at {chunks[DPI_KEY]} dpi, shown at "
                       f"{img['displayed']}/{img['natural']}px), below {minimum}px")
    return out


def reader_problems(site, page_path, state):
    """Everything of the module's reading rules that ``state`` breaks."""
    problems = raw_source_problems(state["text"], state["mathText"])
    problems += [f"overflows: {o}" for o in state["overflow"]]
    problems += equation_problems(state["equations"])
    fav = state["favicon"]
    if not fav["linked"] or fav["status"] != 200 or "image" not in (fav["type"] or ""):
        problems.append(f"favicon: {fav}")
    if len(state["search"]) > 1:
        problems.append(f"{len(state['search'])} search boxes: {state['search']}")
    problems += figure_text_problems(site, page_path, state["images"])
    return problems


def test_page_renders(browser, server, site, docname):
    """``docname`` runs over every page of _toc.yml (pytest_generate_tests in conftest.py)."""
    assert (site / f"{docname}.html").is_file(), f"{docname}.html is not in the built site"
    log, state = open_page(browser, server, f"{docname}.html")
    assert not log.problems, f"{docname}: " + "; ".join(log.problems)
    assert not state["brokenImages"], f"{docname}: images not loaded: {state['brokenImages']}"
    if state["hasMathSource"]:
        assert state["mjx"] > 0, f"{docname}: has maths but MathJax typeset none of it"
    assert not state["mjxErrors"], f"{docname}: MathJax errors: {state['mjxErrors']}"
    for raw in ("$$", "\\(", "\\["):
        assert raw not in state["text"], f"{docname}: raw {raw!r} left in the visible text"


def test_page_reads_well(browser, server, site, docname):
    """The reading rules of the module docstring, on every page of _toc.yml."""
    log, state = open_page(browser, server, f"{docname}.html")
    problems = reader_problems(site, f"{docname}.html", state)
    assert not problems, f"{docname}:\n  " + "\n  ".join(problems)


def test_search_finds_forget_gate(browser, server):
    log = PageLog(server)
    context = browser.new_context()
    try:
        page = context.new_page()
        log.attach(context, page)
        page.goto(f"{server}/search.html?q=forget+gate", wait_until="load", timeout=30_000)
        page.wait_for_selector("ul.search li", timeout=20_000)
        hits = page.locator("ul.search li").count()
    finally:
        context.close()
    assert not log.problems, "search page: " + "; ".join(log.problems)
    assert hits > 0, 'the search page found nothing for "forget gate"'


def test_page_log_catches_problems(browser, server):
    """The checks above can fail: a remote request and a missing file are both reported."""
    log = PageLog(server)
    context = browser.new_context()
    try:
        page = context.new_page()
        log.attach(context, page)
        page.goto(f"{server}/book/notation.html", wait_until="load")
        page.evaluate("""async () => {
            await fetch("https://cdn.example.invalid/x.js").catch(() => null);
            await fetch("/no-such-file.js").catch(() => null);
        }""")
    finally:
        context.close()
    text = "\n".join(log.problems)
    assert "request leaves 127.0.0.1: https://cdn.example.invalid/x.js" in text
    assert "HTTP 404" in text and "no-such-file.js" in text


def test_inspect_sees_raw_maths_and_broken_images(browser, server):
    """The page checks can fail: raw TeX and a missing image are seen as such."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{server}/book/notation.html", wait_until="load")
        page.evaluate(WAIT_MATHJAX)
        page.evaluate("""() => {
            const p = document.createElement("p");
            p.textContent = "$$ h_t = \\\\tanh(a_t) $$";
            document.body.appendChild(p);
            const img = document.createElement("img");
            img.src = "no-such-image.png";
            document.body.appendChild(img);
            return new Promise(r => { img.onerror = r; img.onload = r; });
        }""")
        state = page.evaluate(INSPECT)
    finally:
        context.close()
    assert "$$" in state["text"]
    assert state["brokenImages"] == ["no-such-image.png"]
    assert state["hasMathSource"] and state["mjx"] > 0


def test_reading_rules_can_fail_without_a_browser(tmp_path):
    """raw_source_problems, equation_problems and figure_text_problems see what they must."""
    assert raw_source_problems("| a | b |\n| --- | --- |", "") == ["a raw Markdown table in the text"]
    assert raw_source_problems("dh\\_next and \\texttt{x}", "") == [
        "a LaTeX escape \\_ in the text", "\\texttt in the text"]
    assert raw_source_problems("fine", "dh\\_next")[0].startswith("a backslash in typeset maths")
    assert equation_problems([3, 4]) and equation_problems([1, 1]) and not equation_problems([1, 2])
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lstm_ref.site.figures import record_font_sizes

    fig, ax = plt.subplots(figsize=(10, 3))
    ax.plot([0, 1])
    ax.tick_params(labelsize=6)
    record_font_sizes(fig)
    buf = io.BytesIO()
    fig.canvas.print_figure(buf, format="png", dpi=100)
    plt.close(fig)
    (tmp_path / "f.png").write_bytes(buf.getvalue())
    natural = 1000
    small = figure_text_problems(tmp_path, "page.html",
                                 [{"src": "f.png", "natural": natural, "displayed": 700}])
    assert small and "below 9.0px" in small[0]  # 6pt at 100 dpi shown at 70%: 5.8px
    assert not figure_text_problems(tmp_path, "page.html",
                                    [{"src": "f.png", "natural": natural, "displayed": 1400}])
    fig, ax = plt.subplots()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")  # no hook: no record
    plt.close(fig)
    (tmp_path / "g.png").write_bytes(buf.getvalue())
    assert "without the font record" in figure_text_problems(
        tmp_path, "page.html", [{"src": "g.png", "natural": 640, "displayed": 640}])[0]


def test_inspect_sees_overflow_escapes_and_equation_numbers(browser, server):
    """On a real page: a long output line, a typeset \\texttt{dh\\_next} and an equation
    numbered (2) first are all reported."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{server}/book/notation.html", wait_until="load")
        page.evaluate(WAIT_MATHJAX)
        page.evaluate("""async () => {
            const main = document.querySelector("main, article, body");
            const out = document.createElement("div");
            out.className = "cell_output";
            out.innerHTML = "<div class='output stream highlight'><pre style='white-space: pre; overflow: auto'>"
                + "x".repeat(400) + "</pre></div>";
            main.prepend(out);
            const p = document.createElement("p");
            p.textContent = "\\\\(\\\\texttt{dh\\\\_next}\\\\) and \\\\[a = b \\\\tag{2}\\\\]";
            main.prepend(p);
            await MathJax.typesetPromise([p]);
        }""")
        state = page.evaluate(INSPECT)
        overflow = page.evaluate(OVERFLOW)
        equations = page.evaluate(EQUATION_NUMBERS)
    finally:
        context.close()
    assert any("xxxxxxxx" in o for o in overflow), overflow
    assert any("backslash in typeset maths" in p for p in raw_source_problems(
        state["text"], state["mathText"]))
    assert equations and equations[0] == 2 and equation_problems(equations)
