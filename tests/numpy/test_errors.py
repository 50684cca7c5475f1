"""Wrong shapes and dtypes give a ValueError naming the argument, the expected and the actual."""

import re

import numpy as np
import pytest

from lstm_ref.numpy import (
    init_forget_bias,
    lstm_backward,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
    rnn_backward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
)

T, N, D, H = 3, 2, 5, 4


def z(*shape, dtype=np.float64):
    return np.zeros(shape, dtype=dtype)


def rnn_step_args(**change):
    args = dict(x=z(N, D), h_prev=z(N, H), Wx=z(D, H), Wh=z(H, H), b=z(H))
    args.update(change)
    return args


def rnn_args(**change):
    args = dict(x=z(T, N, D), h0=z(N, H), Wx=z(D, H), Wh=z(H, H), b=z(H))
    args.update(change)
    return args


def lstm_step_args(**change):
    args = dict(
        x=z(N, D), h_prev=z(N, H), c_prev=z(N, H), Wx=z(D, 4 * H), Wh=z(H, 4 * H), b=z(4 * H)
    )
    args.update(change)
    return args


def lstm_args(**change):
    args = dict(x=z(T, N, D), h0=z(N, H), c0=z(N, H), Wx=z(D, 4 * H), Wh=z(H, 4 * H), b=z(4 * H))
    args.update(change)
    return args


def shape_message(name, expected, got):
    return re.escape(f"{name} must have shape {expected}, got {got}")


SHAPE_CASES = [
    # (function, arguments, expected message)
    (rnn_step_forward, rnn_step_args(x=z(N, D, 1)), shape_message("x", "(N, D)", (N, D, 1))),
    (rnn_step_forward, rnn_step_args(h_prev=z(N + 1, H)), shape_message("h_prev", (N, H), (N + 1, H))),
    (rnn_step_forward, rnn_step_args(Wx=z(D + 1, H)), shape_message("Wx", f"({D}, H)", (D + 1, H))),
    (rnn_step_forward, rnn_step_args(Wh=z(H, H + 1)), shape_message("Wh", (H, H), (H, H + 1))),
    (rnn_step_forward, rnn_step_args(b=z(1, H)), shape_message("b", f"({H},)", (1, H))),
    (rnn_forward, rnn_args(x=z(N, D)), shape_message("x", "(T, N, D)", (N, D))),
    (rnn_forward, rnn_args(h0=z(N, H + 2)), shape_message("h0", (N, H), (N, H + 2))),
    (rnn_forward, rnn_args(Wh=z(H + 1, H)), shape_message("Wh", (H, H), (H + 1, H))),
    (rnn_forward, rnn_args(b=z(H + 1)), shape_message("b", f"({H},)", (H + 1,))),
    (lstm_step_forward, lstm_step_args(x=z(D)), shape_message("x", "(N, D)", (D,))),
    (lstm_step_forward, lstm_step_args(c_prev=z(N, H - 1)), shape_message("c_prev", (N, H), (N, H - 1))),
    (lstm_step_forward, lstm_step_args(Wx=z(D - 1, 4 * H)), shape_message("Wx", f"({D}, 4H)", (D - 1, 4 * H))),
    (lstm_step_forward, lstm_step_args(Wh=z(H, 3 * H)), shape_message("Wh", (H, 4 * H), (H, 3 * H))),
    (lstm_forward, lstm_args(x=z(T, N)), shape_message("x", "(T, N, D)", (T, N))),
    (lstm_forward, lstm_args(h0=z(N + 1, H)), shape_message("h0", (N, H), (N + 1, H))),
    (lstm_forward, lstm_args(c0=z(H)), shape_message("c0", (N, H), (H,))),
    (lstm_forward, lstm_args(b=z(4 * H + 4)), shape_message("b", f"({4 * H},)", (4 * H + 4,))),
    (lstm_forward, lstm_args(Wx=z(D, 4 * H + 1)), r"Wx must have shape \(D, 4H\).*got \(5, 17\)"),
]


@pytest.mark.parametrize("fn,args,message", SHAPE_CASES)
def test_bad_shape_names_argument_expected_and_actual(fn, args, message):
    with pytest.raises(ValueError, match=message):
        fn(**args)


