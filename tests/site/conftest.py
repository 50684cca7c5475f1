"""Fixtures for the tests of the built site: where it is, its HTML pages, which pages the toc
lists, a local HTTP server for it, and a headless Chromium.

The site is the output of ``make book`` in ``_build/html`` (``COURSE_SITE_DIR`` overrides it,
e.g. to test a build made with ``--path-output``). These tests never build it themselves.

Chromium comes from the system (``chromium`` on ``PATH``). Without it the browser tests are
skipped, loudly (a banner at the end of the run), unless ``COURSE_REQUIRE_BROWSER=1`` (set by
``.ci/run``), in which case they fail.
"""

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
_BROWSER_SKIPPED = []  # reasons, reported by pytest_terminal_summary


def site_dir():
    """The built site's folder (it may not exist)."""
    return Path(os.environ.get("COURSE_SITE_DIR") or ROOT / "_build" / "html")


def toc_pages(toc_path=ROOT / "_toc.yml"):
    """Every page of the toc, as paths relative to the site without suffix, in toc order
    (a page listed twice appears twice). The one walk of ``_toc.yml`` in these tests."""
    toc = yaml.safe_load(Path(toc_path).read_text(encoding="utf-8"))
    pages = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                pages.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(toc.get("parts", toc.get("chapters", [])))
    return [p.removesuffix(".md").removesuffix(".ipynb") for p in pages]


def pytest_generate_tests(metafunc):
    if "docname" in metafunc.fixturenames:
        metafunc.parametrize("docname", toc_pages())


@pytest.fixture(scope="session")
def toc():
    """``toc_pages()``: the toc's pages in order (no built site needed)."""
    return toc_pages()


@pytest.fixture(scope="session")
def site():
    """The built site's folder; fails (does not skip) when there is none."""
    path = site_dir()
    if not (path / "index.html").is_file():
        pytest.fail(f"no built site in {path}: run make book first", pytrace=False)
    return path


@pytest.fixture(scope="session")
def html_pages(site):
    """The site's HTML pages (outside ``_static``), sorted."""
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.parts)


@pytest.fixture(scope="session")
def server(site):
    """Serve the site on 127.0.0.1 (a free port) for the session; yields the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium driven by Playwright (skipped or failed when there is none)."""
    executable = shutil.which("chromium")
    if executable is None:
        reason = "chromium is not on PATH: the browser tests of the site did NOT run"
        if os.environ.get("COURSE_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " (COURSE_REQUIRE_BROWSER=1)", pytrace=False)
        _BROWSER_SKIPPED.append(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


def pytest_terminal_summary(terminalreporter):
    if _BROWSER_SKIPPED:
        terminalreporter.write_sep("!", "BROWSER TESTS SKIPPED", red=True, bold=True)
        terminalreporter.write_line(_BROWSER_SKIPPED[0], red=True, bold=True)
        terminalreporter.write_line(
            "Install Chromium (Debian/Ubuntu: apt-get install chromium) to check the site "
            "in a real browser; CI sets COURSE_REQUIRE_BROWSER=1 so it never skips them.",
            red=True,
        )
