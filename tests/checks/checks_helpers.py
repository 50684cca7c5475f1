"""Helpers shared by the chapters' check tests (imported as ``from checks_helpers import ...``):
the source notebook's own solutions, its test cells run as written, and every check's
outcome collected in one dict."""

import json

from lstm_ref.checks._common import CheckFailed


def _cells(path, key):
    nb = json.loads(path.read_text("utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and cell["metadata"].get("nbgrader", {}).get(key):
            yield "".join(cell["source"])


def notebook_solutions(path, namespace):
    """``namespace`` after the notebook's solution cells ran in it, in order."""
    for source in _cells(path, "solution"):
        exec(source, namespace)
    return namespace


def run_test_cells(path, namespace):
    """Run the notebook's autograded test cells (hidden tests included) in ``namespace``;
    returns how many ran."""
    n = 0
    for source in _cells(path, "grade"):
        exec(source, namespace)
        n += 1
    return n


def outcomes(calls):
    """``{label: None if call() passed else its CheckFailed message}``."""
    out = {}
    for label, call in calls.items():
        try:
            call()
            out[label] = None
        except CheckFailed as exc:
            out[label] = str(exc)
    return out


def failing(results):
    """The labels whose check failed."""
    return {k for k, v in results.items() if v is not None}
