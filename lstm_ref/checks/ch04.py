r"""Checks for chapter 4 (``ch04_variants``): the GRU step forward and backward in PyTorch's
convention, the GRU step with the reset gate before the product (Cho et al.), and the
peephole LSTM step (Greff et al.'s vanilla LSTM).

Each function checks one thing (a shape, one output's values, one gradient) of a learner's
function against :mod:`lstm_ref.numpy.gru` and :mod:`lstm_ref.numpy.variants` on random
float64 inputs drawn from ``seed``. The visible test cells use the default seeds and shapes;
the hidden ones pass other seeds and shapes (``N=1``, ``D != H``, ``H=1``).

The backward checks never use the learner's forward: the notebook fixes the step cache,

``cache = (x, h_prev, Wx, Wh, bx, bh, r, z, n, hn)`` with ``hn = h_prev Whn + bhn``,

and each check builds it from the reference forward and hands it to the learner's
``gru_step_backward``; a bug in the learner's forward costs no backward point.

When values are wrong, the check compares them with typical wrong implementations computed
here (gates r and z swapped, z and 1 - z swapped, the reset gate applied before the product,
the bias ``bhn`` left outside the reset gate, a missing derivative of tanh or of the sigmoid,
a gradient not summed over the batch, peepholes on the wrong cell state...) and names the
mistake it recognises; no message shows an expected number. A passing check prints one
``OK`` line on stdout; a failing one raises :class:`CheckFailed`.
"""

import numpy as np

from ..numpy import gru as _gru
from ..numpy import variants as _variants
from ._common import (
    CheckFailed,
    call_on_copies,
    check,
    diagnose,
    draw_weights,
    expect_array,
    expect_close,
    expect_not_constant,
    expect_tuple,
    rng_for,
)

__all__ = [
    "CheckFailed",
    "gru_step_forward_shape",
    "gru_step_forward_values",
    "gru_step_forward_cache",
    "gru_step_backward_grad",
    "gru_reset_before_values",
    "peephole_step_values",
    "GRU_GRADS",
    "REFERENCE_EXERCISED",
]

LIBRARIES = "numpy"
"""In grading, a test cell whose function is computed with an autograd library or a
library's recurrent cell earns nothing (:mod:`lstm_ref.grading.forbidden`)."""

REFERENCE_EXERCISED = (
    "lstm_ref.numpy.gru:gru_step_forward",
    "lstm_ref.numpy.gru:gru_step_backward",
    "lstm_ref.numpy.gru:gru_forward",
    "lstm_ref.numpy.gru:gru_backward",
    "lstm_ref.numpy.variants:variant_lstm_forward",
    "lstm_ref.numpy.variants:variant_lstm_step_forward",
)
"""The reference functions the exercises ask the learner to write (a one-step forward is
also a one-step sequence, so the sequence functions are listed too)."""

LOCKED = (
    _gru.gru_step_forward,
    _gru.gru_step_backward,
    _gru.gru_forward,
    _gru.gru_backward,
    _variants.variant_lstm_forward,
    _variants.variant_lstm_step_forward,
)

GRU_GRADS = ("dx", "dh_prev", "dWx", "dWh", "dbx", "dbh")
CACHE_FIELDS = ("x", "h_prev", "Wx", "Wh", "bx", "bh", "r", "z", "n", "hn")

RTOL = 1e-7
ATOL = 1e-10


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


# --- inputs -----------------------------------------------------------------------------


def _gru_inputs(seed, N, D, H):
    """``(x, h_prev, Wx, Wh, bx, bh)`` and an upstream gradient ``dh_next``; the two biases
    differ (so a bias in the wrong place shows)."""
    rng = rng_for(seed)
    x = rng.standard_normal((N, D))
    h_prev = rng.standard_normal((N, H))
    Wx, Wh, bx = draw_weights(rng, D, H, gates=3)
    bh = rng.standard_normal(3 * H) * 0.5
    dh_next = rng.standard_normal((N, H))
    return (x, h_prev, Wx, Wh, bx, bh), dh_next


def _swap_rz(w):
    """The r and z blocks of ``w`` (last axis ``3H``) exchanged."""
    H = w.shape[-1] // 3
    return np.concatenate([w[..., H:2 * H], w[..., :H], w[..., 2 * H:]], axis=-1)


