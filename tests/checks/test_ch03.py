"""The chapter 3 checks: the notebook's solutions pass them, typical mistakes fail the right
ones with a useful message that holds no expected number, and nothing goes to stderr."""

import re
from pathlib import Path

import numpy as np
import pytest
from checks_helpers import failing, notebook_solutions, outcomes

torch = pytest.importorskip("torch")

from lstm_ref import convert  # noqa: E402
from lstm_ref.checks import ch03 as checks  # noqa: E402
from lstm_ref.checks._common import CheckFailed  # noqa: E402
from lstm_ref.numpy import lstm as ref  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parents[2] / "solutions" / "ch03_lstm" / "lstm_exercises.ipynb"


SOL = notebook_solutions(NOTEBOOK, {"np": np})


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
        "dc_last": lambda: checks.backward_dc_last(f["lstm_backward"]),
        "p_shapes": lambda: checks.params_from_torch_shapes(f["lstm_params_from_torch"]),
        "p_forward": lambda: checks.params_from_torch_forward(f["lstm_params_from_torch"]),
        "fb_values": lambda: checks.forget_bias_values(f["init_forget_bias"]),
        "fb_copy": lambda: checks.forget_bias_copy(f["init_forget_bias"]),
    }
    for g in checks.STEP_GRADS:
        calls[f"step_{g}"] = lambda g=g: checks.step_backward_grad(
            f["lstm_step_backward"], g)
    for g in checks.SEQ_GRADS:
        calls[f"seq_{g}"] = lambda g=g: checks.backward_grad(
            f["lstm_backward"], g)
    for p in checks.PARAMS:
        calls[f"p_{p}"] = lambda p=p: checks.params_from_torch_values(
            f["lstm_params_from_torch"], p)
    return outcomes(calls)


def _assert_no_numbers_leak(message, expected):
    for v in np.ravel(expected)[:20]:
        for fmt in ("{:.4f}", "{:.6f}", "{:.3e}"):
            assert fmt.format(v) not in message


def test_solutions_pass_every_check(capfd):
    results = _all_checks(SOL)
    assert failing(results) == set(), results
    out, err = capfd.readouterr()
    assert err == ""
    assert out.count("OK:") == len(results)


def test_hidden_shapes_pass():
    f = SOL
    checks.step_forward_values(f["lstm_step_forward"], "c", seed=9, N=1, D=1, H=1)
    checks.forward_values(f["lstm_forward"], "h", seed=9, T=1, N=1, D=2, H=1)
    checks.backward_grad(f["lstm_backward"], "dc0", seed=9, T=1, N=1, D=2, H=1)
    checks.params_from_torch_forward(f["lstm_params_from_torch"], seed=9, T=1, N=1, D=1, H=1)


def test_stubs_fail_everything():
    def stub(*args, **kwargs):
        raise NotImplementedError()

    names = ["lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward",
             "lstm_params_from_torch", "init_forget_bias"]
    results = _all_checks({n: stub for n in names})
    assert failing(results) == set(results)
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
    assert {k for k in failing(results) if k.startswith("step_")} == {"step_dc_prev"}


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
        checks.step_backward_grad(SOL["lstm_step_backward"], "dq")
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


# --- the backward checks never run the learner's forward ---------------------------------


def test_a_buggy_forward_costs_no_backward_point():
    fns = dict(SOL)
    good = SOL["lstm_step_forward"]
    fns["lstm_step_forward"] = lambda x, h, c, Wx, Wh, b: good(x, h, c, Wx, Wh, 0 * b)
    fns["lstm_forward"] = lambda *a: (_ for _ in ()).throw(ValueError("broken"))
    results = _all_checks(fns)
    assert {"step_h", "step_c", "fwd_shape", "fwd_h", "fwd_c"} <= failing(results)
    assert not {k for k in failing(results) if k.startswith(("step_d", "seq_", "dc_last"))}


