"""Fixtures for the tests of the built site: where it is, its HTML pages, which pages the toc
lists, a local HTTP server for it, and a headless Chromium.

The site is the output of ``make book`` in ``_build/html`` (``COURSE_SITE_DIR`` overrides it,
e.g. to test a build made with ``--path-output``). These tests never build it themselves.

The headless Chromium (``browser``) is the one of ``tests/conftest.py``.
"""

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


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


