"""Open every page of the built site in headless Chromium, the way a reader sees it.

For each page of the toc: it loads with no console error, no uncaught exception and no failed
or refused request; every request goes to the local server (anything else is blocked and
reported, so the test also proves the site works offline); maths is typeset by MathJax
(``mjx-container`` present, no MathJax error, no raw ``$$`` or ``\\(`` left in the text);
every image has loaded. The search page finds "forget gate".
"""

from urllib.parse import urlsplit

import pytest

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

# The page's state after typesetting: what a reader would see.
INSPECT = """() => {
    const body = document.body.cloneNode(true);
    body.querySelectorAll("pre, code, script, style, mjx-container, .highlight")
        .forEach(e => e.remove());
    return {
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
    finally:
        context.close()
    return log, state


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
