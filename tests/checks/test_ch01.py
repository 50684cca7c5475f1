"""lstm_ref.checks.ch01: correct learner code passes every check; each typical mistake
fails the check it should, with a message that shows no expected number."""

import contextlib
import io
import re

import numpy as np
import pytest

from lstm_ref.checks import ch01 as checks
from lstm_ref.checks._common import CheckFailed
from lstm_ref.numpy import rnn as ref

# Learner-style implementations, written without lstm_ref (the reference is locked while
# a learner's function runs).


def step_forward(x, h_prev, Wx, Wh, b):
    h = np.tanh(x @ Wx + h_prev @ Wh + b)
    return h, (x, h_prev, Wx, Wh, h)


def step_backward(dh_next, cache):
    x, h_prev, Wx, Wh, h = cache
    da = dh_next * (1 - h * h)
    return da @ Wx.T, da @ Wh.T, x.T @ da, h_prev.T @ da, da.sum(axis=0)


def forward(x, h0, Wx, Wh, b):
    hs, caches, h = [], [], h0
    for t in range(x.shape[0]):
        h, c = step_forward(x[t], h, Wx, Wh, b)
        hs.append(h)
        caches.append(c)
    return np.stack(hs), caches


def backward(dh, caches, carry_term=True):
    T = dh.shape[0]
    carry = np.zeros_like(dh[0])
    dx = [None] * T
    dWx = dWh = db = 0
    for t in reversed(range(T)):
        g = dh[t] + carry if carry_term else dh[t]
        dx[t], carry, gx, gh, gb = step_backward(g, caches[t])
        dWx, dWh, db = dWx + gx, dWh + gh, db + gb
    return np.stack(dx), carry, dWx, dWh, db


def quiet(fn, *args, **kwargs):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        fn(*args, **kwargs)
    assert err.getvalue() == ""  # checks never write to stderr
    return out.getvalue()


def no_numbers_beyond(message, allowed):
    # Only shapes, sizes and the error/tolerance summary may appear.
    cleaned = re.sub(r"\d\.\de[+-]\d+", "", message)
    for n in re.findall(r"-?\d+\.\d+", cleaned):
        assert n in allowed, f"message shows a number: {message}"


def test_correct_code_passes_every_check_with_one_ok_line():
    outputs = [
        quiet(checks.step_forward_shape, step_forward),
        quiet(checks.step_forward_values, step_forward, seed=5, N=1, D=2, H=3),
        quiet(checks.forward_shape, forward),
        quiet(checks.forward_values, forward, T=1, N=1),
    ]
    outputs += [quiet(checks.step_backward_grad, step_backward, g)
                for g in checks.STEP_GRADS]
    outputs += [quiet(checks.backward_grad, backward, g, seed=9, T=6)
                for g in checks.SEQ_GRADS]
    assert all(o.startswith("OK: ") and o.count("\n") == 1 for o in outputs)


def test_stub_is_reported_as_not_implemented():
    def stub(*args):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not implemented yet"):
        checks.step_forward_shape(stub)


def test_calling_the_reference_earns_nothing():
    with pytest.raises(CheckFailed, match="reference implementation"):
        checks.step_forward_values(ref.rnn_step_forward)
    # and the reference works again afterwards
    assert ref.rnn_step_forward(*[np.zeros(s) for s in [(1, 2), (1, 3), (2, 3), (3, 3), (3,)]])


def test_wrong_values_name_the_problem_without_expected_numbers():
    def no_bias(x, h_prev, Wx, Wh, b):
        return step_forward(x, h_prev, Wx, Wh, 0 * b)

    with pytest.raises(CheckFailed) as info:
        checks.step_forward_values(no_bias)
    assert "h_next has wrong values" in str(info.value)
    no_numbers_beyond(str(info.value), [])


def test_float32_output_fails_the_shape_check():
    def f32(*args):
        h, c = step_forward(*args)
        return h.astype(np.float32), c

    with pytest.raises(CheckFailed, match="dtype float32"):
        checks.step_forward_shape(f32)


def test_modifying_an_input_is_caught():
    def inplace(x, h_prev, Wx, Wh, b):
        b += 0  # harmless...
        x *= 1.0000001
        return step_forward(x, h_prev, Wx, Wh, b)

    with pytest.raises(CheckFailed, match="modified its input x"):
        checks.step_forward_values(inplace)


def test_each_wrong_gradient_fails_only_its_check():
    def wrong_db(dh_next, cache):
        dx, dh_prev, dWx, dWh, db = step_backward(dh_next, cache)
        return dx, dh_prev, dWx, dWh, -db

    with pytest.raises(CheckFailed, match="db has wrong values.*wrong sign"):
        checks.step_backward_grad(wrong_db, "db")
    quiet(checks.step_backward_grad, wrong_db, "dWx")


