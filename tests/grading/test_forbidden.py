"""lstm_ref.grading.forbidden: in the numpy chapters, a test cell whose function is computed
with an autograd library or a library's recurrent cell earns nothing, with the reason; the
tricks a static reading can follow (aliases, __import__, importlib, getattr, sys.modules)
are followed; honest code, and a learner's own torch self-check, cost nothing."""

import copy

import pytest

from lstm_ref.checks import ch04
from lstm_ref.grading import refcopy
from lstm_ref.grading.course import cell_source
from lstm_ref.grading.forbidden import extra_reference_imports, forbidden_tests
from lstm_ref.grading.verdict import grade_notebook

from grading_helpers import all_notebooks, source_nb

BACKWARD = {f"test_gru_backward_{g}" for g in ch04.GRU_GRADS}
FORWARD = {"test_gru_forward_shape", "test_gru_forward_values", "test_gru_forward_cache"}

GRUCELL_AUTOGRAD = '''
def gru_step_backward(dh_next, cache):
    x, h_prev, Wx, Wh, bx, bh, r, z, n, hn = cache
    cell = torch.nn.GRUCell(x.shape[1], h_prev.shape[1], dtype=torch.float64)
    with torch.no_grad():
        for p, v in zip(cell.parameters(), (Wx.T, Wh.T, bx, bh)):
            p.copy_(torch.from_numpy(v))
    xt = torch.from_numpy(x).requires_grad_()
    ht = torch.from_numpy(h_prev).requires_grad_()
    cell(xt, ht).backward(torch.from_numpy(dh_next))
    w = [p.grad.numpy() for p in cell.parameters()]
    return xt.grad.numpy(), ht.grad.numpy(), w[0].T, w[1].T, w[2], w[3]
'''

TRICKS = {
    "alias": "import torch as T\nag = T.autograd\n"
             "def gru_step_backward(dh_next, cache):\n    return ag.grad(None, None)\n",
    "from-import": "from torch.autograd import grad as g\n"
                   "def gru_step_backward(dh_next, cache):\n    return g(None, None)\n",
    "__import__": "T = __import__('to' + 'rch')\n"
                  "def gru_step_backward(dh_next, cache):\n    return T.zeros(1)\n",
    "importlib": "import importlib\nF = importlib.import_module('torch.func')\n"
                 "def gru_step_backward(dh_next, cache):\n    return F.vjp(None)\n",
    "getattr": "def gru_step_backward(dh_next, cache):\n"
               "    return getattr(torch, 'autograd').grad(None, None)\n",
    "sys.modules": "import sys\n"
                   "def gru_step_backward(dh_next, cache):\n"
                   "    return sys.modules['jax'].grad(None)\n",
    "jax": "def gru_step_backward(dh_next, cache):\n    import jax\n    return jax.grad(None)\n",
    "helper": "def _helper(d):\n    import autograd.numpy as anp\n    return anp.tanh(d)\n"
              "def gru_step_backward(dh_next, cache):\n    return _helper(dh_next)\n",
    "provided cell": "def gru_step_backward(dh_next, cache):\n    return cell(None)\n",
    "VF": "def gru_step_backward(dh_next, cache):\n    return torch._VF.gru_cell(None)\n",
}


def _with(src, grade_id, code):
    nb = copy.deepcopy(src)
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            cell["source"] = code
    return nb


def _stubbed(src):
    """The source notebook with its solutions removed: its solutions then read as the
    learner's own code."""
    nb = copy.deepcopy(src)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and cell["metadata"].get("nbgrader", {}).get("solution"):
            cell["source"] = "raise NotImplementedError()\n"
    return nb


@pytest.mark.parametrize("chapter,name", all_notebooks())
def test_the_solutions_use_nothing_forbidden(chapter, name):
    src = source_nb(chapter, name)
    assert forbidden_tests(src, _stubbed(src)) == {} or chapter == "ch06_gpu"
    assert extra_reference_imports(src, _stubbed(src)) == []


def test_chapter_6_may_use_torch_autograd():
    src = source_nb("ch06_gpu", "gpu_exercises")
    assert forbidden_tests(src, _stubbed(src), libraries="numpy")  # it does use autograd
    assert forbidden_tests(src, _stubbed(src), libraries="torch") == {}


def test_a_grucell_with_autograd_loses_exactly_the_backward_cells():
    src = source_nb("ch04_variants", "variants_exercises")
    found = forbidden_tests(_with(src, "gru_step_backward", GRUCELL_AUTOGRAD), src)
    assert set(found) == BACKWARD
    reason = found["test_gru_backward_dx"]
    assert "torch.nn.GRUCell" in reason and "recurrent cell" in reason and "numpy" in reason


@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_aliasing_and_dynamic_imports_are_followed(trick):
    src = source_nb("ch04_variants", "variants_exercises")
    found = forbidden_tests(_with(src, "gru_step_backward", TRICKS[trick]), src)
    assert set(found) == BACKWARD, (trick, found)


def test_a_torch_self_check_in_the_learners_own_cell_costs_nothing():
    src = source_nb("ch04_variants", "variants_exercises")
    solution = next(cell_source(c) for c in src["cells"]
                    if c["metadata"].get("nbgrader", {}).get("grade_id") == "gru_step_backward")
    mine = solution + ("\n# my own check against torch's autograd\n"
                       "xt = torch.zeros(2, 3, requires_grad=True)\n"
                       "(2 * xt).sum().backward()\nprint(xt.grad)\n")
    nb = _with(src, "gru_step_backward", mine)
    assert forbidden_tests(nb, _stubbed(src)) == {}


def test_graph_backward_in_chapter_5_is_not_autograd():
    src = source_nb("ch05_nngraph", "nngraph_exercises")
    mine = ("def fanout_gradient(x, W, dz):\n    net = build_fanout_network(x.shape[-1])\n"
            "    net.forward(x)\n    return net.backward(x, dz)\n")
    assert forbidden_tests(_with(src, "fanout", mine), _stubbed(src)) == {}


def test_imports_of_the_reference_beyond_the_notebook_are_listed():
    src = source_nb("ch04_variants", "variants_exercises")
    nb = _with(src, "gru_step_forward", "from lstm_ref.numpy.lstm import lstm_step_forward\n"
               "import lstm_ref.torch.gru\n")
    lines = extra_reference_imports(nb, src)
    assert len(lines) == 2 and "lstm_ref.numpy.lstm.lstm_step_forward" in lines[0], lines
    assert all("not provide" in line for line in lines)


@pytest.fixture(scope="module")
def libdir(tmp_path_factory):
    return refcopy.build(tmp_path_factory.mktemp("lib") / "lib")


def test_the_verdict_applies_the_policy(libdir):
    """Chapter 4, a backward computed with torch.nn.GRUCell and autograd: it used to earn
    9 of 14 points, unflagged; now its six backward cells fail with the reason, and the
    forward cells still earn theirs."""
    src = source_nb("ch04_variants", "variants_exercises")
    nb = _with(src, "gru_step_backward", GRUCELL_AUTOGRAD)
    result = grade_notebook(nb, src, libdir, sandbox=False)
    assert result.graded, result.reason
    for gid in BACKWARD:
        outcome = result.tests[gid]
        assert not outcome.passed and "recurrent cell" in outcome.evalue, (gid, outcome)
    assert all(result.tests[gid].passed for gid in FORWARD)
