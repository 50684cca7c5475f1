"""Checks for chapter 1 (``ch01_rnn``): the tanh RNN, one step and a sequence.

Each function checks one thing (a shape, the values of ``h``, one gradient) of a learner's
``rnn_step_forward``, ``rnn_step_backward``, ``rnn_forward`` or ``rnn_backward`` against
:mod:`lstm_ref.numpy.rnn` on random float64 inputs drawn from ``seed``. The visible test
cells use the default seeds and shapes; the hidden ones pass other seeds and shapes
(``N=1``, ``T=1``, ``D != H``). A failing check raises :class:`CheckFailed` with a message
that never shows the expected numbers; a passing one prints one ``OK`` line on stdout.

The backward checks never run the learner's forward: they build the cache in the layout the
exercise fixes (:data:`STEP_CACHE`; a sequence's cache is the list of its step caches) from
the reference forward and call only the learner's backward, so a mistake in a forward never
costs the backward's points. When values are wrong, the hint names the typical mistake that
reproduces them (a missing tanh derivative, a gradient not summed over the batch or over
time, a missing path back from the next step, a transposed weight), found by comparing the
learner's output with those mistakes computed here; otherwise it says where to look.

While the learner's functions run, the four reference functions refuse to compute, so a
"solution" that calls them gets no credit (:data:`REFERENCE_EXERCISED` names them for the
grading sandbox).
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
    expect_grad,
    expect_not_constant,
    expect_shape,
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
    "STEP_GRADS",
    "SEQ_GRADS",
    "STEP_CACHE",
    "REFERENCE_EXERCISED",
]

LOCKED = (_ref.rnn_step_forward, _ref.rnn_step_backward, _ref.rnn_forward, _ref.rnn_backward)
LIBRARIES = "numpy"
"""In grading, a test cell whose function is computed with an autograd library or a
library's recurrent cell earns nothing (:mod:`lstm_ref.grading.forbidden`)."""

REFERENCE_EXERCISED = (
    "lstm_ref.numpy.rnn:rnn_step_forward",
    "lstm_ref.numpy.rnn:rnn_step_backward",
    "lstm_ref.numpy.rnn:rnn_forward",
    "lstm_ref.numpy.rnn:rnn_backward",
)

# The cache rnn_step_backward receives (the exercise's docstring fixes it); rnn_backward
# receives the list of the T step caches, in time order.
STEP_CACHE = ("x", "h_prev", "Wx", "Wh", "h_next")
_STEP_CACHE_TEXT = "cache = (x, h_prev, Wx, Wh, h_next)"
_SEQ_CACHE_TEXT = ("cache = [cache_0, ..., cache_{T-1}], the step caches "
                   "(x[t], h_prev, Wx, Wh, h_next) in time order")

STEP_GRADS = ("dx", "dh_prev", "dWx", "dWh", "db")
SEQ_GRADS = ("dx", "dh0", "dWx", "dWh", "db")

# float64 inputs of size ~1: an exact implementation agrees to ~1e-15; 1e-7 leaves room
# for any order of summation and still catches every real mistake.
RTOL = 1e-7
ATOL = 1e-10

# Where to look when no typical mistake matches: never the formula, never a number.
_LOOK = {
    "step": {
        "dx": "follow the gradient from h_next back to x: through the tanh, then through the "
        "input weights",
        "dh_prev": "follow the gradient from h_next back to h_prev: through the tanh, then "
        "through the recurrent weights",
        "dWx": "each example contributes its own input and its own pre-activation gradient",
        "dWh": "each example contributes the state it received and its own pre-activation "
        "gradient",
        "db": "the bias is added to every example of the batch",
    },
    "seq": {
        "dx": "the gradient reaching h_t comes from outside (dh[t]) and from step t+1",
        "dh0": "dh0 is what flows back out of the first step into the initial state",
        "dWx": "Wx is shared by every step",
        "dWh": "Wh is shared by every step; each step used the state it received",
        "db": "b is shared by every step",
    },
}

# --- typical mistakes, computed in the trusted process -------------------------------------

_NO_TANH_DERIV = "the derivative of tanh is missing (the gradient on h_next must go through it)"
_TANH_TWICE = ("the tanh derivative is computed by applying tanh to h_next again; h_next is "
               "already the tanh of the pre-activation")
_DERIV_AT_H_PREV = ("the tanh derivative is taken at h_prev; it belongs to the state this "
                    "step produced")