def test_forgetting_the_carried_gradient_is_caught_with_a_hint():
    def no_carry(dh, cache):
        return backward(dh, cache, carry_term=False)

    with pytest.raises(CheckFailed, match="dWh has wrong values.*not added to dh"):
        checks.backward_grad(no_carry, "dWh")


def test_using_h0_at_every_step_is_located():
    def stale(x, h0, Wx, Wh, b):
        h = np.stack([step_forward(x[t], h0, Wx, Wh, b)[0] for t in range(x.shape[0])])
        return h, None

    with pytest.raises(CheckFailed, match=r"h\[1\].*every step starts from h0"):
        checks.forward_values(stale)


def test_unknown_gradient_name_is_a_programming_error():
    with pytest.raises(ValueError, match="grad must be one of"):
        checks.backward_grad(backward, "dW")


# --- the backward checks never run the learner's forward ---------------------------------


def test_the_backward_checks_do_not_depend_on_the_forward():
    def no_bias_step(x, h_prev, Wx, Wh, b):
        return step_forward(x, h_prev, Wx, Wh, 0 * b)

    with pytest.raises(CheckFailed):
        checks.step_forward_values(no_bias_step)
    # the backward checks take only the backward: the cache comes from the reference
    for g in checks.STEP_GRADS:
        quiet(checks.step_backward_grad, step_backward, g, seed=3, N=1, D=2, H=4)
    for g in checks.SEQ_GRADS:
        quiet(checks.backward_grad, backward, g, seed=4, T=1, N=3, D=4, H=4)


def test_a_backward_that_misreads_the_cache_is_told_the_layout():
    def other_layout(dh_next, cache):
        x, Wx, h_prev, Wh, h_next = cache
        return step_backward(dh_next, (x, h_prev, Wx, Wh, h_next))

    def unpacks_six(dh_next, cache):
        x, h_prev, Wx, Wh, b, h_next = cache
        return None

    with pytest.raises(CheckFailed, match=r"raised ValueError.*the check passes cache = "):
        checks.step_backward_grad(other_layout, "dx")
    with pytest.raises(CheckFailed, match=r"raised ValueError.*cache = \(x, h_prev, Wx, Wh, h_next\)"):
        checks.step_backward_grad(unpacks_six, "dx")


# --- the catalogue: each typical mistake gets the hint that names it -----------------------


def _step_bwd(deriv="right", mean=False, W_as_is=False, h_for_dWh="prev", dh_prev_copy=False,
              dx_through_Wh=False, db_axis=0):
    def rnn_step_backward(dh_next, cache):
        x, h_prev, Wx, Wh, h_next = cache
        factor = {"right": 1 - h_next**2, "none": 1.0, "twice": 1 - np.tanh(h_next) ** 2,
                  "prev": 1 - h_prev**2}[deriv]
        da = dh_next * factor
        k = 1 / x.shape[0] if mean else 1
        dx = da @ (Wh.T if dx_through_Wh else Wx.T)
        dh_prev = dh_next if dh_prev_copy else da @ (Wh if W_as_is else Wh.T)
        h_used = h_prev if h_for_dWh == "prev" else h_next
        db = k * da.sum(axis=0) if db_axis == 0 else da
        return dx, dh_prev, k * x.T @ da, k * h_used.T @ da, db
    return rnn_step_backward


def _seq_bwd(step=step_backward, carry="both", weights="sum", reverse_dx=False, stack=False):
    def rnn_backward(dh, caches):
        T = dh.shape[0]
        carried = np.zeros_like(dh[0])
        dx = [None] * T
        parts = []
        for t in reversed(range(T)):
            g = {"both": dh[t] + carried, "none": dh[t],
                 "only": carried if t < T - 1 else dh[t]}[carry]
            dx[t], carried, gx, gh, gb = step(g, caches[t])
            parts.append((gx, gh, gb))
        if stack:
            w = [np.stack([p[k] for p in parts]) for k in range(3)]
        elif weights == "sum":
            w = [sum(p[k] for p in parts) for k in range(3)]
        elif weights == "mean":
            w = [sum(p[k] for p in parts) / T for k in range(3)]
        else:
            w = list(parts[-1])
        dx = np.stack(dx)
        return (dx[::-1] if reverse_dx else dx), carried, *w
    return rnn_backward


