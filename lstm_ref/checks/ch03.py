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

The backward checks never run the learner's forward: they build the cache in the layout the
exercise fixes (:data:`STEP_CACHE`; a sequence's cache is the list of its step caches) from
the reference forward and call only the learner's backward, so a mistake in a forward never
costs the backward's points. When values are wrong, the hint names the typical mistake that
reproduces them (gates stacked i, f, o, g, a missing sigmoid or tanh derivative, a missing
path into the cell, a gradient not carried back along the cell path, not summed over time),
found by comparing with those mistakes computed here; otherwise it says where to look.

While the learner's functions run, the reference functions refuse to compute, so a
"solution" that calls them gets no credit (:data:`REFERENCE_EXERCISED` names them for the
grading sandbox). Only the checks of ``lstm_params_from_torch`` import torch.
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
    expect_not_constant,
    expect_shape,
    expect_tuple,
    expect_unchanged,
    expect_values,
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
    "STEP_CACHE",
    "REFERENCE_EXERCISED",
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

LIBRARIES = "numpy"
"""In grading, a test cell whose function is computed with an autograd library or a
library's recurrent cell earns nothing (:mod:`lstm_ref.grading.forbidden`)."""

REFERENCE_EXERCISED = (
    "lstm_ref.numpy.lstm:lstm_step_forward",
    "lstm_ref.numpy.lstm:lstm_step_backward",
    "lstm_ref.numpy.lstm:lstm_forward",
    "lstm_ref.numpy.lstm:lstm_backward",
    "lstm_ref.numpy.lstm:init_forget_bias",
    "lstm_ref.convert:lstm_params_from_torch",
    "lstm_ref.convert:torch_lstm_to_numpy",
)

# The cache lstm_step_backward receives (the exercise's docstring fixes it); lstm_backward
# receives the list of the T step caches, in time order.
STEP_CACHE = ("x", "h_prev", "c_prev", "Wx", "Wh", "i", "f", "g", "o", "tanh_c")
_STEP_CACHE_TEXT = "cache = (x, h_prev, c_prev, Wx, Wh, i, f, g, o, tanh_c)"
_SEQ_CACHE_TEXT = ("cache = [cache_0, ..., cache_{T-1}], the step caches "
                   "(x[t], h_prev, c_prev, Wx, Wh, i, f, g, o, tanh_c) in time order")

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

# Where to look when no typical mistake matches: never the formula, never a number.
_LOOK = {
    "step": {
        "dx": "x reaches the outputs only through the four pre-activations and Wx; see the "
        "derivation of the step backward",
        "dh_prev": "h_prev reaches the outputs only through the four pre-activations and Wh",
        "dc_prev": "c_prev reaches the outputs only through c_next; collect every gradient "
        "that reaches c_next first",
        "dWx": "each example contributes its input and its pre-activation gradients",
        "dWh": "each example contributes the state it received and its pre-activation "
        "gradients",
        "db": "the bias is added to every example of the batch",
    },
    "seq": {
        "dx": "two gradients come back from step t+1, one on h_t and one on c_t",
        "dh0": "dh0 is what flows back out of the first step into the initial hidden state",
        "dc0": "dc0 is what flows back along the cell path out of the first step",
        "dWx": "Wx is shared by every step",
        "dWh": "Wh is shared by every step",
        "db": "b is shared by every step",
    },
}

# --- typical mistakes, computed in the trusted process -------------------------------------

_MISTAKES = {
    "order": "the four gradient blocks are stacked in the order i, f, o, g; this course (and "
    "PyTorch) stacks them i, f, g, o",
    "no sigmoid'": "the derivative of the sigmoid is missing for the gates i, f, o",
    "no tanh' g": "the derivative of tanh is missing for the candidate g",
    "no tanh' c": "the derivative of tanh(c_next) is missing on the path from h_next into "
    "the cell",
    "no dc_next": "dc_next, the gradient arriving along the cell path, is not added to the "
    "gradient on the cell",
    "no h path": "the path from h_next into the cell (through o and tanh(c_next)) is missing",
    "dc_prev no f": "dc_prev does not go through the forget gate",
    "mean": "the contributions of the examples are averaged; they add up",
}
_SEQ_MISTAKES = {
    "no dh carry": "the gradient on h_t coming back from step t+1 is not added to dh[t]",
    "no dc carry": "the gradient on c_t coming back from step t+1 is not carried: each step "
    "must receive it along the cell path",
    "first": "it holds the gradient of one step only; the weights are shared by all T steps, "
    "so their gradients add up over time",
    "mean": "the steps' contributions are averaged; they add up over time",
    "no dc_last": "dc_last is ignored: it is a gradient on the last cell state from outside",
    "reversed": "dx is stored in reverse time order",
}


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _step_backward_with(dh_next, dc_next, cache, mistake=None):
    """The step backward from a :data:`STEP_CACHE` with one typical mistake built in."""
    x, h_prev, c_prev, Wx, Wh, i, f, g, o, tanh_c = cache
    dtanh = 1.0 if mistake == "no tanh' c" else 1.0 - tanh_c**2
    from_h = dh_next * o * dtanh
    dc = {"no dc_next": from_h, "no h path": dc_next}.get(mistake, dc_next + from_h)
    sig = (lambda s: 1.0) if mistake == "no sigmoid'" else (lambda s: s * (1.0 - s))
    dg = 1.0 if mistake == "no tanh' g" else 1.0 - g**2
    blocks = [dc * g * sig(i), dc * c_prev * sig(f), dc * i * dg, dh_next * tanh_c * sig(o)]
    if mistake == "order":
        blocks = [blocks[0], blocks[1], blocks[3], blocks[2]]
    da = np.concatenate(blocks, axis=1)  # (N, 4H)
    k = 1.0 / x.shape[0] if mistake == "mean" else 1.0
    dc_prev = dc if mistake == "dc_prev no f" else dc * f
    return da @ Wx.T, da @ Wh.T, dc_prev, k * (x.T @ da), k * (h_prev.T @ da), k * da.sum(0)


_AFFECTS = {  # which gradients each step mistake changes
    "dc_prev no f": ("dc_prev",),
    "mean": ("dWx", "dWh", "db"),
}


def _step_variants(dh_next, dc_next, cache):
    variants = {g: [] for g in STEP_GRADS}
    for mistake, hint in _MISTAKES.items():
        grads = _step_backward_with(dh_next, dc_next, cache, mistake)
        for g, v in zip(STEP_GRADS, grads):
            if g in _AFFECTS.get(mistake, STEP_GRADS):
                variants[g].append((hint, v))
    return variants


def _seq_backward_with(dh, caches, dc_last=None, mistake=None, step_mistake=None):
    """BPTT over the step caches with one typical mistake built in."""
    T = len(caches)
    dh_carry = np.zeros_like(dh[0])
    dc_carry = np.zeros_like(dh[0])
    if dc_last is not None and mistake != "no dc_last":
        dc_carry = dc_last.copy()
    dx = [None] * T
    parts = []
    for t in reversed(range(T)):
        g_h = dh[t] if mistake == "no dh carry" else dh[t] + dh_carry
        dx[t], dh_carry, dc_carry, dWx, dWh, db = _step_backward_with(
            g_h, dc_carry, caches[t], step_mistake)
        if mistake == "no dc carry":
            dc_carry = np.zeros_like(dc_carry)
        parts.append((dWx, dWh, db))
    if mistake == "first":
        w = list(parts[-1])
    else:
        w = [sum(p[k] for p in parts) / (T if mistake == "mean" else 1) for k in range(3)]
    dx = np.stack(dx)
    return (dx[::-1] if mistake == "reversed" else dx), dh_carry, dc_carry, *w


def _seq_variants(dh, caches, dc_last=None):
    variants = {g: [] for g in SEQ_GRADS}
    weights = ("dWx", "dWh", "db")
    for mistake, hint in _SEQ_MISTAKES.items():
        if mistake == "no dc_last" and dc_last is None:
            continue
        grads = _seq_backward_with(dh, caches, dc_last, mistake=mistake)
        only = weights if mistake in ("first", "mean") else ("dx",) if mistake == "reversed" \
            else SEQ_GRADS
        for g, v in zip(SEQ_GRADS, grads):
            if g in only:
                variants[g].append((hint, v))
    for mistake in ("order", "no sigmoid'", "no tanh' g", "no tanh' c", "no dc_next",
                    "no h path", "dc_prev no f"):
        grads = _seq_backward_with(dh, caches, dc_last, step_mistake=mistake)
        for g, v in zip(SEQ_GRADS, grads):
            variants[g].append((_MISTAKES[mistake] + " (in the step backward)", v))
    return variants


def _step_forward_with(x, h_prev, c_prev, Wx, Wh, b, mistake=None):
    """One forward step with one typical mistake built in: ``(h_next, c_next)``."""
    H = h_prev.shape[1]
    if mistake == "order":
        Wx, Wh, b = (_convert.reorder_gates(w, "ifog", "ifgo") for w in (Wx, Wh, b))
    a = x @ Wx + h_prev @ Wh + (0 * b if mistake == "no b" else b)
    i, f, g, o = (a[:, k * H:(k + 1) * H] for k in range(4))
    gate = np.tanh if mistake == "tanh gates" else _sigmoid
    i, f, o = gate(i), gate(f), gate(o)
    g = _sigmoid(g) if mistake == "sigmoid g" else np.tanh(g)
    keep = c_prev if mistake == "no f" else f * c_prev
    c_next = keep + (g if mistake == "no i" else i * g)
    h_next = o * (c_next if mistake == "no tanh c" else np.tanh(c_next))
    return h_next, c_next


_FORWARD_MISTAKES = {
    "order": _ORDER_HINT,
    "no b": "the bias b is missing",
    "tanh gates": "the gates i, f, o use tanh where they need a sigmoid",
    "sigmoid g": "the candidate g uses a sigmoid where it needs tanh",
    "no f": "the forget gate does not multiply c_prev",
    "no i": "the input gate does not multiply the candidate",
    "no tanh c": "h_next uses c_next without its tanh",
}


def _forward_variants(inputs, which, seq):
    """``[(hint, h or c), ...]`` of the typical forward mistakes."""
    k = 0 if which == "h" else 1
    out = []
    for mistake, hint in _FORWARD_MISTAKES.items():
        if not seq:
            out.append((hint, _step_forward_with(*inputs, mistake=mistake)[k]))
            continue
        x, h, c, Wx, Wh, b = inputs
        states = []
        for t in range(x.shape[0]):
            h, c = _step_forward_with(x[t], h, c, Wx, Wh, b, mistake=mistake)
            states.append((h, c)[k])
        out.append((hint, np.stack(states)))
    if seq:
        x, h0, c0, Wx, Wh, b = inputs
        stale = np.stack([_step_forward_with(x[t], h0, c0, Wx, Wh, b)[k]
                          for t in range(x.shape[0])])
        out.append(("every step starts from h0 and c0; step t must start from the states "
                    "step t-1 produced", stale))
    return out


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


_STEP_NAMES = ("x", "h_prev", "c_prev", "Wx", "Wh", "b")
_SEQ_NAMES = ("x", "h0", "c0", "Wx", "Wh", "b")


def _run(fn, inputs, fn_name, names, what):
    """The learner's forward output (a 3-tuple); checks that the inputs are left alone."""
    return call_on_copies(fn, fn_name, names, inputs, locked=LOCKED, returns=(3, what))


def _run_step_forward(fn, inputs):
    return _run(fn, inputs, "lstm_step_forward", _STEP_NAMES, "(h_next, c_next, cache)")


def _run_forward(fn, inputs):
    return _run(fn, inputs, "lstm_forward", _SEQ_NAMES, "(h, c, cache)")


def _step_cache(inputs):
    """The cache of :data:`STEP_CACHE` built from the reference forward."""
    x, h_prev, c_prev, Wx, Wh, b = inputs
    _, _, (_, _, _, _, _, gates, tanh_c) = _ref.lstm_step_forward(*inputs)
    H = h_prev.shape[1]
    i, f, g, o = (gates[:, k * H:(k + 1) * H].copy() for k in range(4))
    return (x, h_prev, c_prev, Wx, Wh, i, f, g, o, tanh_c)


def _seq_caches(inputs):
    """The list of the step caches of a sequence, from the reference forward."""
    x, h, c, Wx, Wh, b = inputs
    caches = []
    for t in range(x.shape[0]):
        caches.append(_step_cache((x[t], h, c, Wx, Wh, b)))
        h, c, _ = _ref.lstm_step_forward(x[t], h, c, Wx, Wh, b)
    return caches


def _copied(cache):
    if isinstance(cache, list):
        return [_copied(c) for c in cache]
    return tuple(a.copy() for a in cache)


# --- one step ---------------------------------------------------------------------------


@check
def step_forward_shape(lstm_step_forward, seed=0, N=3, D=5, H=4):
    """``h_next`` and ``c_next`` have shape ``(N, H)`` and dtype float64."""
    inputs, _ = _step_inputs(seed, N, D, H)
    h_next, c_next, _ = _run_step_forward(lstm_step_forward, inputs)
    expect_array("h_next", h_next, (N, H), dtype=np.float64)
    expect_array("c_next", c_next, (N, H), dtype=np.float64)
    expect_not_constant("h_next", h_next)
    expect_not_constant("c_next", c_next)
    return f"h_next and c_next have shape ({N}, {H}) and dtype float64"


_STEP_VALUE_LOOK = {
    "h": "compare the output gate and the squashing of the cell with the cell page",
    "c": "compare each gate, its block of columns and its nonlinearity with the cell page",
}


@check
def step_forward_values(lstm_step_forward, which, seed=0, N=3, D=5, H=4):
    """The values of ``h_next`` (``which="h"``) or ``c_next`` (``which="c"``)."""
    if which not in ("h", "c"):
        raise ValueError(f"which must be 'h' or 'c', got {which!r}")
    inputs, _ = _step_inputs(seed, N, D, H)
    k = 0 if which == "h" else 1
    expected = _ref.lstm_step_forward(*inputs)[k]
    got = _run_step_forward(lstm_step_forward, inputs)[k]
    expect_values(f"{which}_next", got, expected, RTOL, ATOL, hint=_STEP_VALUE_LOOK[which],
                  variants=_forward_variants(inputs, which, seq=False))
    return f"{which}_next has the right values (N={N}, D={D}, H={H})"


@check
def step_backward_grad(lstm_step_backward, grad, seed=0, N=4, D=5, H=3):
    """One gradient of ``lstm_step_backward`` (``grad`` in :data:`STEP_GRADS`), given the
    cache of :data:`STEP_CACHE` built by the reference forward."""
    if grad not in STEP_GRADS:
        raise ValueError(f"grad must be one of {STEP_GRADS}, got {grad!r}")
    inputs, (dh_next, dc_next) = _step_inputs(seed, N, D, H)
    _, _, ref_cache = _ref.lstm_step_forward(*inputs)
    expected = dict(zip(STEP_GRADS, _ref.lstm_step_backward(dh_next, dc_next, ref_cache)))[grad]
    cache = _step_cache(inputs)
    out = call_learner(
        lstm_step_backward, dh_next.copy(), dc_next.copy(), _copied(cache),
        name="lstm_step_backward", locked=LOCKED,
        context=f"the check passes {_STEP_CACHE_TEXT}",
    )
    expect_grad("lstm_step_backward", out, STEP_GRADS, grad, expected, RTOL, ATOL,
                _LOOK["step"][grad], variants=_step_variants(dh_next, dc_next, cache)[grad],
                summed_axes=("example of the batch",))
    return f"{grad} of lstm_step_backward is right (N={N}, D={D}, H={H})"


# --- a sequence -------------------------------------------------------------------------


@check
def forward_shape(lstm_forward, seed=0, T=5, N=2, D=4, H=3):
    """``h`` and ``c`` have shape ``(T, N, H)`` and dtype float64."""
    inputs, _, _ = _seq_inputs(seed, T, N, D, H)
    h, c, _ = _run_forward(lstm_forward, inputs)
    expect_shape("h", h, (T, N, H), dtype=np.float64)
    expect_shape("c", c, (T, N, H), dtype=np.float64)
    expect_not_constant("h", h)
    expect_not_constant("c", c)
    return f"h and c have shape ({T}, {N}, {H}) and dtype float64"


@check
def forward_values(lstm_forward, which, seed=0, T=5, N=2, D=4, H=3):
    """Every ``h[t]`` (``which="h"``) or every ``c[t]`` (``which="c"``)."""
    if which not in ("h", "c"):
        raise ValueError(f"which must be 'h' or 'c', got {which!r}")
    inputs, _, _ = _seq_inputs(seed, T, N, D, H)
    k = 0 if which == "h" else 1
    expected = _ref.lstm_forward(*inputs)[k]
    got = _run_forward(lstm_forward, inputs)[k]
    expect_shape(which, got, (T, N, H))
    variants = _forward_variants(inputs, which, seq=True)
    for t in range(T):
        if not np.allclose(got[t], expected[t], rtol=RTOL, atol=ATOL):
            hint = f"{which}[0] is computed from h0, c0 and x[0]"
            if t > 0:
                hint = (f"{which}[{t}] must be computed from h[{t - 1}] and c[{t - 1}], the "
                        "states the previous step produced (h0 and c0 are used only by the "
                        "first step)")
                if np.allclose(got[:t], expected[:t], rtol=RTOL, atol=ATOL):
                    hint += f"; {which}[0] to {which}[{t - 1}] are right"
            mistake = [(m, v[t]) for m, v in variants
                       if np.allclose(got, v, rtol=RTOL, atol=ATOL)]
            expect_values(f"{which}[{t}]", got[t], expected[t], RTOL, ATOL, hint=hint,
                          variants=mistake)
    return f"{which} has the right values at every step (T={T}, N={N}, D={D}, H={H})"


def _learner_backward(lstm_backward, caches, dh, dc_last):
    args = (dh.copy(), _copied(caches))
    if dc_last is not None:
        args += (dc_last.copy(),)
    out = call_learner(lstm_backward, *args, name="lstm_backward", locked=LOCKED,
                       context=f"the check passes {_SEQ_CACHE_TEXT}")
    return expect_tuple("lstm_backward", out, 6, "(dx, dh0, dc0, dWx, dWh, db)")


@check
def backward_grad(lstm_backward, grad, seed=0, T=4, N=2, D=3, H=5):
    """One gradient of ``lstm_backward`` (``grad`` in :data:`SEQ_GRADS`), no ``dc_last``,
    given the list of step caches built by the reference forward."""
    if grad not in SEQ_GRADS:
        raise ValueError(f"grad must be one of {SEQ_GRADS}, got {grad!r}")
    inputs, dh, _ = _seq_inputs(seed, T, N, D, H)
    _, _, ref_cache = _ref.lstm_forward(*inputs)
    expected = dict(zip(SEQ_GRADS, _ref.lstm_backward(dh, ref_cache)))[grad]
    caches = _seq_caches(inputs)
    grads = _learner_backward(lstm_backward, caches, dh, None)
    expect_grad("lstm_backward", grads, SEQ_GRADS, grad, expected, RTOL, ATOL,
                _LOOK["seq"][grad], variants=_seq_variants(dh, caches)[grad],
                summed_axes=("step of the sequence", "example of the batch"))
    return f"{grad} of lstm_backward is right (T={T}, N={N}, D={D}, H={H})"


@check
def backward_dc_last(lstm_backward, seed=0, T=3, N=2, D=3, H=4):
    """With a gradient ``dc_last`` on the last cell state, all six gradients are right."""
    inputs, dh, dc_last = _seq_inputs(seed, T, N, D, H)
    _, _, ref_cache = _ref.lstm_forward(*inputs)
    expected = _ref.lstm_backward(dh, ref_cache, dc_last)
    caches = _seq_caches(inputs)
    grads = _learner_backward(lstm_backward, caches, dh, dc_last)
    variants = _seq_variants(dh, caches, dc_last)
    for name, got, exp in zip(SEQ_GRADS, grads, expected):
        expect_shape(name, got, exp.shape, dtype=np.float64,
                     summed_axes=("step of the sequence", "example of the batch"))
        expect_values(name, got, exp, RTOL, ATOL, hint="dc_last is a gradient on c[T-1] "
                      "from outside; follow where it enters the backward walk",
                      variants=variants[name])
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
        expect_not_constant(name, arr)
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
    expect_array("init_forget_bias's result", got, b.shape)
    if np.array_equal(got, b):
        raise CheckFailed("init_forget_bias returned a copy of b with nothing set; this "
                          "check gives its point to a function that sets the forget block "
                          "in a new array")
    return "init_forget_bias leaves b alone and returns a new array"