# --- the catalogue: each typical mistake gets the hint that names it -----------------------


def _step_bwd(mistake):
    """A learner's step backward with one typical mistake (written here, not taken from
    lstm_ref.checks)."""
    def lstm_step_backward(dh_next, dc_next, cache):
        x, h_prev, c_prev, Wx, Wh, i, f, g, o, tanh_c = cache
        dtanh = 1.0 if mistake == "no tanh' c" else 1 - tanh_c**2
        dc = dc_next + dh_next * o * dtanh
        if mistake == "no dc_next":
            dc = dh_next * o * dtanh
        if mistake == "no h path":
            dc = dc_next
        d = (lambda s: 1.0) if mistake == "no sigmoid'" else (lambda s: s * (1 - s))
        dg = 1.0 if mistake == "no tanh' g" else 1 - g**2
        blocks = [dc * g * d(i), dc * c_prev * d(f), dc * i * dg, dh_next * tanh_c * d(o)]
        if mistake == "order":
            blocks[2], blocks[3] = blocks[3], blocks[2]
        da = np.concatenate(blocks, axis=1)
        k = 1 / x.shape[0] if mistake == "mean" else 1
        dc_prev = dc if mistake == "dc_prev no f" else dc * f
        if mistake == "dc_prev only dc_next":
            dc_prev = dc_next * f
        db = da if mistake == "db unsummed" else k * da.sum(0)
        return da @ Wx.T, da @ Wh.T, dc_prev, k * x.T @ da, k * h_prev.T @ da, db
    return lstm_step_backward


def _seq_bwd(mistake=None, step=None):
    step = step or SOL["lstm_step_backward"]

    def lstm_backward(dh, cache, dc_last=None):
        T = dh.shape[0]
        dh_c = np.zeros_like(dh[0])
        dc_c = np.zeros_like(dh[0])
        if dc_last is not None and mistake != "no dc_last":
            dc_c = dc_last.copy()
        dx, parts = [None] * T, []
        for t in reversed(range(T)):
            gh = dh[t] if mistake == "no dh carry" else dh[t] + dh_c
            dx[t], dh_c, dc_c, a, b, c = step(gh, dc_c, cache[t])
            if mistake == "no dc carry":
                dc_c = np.zeros_like(dc_c)
            parts.append((a, b, c))
        w = list(parts[-1]) if mistake == "first" else [sum(p[k] for p in parts)
                                                        for k in range(3)]
        return (np.stack(dx), dh_c, dc_c, *w)
    return lstm_backward


def _step_fwd(mistake):
    def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
        H = h_prev.shape[1]
        a = x @ Wx + h_prev @ Wh + (0 if mistake == "no b" else b)
        i, f, g, o = (a[:, k * H:(k + 1) * H] for k in range(4))
        if mistake == "order":
            g, o = o, g
        sig = np.tanh if mistake == "tanh gates" else (lambda z: 1 / (1 + np.exp(-z)))
        i, f, o = sig(i), sig(f), sig(o)
        g = 1 / (1 + np.exp(-g)) if mistake == "sigmoid g" else np.tanh(g)
        c = (c_prev if mistake == "no f" else f * c_prev) + (g if mistake == "no i" else i * g)
        h = o * (c if mistake == "no tanh c" else np.tanh(c))
        return h, c, None
    return lstm_step_forward


def _seq_fwd(step):
    def lstm_forward(x, h0, c0, Wx, Wh, b):
        hs, cs, h, c = [], [], h0, c0
        for t in range(x.shape[0]):
            h, c, _ = step(x[t], h, c, Wx, Wh, b)
            hs.append(h)
            cs.append(c)
        return np.stack(hs), np.stack(cs), None
    return lstm_forward


def _stale(x, h0, c0, Wx, Wh, b):
    out = [SOL["lstm_step_forward"](x[t], h0, c0, Wx, Wh, b) for t in range(x.shape[0])]
    return np.stack([o[0] for o in out]), np.stack([o[1] for o in out]), None


