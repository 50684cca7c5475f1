"""Feedback without hidden tests.

nbgrader's feedback is the autograded notebook rendered as HTML. By default it shows the
test cells as they ran, hidden tests restored, and a failing test's traceback prints the
source lines around the failing line, hidden ones included. Two defences:

- :class:`StripHiddenTests`, an nbconvert preprocessor run by ``GenerateFeedback`` (the
  course's ``nbgrader_config.py`` adds it, so plain ``nbgrader generate_feedback`` uses it
  too): it cuts every ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` region from
  the sources and reduces the error outputs of test cells to their last line (the error
  type and the check's message), which names no source line.
- :func:`leaked_lines`, run on the written HTML: any hidden-test line of the source
  notebook still found in the text of the page means the page is withheld.
"""

import html
import re

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from .course import cell_source, is_test_cell

BEGIN = "BEGIN HIDDEN TESTS"
END = "END HIDDEN TESTS"
PLACEHOLDER = "# (hidden tests ran here when your notebook was graded; they are not shown)"


def strip_hidden_source(source):
    """``source`` without its hidden-test regions (each replaced by one comment line)."""
    out, hidden = [], False
    for line in source.splitlines():
        if BEGIN in line:
            hidden = True
            out.append(PLACEHOLDER)
            continue
        if END in line:
            hidden = False
            continue
        if not hidden:
            out.append(line)
    return "\n".join(out)


def hidden_lines(nb):
    """Every non-empty line inside a hidden-test region of the notebook ``nb`` (a dict),
    delimiters included, stripped of surrounding blanks."""
    lines = []
    for cell in nb.get("cells", []):
        hidden = False
        for line in cell_source(cell).splitlines():
            if BEGIN in line:
                hidden = True
            if hidden and line.strip():
                lines.append(line.strip())
            if END in line:
                hidden = False
    return lines


def page_text(html_text):
    """The visible text of an HTML page: tags removed, entities decoded, blanks squeezed.

    Syntax highlighting splits a source line into many ``<span>`` elements, so a hidden
    line is searched in this text, not in the raw HTML.
    """
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", html_text, flags=re.S | re.I)
    text = re.sub(r"<[^>]+>", "", text)
    text = html.unescape(text)
    return re.sub(r"[ \t]+", " ", text)


def leaked_lines(html_text, source_nb):
    """The hidden-test lines of ``source_nb`` that appear in the feedback page ``html_text``."""
    text = page_text(html_text)
    squeezed = {re.sub(r"[ \t]+", " ", line) for line in hidden_lines(source_nb)}
    return sorted(line for line in squeezed if line in text)


class StripHiddenTests(Preprocessor):
    """Remove hidden tests from a notebook before it is rendered as feedback."""

    # nbconvert registers extra preprocessors disabled unless they say otherwise.
    enabled = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if isinstance(cell.source, list):
            cell.source = "".join(cell.source)
        had_hidden = BEGIN in cell.source
        if had_hidden:
            cell.source = strip_hidden_source(cell.source)
        if had_hidden or is_test_cell(cell):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    # The traceback quotes source lines (hidden ones too); keep the message.
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources


# --- the page itself: no script but the course's MathJax, a strict CSP, named checks --------

MAX_PAGE_BYTES = 2_000_000
# No inline script, no handler, no javascript: URL, no frame, no form, no connection: the
# only scripts are the two files beside the page (MathJax, from the same offline copy the
# site serves, and its settings).
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; font-src 'self' data:; connect-src 'none'; frame-src 'none'; "
       "object-src 'none'; base-uri 'none'; form-action 'none'")
MATHJAX_DIR = "mathjax"
MATHJAX_FILE = "tex-svg.js"  # one file: the SVG output needs no font files
MATHJAX_CONFIG = """window.MathJax = {
  tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']],
        processEscapes: true, tags: 'ams'},
  options: {skipHtmlTags: ['script', 'noscript', 'style', 'textarea', 'pre', 'code']},
  svg: {fontCache: 'global'}
};
"""
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script\s*>", re.S | re.I)


