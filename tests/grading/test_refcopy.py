"""lstm_ref.grading.refcopy: in the sandbox's copy, nothing that computes an exercise of any
chapter runs (private helpers, torch twins, other chapters' functions, the checks' own
helpers), and what the notebooks are given still works."""

import json
import subprocess
import sys
import textwrap

import pytest

from lstm_ref.checks._common import GRADING_REFUSAL
from lstm_ref.grading import refcopy
from lstm_ref.grading.course import cell_source, is_test_cell

from grading_helpers import all_notebooks, source_nb


@pytest.fixture(scope="module")
def libdir(tmp_path_factory):
    return refcopy.build(tmp_path_factory.mktemp("refcopy") / "lib")


def _run(libdir, code):
    """Run ``code`` with the sanitised copy first on sys.path; returns its stdout."""
    prelude = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(libdir)!r})
        import lstm_ref
        assert lstm_ref.__file__.startswith({str(libdir)!r}), lstm_ref.__file__
    """)
    proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_every_module_of_the_copy_imports(libdir):
    out = _run(libdir, """
        import importlib, pkgutil
        bad = []
        for m in pkgutil.walk_packages(lstm_ref.__path__, "lstm_ref."):
            if m.name.endswith("__main__"):
                continue
            try:
                importlib.import_module(m.name)
            except Exception as exc:
                bad.append(f"{m.name}: {exc!r}")
        print(bad)
    """)
    assert out.strip() == "[]", out


REFUSED = {
    # every chapter's exercises
    **{t: None for t in refcopy.all_exercised()},
    # private helpers, torch twins, other chapters' pieces, the checks' own helpers
    "lstm_ref.numpy.gru:_step": None,
    "lstm_ref.numpy.gru:_step_grads": None,
    "lstm_ref.numpy.lstm:_gates": None,
    "lstm_ref.numpy.activations:sigmoid": None,
    "lstm_ref.torch.gru:gru_cell": None,
    "lstm_ref.torch.gru:GRUCell": None,
    "lstm_ref.torch.variants:VariantLSTM": None,
    "lstm_ref.train.clipping:clip_grad_norm": None,
    "lstm_ref.graph.lstm_graphs:lstm_four_sums": None,
    "lstm_ref.checks.ch04:_gru_step_grads": None,
}


def test_nothing_that_computes_an_exercise_runs(libdir):
    targets = sorted(REFUSED)
    out = _run(libdir, f"""
        import importlib, inspect
        results = {{}}
        for target in {targets!r}:
            module, _, qualname = target.partition(":")
            try:
                obj = importlib.import_module(module)
                for part in qualname.split("."):
                    obj = getattr(obj, part)
            except AttributeError:
                results[target] = "missing"
                continue
            fn = obj
            if inspect.isclass(obj):
                fn = obj.__init__ if "__init__" in vars(obj) else obj.__call__
            n = len([p for p in inspect.signature(fn).parameters.values()
                     if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY,
                                                            p.POSITIONAL_OR_KEYWORD)])
            try:
                (obj if inspect.isclass(obj) else fn)(*([None] * n))
                results[target] = "ran"
            except PermissionError as exc:
                results[target] = str(exc)
            except Exception as exc:
                results[target] = f"{{type(exc).__name__}}: {{exc}}"
        print(__import__("json").dumps(results))
    """)
    results = json.loads(out)
    for target, what in results.items():
        assert what != "missing", f"{target} is not in lstm_ref: update this list"
        assert what.startswith(GRADING_REFUSAL), (target, what)


def test_what_the_notebooks_are_given_still_works(libdir):
    out = _run(libdir, """
        import numpy as np
        import torch
        import lstm_ref.graph as nn
        from lstm_ref.gradcheck import numeric_gradient, rel_error
        from lstm_ref.numpy import pascanu_rnn_states, random_recurrent_matrix
        from lstm_ref.train.tbptt import init_lm_params, lm_loss
        rng = np.random.default_rng(0)
        W = random_recurrent_matrix(4, 0.9, rng)
        x = rng.standard_normal((5, 2, 3))
        hs = pascanu_rnn_states(x, np.zeros((2, 4)), W, rng.standard_normal((4, 3)),
                                np.zeros(4))
        assert np.all(np.isfinite(hs))
        p = init_lm_params(5, 3)
        ids = torch.zeros((4, 2), dtype=torch.long)
        loss, _ = lm_loss(p, ids, ids, (torch.zeros(2, 3, dtype=torch.float64),) * 2)
        assert float(loss) > 0
        a, b = nn.Identity()(), nn.Identity()()
        g = nn.gModule([a, b], [nn.Tanh()(nn.CAddTable()([nn.Sigmoid()(a),
                                                          nn.Narrow(-1, 1, 2)(b)]))])
        out = g.forward([np.ones((1, 2)), np.ones((1, 3))])
        g.backward([np.ones((1, 2)), np.ones((1, 3))], np.ones((1, 2)))
        f = lambda v: v ** 2
        assert rel_error(numeric_gradient(f, np.ones(3), np.ones(3)), 2 * np.ones(3)) < 1e-6
        print("ok")
    """)
    assert out.strip() == "ok"


@pytest.mark.parametrize("chapter,name", all_notebooks())
def test_every_setup_cell_runs_in_the_copy(libdir, chapter, name):
    nb = source_nb(chapter, name)
    setup = next(cell_source(c) for c in nb["cells"]
                 if c["cell_type"] == "code" and not is_test_cell(c))
    assert "lstm_ref" in setup
    _run(libdir, setup)


def test_a_target_that_the_policy_keeps_is_refused(tmp_path, monkeypatch):
    monkeypatch.setitem(refcopy.PROVIDED, "numpy/gru.py", ("gru_step_forward",))
    with pytest.raises(ValueError, match="PROVIDED keeps it"):
        refcopy.build(tmp_path / "x")


def _planted(chapter, name, grade_id, code):
    import copy

    nb = copy.deepcopy(source_nb(chapter, name))
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            cell["source"] = code
    return nb


REACHES = {
    # what a "solution" reaches for: a private helper, a torch twin, another chapter's
    "private helper": ("ch04_variants", "variants_exercises", "gru_step_forward", """
