"""Accessibility of the built site, page by page, in headless Chromium.

Four audits run on every page of the toc and on the pages Sphinx adds (search, index):

- **axe-core** (the copy bundled with ``axe-playwright-python``), with the WCAG 2.0/2.1 A
  and AA rules and axe's best practices: no violation of impact ``serious`` or
  ``critical``. Lesser ones (``moderate``, ``minor``) are printed, not failed.
- **Text alternatives that say something.** Every ``<img>`` in the page's content (the
  article, not the theme's buttons and menus, which axe checks) has an ``alt`` of at least
  ``MIN_ALT_WORDS`` words that is not a file name (Sphinx and myst-nb write the image's
  path when a page gives none), and every ``<svg>`` there that is not hidden from assistive
  technology nor an icon inside a button or link has ``role="img"`` and such a name
  (``aria-label``, ``aria-labelledby`` or a ``<title>``). axe accepts
  ``alt="_images/3f2a....png"``; this audit does not.
- **Maths a screen reader can read.** Every formula MathJax typeset carries its assistive
  MathML (``mjx-assistive-mml`` holding a non-empty ``<math>``), which screen readers read
  instead of the visual glyphs.
- **Colours.** Every matplotlib figure's PNG carries the colour record of
  ``lstm_ref.site.figures`` and it is empty: no two lines told apart by colour alone, no
  colour outside the colour-blind-safe palette, no rainbow colour map.

Each audit is shown failing once, on a small page made for it (the ``test_*_catches_*``
tests), so a rule that stopped seeing anything would be noticed.
"""

import re

import pytest

from lstm_ref.site.figures import COLOUR_KEY, png_text_chunks

from test_browser import WAIT_MATHJAX, _image_bytes

pytestmark = pytest.mark.browser