def mathjax_source():
    """The offline MathJax the book's site serves (sphinx-mathjax-offline's copy), or None."""
    from importlib import metadata
    from pathlib import Path

    try:
        dist = metadata.distribution("sphinx-mathjax-offline")
    except metadata.PackageNotFoundError:
        return None
    path = Path(dist.locate_file(f"sphinx-mathjax-offline/static/mathjax/{MATHJAX_FILE}"))
    return path if path.is_file() else None


def install_mathjax(folder):
    """Put MathJax and its settings into ``folder/mathjax``; returns whether it is there."""
    import os
    import shutil
    from pathlib import Path

    source = mathjax_source()
    if source is None:
        return False
    dest = Path(folder) / MATHJAX_DIR
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        dest.unlink()
    dest.mkdir(exist_ok=True)
    target = dest / MATHJAX_FILE
    if not target.is_file() or target.stat().st_size != source.stat().st_size:
        target.unlink(missing_ok=True)
        try:
            os.link(source, target)  # the same bytes for every student, stored once
        except OSError:
            shutil.copyfile(source, target)
    (dest / "config.js").write_text(MATHJAX_CONFIG, encoding="utf-8")
    return True


HARDENED = "<!-- lstm_ref: hardened feedback page -->"


def is_hardened(html_text):
    return HARDENED in html_text[:4000]


def harden_page(html_text, titles, mathjax=True):
    """The feedback page with every script removed (nbconvert's CDN MathJax, require.js,
    jQuery: the page needs none of them), a Content-Security-Policy and the local MathJax
    in their place, and the table of contents naming each test cell by ``titles``
    (``{grade_id: words}``) instead of "Test cell". A page hardened already is returned
    as it is (its marker comes first in its head)."""
    if is_hardened(html_text):
        return html_text
    page = _SCRIPT.sub("", html_text)
    head = f'{HARDENED}\n<meta http-equiv="Content-Security-Policy" content="{CSP}">'
    if mathjax:
        head += (f'\n<script src="{MATHJAX_DIR}/config.js"></script>'
                 f'\n<script src="{MATHJAX_DIR}/{MATHJAX_FILE}" async></script>')
    page, n = re.subn(r"<head>", "<head>\n" + head.replace("\\", "\\\\"), page, count=1,
                      flags=re.I)
    if not n:
        page = head + page
    for gid, title in titles.items():
        page = page.replace(f'<a href="#{html.escape(gid)}">Test cell</a>',
                            f'<a href="#{html.escape(gid)}">{html.escape(title)}</a>')
    return page


def too_large_page(name):
    """What replaces a feedback page over :data:`MAX_PAGE_BYTES`."""
    return (f'<!DOCTYPE html><html><head>{HARDENED}<meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<title>{html.escape(name)}</title></head><body>'
            "<p>This feedback page was too large to show (your notebook printed or held too "
            "much). Your scores are recorded; ask your instructor for details.</p></body></html>")


def after_generate_feedback(root, assignment=None, student=None, notebooks=None, **_):
    """nbgrader's ``GenerateFeedback.post_convert_hook`` (set in the course's
    ``nbgrader_config.py``): plain ``nbgrader generate_feedback`` hardens its pages as
    ``make grade`` does (:func:`~lstm_ref.grading.record.harden_feedback`). nbgrader passes
    the ids it was given (patterns such as ``*``): every matching feedback folder that holds
    a page not yet hardened is done."""
    import fnmatch
    from pathlib import Path

    from .record import harden_feedback

    base = Path(root) / "feedback"
    if not base.is_dir():
        return
    for folder in sorted(base.glob("*/*")):
        if not folder.is_dir() or folder.is_symlink():
            continue
        who, what = folder.parent.name, folder.name
        if not fnmatch.fnmatchcase(who, student or "*") or \
                not fnmatch.fnmatchcase(what, assignment or "*"):
            continue
        pages = [p for p in folder.glob("*.html") if p.is_file() and not p.is_symlink()]
        if any(not is_hardened(p.read_text("utf-8", errors="replace")[:4000]) for p in pages):
            harden_feedback(root, what, who)
