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
