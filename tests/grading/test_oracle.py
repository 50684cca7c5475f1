"""Feedback is not an oracle (issue 18, item 4): no hidden input can be read back.

A ch01 submission tries every channel it has to carry what its functions receive into its
feedback: the text of the exceptions it raises, what it prints during a call, a global and
a file it keeps and prints or raises from later cells, its function's ``__name__``, the
error of a later visible test. Each value it sees is written as a token (the hex of the
array's first bytes). With a course secret set, the class is graded repeatedly, as a
student who resubmits would be; the tokens of every hidden call are computed here, in this
process, by running the same test cells against a recorder. None may appear in any
feedback page or autograded notebook, while the token of the notebook's own worked example does (a
visible test may show the learner's error: that is how the test knows the channel works).
An honest classmate's hidden ``OK`` lines, which name their parameters, never show either.
"""

import contextlib
import io
import re

import numpy as np
import pytest

from grading_helpers import all_solution_ids, fill, make_course, source_nb, submit

from lstm_ref.grading.course import cell_source, is_test_cell
from lstm_ref.grading.pipeline import grade
from lstm_ref.grading.verdict import split_hidden

pytestmark = pytest.mark.pipeline

CHAPTER, NAME = "ch01_rnn", "rnn_exercises"
SECRET = "oracle-test-secret"
ROUNDS = 2

LEAKER = '''
import numpy as np
_seen = []
def _tok(a):
    return "TOK" + np.ascontiguousarray(a, dtype=np.float64).tobytes().hex()[:24]
def rnn_step_forward(x, h_prev, Wx, Wh, b):
    t = _tok(x)
    _seen.append(t)
    print(t)
    rnn_step_forward.__name__ = t
    with open("/tmp/seen.txt", "a") as f:
        f.write(t + "\\n")
    if x.shape != (3, 10):  # right on the visible inputs only
        raise ValueError(t + " " + " ".join(_seen))
    h = np.tanh(x @ Wx + h_prev @ Wh + b)
    return h, (x, h_prev, Wx, Wh, h)
'''
LEAK_LATER = '''
import os
print(" ".join(_seen))
if os.path.exists("/tmp/seen.txt"):
    print(open("/tmp/seen.txt").read())
raise RuntimeError(" ".join(_seen))
'''
LEAK_BACKWARD = '''
def rnn_step_backward(dh_next, cache):
    raise ValueError(" ".join(_seen))
'''


def _tokens(src):
    """``(visible, hidden)`` tokens of the first argument of every call that the source
    notebook's test cells make to ``rnn_step_forward``, computed here."""
    from lstm_ref.checks import ch01

    visible, hidden = [], []
    for cell in src["cells"]:
        if cell["cell_type"] != "code" or not is_test_cell(cell):
            continue
        for is_hidden, code in split_hidden(cell_source(cell)):
            for line in code.splitlines():
                if "rnn_step_forward" not in line or line.lstrip().startswith("#"):
                    continue
                seen = hidden if is_hidden else visible

                def recorder(x, *rest):
                    seen.append("TOK" + np.ascontiguousarray(x, dtype=np.float64)
                                .tobytes().hex()[:24])
                    raise ValueError("recorded")

                with contextlib.redirect_stdout(io.StringIO()):
                    try:
                        exec(line.strip(), {"checks": ch01, "rnn_step_forward": recorder})
                    except Exception:
                        pass
    return visible, hidden


def _hidden_ok_lines(src, honest):
    """The ``OK`` lines the hidden calls of the honest notebook print, minus visible ones."""
    from lstm_ref.checks import ch01

    ns = {"__name__": "__main__"}
    for cell in honest["cells"]:
        if cell["cell_type"] == "code" and not is_test_cell(cell):
            with contextlib.redirect_stdout(io.StringIO()):
                try:
                    exec(cell_source(cell), ns)
                except Exception:
                    pass
    shown, hidden = set(), set()
    for cell in src["cells"]:
        if cell["cell_type"] != "code" or not is_test_cell(cell):
            continue
        for is_hidden, code in split_hidden(cell_source(cell)):
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                try:
                    exec(code, dict(ns, checks=ch01))
                except Exception:
                    pass
            (hidden if is_hidden else shown).update(
                line for line in out.getvalue().splitlines() if line.startswith("OK"))
    return hidden - shown


def test_no_hidden_input_comes_back_over_regrades(tmp_path, released, monkeypatch):
    monkeypatch.setenv("COURSE_SECRET", SECRET)
    root = make_course(tmp_path / "course")
    src, rel = source_nb(CHAPTER, NAME), released[(CHAPTER, NAME)]
    honest = fill(rel, src, set(all_solution_ids(src)))
    leaker = fill(rel, src, set(all_solution_ids(src)))
    for cell in leaker["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid == "rnn_step_forward":
            cell["source"] = LEAKER
        elif gid == "rnn_step_backward":
            cell["source"] = LEAK_BACKWARD
    at = next(i for i, c in enumerate(leaker["cells"])
              if c["metadata"].get("nbgrader", {}).get("grade_id") == "rnn_step_backward")
    later = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
             "source": LEAK_LATER}
    leaker["cells"].insert(at, dict(later))
    leaker["cells"].append(dict(later))
    submit(root, "leaker", CHAPTER, NAME, leaker)
    submit(root, "honest", CHAPTER, NAME, honest)
    visible, hidden = _tokens(src)
    assert visible and len(hidden) >= 4 and not set(visible) & set(hidden)
    hidden_ok = _hidden_ok_lines(src, honest)
    assert hidden_ok  # the hidden calls do print their parameters when they pass
    for _round in range(ROUNDS):
        run = grade(CHAPTER, root=root, echo=lambda *a: None, workers=2)
        g = {x.student: x for x in run.grades}
        assert g["leaker"].status == "graded" and g["honest"].status == "graded"
        assert g["honest"].auto_score > g["leaker"].auto_score
        texts = {p: p.read_text(encoding="utf-8", errors="replace")
                 for step in ("feedback", "autograded")
                 for p in (root / step).rglob("*") if p.suffix in (".html", ".ipynb")}
        assert any("leaker" in str(p) for p in texts)
        for path, text in texts.items():
            for tok in hidden:
                assert tok not in text, (path, tok)
            for line in hidden_ok:
                assert line not in text, (path, line)
        page = texts[root / "feedback" / "leaker" / CHAPTER / f"{NAME}.html"]
        assert re.search(r"on the hidden tests, your code raised an error", page)
    # The channel is real: the notebook's own worked example (a cell that runs before any
    # hidden call) prints its token, and the page shows it.
    worked = "TOK" + np.linspace(-0.4, 0.7, num=30).reshape(3, 10).tobytes().hex()[:24]
    assert worked in page