def _parts(inputs):
    """The pre-activations and gates of the PyTorch-convention step, computed here."""
    x, h_prev, Wx, Wh, bx, bh = inputs
    H = h_prev.shape[1]
    ax = x @ Wx + bx  # (N, 3H)
    ah = h_prev @ Wh + bh  # (N, 3H)
    r = _sigmoid(ax[:, :H] + ah[:, :H])
    z = _sigmoid(ax[:, H:2 * H] + ah[:, H:2 * H])
    return ax, ah, r, z


def _gru_wrong_forwards(inputs):
    """``{mistake: h_next}`` for typical wrong PyTorch-convention GRU steps."""
    x, h_prev, Wx, Wh, bx, bh = inputs
    H = h_prev.shape[1]
    ax, ah, r, z = _parts(inputs)
    n_pre = ax[:, 2 * H:] + r * ah[:, 2 * H:]
    n = np.tanh(n_pre)
    wrong = {
        "rz": _gru.gru_step_forward(x, h_prev, _swap_rz(Wx), _swap_rz(Wh), _swap_rz(bx),
                                    _swap_rz(bh))[0],
        "z_flip": z * n + (1.0 - z) * h_prev,
        "before": _gru.gru_step_forward(*inputs, reset_after=False)[0],
        "bhn_out": None,
        "no_tanh": (1.0 - z) * n_pre + z * h_prev,
        "no_reset": (1.0 - z) * np.tanh(ax[:, 2 * H:] + ah[:, 2 * H:]) + z * h_prev,
    }
    n_out = np.tanh(ax[:, 2 * H:] + r * (h_prev @ Wh[:, 2 * H:]) + bh[2 * H:])
    wrong["bhn_out"] = (1.0 - z) * n_out + z * h_prev
    return wrong


_FORWARD_HINTS = {
    "rz": "the values match a GRU whose r and z blocks are exchanged; the blocks are stacked "
    "r, z, n: columns [0:H] reset gate, [H:2H] update gate, [2H:3H] candidate",
    "z_flip": "the values match h' = z * n + (1 - z) * h: in this course (and PyTorch) the "
    "update gate z keeps the old state, h' = (1 - z) * n + z * h",
    "before": "the values match the reset gate applied before the recurrent product "
    "(Cho et al.'s convention); PyTorch applies it after the product, to (h Whn + bhn)",
    "bhn_out": "the values match a candidate whose recurrent bias bhn is added outside the "
    "reset gate; in PyTorch's convention r multiplies (h Whn + bhn), bias included",
    "no_tanh": "the values match a candidate n without its tanh",
    "no_reset": "the values match a candidate that ignores the reset gate r",
}


def _diagnose(got, expected, wrongs, hints, default):
    """The hint of the first wrong implementation ``got`` matches (:func:`diagnose` over the
    dict ``wrongs``, hints by the same keys), else ``default``."""
    return diagnose(got, expected, [(hints[k], v) for k, v in wrongs.items()], RTOL,
                    ATOL) or default


_STEP_NAMES = ("x", "h_prev", "Wx", "Wh", "bx", "bh")


def _run_gru_forward(fn, inputs):
    return call_on_copies(fn, "gru_step_forward", _STEP_NAMES, inputs, locked=LOCKED,
                          returns=(2, "(h_next, cache)"))


# --- the GRU step, PyTorch's convention ----------------------------------------------------


@check
def gru_step_forward_shape(gru_step_forward, seed=0, N=3, D=5, H=4):
    """``h_next`` has shape ``(N, H)`` and dtype float64."""
    inputs, _ = _gru_inputs(seed, N, D, H)
    h_next, _ = _run_gru_forward(gru_step_forward, inputs)
    expect_array("h_next", h_next, (N, H), dtype=np.float64)
    expect_not_constant("h_next", h_next)
    return f"h_next has shape ({N}, {H}) and dtype float64"


@check
def gru_step_forward_values(gru_step_forward, seed=0, N=3, D=5, H=4):
    """The values of ``h_next`` (PyTorch's convention, ``reset_after=True``)."""
    inputs, _ = _gru_inputs(seed, N, D, H)
    expected = _gru.gru_step_forward(*inputs, reset_after=True)[0]
    got = _run_gru_forward(gru_step_forward, inputs)[0]
    expect_array("h_next", got, expected.shape)
    hint = _diagnose(got, expected, _gru_wrong_forwards(inputs), _FORWARD_HINTS,
                     "h' = (1 - z) * n + z * h with r, z sigmoids and n = tanh(...)")
    expect_close("h_next", got, expected, RTOL, ATOL, hint=hint)
    return f"h_next has the right values (N={N}, D={D}, H={H})"


