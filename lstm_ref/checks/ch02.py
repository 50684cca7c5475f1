"""Checks for chapter 2 (``ch02_vanishing``): Jacobians, their norms, the bound, clipping.

Each function checks one thing of a learner's ``rnn_jacobian``, ``jacobian_norms``,
``norm_bound`` or ``clip_grad_norm`` against :mod:`lstm_ref.numpy.vanishing` on random
float64 inputs drawn from ``seed``. The recurrent matrix is scaled so that
``sigma_max(W) * gamma`` equals ``rate``; the hidden tests use rates near 1, ``H=1`` and
the sigmoid. A failing check raises :class:`CheckFailed` with a message that never shows the
expected numbers; a passing one prints one ``OK`` line on stdout.

When values are wrong, the hint names the typical mistake that reproduces them (a transposed
Jacobian, a missing derivative, the product taken in the wrong order, a Frobenius norm where
the spectral norm belongs, arrays clipped one by one), found by comparing the learner's output
with those mistakes computed here; otherwise it says where to look, never the formula.

While the learner's functions run, the four reference functions refuse to compute, so a
"solution" that calls them gets no credit (:data:`REFERENCE_EXERCISED` names them for the
grading sandbox).
"""

import numpy as np

from ..numpy import vanishing as _ref
from ._common import (
    CheckFailed,
    call_learner,
    call_on_copies,
    check,
    diagnose,
    expect_array,
    expect_close,
    expect_not_constant,
    expect_tuple,
    expect_unchanged,
    expect_values,
    rng_for,
)

__all__ = [
    "CheckFailed",
    "jacobian_shape",
    "jacobian_values",
    "norms_shape",
    "norms_values",
    "bound_values",
    "clip_values",
    "clip_norm_before",
    "clip_below_threshold",
    "clip_inputs_unchanged",
    "REFERENCE_EXERCISED",
]

LOCKED = (_ref.rnn_jacobian, _ref.jacobian_norms, _ref.norm_bound, _ref.clip_grad_norm)
LIBRARIES = "numpy"
"""In grading, a test cell whose function is computed with an autograd library or a
library's recurrent cell earns nothing (:mod:`lstm_ref.grading.forbidden`)."""

REFERENCE_EXERCISED = (
    "lstm_ref.numpy.vanishing:rnn_jacobian",
    "lstm_ref.numpy.vanishing:jacobian_norms",
    "lstm_ref.numpy.vanishing:norm_bound",
    "lstm_ref.numpy.vanishing:clip_grad_norm",
)
ACTIVATIONS = tuple(sorted(_ref.GAMMA))

# float64 inputs of size ~1: an exact implementation agrees to ~1e-15. Spectral norms come
# from an SVD and products of up to ~20 matrices: 1e-7 leaves room and still catches every
# real mistake (a transpose, a wrong derivative, a missing step).
RTOL = 1e-7
ATOL = 1e-12


def _check_activation(activation):
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")


def _network(seed, T, N, H, rate, activation, D=3):
    """Random weights with ``sigma_max(W) * gamma = rate`` and the states ``h_0 .. h_T``."""
    rng = rng_for(seed)
    W = _ref.random_recurrent_matrix(H, rate / _ref.GAMMA[activation], rng)
    U = rng.standard_normal((H, D))
    b = 0.2 * rng.standard_normal(H)
    x = rng.standard_normal((T, N, D))
    h0 = rng.standard_normal((N, H))
    h_seq = _ref.pascanu_rnn_states(x, h0, W, U, b, activation)
    return h_seq, W


def _run(fn, name, arrays, *rest):
    """Call the learner's ``fn`` on copies of ``arrays`` (then ``rest``); inputs must stay."""
    return call_on_copies(fn, name, tuple(arrays), tuple(arrays.values()), *rest, locked=LOCKED)


