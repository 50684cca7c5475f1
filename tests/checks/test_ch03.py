"""The chapter 3 checks: the notebook's solutions pass them, typical mistakes fail the right
ones with a useful message that holds no expected number, and nothing goes to stderr."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lstm_ref import convert  # noqa: E402
from lstm_ref.checks import ch03 as checks  # noqa: E402
from lstm_ref.checks._common import CheckFailed  # noqa: E402
from lstm_ref.numpy import lstm as ref  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parents[2] / "solutions" / "ch03_lstm" / "lstm_exercises.ipynb"


def _solutions():
    """The notebook's solution functions, executed from its solution cells."""
    nb = json.loads(NOTEBOOK.read_text("utf-8"))
    ns = {"np": np}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and cell["metadata"].get("nbgrader", {}).get("solution"):
            exec("".join(cell["source"]), ns)
    return ns


SOL = _solutions()


def _all_checks(fns):
    """Run every check once; return {check label: failure message or None}."""
    f = fns
    calls = {
        "step_shape": lambda: checks.step_forward_shape(f["lstm_step_forward"]),
        "step_h": lambda: checks.step_forward_values(f["lstm_step_forward"], "h"),
        "step_c": lambda: checks.step_forward_values(f["lstm_step_forward"], "c"),
        "fwd_shape": lambda: checks.forward_shape(f["lstm_forward"]),
        "fwd_h": lambda: checks.forward_values(f["lstm_forward"], "h"),
        "fwd_c": lambda: checks.forward_values(f["lstm_forward"], "c"),
        "dc_last": lambda: checks.backward_dc_last(f["lstm_forward"], f["lstm_backward"]),
        "p_shapes": lambda: checks.params_from_torch_shapes(f["lstm_params_from_torch"]),
        "p_forward": lambda: checks.params_from_torch_forward(f["lstm_params_from_torch"]),
        "fb_values": lambda: checks.forget_bias_values(f["init_forget_bias"]),
        "fb_copy": lambda: checks.forget_bias_copy(f["init_forget_bias"]),
    }
    for g in checks.STEP_GRADS:
        calls[f"step_{g}"] = lambda g=g: checks.step_backward_grad(
            f["lstm_step_forward"], f["lstm_step_backward"], g)
    for g in checks.SEQ_GRADS:
        calls[f"seq_{g}"] = lambda g=g: checks.backward_grad(
            f["lstm_forward"], f["lstm_backward"], g)
    for p in checks.PARAMS:
        calls[f"p_{p}"] = lambda p=p: checks.params_from_torch_values(
            f["lstm_params_from_torch"], p)
    out = {}
    for label, call in calls.items():
        try:
            call()
            out[label] = None
        except CheckFailed as exc:
            out[label] = str(exc)
    return out


def _failing(results):
    return {k for k, v in results.items() if v is not None}


def _assert_no_numbers_leak(message, expected):
    for v in np.ravel(expected)[:20]:
        for fmt in ("{:.4f}", "{:.6f}", "{:.3e}"):
            assert fmt.format(v) not in message


def test_solutions_pass_every_check(capfd):
    results = _all_checks(SOL)
    assert _failing(results) == set(), results
    out, err = capfd.readouterr()
    assert err == ""
    assert out.count("OK:") == len(results)


def test_hidden_shapes_pass():
    f = SOL
    checks.step_forward_values(f["lstm_step_forward"], "c", seed=9, N=1, D=1, H=1)
    checks.forward_values(f["lstm_forward"], "h", seed=9, T=1, N=1, D=2, H=1)
    checks.backward_grad(f["lstm_forward"], f["lstm_backward"], "dc0", seed=9, T=1, N=1, D=2, H=1)
    checks.params_from_torch_forward(f["lstm_params_from_torch"], seed=9, T=1, N=1, D=1, H=1)


def test_stubs_fail_everything():
    def stub(*args, **kwargs):
        raise NotImplementedError()

    names = ["lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward",
             "lstm_params_from_torch", "init_forget_bias"]
    results = _all_checks({n: stub for n in names})
    assert _failing(results) == set(results)
    assert all("not implemented" in m for m in results.values())


def test_calling_the_reference_earns_nothing():
    fns = dict(SOL)
    fns["lstm_step_forward"] = lambda *a: ref.lstm_step_forward(*a)
    fns["init_forget_bias"] = lambda b, v=1.0: ref.init_forget_bias(b, v)
    fns["lstm_params_from_torch"] = lambda m: convert.torch_lstm_to_numpy(m)
    results = _all_checks(fns)
    for label in ("step_shape", "step_h", "fb_values", "p_Wx", "p_forward"):
        assert results[label] and "reference implementation" in results[label]
    # the references work again after the checks
    b = np.zeros(8)
    assert ref.init_forget_bias(b, 1.0)[2:4].tolist() == [1.0, 1.0]


def _swap_og(fn):
    """A step forward that reads the gate blocks as i, f, o, g (CS231n's order)."""
    def wrong(x, h_prev, c_prev, Wx, Wh, b):
        return fn(x, h_prev, c_prev, *(convert.reorder_gates(w, "ifgo", "ifog")
                                       for w in (Wx, Wh, b)))
    return wrong


def test_gate_order_swapped_fails_values_with_a_hint():
    fns = dict(SOL)
    fns["lstm_step_forward"] = _swap_og(SOL["lstm_step_forward"])
    results = _all_checks(fns)
    assert results["step_shape"] is None
    assert results["step_h"] and "i, f, o, g" in results["step_h"]
    assert results["step_c"] and "i, f, o, g" in results["step_c"]
    assert results["fb_values"] is None and results["p_b"] is None
    inputs, _ = checks._step_inputs(0, 3, 5, 4)
    _assert_no_numbers_leak(results["step_h"], ref.lstm_step_forward(*inputs)[0])


