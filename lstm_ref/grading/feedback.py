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