FAILING_IMPACTS = ("serious", "critical")
AXE_OPTIONS = {
    "runOnly": {"type": "tag",
                "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
    "resultTypes": ["violations"],
}
MIN_ALT_WORDS = 3

# Pages Sphinx makes besides the toc's (the root index.html only redirects).
EXTRA_PAGES = ["search", "genindex"]

# Text alternatives: what every image and every visible SVG is called.
ALT_TEXT = r"""() => {
    const content = ["article.bd-article", "main article", "article", "main"]
        .map(sel => document.querySelector(sel)).find(Boolean) || document.body;
    const hidden = e => !!e.closest("[aria-hidden='true']");
    const nameOf = svg => {
        const label = svg.getAttribute("aria-label");
        if (label) return label;
        const ids = (svg.getAttribute("aria-labelledby") || "").split(/\s+/).filter(Boolean);
        if (ids.length) return ids.map(id => (document.getElementById(id) || {}).textContent || "").join(" ");
        const title = svg.querySelector(":scope > title");
        return title ? title.textContent : null;
    };
    const out = [];
    for (const img of content.querySelectorAll("img")) {
        if (hidden(img)) continue;
        out.push({kind: "img", src: img.getAttribute("src"), name: img.getAttribute("alt")});
    }
    for (const svg of content.querySelectorAll("svg")) {
        if (hidden(svg) || (svg.parentElement && svg.parentElement.closest("svg"))) continue;
        if (svg.closest("button, a, [role='button']")) continue;  // an icon: the control is named
        const role = svg.getAttribute("role");
        if (role === "presentation" || role === "none") {
            if (svg.querySelector("text")) out.push({kind: "svg", role, name: null,
                                                     src: svg.outerHTML.slice(0, 80)});
            continue;  // an icon drawn without text
        }
        out.push({kind: "svg", role, name: nameOf(svg), src: svg.outerHTML.slice(0, 80)});
    }
    return out;
}"""

FILE_NAME = re.compile(r"(\.(png|svg|jpe?g|gif|webp|pdf)\b)|(_images/)|(^[0-9a-f]{16,})", re.I)

# Typeset formulas without their assistive MathML.
MATH_WITHOUT_MML = """() => Array.from(document.querySelectorAll("mjx-container"))
    .filter(c => {
        const math = c.querySelector("mjx-assistive-mml math");
        return !math || !math.textContent.trim();
    })
    .map(c => (c.getAttribute("jax") || "") + ": " + (c.textContent || "").slice(0, 40))"""


def alt_problems(items, min_words=MIN_ALT_WORDS):
    """Which of ALT_TEXT's items lack a name that says what they show."""
    out = []
    for item in items:
        what = f"<{item['kind']}> {str(item.get('src'))[:70]}"
        name = (item.get("name") or "").strip()
        if item["kind"] == "svg" and item.get("role") != "img":
            out.append(f"{what}: an SVG with text needs role=\"img\" (has role={item.get('role')!r})")
        if not name:
            out.append(f"{what}: no text alternative")
        elif FILE_NAME.search(name):
            out.append(f"{what}: the text alternative is a file name: {name[:60]!r}")
        elif len(name.split()) < min_words:
            out.append(f"{what}: the text alternative {name!r} is too short to say what it shows")
    return out


def axe_problems(violations, impacts=FAILING_IMPACTS):
    """axe's violations of the given impacts, one line each with up to three elements."""
    out = []
    for v in violations:
        if v.get("impact") not in impacts:
            continue
        targets = [", ".join(map(str, n.get("target", []))) for n in v.get("nodes", [])]
        out.append(f"{v['id']} ({v['impact']}, {len(targets)} element(s)): {v['help']}; "
                   f"e.g. {targets[:3]}")
    return out


def colour_problems_of_images(site, page_path, images):
    """The colour records of the page's matplotlib PNGs: missing ones and non-empty ones."""
    out = []
    for src in images:
        chunks = png_text_chunks(_image_bytes(site, page_path, src))
        if not chunks.get("Software", "").startswith("Matplotlib"):
            continue
        if COLOUR_KEY not in chunks:
            out.append(f"{src[:60]}: a matplotlib figure without the colour record of "
                       "lstm_ref.site.figures (stale execution cache?)")
        elif chunks[COLOUR_KEY]:
            out.append(f"{src[:60]}: {chunks[COLOUR_KEY]}")
    return out


def run_axe(page):
    from axe_playwright_python.sync_playwright import Axe

    return Axe().run(page, options=AXE_OPTIONS).response["violations"]


def audit(page):
    """Everything this module checks on a loaded page, except colours (they need the files)."""
    page.evaluate(WAIT_MATHJAX)
    violations = run_axe(page)
    return {
        "axe": axe_problems(violations),
        "axe_minor": axe_problems(violations, impacts=("moderate", "minor")),
        "alt": alt_problems(page.evaluate(ALT_TEXT)),
        "math": page.evaluate(MATH_WITHOUT_MML),
        "images": page.evaluate("() => Array.from(document.images).map(i => i.getAttribute('src')).filter(Boolean)"),
    }


def _audit_url(browser, url):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url, wait_until="load", timeout=30_000)
        page.wait_for_load_state("networkidle", timeout=15_000)
        return audit(page)
    finally:
        context.close()


def _audit_html(browser, html):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content(html, wait_until="load")
        return audit(page)
    finally:
        context.close()


def test_page_is_accessible(browser, server, site, docname):
    """``docname`` runs over every page of _toc.yml (pytest_generate_tests in conftest.py)."""
    _check_page(browser, server, site, docname)


@pytest.mark.parametrize("name", EXTRA_PAGES)
def test_generated_page_is_accessible(browser, server, site, name):
    _check_page(browser, server, site, name)


def _check_page(browser, server, site, name):
    """axe, text alternatives, maths and colours on one page of the site."""
    assert (site / f"{name}.html").is_file(), f"{name}.html is not in the built site"
    result = _audit_url(browser, f"{server}/{name}.html")
    problems = [f"axe: {p}" for p in result["axe"]]
    problems += [f"alt: {p}" for p in result["alt"]]
    problems += [f"maths without assistive MathML: {m}" for m in result["math"]]
    problems += [f"colours: {p}" for p in
                 colour_problems_of_images(site, f"{name}.html", result["images"])]
    if result["axe_minor"]:
        print(f"{name}: axe, moderate or minor (not failed):\n  " + "\n  ".join(result["axe_minor"]))
    assert not problems, f"{name}:\n  " + "\n  ".join(problems)