SB, SQ = checks.step_backward_grad, checks.backward_grad
SF, FV = checks.step_forward_values, checks.forward_values
CATALOGUE = [
    (SF, ("h",), _step_fwd("order"), "i, f, o, g"),
    (SF, ("c",), _step_fwd("no b"), "the bias b is missing"),
    (SF, ("c",), _step_fwd("tanh gates"), "use tanh where they need a sigmoid"),
    (SF, ("c",), _step_fwd("sigmoid g"), "candidate g uses a sigmoid"),
    (SF, ("c",), _step_fwd("no f"), "forget gate does not multiply"),
    (SF, ("c",), _step_fwd("no i"), "input gate does not multiply"),
    (SF, ("h",), _step_fwd("no tanh c"), "without its tanh"),
    (FV, ("h",), _seq_fwd(_step_fwd("order")), "i, f, o, g"),
    (FV, ("c",), _seq_fwd(_step_fwd("no f")), "forget gate does not multiply"),
    (FV, ("h",), _stale, "every step starts from h0 and c0"),
    (SB, ("dx",), _step_bwd("order"), "stacked in the order i, f, o, g"),
    (SB, ("dWh",), _step_bwd("order"), "stacked in the order i, f, o, g"),
    (SB, ("dWx",), _step_bwd("no sigmoid'"), "derivative of the sigmoid is missing"),
    (SB, ("db",), _step_bwd("no tanh' g"), "derivative of tanh is missing for the candidate"),
    (SB, ("dc_prev",), _step_bwd("no tanh' c"), "derivative of tanh(c_next) is missing"),
    (SB, ("dh_prev",), _step_bwd("no tanh' c"), "derivative of tanh(c_next) is missing"),
    (SB, ("dc_prev",), _step_bwd("no dc_next"), "dc_next, the gradient arriving"),
    (SB, ("dx",), _step_bwd("no dc_next"), "dc_next, the gradient arriving"),
    (SB, ("dc_prev",), _step_bwd("no h path"), "path from h_next into the cell"),
    (SB, ("dc_prev",), _step_bwd("dc_prev no f"), "does not go through the forget gate"),
    (SB, ("dc_prev",), _step_bwd("dc_prev only dc_next"), "path from h_next into the cell"),
    (SB, ("dWx",), _step_bwd("mean"), "averaged"),
    (SB, ("db",), _step_bwd("db unsummed"), "extra leading axis"),
    (SQ, ("dWh",), _seq_bwd("no dh carry"), "on h_t coming back from step t+1"),
    (SQ, ("dc0",), _seq_bwd("no dc carry"), "on c_t coming back from step t+1"),
    (SQ, ("dx",), _seq_bwd("no dc carry"), "on c_t coming back from step t+1"),
    (SQ, ("db",), _seq_bwd("first"), "one step only"),
    (SQ, ("dWx",), _seq_bwd(step=_step_bwd("order")), "i, f, g, o (in the step backward)"),
    (SQ, ("dh0",), _seq_bwd(step=_step_bwd("no h path")), "path from h_next into the cell"),
    (checks.backward_dc_last, (), _seq_bwd("no dc_last"), "dc_last is ignored"),
]


@pytest.mark.parametrize("check, args, wrong, hint", CATALOGUE,
                         ids=[f"{c.__name__}-{h[:30]}" for c, _, _, h in CATALOGUE])
def test_each_typical_mistake_gets_its_hint(check, args, wrong, hint):
    with pytest.raises(CheckFailed) as info:
        check(wrong, *args)
    message = str(info.value)
    assert hint in message, message
    summary = re.sub(r"largest relative error [^ ,]+", "", message)
    assert not re.search(r"(?<![\de.])-?\d+\.\d{2,}(?!e)", summary), message
    with pytest.raises(CheckFailed):  # the hidden tests' inputs see it too
        check(wrong, *args, seed=77)
