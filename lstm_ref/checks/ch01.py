"""Checks for chapter 1 (``ch01_rnn``): the tanh RNN, one step and a sequence.

Each function checks one thing (a shape, the values of ``h``, one gradient) of a learner's
``rnn_step_forward``, ``rnn_step_backward``, ``rnn_forward`` or ``rnn_backward`` against
:mod:`lstm_ref.numpy.rnn` on random float64 inputs drawn from ``seed``. The visible test
cells use the default seeds and shapes; the hidden ones pass other seeds and shapes
(``N=1``, ``T=1``, ``D != H``). A failing check raises :class:`CheckFailed` with a message
that never shows the expected numbers; a passing one prints one ``OK`` line on stdout.

While the learner's functions run, the four reference functions refuse to compute, so a
"solution" that calls them gets no credit.
"""

import numpy as np

from ..numpy import rnn as _ref
from ._common import (
    CheckFailed,
    call_learner,
    call_on_copies,
    check,
    draw_weights,
    expect_array,
    expect_close,
    expect_grad,
    rng_for,
)

__all__ = [
    "CheckFailed",
    "step_forward_shape",
    "step_forward_values",
    "step_backward_grad",
    "forward_shape",
    "forward_values",
    "backward_grad",
    "STEP_GRADS",
    "SEQ_GRADS",
]

LOCKED = (_ref.rnn_step_forward, _ref.rnn_step_backward, _ref.rnn_forward, _ref.rnn_backward)

STEP_GRADS = ("dx", "dh_prev", "dWx", "dWh", "db")
SEQ_GRADS = ("dx", "dh0", "dWx", "dWh", "db")

# float64 inputs of size ~1: an exact implementation agrees to ~1e-15; 1e-7 leaves room
# for any order of summation and still catches every real mistake.
RTOL = 1e-7
ATOL = 1e-10

_HINTS = {
    "step": {
        "dx": "dx = (gradient on the pre-activation) @ Wx.T, shape (N, D)",
        "dh_prev": "the gradient on the pre-activation flows to h_prev through Wh",
        "dWx": "each example's x_t times its pre-activation gradient, summed over the batch",
        "dWh": "each example's h_prev times its pre-activation gradient, summed over the batch",
        "db": "the bias gradient sums the pre-activation gradient over the batch",
    },
    "seq": {
        "dx": "dx[t] depends on the total gradient reaching h_t (its own dh[t] plus what "
        "comes back from step t+1)",
        "dh0": "dh0 is what flows back out of step 1 into the initial state",
        "dWx": "Wx is shared by every step: add up its gradient over all T steps",
        "dWh": "Wh is shared by every step: add up its gradient over all T steps, each "
        "with the hidden state that step received",
        "db": "b is shared by every step: add up its gradient over all T steps",
    },
}


def _step_inputs(seed, N, D, H):
    rng = rng_for(seed)
    x = rng.standard_normal((N, D))
    h_prev = rng.standard_normal((N, H))
    Wx, Wh, b = draw_weights(rng, D, H)
    dh_next = rng.standard_normal((N, H))
    return (x, h_prev, Wx, Wh, b), dh_next


def _seq_inputs(seed, T, N, D, H):
    rng = rng_for(seed)
    x = rng.standard_normal((T, N, D))
    h0 = rng.standard_normal((N, H))
    Wx, Wh, b = draw_weights(rng, D, H)
    dh = rng.standard_normal((T, N, H))
    return (x, h0, Wx, Wh, b), dh


def _run_step_forward(fn, inputs):
    """The learner's ``(h_next, cache)``; checks that the inputs are left alone."""
    return call_on_copies(fn, "rnn_step_forward", ("x", "h_prev", "Wx", "Wh", "b"), inputs,
                          locked=LOCKED, returns=(2, "(h_next, cache)"))


def _run_forward(fn, inputs):
    return call_on_copies(fn, "rnn_forward", ("x", "h0", "Wx", "Wh", "b"), inputs,
                          locked=LOCKED, returns=(2, "(h, cache)"))


@check
def step_forward_shape(rnn_step_forward, seed=0, N=3, D=10, H=4):
    """``h_next`` has shape ``(N, H)`` and dtype float64 for float64 inputs."""
    inputs, _ = _step_inputs(seed, N, D, H)
    h_next, _ = _run_step_forward(rnn_step_forward, inputs)
    expect_array("h_next", h_next, (N, H), dtype=np.float64)
    return f"h_next has shape ({N}, {H}) and dtype float64"