@check
def gru_step_forward_cache(gru_step_forward, seed=0, N=3, D=5, H=4):
    """The cache is ``(x, h_prev, Wx, Wh, bx, bh, r, z, n, hn)`` with the right gates."""
    inputs, _ = _gru_inputs(seed, N, D, H)
    ref_cache = _gru.gru_step_forward(*inputs, reset_after=True)[1]
    _, cache = _run_gru_forward(gru_step_forward, inputs)
    cache = expect_tuple("gru_step_forward's cache", cache, len(CACHE_FIELDS),
                         "(" + ", ".join(CACHE_FIELDS) + ")")
    for k, name in enumerate(CACHE_FIELDS):
        expected = ref_cache[k]
        got = cache[k]
        hint = f"item {k} of the cache is {name}"
        if name == "hn":
            hint += ", the recurrent term h_prev @ Whn + bhn before the reset gate multiplies it"
        expect_array(f"cache item {k} ({name})", got, expected.shape)
        expect_close(f"cache item {k} ({name})", got, expected, RTOL, ATOL, hint=hint)
    return f"the cache holds (x, h_prev, Wx, Wh, bx, bh, r, z, n, hn) (N={N}, D={D}, H={H})"


def _reference_cache(inputs):
    """The notebook's cache layout, built from the reference forward (never the learner's)."""
    ref_cache = _gru.gru_step_forward(*inputs, reset_after=True)[1]
    return tuple(ref_cache[:len(CACHE_FIELDS)])


def _gru_step_grads(cache, dh, tanh_prime=True, sigmoid_prime=True, z_flip=False,
                    r_in_n=True, bhn_like_bxn=False, sum_batch=True):
    """The six gradients of the PyTorch-convention step, written out here so that each
    typical mistake can be switched on (all defaults: the right gradients)."""
    x, h_prev, Wx, Wh, bx, bh, r, z, n, hn = cache
    keep = z if not z_flip else 1.0 - z
    dn = dh * (1.0 - keep)  # on n
    dn_pre = dn * ((1.0 - n * n) if tanh_prime else 1.0)
    dz = dh * (h_prev - n) * (1.0 if not z_flip else -1.0)
    dz_pre = dz * (z * (1.0 - z) if sigmoid_prime else 1.0)
    dr = dn_pre * hn
    dr_pre = dr * (r * (1.0 - r) if sigmoid_prime else 1.0)
    dhn = dn_pre * (r if r_in_n else 1.0)
    dax = np.concatenate([dr_pre, dz_pre, dn_pre], axis=1)  # (N, 3H)
    dah = np.concatenate([dr_pre, dz_pre, dhn], axis=1)  # (N, 3H)
    dx = dax @ Wx.T
    dh_prev = dh * keep + dah @ Wh.T
    dWx = x.T @ dax
    dWh = h_prev.T @ dah
    dbx = dax.sum(axis=0) if sum_batch else dax
    dbh = dah.sum(axis=0) if sum_batch else dah
    if bhn_like_bxn:
        dbh = dbx.copy()
    return dict(zip(GRU_GRADS, (dx, dh_prev, dWx, dWh, dbx, dbh)))


_BACKWARD_MISTAKES = {
    "bhn": ({"bhn_like_bxn": True}, "dbx and dbh differ in the n block: bhn sits inside "
            "r * (h_prev @ Whn + bhn), bxn outside, so its gradient carries the factor r"),
    "tanh_prime": ({"tanh_prime": False}, "the candidate's gradient misses the derivative of "
                   "tanh, 1 - n**2"),
    "sigmoid_prime": ({"sigmoid_prime": False}, "the gates' gradients miss the derivative of "
                      "the sigmoid, s * (1 - s)"),
    "z_flip": ({"z_flip": True}, "z and 1 - z are exchanged: h' = (1 - z) * n + z * h, so n "
               "gets (1 - z) of the gradient and h_prev gets z directly"),
    "r_in_n": ({"r_in_n": False}, "the recurrent term hn reaches n through r * hn: its "
               "gradient (towards Wh, bh and h_prev) carries the factor r"),
    "sum_batch": ({"sum_batch": False}, "the bias gradients sum over the batch"),
}

