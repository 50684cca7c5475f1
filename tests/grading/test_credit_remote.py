"""Fair credit through the grading design (the learner's code in its own process, the
verdict here, over proxies): one bug costs only its own points in ch05 and ch06, and ch05's
checks never read the learner's parameters."""

import copy

import pytest

from lstm_ref.grading import refcopy
from lstm_ref.grading.course import cell_source
from lstm_ref.grading.verdict import grade_notebook

from grading_helpers import source_nb
from tests.planted_bugs import CMUL_OWN_VALUE, TBPTT_NO_DETACH


@pytest.fixture(scope="module")
def libdir(tmp_path_factory):
    return refcopy.build(tmp_path_factory.mktemp("lib") / "lib")


def _planted(chapter, name, grade_id, extra):
    """The source notebook with ``extra`` appended to the solution cell ``grade_id``."""
    nb = copy.deepcopy(source_nb(chapter, name))
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            cell["source"] = cell_source(cell) + "\n" + extra
    return nb


def _failed(result):
    assert result.graded, result.reason
    return {gid for gid, o in result.tests.items() if not o.passed}


def test_ch05_a_cmul_backward_bug_costs_only_its_checks(libdir):
    src = source_nb("ch05_nngraph", "nngraph_exercises")
    nb = _planted("ch05_nngraph", "nngraph_exercises", "cmul_table", CMUL_OWN_VALUE)
    assert _failed(grade_notebook(nb, src, libdir, sandbox=False)) == {
        "test_cmul_backward_2", "test_cmul_backward_k"}


def test_ch05_zero_weights_in_the_learners_graph_change_nothing(libdir):
    """A Linear that zeroes its weights (which collapsed the cell to a closed form when
    the checks read the learner's parameters) is graded on the check's own weights."""
    src = source_nb("ch05_nngraph", "nngraph_exercises")
    nb = _planted("ch05_nngraph", "nngraph_exercises", "linear", (
        "class Linear(Linear):\n"
        "    def __init__(self, n_in, n_out, rng=None):\n"
        "        super().__init__(n_in, n_out, rng)\n"
        "        self.weight = self.weight * 0.0\n"
        "        self.bias = self.bias * 0.0\n"))
    failed = _failed(grade_notebook(nb, src, libdir, sandbox=False))
    assert failed == {"test_linear_init"}, failed


def test_ch06_a_missing_detach_costs_one_point(libdir):
    src = source_nb("ch06_gpu", "gpu_exercises")
    nb = _planted("ch06_gpu", "gpu_exercises", "train_tbptt", TBPTT_NO_DETACH)
    assert _failed(grade_notebook(nb, src, libdir, sandbox=False)) == {"test_tbptt_losses"}


def test_ch05_a_linear_made_transposed_costs_only_its_init_check(libdir):
    """The graphs of sections 3 to 5 are rebuilt with Linears of the sizes the exercise
    names, so a section-2 bug in the learner's weight shape stays in section 2."""
    src = source_nb("ch05_nngraph", "nngraph_exercises")
    nb = _planted("ch05_nngraph", "nngraph_exercises", "linear", (
        "class Linear(Linear):\n"
        "    def __init__(self, n_in, n_out, rng=None):\n"
        "        super().__init__(n_in, n_out, rng)\n"
        "        self.weight = self.weight.T.copy()  # (in, out): the wrong way round\n"))
    assert _failed(grade_notebook(nb, src, libdir, sandbox=False)) == {"test_linear_init"}
