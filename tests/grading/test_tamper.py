"""lstm_ref.grading.tamper: the tripwire for code that reaches for the grader."""

import pytest
from grading_helpers import all_notebooks, source_nb

from lstm_ref.grading.tamper import scan_source, suspicious_code


@pytest.mark.parametrize("code, words", [
    ("import sys", "imports sys"),
    ("import os.path as p", "imports os.path"),
    ("from lstm_ref.checks import ch01", "imports from lstm_ref.checks"),
    ("from lstm_ref import checks", "imports from lstm_ref"),
    ("from importlib import reload", "imports from importlib"),
    ("exec('x = 1')", "calls exec()"),
    ("setattr(checks, 'forward_values', print)", "calls setattr()"),
    ("open('/etc/passwd').read()", "calls open()"),
    ("f = rnn_forward.__globals__", "uses .__globals__"),
    ("g.__code__ = f.__code__", "uses .__code__"),
    ("checks = None", "rebinds checks"),
    ("del checks", "rebinds checks"),
    ("checks.forward_values = print", "changes checks.forward_values"),
    ("np.allclose = lambda *a, **k: True", "changes np.allclose"),
    ("!cat /etc/passwd", "shell escape"),
    ("%%bash\necho hi", "magic %%bash"),
])
def test_each_rule_fires(code, words):
    found = scan_source(code)
    assert any(words in what for _, what in found), found


@pytest.mark.parametrize("code", [
    "import numpy as np\nh = np.tanh(x @ Wx + h_prev @ Wh + b)",
    "import warnings\nwarnings.warn('slow')",
    "dx = da @ Wx.T\ncache = (x, h_prev, Wx, Wh, h_next)",
    "checks.forward_values(rnn_forward)",  # re-running a visible check is fine
    "import torch\nWx = module.weight_ih_l0.detach().numpy().T.copy()",
    "def f(x):\n    return x +",  # a syntax error is the student's own loss, not a flag
])
def test_ordinary_code_is_not_flagged(code):
    assert scan_source(code) == []


@pytest.mark.parametrize("chapter, name", all_notebooks())
def test_the_solutions_themselves_are_not_flagged(chapter, name):
    src = source_nb(chapter, name)
    assert suspicious_code(src, src) == []
    # Every solution cell read as if a student wrote it: still nothing.
    solutions = {"cells": [c for c in src["cells"]
                           if not c["metadata"].get("nbgrader", {}).get("solution")]}
    assert suspicious_code(src, solutions) == []
