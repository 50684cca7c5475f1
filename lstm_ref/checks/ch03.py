"""Checks for chapter 3 (``ch03_lstm``): the LSTM cell, one step and a sequence, weights
from ``torch.nn.LSTM``, and the forget-gate bias.

Each function checks one thing (a shape, the values of ``h`` or ``c``, one gradient, one
converted weight) of a learner's ``lstm_step_forward``, ``lstm_step_backward``,
``lstm_forward``, ``lstm_backward``, ``lstm_params_from_torch`` or ``init_forget_bias``
against :mod:`lstm_ref.numpy.lstm` and :mod:`lstm_ref.convert` on random float64 inputs
drawn from ``seed``. The visible test cells use the default seeds and shapes; the hidden
ones pass other seeds and shapes (``N=1``, ``T=1``, ``H=1``, ``D != H``). A failing check
raises :class:`CheckFailed` with a message that never shows the expected numbers; a passing
one prints one ``OK`` line on stdout.

While the learner's functions run, the reference functions refuse to compute, so a
"solution" that calls them gets no credit. Only the checks of ``lstm_params_from_torch``
import torch.
"""

import numpy as np

from .. import convert as _convert
from ..numpy import lstm as _ref
from ._common import (
    CheckFailed,
    call_learner,
    call_on_copies,
    check,
    draw_weights,
    expect_array,
    expect_close,
    expect_grad,
    expect_tuple,
    expect_unchanged,
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
    "backward_dc_last",
    "params_from_torch_shapes",
    "params_from_torch_values",
    "params_from_torch_forward",
    "forget_bias_values",
    "forget_bias_copy",
    "STEP_GRADS",
    "SEQ_GRADS",
    "PARAMS",
]

LOCKED = (
    _ref.lstm_step_forward,
    _ref.lstm_step_backward,
    _ref.lstm_forward,
    _ref.lstm_backward,
    _ref.init_forget_bias,
    _convert.lstm_params_from_torch,
    _convert.torch_lstm_to_numpy,
    _convert._to_numpy,
)

STEP_GRADS = ("dx", "dh_prev", "dc_prev", "dWx", "dWh", "db")
SEQ_GRADS = ("dx", "dh0", "dc0", "dWx", "dWh", "db")
PARAMS = ("Wx", "Wh", "b")

# float64 inputs of size ~1: an exact implementation agrees to ~1e-15; 1e-7 leaves room for
# any order of summation and still catches every real mistake.
RTOL = 1e-7
ATOL = 1e-10

_ORDER_HINT = (
    "the values match a cell whose gate blocks are stacked in the order i, f, o, g; this "
    "course (and PyTorch) stacks them i, f, g, o: columns [0:H] input, [H:2H] forget, "
    "[2H:3H] candidate g, [3H:4H] output"
)

_HINTS = {
    "step": {
        "dx": "dx = (gradient on the four pre-activations, (N, 4H)) @ Wx.T",
        "dh_prev": "the gradient on the four pre-activations flows to h_prev through Wh",
        "dc_prev": "c_prev reaches c_next only through f * c_prev, so dc_prev is the total "
        "gradient on c_next (dc_next plus what comes from h_next) times f",
        "dWx": "x.T @ (gradient on the pre-activations), summed over the batch",
        "dWh": "h_prev.T @ (gradient on the pre-activations), summed over the batch",
        "db": "the bias gradient sums the pre-activation gradient over the batch",
    },
    "seq": {
        "dx": "dx[t] depends on the total gradients reaching h_t and c_t (from outside and "
        "from step t+1)",
        "dh0": "dh0 is what flows back out of the first step into the initial hidden state",
        "dc0": "dc0 is what flows back along the cell path out of the first step; the "
        "gradient on c_t from step t+1 must be carried backwards, not only the one on h_t",
        "dWx": "Wx is shared by every step: add up its gradient over all T steps",
        "dWh": "Wh is shared by every step: add up its gradient over all T steps",
        "db": "b is shared by every step: add up its gradient over all T steps",
    },
}


# --- inputs -----------------------------------------------------------------------------