_MEAN_BATCH = "the contributions of the examples are averaged; they add up"
_NO_CARRY = ("the gradient coming back from step t+1 is not added to dh[t]: h_t also feeds "
             "the next step")
_ONLY_CARRY = ("dh[t] is dropped at steps before the last: the gradient on h_t comes from "
               "outside too")
_ONE_STEP = ("it holds the gradient of one step only; the weights are shared by all T steps, "
             "so their gradients add up over time")
_MEAN_TIME = "the steps' contributions are averaged; they add up over time"
_TIME_REVERSED = "dx is stored in reverse time order"


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _step_backward_with(dh_next, cache, deriv="right", mean=False, W_as_is=False,
                        h_for_dWh="prev"):
    """The step backward with one typical mistake built in (``None`` where its shapes do
    not fit)."""
    x, h_prev, Wx, Wh, h_next = cache
    factor = {
        "right": 1.0 - h_next**2,
        "none": 1.0,
        "tanh twice": 1.0 - np.tanh(h_next) ** 2,
        "h_prev": 1.0 - h_prev**2,
    }[deriv]
    da = dh_next * factor
    N = x.shape[0]
    scale = 1.0 / N if mean else 1.0
    H = h_prev.shape[1]
    if W_as_is:
        dx = da @ Wx if Wx.shape[0] == H else None
        dh_prev = da @ Wh
    else:
        dx, dh_prev = da @ Wx.T, da @ Wh.T
    h_used = h_prev if h_for_dWh == "prev" else h_next
    return dx, dh_prev, scale * (x.T @ da), scale * (h_used.T @ da), scale * da.sum(axis=0)


def _step_variants(dh_next, cache):
    """``{grad: [(hint, value), ...]}``: the typical mistakes of a step backward."""
    variants = {g: [] for g in STEP_GRADS}

    def add(hint, grads, only=STEP_GRADS):
        for g, v in zip(STEP_GRADS, grads):
            if g in only:
                variants[g].append((hint, v))

    add(_NO_TANH_DERIV, _step_backward_with(dh_next, cache, deriv="none"))
    add(_TANH_TWICE, _step_backward_with(dh_next, cache, deriv="tanh twice"))
    add(_DERIV_AT_H_PREV, _step_backward_with(dh_next, cache, deriv="h_prev"))
    add(_MEAN_BATCH, _step_backward_with(dh_next, cache, mean=True), ("dWx", "dWh", "db"))
    add("the weight matrix is used without its transpose",
        _step_backward_with(dh_next, cache, W_as_is=True), ("dx", "dh_prev"))
    add("dWh uses the state the step produced; it needs the state the step received",
        _step_backward_with(dh_next, cache, h_for_dWh="next"), ("dWh",))
    variants["dh_prev"].append(
        ("dh_prev is dh_next passed through; it must go back through the step", dh_next))
    x, h_prev, Wx, Wh, h_next = cache
    if x.shape[1] == h_prev.shape[1]:
        da = dh_next * (1.0 - h_next**2)
        variants["dx"].append(("dx goes back through the recurrent weights; x entered "
                               "through the input weights", da @ Wh.T))
    return variants


def _seq_backward_with(dh, caches, carry="both", weights="sum", step=None):
    """BPTT over the step caches with one typical mistake built in; ``step`` is a step
    backward (default: the right one)."""
    step = step or _step_backward_with
    T = len(caches)
    dx = [None] * T
    carried = np.zeros_like(dh[0])
    per_step = []
    for t in reversed(range(T)):
        g = {"both": dh[t] + carried, "none": dh[t],
             "only": carried if t < T - 1 else dh[t]}[carry]
        dx[t], carried, dWx, dWh, db = step(g, caches[t])
        per_step.append((dWx, dWh, db))
    if weights == "sum":
        w = [sum(p[k] for p in per_step) for k in range(3)]
    elif weights == "mean":
        w = [sum(p[k] for p in per_step) / T for k in range(3)]
    elif weights == "first":  # overwritten at every step of the backward loop
        w = list(per_step[-1])
    else:  # "last": kept only the first step of the backward loop
        w = list(per_step[0])
    return (np.stack(dx), carried, *w)


