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
    outputs += [quiet(checks.step_backward_grad, step_forward, step_backward, g)
                for g in checks.STEP_GRADS]
    outputs += [quiet(checks.backward_grad, forward, backward, g, seed=9, T=6)
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
        checks.step_backward_grad(step_forward, wrong_db, "db")
    quiet(checks.step_backward_grad, step_forward, wrong_db, "dWx")


def test_forgetting_the_carried_gradient_is_caught_with_a_hint():
    def no_carry(dh, cache):
        return backward(dh, cache, carry_term=False)

    with pytest.raises(CheckFailed, match="dWh has wrong values.*add up"):
        checks.backward_grad(forward, no_carry, "dWh")


def test_using_h0_at_every_step_is_located():
    def stale(x, h0, Wx, Wh, b):
        h = np.stack([step_forward(x[t], h0, Wx, Wh, b)[0] for t in range(x.shape[0])])
        return h, None

    with pytest.raises(CheckFailed, match=r"h\[1\].*h\[0\] to h\[0\] are right"):
        checks.forward_values(stale)


def test_unknown_gradient_name_is_a_programming_error():
    with pytest.raises(ValueError, match="grad must be one of"):
        checks.backward_grad(forward, backward, "dW")