def _step_inputs(seed, N, D, H):
    rng = rng_for(seed)
    x = rng.standard_normal((N, D))
    h_prev = rng.standard_normal((N, H))
    c_prev = rng.standard_normal((N, H))
    Wx, Wh, b = draw_weights(rng, D, H, gates=4)
    dh_next = rng.standard_normal((N, H))
    dc_next = rng.standard_normal((N, H))
    return (x, h_prev, c_prev, Wx, Wh, b), (dh_next, dc_next)


def _seq_inputs(seed, T, N, D, H):
    rng = rng_for(seed)
    x = rng.standard_normal((T, N, D))
    h0 = rng.standard_normal((N, H))
    c0 = rng.standard_normal((N, H))
    Wx, Wh, b = draw_weights(rng, D, H, gates=4)
    dh = rng.standard_normal((T, N, H))
    dc_last = rng.standard_normal((N, H))
    return (x, h0, c0, Wx, Wh, b), dh, dc_last


def _reordered(inputs):
    """The same inputs with the gate blocks of Wx, Wh, b permuted i,f,o,g -> i,f,g,o: the
    reference on these computes what a learner who reads the blocks as i,f,o,g computes."""
    *head, Wx, Wh, b = inputs
    return (*head, *(_convert.reorder_gates(w, "ifog", "ifgo") for w in (Wx, Wh, b)))


_STEP_NAMES = ("x", "h_prev", "c_prev", "Wx", "Wh", "b")
_SEQ_NAMES = ("x", "h0", "c0", "Wx", "Wh", "b")


def _run(fn, inputs, fn_name, names, what):
    """The learner's forward output (a 3-tuple); checks that the inputs are left alone."""
    return call_on_copies(fn, fn_name, names, inputs, locked=LOCKED, returns=(3, what))


def _run_step_forward(fn, inputs):
    return _run(fn, inputs, "lstm_step_forward", _STEP_NAMES, "(h_next, c_next, cache)")


def _run_forward(fn, inputs):
    return _run(fn, inputs, "lstm_forward", _SEQ_NAMES, "(h, c, cache)")


def _compare(name, got, expected, wrong_order, hint):
    """``expect_close`` with a gate-order diagnosis when the values are off."""
    expect_array(name, got, expected.shape)
    if not np.allclose(got, expected, rtol=RTOL, atol=ATOL) and np.allclose(
        got, wrong_order, rtol=RTOL, atol=ATOL
    ):
        hint = _ORDER_HINT
    expect_close(name, got, expected, RTOL, ATOL, hint=hint)


# --- one step ---------------------------------------------------------------------------


@check
def step_forward_shape(lstm_step_forward, seed=0, N=3, D=5, H=4):
    """``h_next`` and ``c_next`` have shape ``(N, H)`` and dtype float64."""
    inputs, _ = _step_inputs(seed, N, D, H)
    h_next, c_next, _ = _run_step_forward(lstm_step_forward, inputs)
    expect_array("h_next", h_next, (N, H), dtype=np.float64)
    expect_array("c_next", c_next, (N, H), dtype=np.float64)
    return f"h_next and c_next have shape ({N}, {H}) and dtype float64"


_STEP_VALUE_HINTS = {
    "h": "h_next = o * tanh(c_next), with o = sigmoid of the last block [3H:4H]",
    "c": "c_next = f * c_prev + i * g, with i, f, o sigmoids and g = tanh of its block",
}


@check
def step_forward_values(lstm_step_forward, which, seed=0, N=3, D=5, H=4):
    """The values of ``h_next`` (``which="h"``) or ``c_next`` (``which="c"``)."""
    if which not in ("h", "c"):
        raise ValueError(f"which must be 'h' or 'c', got {which!r}")
    inputs, _ = _step_inputs(seed, N, D, H)
    k = 0 if which == "h" else 1
    expected = _ref.lstm_step_forward(*inputs)[k]
    wrong = _ref.lstm_step_forward(*_reordered(inputs))[k]
    got = _run_step_forward(lstm_step_forward, inputs)[k]
    _compare(f"{which}_next", got, expected, wrong, _STEP_VALUE_HINTS[which])
    return f"{which}_next has the right values (N={N}, D={D}, H={H})"


