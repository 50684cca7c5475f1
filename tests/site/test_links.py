"""Exercise notebooks link to reading pages in a way that works on the site, in a downloaded
notebook and in an nbgrader release: through the published book's address (no build needed,
except for the last test, which reads the generated student notebooks)."""

import json
from pathlib import Path

import pytest

from lstm_ref.site.links import absolute_page_links, book_baseurl, page_links, page_url

ROOT = Path(__file__).resolve().parents[2]
BASE = "https://example.org/book/"


def _nb(*texts):
    return {"cells": [{"cell_type": "markdown", "metadata": {}, "source": [t]} for t in texts]}


def test_relative_md_links_become_published_pages():
    nb = _nb("see [the page](forward.md) and [a part](bptt.md#the-sum), "
             "[chapter 2](../ch02_vanishing/proof.md), [ext](https://x.org/a.md), "
             "[anchor](#here)")
    out = absolute_page_links(nb, "ch01_rnn", BASE)
    assert page_links(out) == [
        ("the page", BASE + "book/chapters/ch01_rnn/forward.html"),
        ("a part", BASE + "book/chapters/ch01_rnn/bptt.html#the-sum"),
        ("chapter 2", BASE + "book/chapters/ch02_vanishing/proof.html"),
        ("ext", "https://x.org/a.md"),
        ("anchor", "#here"),
    ]
    assert nb["cells"][0]["source"][0].startswith("see [the page](forward.md)")  # a copy


def test_config_names_the_published_book():
    base = book_baseurl(ROOT)
    assert base.startswith("https://") and base.endswith("/")
    assert page_url(base, "ch03_lstm", "cell") == base + "book/chapters/ch03_lstm/cell.html"


SOURCES = sorted(ROOT.glob("solutions/*/*.ipynb"))


@pytest.mark.parametrize("path", SOURCES, ids=[p.parent.name for p in SOURCES])
def test_every_page_link_of_a_notebook_names_a_page_of_the_book(path):
    """After the rewrite, each link is a page that exists in book/chapters (so it is
    published at that address, as the site's canonical links say)."""
    base = book_baseurl(ROOT)
    nb = absolute_page_links(json.loads(path.read_text("utf-8")), path.parent.name, base)
    links = [u for _, u in page_links(nb) if u.startswith(base)]
    assert links, f"{path.name} links to no reading page"
    for url in links:
        page = url[len(base):].split("#")[0].removesuffix(".html")
        assert (ROOT / f"{page}.md").is_file(), f"{path.name}: {url} names no page"
    assert not [u for _, u in page_links(nb) if u.endswith(".md") or ".md#" in u]


def test_the_book_notebooks_hold_no_md_link():
    """The generated student notebooks (the site's download) link to pages that the built
    site holds at the same path as the published book."""
    written = sorted(ROOT.glob("book/chapters/*/*.ipynb"))
    if not written:
        pytest.fail("no student notebook in book/chapters: run make book first", pytrace=False)
    base = book_baseurl(ROOT)
    site = ROOT / "_build" / "html"
    for path in written:
        for text, url in page_links(json.loads(path.read_text("utf-8"))):
            assert not url.endswith(".md") and ".md#" not in url, (path.name, text, url)
            if url.startswith(base) and site.is_dir():
                assert (site / url[len(base):].split("#")[0]).is_file(), (path.name, url)


def test_an_nbgrader_release_links_to_the_published_pages(tmp_path):
    """`nbgrader generate_assignment`, run as an instructor would from a course root, writes
    student notebooks whose page links are the published book's (nbgrader_config.py adds
    lstm_ref.grading.release_links.PublishedPageLinks to its preprocessors)."""
    import shutil
    import subprocess
    import sys

    chapter = "ch01_rnn"
    shutil.copytree(ROOT / "solutions" / chapter, tmp_path / "solutions" / chapter)
    for name in ("nbgrader_config.py", "_config.yml"):
        shutil.copy(ROOT / name, tmp_path / name)
    bindir = Path(sys.executable).parent
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    run = subprocess.run([str(bindir / "nbgrader"), "generate_assignment", chapter],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    (released,) = (tmp_path / "release" / chapter).glob("*.ipynb")
    links = [u for _, u in page_links(json.loads(released.read_text("utf-8")))]
    base = book_baseurl(ROOT)
    assert [u for u in links if u.startswith(base)], "the release links to no reading page"
    assert not [u for u in links if u.endswith(".md") or ".md#" in u], links