_GRAD_DEFAULT_HINTS = {
    "dx": "dx = (gradient on the three input pre-activations, (N, 3H)) @ Wx.T",
    "dh_prev": "h_prev reaches h' directly (times z) and through the three recurrent "
    "products h_prev @ Wh",
    "dWx": "x.T @ (gradient on the input pre-activations), summed over the batch",
    "dWh": "h_prev.T @ (gradient on the recurrent terms, with r in the n block)",
    "dbx": "the gradient on the input pre-activations, summed over the batch",
    "dbh": "the gradient on the recurrent terms (r times the n block's), summed over the batch",
}


@check
def gru_step_backward_grad(gru_step_backward, grad, seed=0, N=4, D=5, H=3):
    """One gradient of ``gru_step_backward`` (``grad`` in :data:`GRU_GRADS`), given the
    reference cache: the learner's forward plays no part."""
    if grad not in GRU_GRADS:
        raise ValueError(f"grad must be one of {GRU_GRADS}, got {grad!r}")
    inputs, dh_next = _gru_inputs(seed, N, D, H)
    cache = _reference_cache(inputs)
    ref_cache = _gru.gru_step_forward(*inputs, reset_after=True)[1]
    expected = dict(zip(GRU_GRADS, _gru.gru_step_backward(dh_next, ref_cache)))[grad]
    out = call_on_copies(gru_step_backward, "gru_step_backward", ("dh_next",), (dh_next,),
                         tuple(a.copy() for a in cache), locked=LOCKED,
                         returns=(6, "(" + ", ".join(GRU_GRADS) + ")"))
    got = out[GRU_GRADS.index(grad)]
    hint = _GRAD_DEFAULT_HINTS[grad]
    if grad in ("dbx", "dbh") and isinstance(got, np.ndarray) and got.shape == (N, 3 * H):
        raise CheckFailed(f"{grad} has shape {got.shape}, expected {(3 * H,)}: the bias "
                          "gradients sum over the batch")
    if grad in ("dWx", "dWh") and isinstance(got, np.ndarray) and got.shape == expected.shape[::-1] \
            and got.shape != expected.shape:
        raise CheckFailed(f"{grad} has shape {got.shape}, expected {expected.shape}: it is "
                          "transposed (a gradient has the shape of its weight)")
    expect_array(grad, got, expected.shape, dtype=np.float64)
    wrongs = {k: _gru_step_grads(cache, dh_next, **flags)[grad]
              for k, (flags, _) in _BACKWARD_MISTAKES.items()}
    hints = {k: h for k, (_, h) in _BACKWARD_MISTAKES.items()}
    hint = _diagnose(got, expected, wrongs, hints, hint)
    expect_close(grad, got, expected, RTOL, ATOL, hint=hint)
    return f"{grad} of gru_step_backward is right (N={N}, D={D}, H={H})"


# --- the GRU step with the reset gate before the product (Cho et al.) ------------------------


@check
def gru_reset_before_values(gru_step_forward_reset_before, seed=0, N=3, D=5, H=4):
    """``h_next`` of the step with ``n = tanh(x Wxn + bxn + (r * h) Whn + bhn)``."""
    inputs, _ = _gru_inputs(seed, N, D, H)
    expected = _gru.gru_step_forward(*inputs, reset_after=False)[0]
    got = call_on_copies(gru_step_forward_reset_before, "gru_step_forward_reset_before",
                         _STEP_NAMES, inputs, locked=LOCKED)
    if isinstance(got, tuple):
        raise CheckFailed("gru_step_forward_reset_before should return h_next alone (an "
                          f"array), got a tuple of length {len(got)}")
    expect_array("h_next", got, (N, H), dtype=np.float64)
    x, h_prev, Wx, Wh, bx, bh = inputs
    wrongs = {
        "after": _gru.gru_step_forward(*inputs, reset_after=True)[0],
        "rz": _gru.gru_step_forward(x, h_prev, _swap_rz(Wx), _swap_rz(Wh), _swap_rz(bx),
                                    _swap_rz(bh), reset_after=False)[0],
    }
    hints = {
        "after": "the values are those of PyTorch's convention (r applied to h Whn + bhn); "
        "here r multiplies h_prev before the product with Whn",
        "rz": _FORWARD_HINTS["rz"],
    }
    hint = _diagnose(got, expected, wrongs, hints,
                     "n = tanh(x Wxn + bxn + (r * h_prev) Whn + bhn); r and z are as in "
                     "PyTorch's convention")
    expect_close("h_next", got, expected, RTOL, ATOL, hint=hint)
    return f"h_next with the reset gate before the product is right (N={N}, D={D}, H={H})"