def _step_fwd(mistake):
    def rnn_step_forward(x, h_prev, Wx, Wh, b):
        a = {"no b": x @ Wx + h_prev @ Wh, "no Wh": x @ Wx + b, "no Wx": h_prev @ Wh + b,
             "Wh.T": x @ Wx + h_prev @ Wh.T + b}.get(mistake, x @ Wx + h_prev @ Wh + b)
        h = {"no tanh": a, "sigmoid": 1 / (1 + np.exp(-a))}.get(mistake, np.tanh(a))
        return h, (x, h_prev, Wx, Wh, h)
    return rnn_step_forward


def _seq_fwd(step=None, stale=False):
    def rnn_forward(x, h0, Wx, Wh, b):
        hs, h = [], h0
        for t in range(x.shape[0]):
            h = (step or step_forward)(x[t], h0 if stale else h, Wx, Wh, b)[0]
            hs.append(h)
        return np.stack(hs), None
    return rnn_forward


# (check, kwargs, wrong implementation, what the hint must say)
CATALOGUE = [
    (checks.step_forward_values, {}, _step_fwd("no b"), "the bias b is missing"),
    (checks.step_forward_values, {}, _step_fwd("no tanh"), "the tanh is missing"),
    (checks.step_forward_values, {}, _step_fwd("sigmoid"), "a sigmoid is used"),
    (checks.step_forward_values, {}, _step_fwd("no Wh"), "recurrent term"),
    (checks.step_forward_values, {}, _step_fwd("no Wx"), "input term"),
    (checks.step_forward_values, {}, _step_fwd("Wh.T"), "Wh is used transposed"),
    (checks.forward_values, {}, _seq_fwd(_step_fwd("no b")), "the bias b is missing"),
    (checks.forward_values, {}, _seq_fwd(_step_fwd("no tanh")), "the tanh is missing"),
    (checks.forward_values, {}, _seq_fwd(stale=True), "every step starts from h0"),
    (checks.step_backward_grad, {"grad": "dx"}, _step_bwd(deriv="none"), "derivative of tanh is missing"),
    (checks.step_backward_grad, {"grad": "dWh"}, _step_bwd(deriv="none"), "derivative of tanh is missing"),
    (checks.step_backward_grad, {"grad": "db"}, _step_bwd(deriv="twice"), "applying tanh to h_next again"),
    (checks.step_backward_grad, {"grad": "dWx"}, _step_bwd(deriv="prev"), "taken at h_prev"),
    (checks.step_backward_grad, {"grad": "dWx"}, _step_bwd(mean=True), "averaged"),
    (checks.step_backward_grad, {"grad": "db"}, _step_bwd(mean=True), "averaged"),
    (checks.step_backward_grad, {"grad": "db"}, _step_bwd(db_axis=None), "extra leading axis"),
    (checks.step_backward_grad, {"grad": "dh_prev"}, _step_bwd(W_as_is=True), "without its transpose"),
    (checks.step_backward_grad, {"grad": "dh_prev"}, _step_bwd(dh_prev_copy=True), "passed through"),
    (checks.step_backward_grad, {"grad": "dWh"}, _step_bwd(h_for_dWh="next"), "the state the step produced"),
    (checks.step_backward_grad, {"grad": "dx", "D": 6}, _step_bwd(dx_through_Wh=True), "recurrent weights"),
    (checks.backward_grad, {"grad": "dWh"}, _seq_bwd(carry="none"), "not added to dh[t]"),
    (checks.backward_grad, {"grad": "dh0"}, _seq_bwd(carry="none"), "not added to dh[t]"),
    (checks.backward_grad, {"grad": "dx"}, _seq_bwd(carry="only"), "dh[t] is dropped"),
    (checks.backward_grad, {"grad": "dWx"}, _seq_bwd(weights="first"), "one step only"),
    (checks.backward_grad, {"grad": "db"}, _seq_bwd(weights="mean"), "averaged"),
    (checks.backward_grad, {"grad": "dWx"}, _seq_bwd(stack=True), "extra leading axis"),
    (checks.backward_grad, {"grad": "dx"}, _seq_bwd(reverse_dx=True), "reverse time order"),
    (checks.backward_grad, {"grad": "dWh"}, _seq_bwd(step=_step_bwd(deriv="none")), "derivative of tanh is missing"),
]


@pytest.mark.parametrize("check, kwargs, wrong, hint", CATALOGUE,
                         ids=[f"{c.__name__}-{h[:30]}" for c, _, _, h in CATALOGUE])
def test_each_typical_mistake_gets_its_hint(check, kwargs, wrong, hint):
    with pytest.raises(CheckFailed) as info:
        check(wrong, **kwargs)
    message = str(info.value)
    assert hint in message, message
    no_numbers_beyond(message, [])
    # and the hidden tests' shapes see the same mistake
    with pytest.raises(CheckFailed):
        check(wrong, **kwargs, seed=77)