def _seq_variants(dh, caches):
    variants = {g: [] for g in SEQ_GRADS}

    def add(hint, grads, only=SEQ_GRADS):
        for g, v in zip(SEQ_GRADS, grads):
            if g in only:
                variants[g].append((hint, v))

    weights = ("dWx", "dWh", "db")
    add(_NO_CARRY, _seq_backward_with(dh, caches, carry="none"))
    add(_ONLY_CARRY, _seq_backward_with(dh, caches, carry="only"))
    add(_ONE_STEP, _seq_backward_with(dh, caches, weights="first"), weights)
    add(_ONE_STEP, _seq_backward_with(dh, caches, weights="last"), weights)
    add(_MEAN_TIME, _seq_backward_with(dh, caches, weights="mean"), weights)
    for deriv, hint in (("none", _NO_TANH_DERIV), ("tanh twice", _TANH_TWICE),
                        ("h_prev", _DERIV_AT_H_PREV)):
        add(hint, _seq_backward_with(
            dh, caches, step=lambda g, c, d=deriv: _step_backward_with(g, c, deriv=d)))
    right = _seq_backward_with(dh, caches)
    variants["dx"].append((_TIME_REVERSED, right[0][::-1]))
    return variants


def _forward_variants(x, h_prev, Wx, Wh, b):
    """The typical mistakes of one forward step, as ``[(hint, h_next), ...]``."""
    a = x @ Wx + h_prev @ Wh + b
    out = [
        ("the bias b is missing", np.tanh(x @ Wx + h_prev @ Wh)),
        ("the tanh is missing", a),
        ("a sigmoid is used where the cell uses tanh", _sigmoid(a)),
        ("the recurrent term (h_prev with Wh) is missing", np.tanh(x @ Wx + b)),
        ("the input term (x with Wx) is missing", np.tanh(h_prev @ Wh + b)),
        ("Wh is used transposed", np.tanh(x @ Wx + h_prev @ Wh.T + b)),
    ]
    if Wx.shape[0] == Wx.shape[1]:
        out.append(("Wx is used transposed", np.tanh(x @ Wx.T + h_prev @ Wh + b)))
    return out


def _forward_seq_variants(x, h0, Wx, Wh, b):
    """The typical mistakes of a sequence forward, as ``[(hint, h), ...]``: each step
    mistake over the whole sequence, and h0 fed to every step."""
    T = x.shape[0]
    out = []
    for k in range(len(_forward_variants(x[0], h0, Wx, Wh, b))):
        h_prev, hs = h0, []
        for t in range(T):
            variants = _forward_variants(x[t], h_prev, Wx, Wh, b)
            if k >= len(variants):
                break
            hint, h_prev = variants[k]
            hs.append(h_prev)
        else:
            out.append((hint, np.stack(hs)))
    stale = np.stack([np.tanh(x[t] @ Wx + h0 @ Wh + b) for t in range(T)])
    out.append(("every step starts from h0; step t must start from the state step t-1 "
                "produced", stale))
    return out


# --- inputs -------------------------------------------------------------------------------


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


def _step_cache(inputs):
    """The cache of :data:`STEP_CACHE` built by the reference forward."""
    return _ref.rnn_step_forward(*inputs)[1]


def _seq_caches(inputs):
    """The list of step caches of a sequence, built by the reference forward."""
    x, h0, Wx, Wh, b = inputs
    caches, h_prev = [], h0
    for t in range(x.shape[0]):
        h_prev, cache = _ref.rnn_step_forward(x[t], h_prev, Wx, Wh, b)
        caches.append(cache)
    return caches


def _copied(cache):
    if isinstance(cache, list):
        return [_copied(c) for c in cache]
    return tuple(a.copy() for a in cache)


def _run_forward(fn, inputs):
    return call_on_copies(fn, "rnn_forward", ("x", "h0", "Wx", "Wh", "b"), inputs,
                          locked=LOCKED, returns=(2, "(h, cache)"))


@check
def step_forward_shape(rnn_step_forward, seed=0, N=3, D=10, H=4):
    """``h_next`` has shape ``(N, H)`` and dtype float64 for float64 inputs."""
    inputs, _ = _step_inputs(seed, N, D, H)
    h_next, _ = _run_step_forward(rnn_step_forward, inputs)
    expect_shape("h_next", h_next, (N, H), dtype=np.float64)
    expect_not_constant("h_next", h_next)
    return f"h_next has shape ({N}, {H}) and dtype float64"


@check
def step_forward_values(rnn_step_forward, seed=0, N=3, D=10, H=4):
    """``h_next`` matches the reference step."""
    inputs, _ = _step_inputs(seed, N, D, H)
    expected, _ = _ref.rnn_step_forward(*inputs)
    h_next, _ = _run_step_forward(rnn_step_forward, inputs)
    expect_values("h_next", h_next, expected, RTOL, ATOL,
                  hint="compare each term of the pre-activation and the nonlinearity with "
                  "the forward page",
                  variants=_forward_variants(*inputs))
    return f"h_next has the right values (N={N}, D={D}, H={H})"