# --- the peephole LSTM step (Greff et al.'s vanilla LSTM) -----------------------------------


def _peephole_inputs(seed, N, D, H):
    rng = rng_for(seed)
    x = rng.standard_normal((N, D))
    h_prev = rng.standard_normal((N, H))
    c_prev = rng.standard_normal((N, H))
    Wx, Wh, b = draw_weights(rng, D, H, gates=4)
    p = rng.standard_normal((3, H))
    return x, h_prev, c_prev, Wx, Wh, b, p


def _peephole_reference(inputs):
    x, h_prev, c_prev, Wx, Wh, b, p = inputs
    params = {"Wx": Wx, "Wh": Wh, "b": b, "p": p}
    return _variants.variant_lstm_step_forward(x, h_prev, c_prev, params, "vanilla")


def _peephole_wrongs(inputs):
    """``{mistake: (h_next, c_next)}`` for typical wrong peephole steps."""
    x, h_prev, c_prev, Wx, Wh, b, p = inputs
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b

    def step(pi, pf, po_from_prev):
        i = _sigmoid(a[:, :H] + pi * c_prev)
        f = _sigmoid(a[:, H:2 * H] + pf * c_prev)
        g = np.tanh(a[:, 2 * H:3 * H])
        c = f * c_prev + i * g
        o = _sigmoid(a[:, 3 * H:] + p[2] * (c_prev if po_from_prev else c))
        return o * np.tanh(c), c

    return {
        "o_prev": step(p[0], p[1], True),
        "swap_if": step(p[1], p[0], False),
        "no_peep": _peephole_reference((x, h_prev, c_prev, Wx, Wh, b, np.zeros_like(p))),
    }


_PEEP_HINTS = {
    "o_prev": "the output gate's peephole looks at the new cell state c_next, not c_prev",
    "swap_if": "the peephole rows are in the order i, f, o: p[0] for the input gate, p[1] for "
    "the forget gate, p[2] for the output gate",
    "no_peep": "the values are those of a cell without peepholes: each sigmoid gate adds "
    "p_k * (a cell state) to its pre-activation",
}


@check
def peephole_step_values(peephole_lstm_step_forward, which, seed=0, N=3, D=5, H=4):
    """The values of ``h_next`` (``which="h"``) or ``c_next`` (``which="c"``) of the
    peephole LSTM step."""
    if which not in ("h", "c"):
        raise ValueError(f"which must be 'h' or 'c', got {which!r}")
    inputs = _peephole_inputs(seed, N, D, H)
    k = 0 if which == "h" else 1
    expected = _peephole_reference(inputs)[k]
    out = call_on_copies(peephole_lstm_step_forward, "peephole_lstm_step_forward",
                         ("x", "h_prev", "c_prev", "Wx", "Wh", "b", "p"), inputs,
                         locked=LOCKED, returns=(2, "(h_next, c_next)"))
    got = out[k]
    name = f"{which}_next"
    expect_array(name, got, (N, H), dtype=np.float64)
    raw = _peephole_wrongs(inputs)
    wrongs = {
        "o_prev": raw["o_prev"][k],
        "swap_if": raw["swap_if"][k],
        "no_peep": raw["no_peep"][k],
    }
    default = ("c_next = f * c_prev + i * g with the input and forget gates peeping at c_prev"
               if which == "c" else "h_next = o * tanh(c_next), the output gate peeping at "
               "c_next")
    hint = _diagnose(got, expected, wrongs, _PEEP_HINTS, default)
    expect_close(name, got, expected, RTOL, ATOL, hint=hint)
    return f"{name} of the peephole LSTM step is right (N={N}, D={D}, H={H})"