# --- each audit, failing once ------------------------------------------------------------------

FIXTURE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>fixture</title>
<style>body {{ font: 16px sans-serif; color: #222; background: #fff; }}</style></head>
<body><main><h1>A fixture page</h1>{body}</main></body></html>"""


def test_axe_catches_missing_alt_and_low_contrast(browser):
    result = _audit_html(browser, FIXTURE.format(body=(
        '<p style="color: #bbb">Pale grey text on white, about 1.9:1.</p>'
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" width="10" height="10">')))
    ids = " ".join(result["axe"])
    assert "image-alt (critical" in ids, result["axe"]
    assert "color-contrast (serious" in ids, result["axe"]


def test_axe_passes_a_clean_page(browser):
    result = _audit_html(browser, FIXTURE.format(body="<p>Dark text on white.</p>"))
    assert result["axe"] == [] and result["alt"] == [] and result["math"] == []


def test_alt_audit_catches_file_names_short_names_and_unnamed_svg(browser):
    result = _audit_html(browser, FIXTURE.format(body=(
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="_images/3f2a9c.png">'
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="plot">'
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" '
        'alt="The loss falls from 2.1 to 0.3 over 100 steps.">'
        '<svg width="100" height="20"><text x="0" y="15">x feeds h</text></svg>'
        '<svg width="100" height="20" role="img" aria-label="A graph: x feeds h.">'
        '<text x="0" y="15">x feeds h</text></svg>'
        '<svg aria-hidden="true" width="10" height="10"><circle r="4"/></svg>'
        '<button aria-label="Copy the code"><svg width="10" height="10"><circle r="4"/></svg></button>')))
    text = "\n".join(result["alt"])
    assert "is a file name" in text and "'plot' is too short" in text, text
    assert 'needs role="img"' in text and "no text alternative" in text, text
    assert len(result["alt"]) == 4, text  # the good image, named SVG and the icons pass


def test_math_audit_catches_formulas_without_assistive_mathml(browser):
    result = _audit_html(browser, FIXTURE.format(body=(
        "<p><mjx-container class='MathJax' jax='CHTML'><mjx-math>h</mjx-math></mjx-container>"
        " and <mjx-container class='MathJax' jax='CHTML'><mjx-math>c</mjx-math>"
        "<mjx-assistive-mml><math><mi>c</mi></math></mjx-assistive-mml></mjx-container></p>")))
    assert result["math"] == ["CHTML: h"], result["math"]


def test_colour_audit_catches_colour_only_lines_and_missing_records(tmp_path):
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lstm_ref.site.figures import record_font_sizes

    def save(name, draw, hook=True):
        fig, ax = plt.subplots()
        draw(ax)
        if hook:
            record_font_sizes(fig)
        buf = io.BytesIO()
        fig.canvas.print_figure(buf, format="png", dpi=50)
        plt.close(fig)
        (tmp_path / name).write_bytes(buf.getvalue())

    save("bad.png", lambda ax: (ax.plot([0, 1], "-", color="red", label="a"),
                                ax.plot([1, 0], "-", color="#0072B2", label="b")))
    save("good.png", lambda ax: (ax.plot([0, 1], "-", color="#D55E00", lw=1.0, label="a"),
                                 ax.plot([1, 0], "--", color="#0072B2", label="b"),
                                 ax.plot([0, 0], "-", color="0.75", lw=0.8, label="raw"),
                                 ax.plot([1, 1], "-", color="#0072B2", lw=1.5, label="smooth")))
    save("old.png", lambda ax: ax.plot([0, 1]), hook=False)
    problems = colour_problems_of_images(tmp_path, "page.html", ["bad.png", "good.png", "old.png"])
    assert len(problems) == 2, problems
    assert "not in the palette" in problems[0] and "differ by colour alone" in problems[0]
    assert "without the colour record" in problems[1]
