"""Links from a notebook to the book's reading pages that work wherever the notebook is.

A source notebook links to a reading page of its chapter as MyST does, ``[the forward
pass](forward.md)``. That link works only inside the Sphinx build: a learner who downloads
the notebook from the site, or gets it from the instructor's nbgrader release, has no
``forward.md`` beside it. :func:`absolute_page_links` rewrites every such link to the page's
address in the published book, ``<html.baseurl>book/chapters/<chapter>/forward.html`` (the
book is built from the repository root, so its pages sit under ``book/``), where
``html.baseurl`` is the one setting in ``_config.yml`` that names where the book is published
(a fork that publishes elsewhere changes that line and rebuilds). The same link then works
on the site, in a downloaded notebook and in a released one.
"""

import re
from pathlib import Path

# [text](target.md) or [text](target.md#anchor), a relative target (no scheme, no leading /).
_MD_LINK = re.compile(r"\]\((?![a-zA-Z][a-zA-Z0-9+.-]*:|/|#)([^()\s]+?)\.md(#[^()\s]*)?\)")


def book_baseurl(root):
    """``html.baseurl`` of ``root/_config.yml``, ending with ``/``; ``None`` for a course
    folder without a book (no ``_config.yml``)."""
    import yaml

    path = Path(root) / "_config.yml"
    if not path.is_file():
        return None
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    url = str((config.get("html") or {}).get("baseurl") or "")
    if not re.match(r"^https?://", url):
        raise ValueError(
            f"_config.yml html.baseurl must be the published book's address "
            f"(https://...), got {url!r}"
        )
    return url if url.endswith("/") else url + "/"


def page_url(baseurl, chapter, target):
    """The published address of ``target`` (``forward`` or ``../ch02_vanishing/proof``)
    seen from ``book/chapters/<chapter>/``."""
    parts = ["book", "chapters", chapter]
    for piece in target.split("/"):
        if piece == "..":
            if not parts:
                raise ValueError(f"link {target}.md leaves the book")
            parts.pop()
        elif piece not in ("", "."):
            parts.append(piece)
    return baseurl + "/".join(parts) + ".html"


def absolute_page_links(nb, chapter, baseurl):
    """A copy of notebook ``nb`` (a dict) whose markdown cells link to the published pages
    instead of ``.md`` files (``nb`` itself when ``baseurl`` is ``None``)."""
    if baseurl is None:
        return nb
    nb = dict(nb)
    cells = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            source = cell["source"]
            text = "".join(source) if isinstance(source, list) else source
            new = _MD_LINK.sub(
                lambda m: f"]({page_url(baseurl, chapter, m.group(1))}{m.group(2) or ''})",
                text,
            )
            if new != text:
                cell = dict(cell)
                cell["source"] = new.splitlines(keepends=True) if isinstance(source, list) else new
        cells.append(cell)
    nb["cells"] = cells
    return nb


def page_links(nb):
    """Every ``(text, url)`` markdown link of the notebook ``nb``."""
    out = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            source = cell["source"]
            text = "".join(source) if isinstance(source, list) else source
            out += re.findall(r"\[([^\]]+)\]\(([^()\s]+)\)", text)
    return out