@check
def step_backward_grad(lstm_step_forward, lstm_step_backward, grad, seed=0, N=4, D=5, H=3):
    """One gradient of ``lstm_step_backward`` (``grad`` in :data:`STEP_GRADS`)."""
    if grad not in STEP_GRADS:
        raise ValueError(f"grad must be one of {STEP_GRADS}, got {grad!r}")
    inputs, (dh_next, dc_next) = _step_inputs(seed, N, D, H)
    _, _, ref_cache = _ref.lstm_step_forward(*inputs)
    expected = dict(zip(STEP_GRADS, _ref.lstm_step_backward(dh_next, dc_next, ref_cache)))[grad]
    _, _, cache = _run_step_forward(lstm_step_forward, inputs)
    out = call_learner(
        lstm_step_backward, dh_next.copy(), dc_next.copy(), cache,
        name="lstm_step_backward", locked=LOCKED,
    )
    expect_grad("lstm_step_backward", out, STEP_GRADS, grad, expected, RTOL, ATOL,
                _HINTS["step"][grad])
    return f"{grad} of lstm_step_backward is right (N={N}, D={D}, H={H})"


# --- a sequence -------------------------------------------------------------------------


@check
def forward_shape(lstm_forward, seed=0, T=5, N=2, D=4, H=3):
    """``h`` and ``c`` have shape ``(T, N, H)`` and dtype float64."""
    inputs, _, _ = _seq_inputs(seed, T, N, D, H)
    h, c, _ = _run_forward(lstm_forward, inputs)
    expect_array("h", h, (T, N, H), dtype=np.float64)
    expect_array("c", c, (T, N, H), dtype=np.float64)
    return f"h and c have shape ({T}, {N}, {H}) and dtype float64"


@check
def forward_values(lstm_forward, which, seed=0, T=5, N=2, D=4, H=3):
    """Every ``h[t]`` (``which="h"``) or every ``c[t]`` (``which="c"``)."""
    if which not in ("h", "c"):
        raise ValueError(f"which must be 'h' or 'c', got {which!r}")
    inputs, _, _ = _seq_inputs(seed, T, N, D, H)
    k = 0 if which == "h" else 1
    expected = _ref.lstm_forward(*inputs)[k]
    wrong = _ref.lstm_forward(*_reordered(inputs))[k]
    got = _run_forward(lstm_forward, inputs)[k]
    expect_array(which, got, (T, N, H))
    for t in range(T):
        if not np.allclose(got[t], expected[t], rtol=RTOL, atol=ATOL):
            hint = f"{which}[0] is computed from h0, c0 and x[0]"
            if t > 0:
                hint = (f"{which}[{t}] must be computed from h[{t - 1}] and c[{t - 1}], the "
                        "states the previous step produced (h0 and c0 are used only by the "
                        "first step)")
                if np.allclose(got[:t], expected[:t], rtol=RTOL, atol=ATOL):
                    hint += f"; {which}[0] to {which}[{t - 1}] are right"
            _compare(f"{which}[{t}]", got[t], expected[t], wrong[t], hint)
    return f"{which} has the right values at every step (T={T}, N={N}, D={D}, H={H})"


def _learner_backward(lstm_forward, lstm_backward, inputs, dh, dc_last):
    _, _, cache = _run_forward(lstm_forward, inputs)
    args = (dh.copy(), cache) if dc_last is None else (dh.copy(), cache, dc_last.copy())
    out = call_learner(lstm_backward, *args, name="lstm_backward", locked=LOCKED)
    return expect_tuple("lstm_backward", out, 6, "(dx, dh0, dc0, dWx, dWh, db)")


@check
def backward_grad(lstm_forward, lstm_backward, grad, seed=0, T=4, N=2, D=3, H=5):
    """One gradient of ``lstm_backward`` (``grad`` in :data:`SEQ_GRADS`), no ``dc_last``."""
    if grad not in SEQ_GRADS:
        raise ValueError(f"grad must be one of {SEQ_GRADS}, got {grad!r}")
    inputs, dh, _ = _seq_inputs(seed, T, N, D, H)
    _, _, ref_cache = _ref.lstm_forward(*inputs)
    expected = dict(zip(SEQ_GRADS, _ref.lstm_backward(dh, ref_cache)))[grad]
    grads = _learner_backward(lstm_forward, lstm_backward, inputs, dh, None)
    expect_grad("lstm_backward", grads, SEQ_GRADS, grad, expected, RTOL, ATOL,
                _HINTS["seq"][grad])
    return f"{grad} of lstm_backward is right (T={T}, N={N}, D={D}, H={H})"


