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

from tests.planted_bugs import (CMUL_OWN_VALUE, GRU_STEP_NO_BIAS, LSTM_STEP_NO_BIAS,
                                NORM_BOUND_NO_GAMMA, RNN_STEP_NO_BIAS, TBPTT_NO_DETACH)

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
    "ch01_rnn": ("rnn_step_forward", RNN_STEP_NO_BIAS,
                 ("test_step_backward_", "test_backward_")),
    "ch03_lstm": ("lstm_step_forward", LSTM_STEP_NO_BIAS,
                  ("test_step_backward_", "test_backward_")),
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


# --- one bug costs only its own points, in every chapter ---------------------------------

BUGGY_COMPONENT = {
    # chapter: (solution cell after which the bug is planted, the bug, the cells it fails).
    # The sequence forward of ch01 and ch03 calls the learner's step: the same bug.
    "ch01_rnn": ("rnn_step_forward", RNN_STEP_NO_BIAS,
                 {"test_step_forward_values", "test_forward_values"}),
    "ch02_vanishing": ("norm_bound", NORM_BOUND_NO_GAMMA, {"test_bound"}),
    "ch03_lstm": ("lstm_step_forward", LSTM_STEP_NO_BIAS,
                  {"test_step_forward_h", "test_step_forward_c", "test_forward_h",
                   "test_forward_c"}),
    "ch04_variants": ("gru_step_forward", GRU_STEP_NO_BIAS,
                      {"test_gru_forward_values", "test_gru_forward_cache"}),
    "ch05_nngraph": ("cmul_table", CMUL_OWN_VALUE,
                     {"test_cmul_backward_2", "test_cmul_backward_k"}),
    "ch06_gpu": ("train_tbptt", TBPTT_NO_DETACH, {"test_tbptt_losses"}),
}


@pytest.mark.parametrize("chapter", sorted(BUGGY_COMPONENT))
def test_one_bug_costs_only_its_own_points(chapter):
    """A bug in one piece (a forward, a module's backward, a detach) fails the cells that
    check that piece and no other: downstream checks use reference components, backward
    checks a reference-built cache, and ch05's graphs are rebuilt from reference modules."""
    (path,) = [p for p in NOTEBOOKS if p.parent.name == chapter]
    grade_id, code, expected_failures = BUGGY_COMPONENT[chapter]
    scores = _run(path, replace={grade_id: code})
    failed = {k for k, (p, e) in scores.items() if e == 0}
    assert failed == expected_failures, (failed ^ expected_failures)
    points, earned = _total(scores)
    lost = sum(p for k, (p, _) in scores.items() if k in expected_failures)
    assert earned == points - lost
    print(f"{chapter}: one bug earns {earned}/{points}")


# --- points need work --------------------------------------------------------------------

LAZY = {
    # chapter: (solution cell after which lazy code is planted, the code, the cells it must
    # not earn)
    "ch01_rnn": ("rnn_step_forward", """
def rnn_step_forward(x, h_prev, Wx, Wh, b):
    return np.zeros((x.shape[0], Wh.shape[0])), None  # the right shape, nothing computed
""", {"test_step_forward_shape"}),
    "ch02_vanishing": ("clip_grad_norm", """
def clip_grad_norm(grads, max_norm):
    return [g.copy() for g in grads], float(np.sqrt(sum(np.sum(g * g) for g in grads)))
""", {"test_clip_below_threshold", "test_clip_inputs_unchanged"}),
    "ch03_lstm": ("init_forget_bias", """
def init_forget_bias(b, value=1.0):
    return b.copy()
""", {"test_forget_bias_copy"}),
    "ch04_variants": ("gru_step_forward", """
def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    return np.full(h_prev.shape, 0.5), (x, h_prev, Wx, Wh, bx, bh) + (None,) * 4
""", {"test_gru_forward_shape"}),
    "ch06_gpu": ("train_tbptt", """
def train_tbptt(params, streams, bptt, lr, n_segments):
    return None
""", {"test_tbptt_inputs"}),
}


@pytest.mark.parametrize("chapter", sorted(LAZY))
def test_a_function_that_does_no_work_earns_nothing(chapter):
    (path,) = [p for p in NOTEBOOKS if p.parent.name == chapter]
    grade_id, code, must_fail = LAZY[chapter]
    scores = _run(path, replace={grade_id: code})
    earned = {k: e for k, (_, e) in scores.items() if k in must_fail}
    assert earned and all(e == 0 for e in earned.values()), earned


@pytest.mark.parametrize("chapter", [p.parent.name for p in NOTEBOOKS])
def test_functions_returning_none_earn_nothing(chapter):
    """Every solution function (and ch05's module methods) replaced by one returning None:
    no test cell earns a point."""
    (path,) = [p for p in NOTEBOOKS if p.parent.name == chapter]
    nb = json.loads(path.read_text(encoding="utf-8"))
    replace = {}
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if cell["cell_type"] != "code" or not meta.get("solution"):
            continue
        lines = []
        for name in re.findall(r"^def (\w+)\(", "".join(cell["source"]), re.M):
            lines.append(f"def {name}(*args, **kwargs):\n    return None\n")
        for name in re.findall(r"^class (\w+)\(", "".join(cell["source"]), re.M):
            lines.append(f"class {name}({name}):\n" + "".join(
                f"    def {m}(self, *args, **kwargs):\n        return None\n"
                for m in ("__init__", "updateOutput", "updateGradInput", "accGradParameters")))
        replace[meta["grade_id"]] = "\n".join(lines)
    scores = _run(path, replace=replace)
    assert scores and all(e == 0 for _, e in scores.values()), \
        {k: v for k, v in scores.items() if v[1]}


def test_the_ch04_gradient_check_uses_the_reference_forward():
    """The learner's self-check of gru_step_backward builds its cache with the reference
    forward: a forward bug does not show up as backward errors."""
    (path,) = [p for p in NOTEBOOKS if p.parent.name == "ch04_variants"]
    grade_id, bug, _ = BUGGY_COMPONENT["ch04_variants"]
    ns, out = {}, io.StringIO()
    for cell in _cells(path):
        meta = cell["metadata"].get("nbgrader", {})
        source = "".join(cell["source"])
        if meta.get("grade"):
            continue
        if "numeric_gradient(f_k" in source:
            with contextlib.redirect_stdout(out):
                exec(source, ns)
            break
        exec(source, ns) if meta.get("solution") or "import" in source else None
        if meta.get("grade_id") == grade_id:
            exec(bug, ns)
    errors = [float(v) for v in re.findall(r"relative error: (\S+)", out.getvalue())]
    assert len(errors) == 6 and max(errors) < 1e-6, out.getvalue()
