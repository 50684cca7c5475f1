"""A failing check shows one line in a learner's notebook, and the cell still fails.

The notebook runs in a real IPython kernel (nbclient), as in Jupyter; nbgrader's own
``determine_grade`` then scores the executed test cells: a failing check 0, a passing one
its points.
"""

import logging

import nbformat
import pytest

nbclient = pytest.importorskip("nbclient")
from nbgrader.utils import determine_grade  # noqa: E402

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _test_cell(source, grade_id):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "locked": True,
                                 "points": 2, "schema_version": 3, "solution": False,
                                 "task": False}
    return cell


def test_a_failing_check_is_one_line_and_scores_zero():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import numpy as np\n"
            "from lstm_ref.checks import ch01 as checks\n"
            "def rnn_step_forward(x, h_prev, Wx, Wh, b):\n"
            "    h = np.tanh(x @ Wx + h_prev @ Wh)\n"
            "    return h, (x, h_prev, Wx, Wh, h)\n"
            "def right(x, h_prev, Wx, Wh, b):\n"
            "    h = np.tanh(x @ Wx + h_prev @ Wh + b)\n"
            "    return h, (x, h_prev, Wx, Wh, h)\n"
        ),
        _test_cell("checks.step_forward_values(rnn_step_forward)", "fails"),
        _test_cell("checks.step_forward_values(right)", "passes"),
        nbformat.v4.new_code_cell("print('the kernel goes on')"),
    ]
    client = nbclient.NotebookClient(nb, timeout=60, allow_errors=True,
                                     resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    failing, passing, after = nb.cells[1], nb.cells[2], nb.cells[3]
    (error,) = [o for o in failing.outputs if o.output_type == "error"]
    assert error.ename == "CheckFailed"
    assert len(error.traceback) == 1 and "\n" not in error.traceback[0]
    assert error.traceback[0].startswith("CheckFailed: h_next has wrong values")
    assert "Hint: the bias b is missing" in error.traceback[0]
    assert "lstm_ref/checks" not in "".join(error.traceback)
    assert not [o for o in failing.outputs if o.get("name") == "stderr"]
    log = logging.getLogger("test")
    assert determine_grade(failing, log) == (0, 2)
    assert determine_grade(passing, log) == (2, 2)
    assert passing.outputs[0].text.startswith("OK: ")
    assert after.outputs[0].text == "the kernel goes on\n"


def test_other_errors_keep_their_traceback():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from lstm_ref.checks import ch01\n1 / 0")]
    client = nbclient.NotebookClient(nb, timeout=60, allow_errors=True,
                                     resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    (error,) = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    assert error.ename == "ZeroDivisionError" and len(error.traceback) > 1