@pytest.mark.parametrize(
    "fn,args,name",
    [
        (rnn_step_forward, rnn_step_args(h_prev=z(N, H, dtype=np.float32)), "h_prev"),
        (rnn_forward, rnn_args(Wh=z(H, H, dtype=np.float32)), "Wh"),
        (lstm_step_forward, lstm_step_args(b=z(4 * H, dtype=np.float32)), "b"),
        (lstm_forward, lstm_args(x=z(T, N, D, dtype=np.float32)), "x"),
    ],
)
def test_mixed_dtypes_are_refused(fn, args, name):
    message = rf"same dtype.*{name}: float32.*float64|same dtype.*float64.*{name}: float32"
    with pytest.raises(ValueError, match=message):
        fn(**args)


@pytest.mark.parametrize("dtype", [np.int64, np.float16, np.complex128])
def test_non_float_dtype_is_refused(dtype):
    message = rf"x must have dtype float32 or float64, got {np.dtype(dtype)}"
    with pytest.raises(ValueError, match=message):
        lstm_forward(**lstm_args(x=z(T, N, D, dtype=dtype)))


def test_non_array_is_refused():
    with pytest.raises(TypeError, match="h0 must be a numpy array, got list"):
        rnn_forward(**rnn_args(h0=[[0.0] * H] * N))


def test_backward_checks_upstream_gradients():
    _, cache = rnn_step_forward(**rnn_step_args())
    with pytest.raises(ValueError, match=shape_message("dh_next", (N, H), (N, H + 1))):
        rnn_step_backward(z(N, H + 1), cache)
    with pytest.raises(ValueError, match="same dtype.*dh_next: float32"):
        rnn_step_backward(z(N, H, dtype=np.float32), cache)

    _, cache = rnn_forward(**rnn_args())
    with pytest.raises(ValueError, match=shape_message("dh", (T, N, H), (N, H))):
        rnn_backward(z(N, H), cache)
    with pytest.raises(ValueError, match="same dtype.*dh: float32"):
        rnn_backward(z(T, N, H, dtype=np.float32), cache)

    _, _, cache = lstm_step_forward(**lstm_step_args())
    with pytest.raises(ValueError, match=shape_message("dc_next", (N, H), (1, H))):
        lstm_step_backward(z(N, H), z(1, H), cache)
    with pytest.raises(ValueError, match="same dtype.*dc_next: float32"):
        lstm_step_backward(z(N, H), z(N, H, dtype=np.float32), cache)

    _, _, cache = lstm_forward(**lstm_args())
    with pytest.raises(ValueError, match=shape_message("dh", (T, N, H), (T + 1, N, H))):
        lstm_backward(z(T + 1, N, H), cache)
    with pytest.raises(ValueError, match=shape_message("dc_last", (N, H), (T, N, H))):
        lstm_backward(z(T, N, H), cache, dc_last=z(T, N, H))
    with pytest.raises(ValueError, match="same dtype.*dc_last: float32"):
        lstm_backward(z(T, N, H), cache, dc_last=z(N, H, dtype=np.float32))


def test_init_forget_bias_checks_its_argument():
    with pytest.raises(ValueError, match=r"b must have shape \(4H,\).*got \(6,\)"):
        init_forget_bias(z(6))
    with pytest.raises(ValueError, match=r"b must have shape \(4H,\), got \(2, 4\)"):
        init_forget_bias(z(2, 4))


@pytest.mark.parametrize(
    "fn,args,message",
    [
        (lstm_step_forward, (z(N, D), z(N, H), z(N, H), z(D, 10), z(2, 8), z(8)),
         "Wx must have shape (D, 4H) with 4H a multiple of 4, got (5, 10)"),
        (rnn_step_forward, (z(N, D), z(N, H), z(D + 1, H), z(H, H), z(H)),
         "Wx must have shape (5, H), got (6, 4)"),
    ],
)
def test_hidden_size_comes_from_a_checked_wx(fn, args, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        fn(*args)


def test_gru_wx_must_stack_three_blocks():
    from lstm_ref.numpy.gru import gru_step_forward

    with pytest.raises(ValueError, match=re.escape("(D, 3H) with 3H a multiple of 3, got (5, 10)")):
        gru_step_forward(z(N, D), z(N, H), z(D, 10), z(3, 9), z(9), z(9))
