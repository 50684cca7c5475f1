"""The built site needs no network: read from its HTML, without a browser.

Every script, stylesheet, font, icon and image a page loads comes from the site itself;
MathJax is served from ``_static/mathjax``; no page names a CDN (thebe's, require.js's,
Google Fonts...). Links the reader may click (the repository, Binder, a paper's DOI) are
fine: they load nothing by themselves. test_browser.py checks the same in Chromium.
"""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

CDN_HOSTS = [
    "unpkg.com",
    "cdn.jsdelivr.net",
    "cdnjs.cloudflare.com",
    "fonts.googleapis.com",
    "fonts.gstatic.com",
    "code.jquery.com",
    "cdn.plot.ly",
    "require.min.js",
    "polyfill.io",
]
# Attributes whose URL the browser fetches on its own when the page loads.
_LOADED = re.compile(
    r"""<(?:script|img|iframe|source|video|audio|embed)\b[^>]*?\bsrc=["']([^"']+)["']"""
    r"""|<link\b[^>]*?\bhref=["']([^"']+)["'][^>]*>""",
    re.IGNORECASE,
)
_LINK_REL = re.compile(r"""\brel=["']([^"']+)["']""", re.IGNORECASE)
_CSS_URL = re.compile(r"""(?:@import\s+|url\()\s*["']?(https?:)?//""", re.IGNORECASE)


def remote_loads(html):
    """The remote URLs a page makes the browser fetch (scripts, styles, images, icons...)."""
    out = []
    for m in _LOADED.finditer(html):
        url = m.group(1) or m.group(2)
        if m.group(2) is not None:  # a <link>: only those that load something
            rel = _LINK_REL.search(m.group(0))
            if rel and not {"stylesheet", "preload", "icon", "modulepreload", "manifest",
                            "shortcut", "apple-touch-icon"} & set(rel.group(1).lower().split()):
                continue
        if re.match(r"(?i)^(https?:)?//", url):
            out.append(url)
    return out


def test_remote_loads_finds_remote_assets():
    page = (
        '<script src="https://unpkg.com/x.js"></script><script src="../_static/a.js"></script>'
        '<link rel="stylesheet" href="//fonts.googleapis.com/css">'
        '<link rel="canonical" href="https://example.org/">'
        '<img alt="" src="https://example.org/a.png"><a href="https://mybinder.org">Binder</a>'
    )
    assert remote_loads(page) == [
        "https://unpkg.com/x.js", "//fonts.googleapis.com/css", "https://example.org/a.png"
    ]


def test_pages_load_nothing_remote(site, html_pages):
    bad = {}
    for page in html_pages:
        urls = remote_loads(page.read_text(encoding="utf-8"))
        if urls:
            bad[str(page.relative_to(site))] = urls
    assert not bad, f"pages that load remote assets: {bad}"


def test_no_cdn_named_anywhere(site, html_pages):
    found = []
    for path in html_pages + [site / "searchindex.js"]:
        text = path.read_text(encoding="utf-8")
        found += [f"{path.relative_to(site)}: {h}" for h in CDN_HOSTS if h in text]
    for css in (site / "_static").rglob("*.css"):
        if _CSS_URL.search(css.read_text(encoding="utf-8", errors="replace")):
            found.append(f"{css.relative_to(site)}: remote @import/url()")
    assert not found, "CDN addresses in the site:\n" + "\n".join(found[:30])


def test_mathjax_is_served_locally(site, html_pages):
    pages_with_maths = [p for p in html_pages if 'class="math' in p.read_text("utf-8")]
    assert pages_with_maths, "no page has maths: the check below would prove nothing"
    for page in pages_with_maths:
        text = page.read_text(encoding="utf-8")
        m = re.search(r"""<script[^>]*src=["']([^"']*mathjax[^"']*)["']""", text)
        assert m, f"{page.relative_to(site)} has maths but loads no MathJax"
        src = m.group(1).split("?")[0]
        assert "_static/mathjax/" in src, f"{page.relative_to(site)}: MathJax from {src}"
        assert (page.parent / src).resolve().is_file(), f"{src} missing from the site"


def test_light_mode_by_default(site):
    index = (site / "book" / "index.html").read_text(encoding="utf-8")
    assert 'data-theme="light"' in index, "html_context default_mode: light is not set"


@pytest.mark.parametrize("button", ["download", "repository", "launch"])
def test_page_buttons(site, button):
    """Download, repository and launch buttons are on the pages that should have them."""
    exercise = next(iter(sorted(site.glob("book/chapters/*/*_exercises.html"))), None)
    if button == "launch":
        if exercise is None:
            pytest.skip("no exercise page in the built site")
        text = exercise.read_text(encoding="utf-8")
        assert "launch-buttons" in text or "mybinder.org/v2" in text or "hub/user-redirect" in text
    elif button == "download":
        text = (site / "book" / "notation.html").read_text(encoding="utf-8")
        assert "_sources/book/notation.md" in text
        if exercise is not None:
            name = exercise.stem + ".ipynb"
            assert name in exercise.read_text(encoding="utf-8"), "no notebook download"
    else:
        config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
        text = (site / "book" / "index.html").read_text(encoding="utf-8")
        assert config["repository"]["url"] in text, "no repository button"


_LOCAL_REF = re.compile(r"""<(?:a|link|script|img)\b[^>]*?\b(?:href|src)=["']([^"'#?]+)""",
                        re.IGNORECASE)


def test_local_links_resolve(site, html_pages):
    """Every local link and asset of every page (downloads included) is a file of the site."""
    missing = set()
    for page in html_pages:
        for url in _LOCAL_REF.findall(page.read_text(encoding="utf-8")):
            if re.match(r"(?i)^([a-z][a-z0-9+.-]*:|//)", url):  # http:, mailto:, data:...
                continue
            target = (page.parent / url).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                missing.add(f"{page.relative_to(site)} -> {url}")
    assert not missing, "broken local links:\n" + "\n".join(sorted(missing)[:30])