@check
def step_backward_grad(rnn_step_backward, grad, seed=0, N=4, D=5, H=6):
    """One gradient of ``rnn_step_backward`` (``grad`` in :data:`STEP_GRADS`), given the
    cache of :data:`STEP_CACHE` built by the reference forward."""
    if grad not in STEP_GRADS:
        raise ValueError(f"grad must be one of {STEP_GRADS}, got {grad!r}")
    inputs, dh_next = _step_inputs(seed, N, D, H)
    cache = _step_cache(inputs)
    expected = dict(zip(STEP_GRADS, _ref.rnn_step_backward(dh_next, cache)))[grad]
    out = call_learner(rnn_step_backward, dh_next.copy(), _copied(cache),
                       name="rnn_step_backward", locked=LOCKED,
                       context=f"the check passes {_STEP_CACHE_TEXT}")
    expect_grad("rnn_step_backward", out, STEP_GRADS, grad, expected, RTOL, ATOL,
                _LOOK["step"][grad], variants=_step_variants(dh_next, cache)[grad],
                summed_axes=("example of the batch",))
    return f"{grad} of rnn_step_backward is right (N={N}, D={D}, H={H})"


@check
def forward_shape(rnn_forward, seed=0, T=5, N=2, D=4, H=3):
    """``h`` has shape ``(T, N, H)`` and dtype float64."""
    inputs, _ = _seq_inputs(seed, T, N, D, H)
    h, _ = _run_forward(rnn_forward, inputs)
    expect_shape("h", h, (T, N, H), dtype=np.float64)
    expect_not_constant("h", h)
    return f"h has shape ({T}, {N}, {H}) and dtype float64"


@check
def forward_values(rnn_forward, seed=0, T=5, N=2, D=4, H=3):
    """Every hidden state ``h[t]`` matches the reference."""
    inputs, _ = _seq_inputs(seed, T, N, D, H)
    expected, _ = _ref.rnn_forward(*inputs)
    h, _ = _run_forward(rnn_forward, inputs)
    expect_shape("h", h, (T, N, H))
    variants = _forward_seq_variants(*inputs)
    for t in range(T):
        if not np.allclose(h[t], expected[t], rtol=RTOL, atol=ATOL):
            hint = "h[0] is computed from h0 and x[0]"
            if t > 0:
                hint = (f"h[{t}] must be computed from h[{t - 1}], the state the previous "
                        "step produced (h0 is used only by the first step)")
            if t > 0 and np.allclose(h[:t], expected[:t], rtol=RTOL, atol=ATOL):
                hint += f"; h[0] to h[{t - 1}] are right"
            mistake = [(m, v[t]) for m, v in variants
                       if np.allclose(h, v, rtol=RTOL, atol=ATOL)]
            expect_values(f"h[{t}]", h[t], expected[t], RTOL, ATOL, hint=hint,
                          variants=mistake)
    return f"h has the right values at every step (T={T}, N={N}, D={D}, H={H})"


@check
def backward_grad(rnn_backward, grad, seed=0, T=4, N=2, D=3, H=5):
    """One gradient of ``rnn_backward`` (``grad`` in :data:`SEQ_GRADS`), given the list of
    step caches built by the reference forward."""
    if grad not in SEQ_GRADS:
        raise ValueError(f"grad must be one of {SEQ_GRADS}, got {grad!r}")
    inputs, dh = _seq_inputs(seed, T, N, D, H)
    caches = _seq_caches(inputs)
    _, ref_cache = _ref.rnn_forward(*inputs)
    expected = dict(zip(SEQ_GRADS, _ref.rnn_backward(dh, ref_cache)))[grad]
    out = call_learner(rnn_backward, dh.copy(), _copied(caches), name="rnn_backward",
                       locked=LOCKED, context=f"the check passes {_SEQ_CACHE_TEXT}")
    expect_grad("rnn_backward", out, SEQ_GRADS, grad, expected, RTOL, ATOL,
                _LOOK["seq"][grad], variants=_seq_variants(dh, caches)[grad],
                summed_axes=("step of the sequence", "example of the batch"))
    return f"{grad} of rnn_backward is right (T={T}, N={N}, D={D}, H={H})"
