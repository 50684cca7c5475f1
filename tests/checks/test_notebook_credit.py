"""The checks as the notebooks' test cells call them: every test cell of a source notebook
(hidden tests included) runs after its code cells, as in the learner's kernel, and its points
count when it raises nothing.

- the solution earns every point and the stub none (every test cell fails);
- a correct backward pass with a buggy forward pass (a missing ``+ b``) earns all the
  backward's points in ch01 and ch03: the backward checks build their cache from the
  reference and never run the learner's forward.
"""

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(ROOT.glob("solutions/*/*.ipynb"))
_SOLUTION = re.compile(r"### BEGIN SOLUTION.*?### END SOLUTION", re.S)


def _cells(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _run(path, stub=False, replace=None):
    """``{grade_id: (points, earned)}`` of the notebook's test cells. ``replace`` maps a
    solution cell's grade_id to code run right after it (a learner's wrong version)."""
    ns, scores = {}, {}
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        for cell in _cells(path):
            meta = cell["metadata"].get("nbgrader", {})
            source = "".join(cell["source"])
            if meta.get("grade"):
                try:
                    exec(source, ns)
                    scores[meta["grade_id"]] = (meta["points"], meta["points"])
                except Exception:
                    scores[meta["grade_id"]] = (meta["points"], 0)
                continue
            if stub and meta.get("solution"):
                source = _SOLUTION.sub("raise NotImplementedError()", source)
            try:
                exec(source, ns)
            except Exception:  # a demo cell that needs an exercise still unwritten
                pass
            if replace and meta.get("grade_id") in replace:
                exec(replace[meta["grade_id"]], ns)
    return scores


def _total(scores):
    return sum(p for p, _ in scores.values()), sum(e for _, e in scores.values())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.parent.name for p in NOTEBOOKS])
def test_solution_earns_every_point_and_the_stub_none(path):
    solution = _run(path)
    assert solution and all(e == p for p, e in solution.values()), solution
    stub = _run(path, stub=True)
    assert all(e == 0 for _, e in stub.values()), stub


BUGGY_FORWARD = {
    "ch01_rnn": ("rnn_step_forward", """
_right_step = rnn_step_forward
def rnn_step_forward(x, h_prev, Wx, Wh, b):
    return _right_step(x, h_prev, Wx, Wh, 0 * b)  # the learner forgot + b
""", ("test_step_backward_", "test_backward_")),
    "ch03_lstm": ("lstm_step_forward", """
_right_step = lstm_step_forward
def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    return _right_step(x, h_prev, c_prev, Wx, Wh, 0 * b)  # the learner forgot + b
""", ("test_step_backward_", "test_backward_")),
}


@pytest.mark.parametrize("chapter", sorted(BUGGY_FORWARD))
def test_a_buggy_forward_keeps_every_backward_point(chapter):
    (path,) = [p for p in NOTEBOOKS if p.parent.name == chapter]
    grade_id, code, backward_prefixes = BUGGY_FORWARD[chapter]
    scores = _run(path, replace={grade_id: code})
    backward = {k: v for k, v in scores.items() if k.startswith(backward_prefixes)}
    assert backward and all(e == p for p, e in backward.values()), backward
    forward_values = {k: v for k, v in scores.items()
                      if re.match(r"test_(step_)?forward_(values|h|c)$", k)}
    assert forward_values and all(e == 0 for _, e in forward_values.values()), forward_values
    points, earned = _total(scores)
    print(f"{chapter}: a forward without + b earns {earned}/{points}")
