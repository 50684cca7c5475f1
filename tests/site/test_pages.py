"""What every page of the built site shows, read from its HTML (no browser needed)."""

from bs4 import BeautifulSoup


def uncaptioned_images(html):
    """The images made at build time (in ``_images/``) that are not in a captioned figure."""
    out = []
    for img in BeautifulSoup(html, "html.parser").find_all("img"):
        if "_images/" not in img.get("src", ""):
            continue
        figure = img.find_parent("figure")
        caption = figure.find("figcaption") if figure else None
        if caption is None or not caption.get_text(strip=True):
            out.append(img["src"])
    return out


def test_uncaptioned_images_are_found():
    page = ('<figure><img src="../_images/a.png"><figcaption>A plot.</figcaption></figure>'
            '<div class="cell_output"><img src="../_images/b.png"></div>'
            '<img src="../_static/logo.png">')
    assert uncaptioned_images(page) == ["../_images/b.png"]


def test_every_plot_has_a_caption(site, html_pages):
    bad = {}
    for page in html_pages:
        images = uncaptioned_images(page.read_text(encoding="utf-8"))
        if images:
            bad[str(page.relative_to(site))] = images
    assert not bad, (
        "plots without a caption (use {glue:figure} with a caption, or the cell metadata "
        f"mystnb: figure: caption:): {bad}"
    )


def test_every_toc_page_has_a_title(site, docname):
    """``docname`` runs over every page of _toc.yml (pytest_generate_tests in conftest.py)."""
    page = site / f"{docname}.html"
    assert page.is_file(), f"{docname}.html is not in the built site"
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    h1 = soup.select_one("article h1, main h1, h1")
    assert h1 is not None and h1.get_text(strip=True), f"{docname} has no title"


# Pages Sphinx makes besides the toc's: the search page, the general index, the root redirect. Anything else
# (a domain index such as sphinx-proof's prf-prf.html, which lists internal labels) is a page
# no reader was meant to see.
GENERATED_PAGES = {"search", "genindex", "index"}  # index: Jupyter Book's redirect


def test_no_page_outside_the_toc(site, html_pages, toc):
    extra = sorted(
        str(p.relative_to(site).with_suffix("")) for p in html_pages
        if str(p.relative_to(site).with_suffix("")) not in set(toc) | GENERATED_PAGES
    )
    assert not extra, f"pages that are not in _toc.yml: {extra}"


# Citations (issue 19, item 21): every citation on every page links to the one bibliography
# page, never to a list on another chapter's page.
BIBLIOGRAPHY = "book/bibliography.html"


def citation_link_problems(pages, bibliography=BIBLIOGRAPHY):
    """``pages`` maps a page's path in the site to its HTML. Returns what breaks the rule:
    a citation list on any page but ``bibliography``, and a link to a citation that does
    not lead to ``bibliography``."""
    import posixpath
    from urllib.parse import unquote, urlsplit

    entries = {}  # (page, id) of every bibliography entry
    soups = {path: BeautifulSoup(html, "html.parser") for path, html in pages.items()}
    out = []
    for path, soup in soups.items():
        for entry in soup.select("div.citation[id]"):
            entries[(path, entry["id"])] = entry.get_text(" ", strip=True)[:40]
        if soup.select("div.citation") and path != bibliography:
            out.append(f"{path}: a list of references of its own (only {bibliography} has one)")
    for path, soup in soups.items():
        for a in soup.select("a[href]"):
            parts = urlsplit(a["href"])
            if parts.scheme or parts.netloc or not parts.fragment:
                continue
            target = posixpath.normpath(posixpath.join(posixpath.dirname(path), unquote(parts.path)))
            target = path if not parts.path else target
            if (target, parts.fragment) in entries and target != bibliography:
                out.append(f"{path}: the citation {a.get_text(strip=True)!r} links to {target}")
    return out


def test_citation_rule_can_fail():
    entry = '<div class="citation" id="id3" role="listitem"><p>Bengio, 1994.</p></div>'
    pages = {
        "book/bibliography.html": entry,
        "book/chapters/ch04_variants/index.html": entry,
        "book/chapters/ch01_rnn/bptt.html":
            '<a class="reference internal" href="../ch04_variants/index.html#id3">Bengio, 1994</a>'
            '<a class="reference internal" href="../../bibliography.html#id3">Bengio, 1994</a>',
    }
    problems = citation_link_problems(pages)
    assert problems == [
        "book/chapters/ch04_variants/index.html: a list of references of its own "
        "(only book/bibliography.html has one)",
        "book/chapters/ch01_rnn/bptt.html: the citation 'Bengio, 1994' links to "
        "book/chapters/ch04_variants/index.html",
    ], problems


def test_every_citation_leads_to_the_bibliography(site, html_pages):
    pages = {str(p.relative_to(site)): p.read_text(encoding="utf-8") for p in html_pages}
    assert BIBLIOGRAPHY in pages, f"no {BIBLIOGRAPHY} in the built site"
    n_links = sum(html.count(f"bibliography.html#") for html in pages.values())
    assert n_links > 0, "no page links to a bibliography entry: is the citation markup different?"
    problems = citation_link_problems(pages)
    assert not problems, "\n".join(problems)