@check
def backward_dc_last(lstm_forward, lstm_backward, seed=0, T=3, N=2, D=3, H=4):
    """With a gradient ``dc_last`` on the last cell state, all six gradients are right."""
    inputs, dh, dc_last = _seq_inputs(seed, T, N, D, H)
    _, _, ref_cache = _ref.lstm_forward(*inputs)
    expected = _ref.lstm_backward(dh, ref_cache, dc_last)
    grads = _learner_backward(lstm_forward, lstm_backward, inputs, dh, dc_last)
    for name, got, exp in zip(SEQ_GRADS, grads, expected):
        expect_array(name, got, exp.shape, dtype=np.float64)
        expect_close(
            name, got, exp, RTOL, ATOL,
            hint="dc_last is the gradient on c[T-1] from outside: add it to the gradient "
            "that enters the last step along the cell path",
        )
    return f"lstm_backward uses dc_last (T={T}, N={N}, D={D}, H={H})"


# --- weights from torch -----------------------------------------------------------------


def _torch_lstm(seed, D, H):
    """A float64 ``torch.nn.LSTM(D, H)`` whose parameters are drawn from ``seed`` (torch's
    global random state is left alone); its two biases differ."""
    import torch

    rng = rng_for(seed)
    with torch.random.fork_rng(devices=[]):  # the constructor's random init is overwritten
        module = torch.nn.LSTM(D, H, dtype=torch.float64)
    with torch.no_grad():
        for p in (module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0,
                  module.bias_hh_l0):
            p.copy_(torch.from_numpy(rng.uniform(-0.8, 0.8, size=tuple(p.shape))))
    return module


def _run_params(fn, module):
    before = {k: v.clone() for k, v in module.state_dict().items()}
    out = call_learner(fn, module, name="lstm_params_from_torch", locked=LOCKED)
    Wx, Wh, b = expect_tuple("lstm_params_from_torch", out, 3, "(Wx, Wh, b)")
    for k, v in module.state_dict().items():
        if not bool((v == before[k]).all()):
            raise CheckFailed(
                f"lstm_params_from_torch changed the module's parameter {k}; it must only "
                "read the weights"
            )
    return Wx, Wh, b


@check
def params_from_torch_shapes(lstm_params_from_torch, seed=0, D=3, H=4):
    """``Wx (D, 4H)``, ``Wh (H, 4H)``, ``b (4H,)`` as float64 numpy arrays."""
    module = _torch_lstm(seed, D, H)
    got = _run_params(lstm_params_from_torch, module)
    for name, arr, shape in zip(PARAMS, got, ((D, 4 * H), (H, 4 * H), (4 * H,))):
        if not isinstance(arr, np.ndarray):
            raise CheckFailed(
                f"{name} should be a numpy array, got {type(arr).__name__} "
                "(tensor.detach().numpy() converts a tensor)"
            )
        if arr.shape != shape and arr.ndim == 2 and arr.shape == shape[::-1]:
            raise CheckFailed(
                f"{name} has shape {arr.shape}, expected {shape}: torch stores weights as "
                "(4H, in), the numpy cell multiplies from the right and needs the transpose"
            )
        expect_array(name, arr, shape, dtype=np.float64)
    return f"Wx, Wh and b have shapes ({D}, {4 * H}), ({H}, {4 * H}), ({4 * H},)"


_PARAM_HINTS = {
    "Wx": "Wx is weight_ih_l0 transposed",
    "Wh": "Wh is weight_hh_l0 transposed",
    "b": "torch adds two biases, bias_ih_l0 and bias_hh_l0; the numpy cell has one, "
    "their sum",
}


