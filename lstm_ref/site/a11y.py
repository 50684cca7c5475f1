"""Sphinx extension: two accessibility repairs to the HTML the theme and bibtex write.

Listed in ``_config.yml`` under ``sphinx: extra_extensions``. The axe-core audit of the site
(``tests/site/test_a11y.py``) found, on the pages as the themes write them:

- ``summary-name`` (serious), on every page: the sidebar's chapter entries open and close
  with a ``<summary>`` that holds only a chevron icon marked ``role="presentation"``, so a
  screen reader announces an unnamed button. Each gets ``aria-label="Show or hide the
  pages of <chapter>"``, taken from the entry's link text (pydata-sphinx-theme 0.17 writes
  the link just before the ``<details>``).
- ``aria-required-children`` (critical) and ``aria-deprecated-role`` (minor) on the
  bibliography: docutils writes ``role="list"`` around entries with ``role="doc-biblioentry"``,
  a role ARIA 1.3 deprecates; axe then sees the entries' links as children of the list. The
  entries become ``role="listitem"``.

Both are string rewrites of the page's HTML at ``html-page-context``, after the theme has
set up its context; nothing else on a page changes.
"""

import html
import re

# <a ...>Title</a><details ...><summary>: the sidebar entry of a page with sub-pages.
_ENTRY = re.compile(r'(<a\b[^>]*>)(?P<title>.*?)(</a>\s*<details\b[^>]*>\s*)<summary>', re.S)
_TAG = re.compile(r"<[^>]+>")


def name_toggles(toctree_html):
    """``toctree_html`` with an ``aria-label`` on every ``<summary>`` that follows a link."""

    def label(match):
        title = html.unescape(_TAG.sub("", match["title"])).strip()
        text = html.escape(f"Show or hide the pages of {title}", quote=True)
        return f'{match[1]}{match["title"]}{match[3]}<summary aria-label="{text}">'

    return _ENTRY.sub(label, str(toctree_html))


def list_bibliography(body):
    """``body`` with bibliography entries as list items instead of ``doc-biblioentry``."""
    return body.replace('role="doc-biblioentry"', 'role="listitem"')


def _repair(app, pagename, templatename, context, doctree):
    generate = context.get("generate_toctree_html")
    if callable(generate) and not getattr(generate, "_names_toggles", False):
        from markupsafe import Markup

        def named(*args, **kwargs):
            return Markup(name_toggles(generate(*args, **kwargs)))

        named._names_toggles = True
        context["generate_toctree_html"] = named
    if isinstance(context.get("body"), str):
        context["body"] = list_bibliography(context["body"])


def setup(app):
    # Late: after pydata-sphinx-theme has put generate_toctree_html into the context.
    app.connect("html-page-context", _repair, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