@check
def step_forward_values(rnn_step_forward, seed=0, N=3, D=10, H=4):
    """``h_next`` matches ``tanh(x Wx + h_prev Wh + b)``."""
    inputs, _ = _step_inputs(seed, N, D, H)
    expected, _ = _ref.rnn_step_forward(*inputs)
    h_next, _ = _run_step_forward(rnn_step_forward, inputs)
    expect_close(
        "h_next", h_next, expected, RTOL, ATOL,
        hint="h_next = tanh(x @ Wx + h_prev @ Wh + b), with the weights on the right",
    )
    return f"h_next has the right values (N={N}, D={D}, H={H})"


@check
def step_backward_grad(rnn_step_forward, rnn_step_backward, grad, seed=0, N=4, D=5, H=6):
    """One gradient of ``rnn_step_backward`` (``grad`` in :data:`STEP_GRADS`)."""
    if grad not in STEP_GRADS:
        raise ValueError(f"grad must be one of {STEP_GRADS}, got {grad!r}")
    inputs, dh_next = _step_inputs(seed, N, D, H)
    _, ref_cache = _ref.rnn_step_forward(*inputs)
    expected = dict(zip(STEP_GRADS, _ref.rnn_step_backward(dh_next, ref_cache)))[grad]
    _, cache = _run_step_forward(rnn_step_forward, inputs)
    out = call_learner(rnn_step_backward, dh_next.copy(), cache, name="rnn_step_backward",
                       locked=LOCKED)
    expect_grad("rnn_step_backward", out, STEP_GRADS, grad, expected, RTOL, ATOL,
                _HINTS["step"][grad])
    return f"{grad} of rnn_step_backward is right (N={N}, D={D}, H={H})"


@check
def forward_shape(rnn_forward, seed=0, T=5, N=2, D=4, H=3):
    """``h`` has shape ``(T, N, H)`` and dtype float64."""
    inputs, _ = _seq_inputs(seed, T, N, D, H)
    h, _ = _run_forward(rnn_forward, inputs)
    expect_array("h", h, (T, N, H), dtype=np.float64)
    return f"h has shape ({T}, {N}, {H}) and dtype float64"


@check
def forward_values(rnn_forward, seed=0, T=5, N=2, D=4, H=3):
    """Every hidden state ``h[t]`` matches the reference."""
    inputs, _ = _seq_inputs(seed, T, N, D, H)
    expected, _ = _ref.rnn_forward(*inputs)
    h, _ = _run_forward(rnn_forward, inputs)
    expect_array("h", h, (T, N, H))
    for t in range(T):
        if not np.allclose(h[t], expected[t], rtol=RTOL, atol=ATOL):
            hint = "h[0] is computed from h0 and x[0]"
            if t > 0:
                hint = (f"h[{t}] must be computed from h[{t - 1}], the state the previous "
                        "step produced (h0 is used only by the first step)")
            if t > 0 and np.allclose(h[:t], expected[:t], rtol=RTOL, atol=ATOL):
                hint += f"; h[0] to h[{t - 1}] are right"
            expect_close(f"h[{t}]", h[t], expected[t], RTOL, ATOL, hint=hint)
    return f"h has the right values at every step (T={T}, N={N}, D={D}, H={H})"


@check
def backward_grad(rnn_forward, rnn_backward, grad, seed=0, T=4, N=2, D=3, H=5):
    """One gradient of ``rnn_backward`` (``grad`` in :data:`SEQ_GRADS`)."""
    if grad not in SEQ_GRADS:
        raise ValueError(f"grad must be one of {SEQ_GRADS}, got {grad!r}")
    inputs, dh = _seq_inputs(seed, T, N, D, H)
    _, ref_cache = _ref.rnn_forward(*inputs)
    expected = dict(zip(SEQ_GRADS, _ref.rnn_backward(dh, ref_cache)))[grad]
    _, cache = _run_forward(rnn_forward, inputs)
    out = call_learner(rnn_backward, dh.copy(), cache, name="rnn_backward", locked=LOCKED)
    expect_grad("rnn_backward", out, SEQ_GRADS, grad, expected, RTOL, ATOL, _HINTS["seq"][grad])
    return f"{grad} of rnn_backward is right (T={T}, N={N}, D={D}, H={H})"