def _as_float(value, should):
    """``value`` as a float (a 0-d array is unwrapped); else fail with ``should, got <type>``."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if not isinstance(value, (float, np.floating)):
        raise CheckFailed(f"{should}, got {type(value).__name__}")
    return value


def _jacobian_inputs(seed, N, H, rate, activation):
    rng = rng_for(seed)
    W = _ref.random_recurrent_matrix(H, rate / _ref.GAMMA[activation], rng)
    h_prev = 1.5 * rng.standard_normal((N, H))
    return h_prev, W


@check
def jacobian_shape(rnn_jacobian, seed=0, N=3, H=4, activation="tanh"):
    """``J`` has shape ``(N, H, H)`` and dtype float64."""
    _check_activation(activation)
    h_prev, W = _jacobian_inputs(seed, N, H, 0.9, activation)
    J = _run(rnn_jacobian, "rnn_jacobian", {"h_prev": h_prev, "W": W}, activation)
    expect_array("J", J, (N, H, H), dtype=np.float64)
    expect_not_constant("J", J)
    return f"J has shape ({N}, {H}, {H}) and dtype float64"


@check
def jacobian_values(rnn_jacobian, seed=0, N=3, H=4, activation="tanh", rate=0.9):
    """``J[n] = W diag(phi'(h_prev[n]))`` for every example ``n``."""
    _check_activation(activation)
    h_prev, W = _jacobian_inputs(seed, N, H, rate, activation)
    expected = _ref.rnn_jacobian(h_prev, W, activation)
    J = _run(rnn_jacobian, "rnn_jacobian", {"h_prev": h_prev, "W": W}, activation)
    expect_array("J", J, (N, H, H), dtype=np.float64)
    phi, dphi = _ref.activation_and_derivative(activation)
    Wb = W[None]
    variants = [
        ("J is transposed: J[n, i, j] is the derivative of h_t[n, i] with respect to "
         "h_prev[n, j]", np.swapaxes(expected, 1, 2)),
        ("the derivative of phi is missing", np.broadcast_to(Wb, expected.shape)),
        ("the derivative of phi scales the rows of W; the chain rule puts it on the other "
         "side", dphi(h_prev)[:, :, None] * Wb),
        (f"J uses {activation}(h_prev) itself where its derivative belongs",
         Wb * phi(h_prev)[:, None, :]),
        ("the derivative of phi is taken at phi(h_prev); the pre-activation of this "
         "recurrence is h_prev itself", Wb * dphi(phi(h_prev))[:, None, :]),
    ]
    hint = f"see how the chain rule goes through {activation} and W on the proof page"
    expect_values("J", J, expected, RTOL, ATOL, hint=hint, variants=variants)
    return f"J has the right values ({activation}, N={N}, H={H})"


def _norms_variants(h_seq, W, activation, expected):
    """The typical mistakes of ``jacobian_norms``, as ``[(hint, norms), ...]``."""
    _, dphi = _ref.activation_and_derivative(activation)
    T = h_seq.shape[0] - 1
    N, H = h_seq.shape[1:]
    Js = [W[None] * dphi(h_seq[k])[:, None, :] for k in range(T)]  # J_{k+1}

    def norms_of(order, norm=2):
        out = np.zeros((N, T))
        P = np.broadcast_to(np.eye(H), (N, H, H))
        for k in range(T - 1, -1, -1):
            P = P @ Js[k] if order == "right" else Js[k] @ P
            out[:, k] = np.linalg.norm(P, norm, axis=(1, 2))
        return out

    return [
        ("the columns are in reverse order: norms[:, k] belongs to dh_T/dh_k, so the last "
         "column is one step back and the first is T steps back", expected[:, ::-1]),
        ("these are Frobenius norms; the spectral norm is the largest singular value",
         norms_of("right", norm="fro")),
        ("the Jacobians are multiplied in the reverse order, or each one is transposed "
         "(both give these norms): the chain rule puts the latest step on the left",
         norms_of("left")),
    ]


def _run_norms(jacobian_norms, h_seq, W, activation):
    return _run(jacobian_norms, "jacobian_norms", {"h_seq": h_seq, "W": W}, activation)


@check
def norms_shape(jacobian_norms, seed=0, T=6, N=2, H=4, activation="tanh"):
    """``norms`` has shape ``(N, T)`` and dtype float64."""
    _check_activation(activation)
    h_seq, W = _network(seed, T, N, H, 0.9, activation)
    norms = _run_norms(jacobian_norms, h_seq, W, activation)
    expect_array("norms", norms, (N, T), dtype=np.float64)
    expect_not_constant("norms", norms)
    return f"norms has shape ({N}, {T}) and dtype float64"


@check
def norms_values(jacobian_norms, seed=0, T=6, N=2, H=4, activation="tanh", rate=0.9):
    """``norms[n, k]`` is the spectral norm of ``dh_T/dh_k`` for example ``n``."""
    _check_activation(activation)
    h_seq, W = _network(seed, T, N, H, rate, activation)
    expected = _ref.jacobian_norms(h_seq, W, activation)
    norms = _run_norms(jacobian_norms, h_seq, W, activation)
    expect_array("norms", norms, (N, T), dtype=np.float64)
    variants = _norms_variants(h_seq, W, activation, expected)
    whole = diagnose(norms, expected, variants, RTOL, ATOL)
    for k in range(T - 1, -1, -1):  # from one step back to T steps back
        if np.allclose(norms[:, k], expected[:, k], rtol=RTOL, atol=ATOL):
            continue
        hint = whole or (f"norms[:, {k}] is {T - k} step(s) back; see the product of "
                         "Jacobians on the proof page")
        if not whole and k < T - 1:
            hint += f"; the columns {k + 1} to {T - 1} (fewer steps back) are right"
        expect_close(f"norms[:, {k}]", norms[:, k], expected[:, k], RTOL, ATOL, hint=hint)
    return f"norms has the right values ({activation}, T={T}, N={N}, H={H}, rate {rate})"


@check
def bound_values(norm_bound, seed=0, H=4, gamma=0.25, rate=0.9, steps=8):
    """``norm_bound(W, gamma, steps)`` for an int and for an array of steps."""
    rng = rng_for(seed)
    W = _ref.random_recurrent_matrix(H, rate / gamma, rng)  # sigma_max(W) * gamma = rate
    arrays = {"W": W}
    hint = "see the theorem on the proof page: which norm of W, and where gamma enters"

    def variants(n):
        n = np.asarray(n, dtype=np.float64)
        sigma = np.linalg.norm(W, 2)
        return [
            ("gamma is missing", sigma**n),
            ("the norm of W is the Frobenius norm; the theorem uses the spectral norm "
             "(the largest singular value)", (np.linalg.norm(W) * gamma) ** n),
            ("the norm of W is its largest entry; the theorem uses the spectral norm "
             "(the largest singular value)", (np.abs(W).max() * gamma) ** n),
            ("the power is missing", sigma * gamma * n),
        ]

    got = _run(norm_bound, "norm_bound", arrays, gamma, steps)
    expected = _ref.norm_bound(W, gamma, steps)
    got = _as_float(got, "norm_bound with an int steps should return a float")
    expect_values("norm_bound(W, gamma, steps)", np.asarray(got), np.asarray(expected),
                  RTOL, ATOL, hint=hint, variants=variants(steps))
    grid = np.arange(steps + 1)
    got = _run(norm_bound, "norm_bound", arrays, gamma, grid.copy())
    expected = _ref.norm_bound(W, gamma, grid)
    expect_values("norm_bound(W, gamma, np.arange(steps + 1))", got, expected, RTOL, ATOL,
                  hint=hint, variants=variants(grid))
    return f"norm_bound has the right values (H={H}, gamma={gamma}, rate {rate})"


def _grads(seed, shapes, scale):
    rng = rng_for(seed)
    return [scale * rng.standard_normal(s) for s in shapes]


SHAPES = ((3, 4), (4,), (2, 3, 2))


def _expect_it_clips(clip_grad_norm, seed, shapes, max_norm):
    """The points of the "unchanged" checks need a function that clips: a gradient of three
    times ``max_norm`` comes back smaller (its exact values are clip_values' business)."""
    big = _grads(seed + 1, shapes, 1.0)
    norm = float(np.sqrt(sum(np.sum(g * g) for g in big)))
    big = [g * (3.0 * max_norm / norm) for g in big]
    _, new, _ = _run_clip(clip_grad_norm, big, max_norm)
    if float(np.sqrt(sum(np.sum(c * c) for c in new))) > 0.999 * 3.0 * max_norm:
        raise CheckFailed("clip_grad_norm returns a gradient above max_norm unclipped; this "
                          "check gives its point to a function that clips above the threshold")


def _run_clip(clip_grad_norm, grads, max_norm):
    copies = [g.copy() for g in grads]
    out = call_learner(clip_grad_norm, copies, max_norm, name="clip_grad_norm", locked=LOCKED)
    new, norm = expect_tuple("clip_grad_norm", out, 2, "(clipped list, norm before clipping)")
    if not isinstance(new, (list, tuple)) or len(new) != len(grads):
        got = type(new).__name__
        if isinstance(new, (list, tuple)):
            got += f" of length {len(new)}"
        raise CheckFailed(
            f"clip_grad_norm should return a list of {len(grads)} arrays first, got {got}"
        )
    for i, (g, c) in enumerate(zip(grads, new)):
        expect_array(f"the clipped grads[{i}]", c, g.shape, dtype=g.dtype)
    return copies, list(new), norm


@check
def clip_values(clip_grad_norm, seed=0, shapes=SHAPES, max_norm=1.0, scale=2.0):
    """A gradient above ``max_norm`` is rescaled as a whole to norm ``max_norm``."""
    grads = _grads(seed, shapes, scale)
    expected, _ = _ref.clip_grad_norm(grads, max_norm)
    _, new, _ = _run_clip(clip_grad_norm, grads, max_norm)
    total = float(np.sqrt(sum(np.sum(c * c) for c in new)))
    hint = "see the clipping page: what is compared with max_norm, and what is rescaled"
    if len(grads) > 1 and all(
        np.linalg.norm(c) <= max_norm * (1 + 1e-9) for c in new
    ) and not np.isclose(total, max_norm, rtol=1e-6):
        hint = ("every array was clipped on its own: the norm to compare with max_norm is "
                "the global norm of all arrays together, and all arrays share one factor")
    for i, (c, e) in enumerate(zip(new, expected)):
        expect_close(f"the clipped grads[{i}]", c, e, RTOL, ATOL, hint=hint)
    return f"a gradient of norm above {max_norm} is rescaled to norm {max_norm}"


@check
def clip_norm_before(clip_grad_norm, seed=0, shapes=SHAPES, max_norm=1.0, scale=2.0):
    """The second value returned is the global norm before clipping, a float."""
    grads = _grads(seed, shapes, scale)
    _, expected = _ref.clip_grad_norm(grads, max_norm)
    _, _, norm = _run_clip(clip_grad_norm, grads, max_norm)
    norm = _as_float(norm, "the norm clip_grad_norm returns should be a float")
    hint = "it is the norm of all the arrays together, before clipping"
    if np.isclose(norm, min(expected, max_norm), rtol=1e-9):
        hint = "return the norm before clipping, not after"
    expect_close("the returned norm", np.asarray(norm, dtype=np.float64),
                 np.asarray(expected), RTOL, ATOL, hint=hint)
    return "the returned norm is the global norm before clipping"


@check
def clip_below_threshold(clip_grad_norm, seed=0, shapes=SHAPES, max_norm=10.0, scale=0.5):
    """A gradient whose norm is at most ``max_norm`` comes back unchanged."""
    grads = _grads(seed, shapes, scale)
    _, expected = _ref.clip_grad_norm(grads, max_norm)
    if expected > max_norm:
        raise ValueError("clip_below_threshold needs a gradient below max_norm")
    _, new, _ = _run_clip(clip_grad_norm, grads, max_norm)
    for i, (c, g) in enumerate(zip(new, grads)):
        expect_close(f"the clipped grads[{i}]", c, g, RTOL, ATOL,
                     hint="a gradient whose norm is at most max_norm must not be changed")
    _expect_it_clips(clip_grad_norm, seed, shapes, max_norm)
    return f"a gradient of norm at most {max_norm} is left as it is"


@check
def clip_inputs_unchanged(clip_grad_norm, seed=0, shapes=SHAPES, max_norm=1.0, scale=2.0):
    """``clip_grad_norm`` returns new arrays and leaves the list it got and its arrays alone."""
    grads = _grads(seed, shapes, scale)
    copies, new, _ = _run_clip(clip_grad_norm, grads, max_norm)
    # _run_clip passed ``copies`` (a list of copies): compare them with the originals.
    for i, (before, after) in enumerate(zip(grads, copies)):
        expect_unchanged(f"grads[{i}]", before, after)
    for i, c in enumerate(new):
        if any(np.shares_memory(c, a) for a in copies):
            raise CheckFailed(
                f"the clipped grads[{i}] shares memory with an input array; return new arrays"
            )
    _expect_it_clips(clip_grad_norm, seed, shapes, max_norm)
    return "clip_grad_norm leaves its inputs unchanged and returns new arrays"