from lstm_ref.numpy.gru import _step
def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    return _step(x @ Wx + bx, h_prev, Wh, bh, h_prev.shape[1], True)
""", "test_gru_forward_values"),
    "torch twin": ("ch04_variants", "variants_exercises", "gru_step_forward", """
import torch
from lstm_ref.torch.gru import gru_cell
def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    h = gru_cell(torch.from_numpy(x), torch.from_numpy(h_prev), torch.from_numpy(Wx.T),
                 torch.from_numpy(Wh.T), torch.from_numpy(bx), torch.from_numpy(bh))
    return h.numpy(), None
""", "test_gru_forward_values"),
    "another chapter": ("ch02_vanishing", "vanishing_exercises", "clip_grad_norm", """
from lstm_ref.train.clipping import clip_grad_norm as _clip
def clip_grad_norm(grads, max_norm):
    return _clip(grads, max_norm)
""", "test_clip_values"),
}


@pytest.mark.parametrize("what", sorted(REACHES))
def test_a_solution_that_reaches_for_the_reference_earns_nothing(libdir, what):
    from lstm_ref.grading.verdict import grade_notebook

    chapter, name, grade_id, code, test_cell = REACHES[what]
    result = grade_notebook(_planted(chapter, name, grade_id, code), source_nb(chapter, name),
                            libdir, sandbox=False)
    outcome = result.tests[test_cell]
    assert not outcome.passed and GRADING_REFUSAL in outcome.evalue, outcome
    assert any("not provide" in note for note in result.notes), result.notes