def test_forgotten_cell_path_fails_dc_checks():
    step_bwd = SOL["lstm_step_backward"]

    def backward_without_dc(dh, cache, dc_last=None):
        T, N, H = dh.shape
        dh_prev = np.zeros((N, H))
        grads = []
        for t in reversed(range(T)):
            # the carried dc_prev is dropped: every step gets a zero cell gradient
            g = step_bwd(dh[t] + dh_prev, np.zeros((N, H)), cache[t])
            dh_prev = g[1]
            grads.append(g)
        dx = np.stack([g[0] for g in reversed(grads)])
        return (dx, dh_prev, grads[-1][2], sum(g[3] for g in grads),
                sum(g[4] for g in grads), sum(g[5] for g in grads))

    fns = dict(SOL)
    fns["lstm_backward"] = backward_without_dc
    results = _all_checks(fns)
    assert results["seq_dc0"] and "cell path" in results["seq_dc0"]
    assert results["seq_dWh"] and results["dc_last"]
    assert results["fwd_h"] is None and results["step_dc_prev"] is None


def test_missing_f_in_step_backward_fails_only_dc_prev():
    step_bwd = SOL["lstm_step_backward"]

    def wrong(dh_next, dc_next, cache):
        dx, dh_prev, dc_prev, dWx, dWh, db = step_bwd(dh_next, dc_next, cache)
        f = cache[6]
        return dx, dh_prev, dc_prev / f, dWx, dWh, db

    fns = dict(SOL)
    fns["lstm_step_backward"] = wrong
    results = _all_checks(fns)
    assert {k for k in _failing(results) if k.startswith("step_")} == {"step_dc_prev"}


def test_bias_not_summed_fails_b_and_forward():
    def one_bias(module):
        Wx, Wh, _ = SOL["lstm_params_from_torch"](module)
        return Wx, Wh, module.bias_ih_l0.detach().numpy().copy()

    fns = dict(SOL)
    fns["lstm_params_from_torch"] = one_bias
    results = _all_checks(fns)
    assert results["p_Wx"] is None and results["p_Wh"] is None and results["p_shapes"] is None
    assert results["p_b"] and "two biases" in results["p_b"]
    assert results["p_forward"]


def test_untransposed_or_reordered_weights_fail():
    def untransposed(module):
        return (module.weight_ih_l0.detach().numpy().copy(),
                module.weight_hh_l0.detach().numpy().copy(),
                (module.bias_ih_l0 + module.bias_hh_l0).detach().numpy())

    def reordered(module):
        Wx, Wh, b = SOL["lstm_params_from_torch"](module)
        return convert.reorder_gates(Wx, "ifgo", "ifog"), Wh, b

    fns = dict(SOL)
    fns["lstm_params_from_torch"] = untransposed
    results = _all_checks(fns)
    assert results["p_shapes"] and "transpose" in results["p_shapes"]
    fns["lstm_params_from_torch"] = reordered
    results = _all_checks(fns)
    assert results["p_Wx"] and "reordered" in results["p_Wx"]
    assert results["p_Wh"] is None


def test_changing_the_module_fails():
    def zeroing(module):
        out = SOL["lstm_params_from_torch"](module)
        with torch.no_grad():
            module.bias_hh_l0.zero_()
        return out

    fns = dict(SOL)
    fns["lstm_params_from_torch"] = zeroing
    results = _all_checks(fns)
    assert results["p_b"] and "changed the module" in results["p_b"]


def test_init_forget_bias_mutating_input_fails_copy_check():
    def in_place(b, value=1.0):
        H = b.shape[0] // 4
        b[H:2 * H] = value
        return b

    def wrong_block(b, value=1.0):
        H = b.shape[0] // 4
        out = b.copy()
        out[2 * H:3 * H] = value
        return out

    fns = dict(SOL)
    fns["init_forget_bias"] = in_place
    results = _all_checks(fns)
    assert results["fb_values"] is None
    assert results["fb_copy"] and "modified its input b" in results["fb_copy"]
    fns["init_forget_bias"] = wrong_block
    results = _all_checks(fns)
    assert results["fb_values"] and "forget" in results["fb_values"]
    assert results["fb_copy"] is None


def test_messages_never_go_to_stderr(capfd):
    fns = dict(SOL)
    fns["lstm_step_forward"] = _swap_og(SOL["lstm_step_forward"])
    _all_checks(fns)
    assert capfd.readouterr().err == ""


def test_bad_check_arguments():
    with pytest.raises(ValueError):
        checks.step_backward_grad(SOL["lstm_step_forward"], SOL["lstm_step_backward"], "dq")
    with pytest.raises(ValueError):
        checks.forward_values(SOL["lstm_forward"], "z")
    with pytest.raises(ValueError):
        checks.params_from_torch_values(SOL["lstm_params_from_torch"], "W")


def test_torch_global_rng_untouched():
    state = torch.get_rng_state()
    checks.params_from_torch_forward(SOL["lstm_params_from_torch"])
    assert torch.equal(state, torch.get_rng_state())


def test_message_names_the_shape_problem():
    def wrong_shape(x, h_prev, c_prev, Wx, Wh, b):
        h, c, cache = SOL["lstm_step_forward"](x, h_prev, c_prev, Wx, Wh, b)
        return h.T, c, cache

    with pytest.raises(CheckFailed, match=re.escape("h_next has shape (4, 3), expected (3, 4)")):
        checks.step_forward_shape(wrong_shape)