@check
def params_from_torch_values(lstm_params_from_torch, name, seed=0, D=3, H=4):
    """The values of one of ``Wx``, ``Wh``, ``b`` (``name`` in :data:`PARAMS`)."""
    if name not in PARAMS:
        raise ValueError(f"name must be one of {PARAMS}, got {name!r}")
    module = _torch_lstm(seed, D, H)
    expected = dict(zip(PARAMS, _convert.lstm_params_from_torch(module)))[name]
    got = dict(zip(PARAMS, _run_params(lstm_params_from_torch, module)))[name]
    expect_array(name, got, expected.shape)
    hint = _PARAM_HINTS[name]
    wrong_order = _convert.reorder_gates(expected, "ifgo", "ifog")
    if np.allclose(got, wrong_order, rtol=RTOL, atol=ATOL) and not np.allclose(
        got, expected, rtol=RTOL, atol=ATOL
    ):
        hint = ("the gate blocks are reordered; torch and this course both stack them "
                "i, f, g, o, so no reordering is needed")
    if name == "b":
        one = module.bias_ih_l0.detach().numpy()
        other = module.bias_hh_l0.detach().numpy()
        if np.allclose(got, one, rtol=RTOL, atol=ATOL) or np.allclose(
            got, other, rtol=RTOL, atol=ATOL
        ):
            hint = ("b holds only one of torch's two biases; the cell adds bias_ih_l0 and "
                    "bias_hh_l0, so b is their sum")
    expect_close(name, got, expected, RTOL, ATOL, hint=hint)
    return f"{name} has the right values (D={D}, H={H})"


@check
def params_from_torch_forward(lstm_params_from_torch, seed=0, T=6, N=2, D=3, H=4):
    """With the converted weights, the reference numpy forward computes the module's output."""
    import torch

    module = _torch_lstm(seed, D, H)
    x = rng_for(seed + 1).standard_normal((T, N, D))
    with torch.no_grad():
        expected = module(torch.from_numpy(x))[0].numpy()
    Wx, Wh, b = _run_params(lstm_params_from_torch, module)
    for name, arr in zip(PARAMS, (Wx, Wh, b)):
        if not isinstance(arr, np.ndarray):
            raise CheckFailed(f"{name} should be a numpy array, got {type(arr).__name__}")
    zeros = np.zeros((N, H))
    try:
        h, _, _ = _ref.lstm_forward(x, zeros, zeros, Wx, Wh, b)
    except ValueError as exc:
        raise CheckFailed(f"the numpy forward refused your weights: {exc}") from None
    expect_close(
        "h (numpy forward with your weights)", h, expected, 1e-9, 1e-12,
        hint="compare the layouts: transposes, the gate order and the two biases",
    )
    return f"lstm_forward with your weights matches torch.nn.LSTM (T={T}, N={N}, D={D}, H={H})"


# --- the forget-gate bias ---------------------------------------------------------------


def _bias(seed, H):
    return rng_for(seed).standard_normal(4 * H)


@check
def forget_bias_values(init_forget_bias, seed=0, H=3, value=1.0):
    """The forget block ``[H:2H]`` is ``value``, every other entry is unchanged."""
    b = _bias(seed, H)
    expected = _ref.init_forget_bias(b, value)
    got = call_learner(init_forget_bias, b.copy(), value, name="init_forget_bias",
                       locked=LOCKED)
    expect_array("the returned bias", got, (4 * H,))
    blocks = ("input [0:H]", "forget [H:2H]", "candidate [2H:3H]", "output [3H:4H]")
    for k, block in enumerate(blocks):
        sl = slice(k * H, (k + 1) * H)
        if not np.allclose(got[sl], expected[sl], rtol=RTOL, atol=ATOL):
            hint = ("the forget gate is the second block, entries H to 2H" if k == 1 else
                    "only the forget block [H:2H] changes; the other entries keep their values")
            expect_close(f"the {block} block of the returned bias", got[sl], expected[sl],
                         RTOL, ATOL, hint=hint)
    return f"the forget block is set to {value} and the rest is kept (H={H})"


@check
def forget_bias_copy(init_forget_bias, seed=0, H=3, value=1.0):
    """``b`` itself is not modified, and the result is a new array."""
    b = _bias(seed, H)
    arg = b.copy()
    got = call_learner(init_forget_bias, arg, value, name="init_forget_bias", locked=LOCKED)
    expect_unchanged("b", b, arg)
    if got is arg or (isinstance(got, np.ndarray) and np.shares_memory(got, arg)):
        raise CheckFailed("init_forget_bias returned (a view of) its input; return a new array")
    return "init_forget_bias leaves b alone and returns a new array"
