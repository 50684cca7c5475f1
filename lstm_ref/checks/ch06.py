"""Checks for chapter 6 (``ch06_gpu``): streams and segments for truncated BPTT, the
training loop that carries and detaches the state, and global-norm clipping, in torch.

Each function checks one thing of a learner's ``make_streams``, ``segments``,
``train_tbptt`` or ``clip_global_norm`` against :mod:`lstm_ref.train.tbptt` on inputs drawn
from ``seed`` (float64 tensors, integer ids). The learner's function receives plain data
(tensors, lists, dicts, numbers) and returns plain data, so the checks work the same when
it runs in another process. A failing check raises :class:`CheckFailed` with a message that
never shows the expected numbers, and names the mistake when the result matches a typical
wrong variant computed here (interleaved streams, unshifted targets, a state reset at every
segment, gradients accumulated across segments, a missing detach, clipping tensor by
tensor, a missing square root); a passing one prints one ``OK`` line.

:func:`~lstm_ref.train.tbptt.train_tbptt` runs all its segments inside the learner's
code: without the detach the second backward pass reaches the first segment's freed graph
and torch raises, which the check reports with a hint; any other way around it (a retained
graph) changes the losses, which the loss check catches.
"""

import numpy as np

from ..train import tbptt as _ref
from ._common import (
    CheckFailed,
    call_learner,
    check,
    expect_close,
    expect_not_constant,
    expect_tuple,
    rng_for,
)

__all__ = [
    "CheckFailed",
    "streams_shape",
    "streams_values",
    "segments_shapes",
    "segments_values",
    "tbptt_losses",
    "tbptt_params",
    "tbptt_inputs_unchanged",
    "clip_norm",
    "clip_values",
    "clip_below_threshold",
    "PARAM_NAMES",
]

LIBRARIES = "torch"
"""Chapter 6 may use torch freely, autograd included (:mod:`lstm_ref.grading.forbidden`)."""

REFERENCE_EXERCISED = (
    "lstm_ref.train.tbptt:make_streams",
    "lstm_ref.train.tbptt:segments",
    "lstm_ref.train.tbptt:train_tbptt",
    "lstm_ref.train.tbptt:clip_global_norm",
    "lstm_ref.train.tbptt:_sgd_segments",  # the body of train_tbptt
)
LOCKED = (_ref.make_streams, _ref.segments, _ref.train_tbptt, _ref.clip_global_norm,
          _ref._sgd_segments)

PARAM_NAMES = ("w_ih", "w_hh", "b", "w_out", "b_out")
RTOL = 1e-8
ATOL = 1e-10

_DETACH_HINT = (
    "the state carried into the next segment still holds the previous segment's graph, so "
    "the next backward pass goes back into it; detach the state (h.detach(), c.detach()) "
    "after each segment"
)


def _torch():
    import torch

    return torch


def _as_array(name, value, integer=False):
    """A learner's tensor as a numpy array (float64, or int64 ids)."""
    torch = _torch()
    if isinstance(value, np.ndarray):
        raise CheckFailed(f"{name} should be a torch tensor, got a numpy array")
    if not isinstance(value, torch.Tensor):
        raise CheckFailed(f"{name} should be a torch tensor, got {type(value).__name__}")
    value = value.detach().cpu()
    if integer and value.is_floating_point():
        raise CheckFailed(f"{name} should hold integer ids, got dtype {value.dtype}")
    if not integer and value.dtype != torch.float64:
        raise CheckFailed(f"{name} should have dtype torch.float64, got {value.dtype}")
    return value.numpy()


def _ids(seed, L, vocab=7):
    torch = _torch()
    return torch.from_numpy(rng_for(seed).integers(0, vocab, size=L).astype(np.int64))


def _call(fn, name, *args):
    """``call_learner``, with the missing-detach diagnosis on torch's errors."""
    try:
        return call_learner(fn, *args, name=name, locked=LOCKED)
    except CheckFailed as exc:
        text = str(exc)
        if "a second time" in text or "modified by an inplace operation" in text:
            raise CheckFailed(f"{name} raised RuntimeError from backward(). Hint: "
                              f"{_DETACH_HINT}") from None
        raise


# --- streams ------------------------------------------------------------------------------


def _streams_out(make_streams, seed, L, batch):
    data = _ids(seed, L)
    before = data.clone()
    got = _call(make_streams, "make_streams", data, batch)
    if not bool((data == before).all()):
        raise CheckFailed("make_streams modified its input data; it must leave it unchanged")
    return data, got


@check
def streams_shape(make_streams, seed=0, L=50, batch=4):
    """``make_streams(data, batch)`` has shape ``(L // batch, batch)``."""
    _, got = _streams_out(make_streams, seed, L, batch)
    arr = _as_array("the streams", got, integer=True)
    S = L // batch
    if arr.shape != (S, batch):
        hint = ""
        if arr.shape == (batch, S):
            hint = ": the streams are time-major, one stream per column (S, batch)"
        elif arr.ndim == 2 and arr.shape[1] == batch and arr.shape[0] == -(-L // batch):
            hint = ": drop the last L mod batch characters"
        raise CheckFailed(f"the streams have shape {arr.shape}, expected ({S}, {batch}){hint}")
    expect_not_constant("the streams", arr)
    return f"the streams have shape ({S}, {batch}) (L={L})"


@check
def streams_values(make_streams, seed=0, L=50, batch=4):
    """Column ``j`` of the streams is the contiguous piece ``data[j*S:(j+1)*S]``."""
    data, got = _streams_out(make_streams, seed, L, batch)
    expected = _ref.make_streams(data, batch).numpy()
    arr = _as_array("the streams", got, integer=True)
    if arr.shape != expected.shape:
        raise CheckFailed(f"the streams have shape {arr.shape}, expected {expected.shape}")
    if not np.array_equal(arr, expected):
        S = L // batch
        dealt = data[: S * batch].numpy().reshape(S, batch)
        hint = "column j must be the j-th contiguous piece of the text, in order"
        if np.array_equal(arr, dealt):
            hint = ("the characters are dealt out to the streams in turn (consecutive "
                    "characters land in different columns); each column must be one "
                    "contiguous piece of the text")
        raise CheckFailed(f"the streams have wrong values. Hint: {hint}")
    return f"each column is a contiguous piece of the text (L={L}, batch={batch})"


# --- segments -----------------------------------------------------------------------------


def _segments_out(segments, seed, S, N, bptt):
    torch = _torch()
    streams = torch.from_numpy(rng_for(seed).integers(0, 7, size=(S, N)).astype(np.int64))
    got = _call(segments, "segments", streams.clone(), bptt)
    if not isinstance(got, (list, tuple)):
        raise CheckFailed(f"segments should return a list of (x, y) pairs, got "
                          f"{type(got).__name__}")
    for k, pair in enumerate(got):
        expect_tuple(f"segments[{k}]", pair, 2, "(x, y)")
    return streams, got


@check
def segments_shapes(segments, seed=0, S=23, N=3, bptt=5):
    """The number of segments and the shape of each ``x`` and ``y``."""
    streams, got = _segments_out(segments, seed, S, N, bptt)
    expected = _ref.segments(streams, bptt)
    if len(got) != len(expected):
        raise CheckFailed(
            f"segments returned {len(got)} segments, expected {len(expected)} (S={S}, "
            f"bptt={bptt}). Hint: the last step has no target, so only S - 1 steps are "
            "inputs; the last segment may be shorter than bptt")
    for k, ((x, y), (ex, _)) in enumerate(zip(got, expected)):
        for name, value in (("x", x), ("y", y)):
            arr = _as_array(f"segment {k}'s {name}", value, integer=True)
            if arr.shape != tuple(ex.shape):
                raise CheckFailed(f"segment {k}'s {name} has shape {arr.shape}, expected "
                                  f"{tuple(ex.shape)}")
    expect_not_constant("the segments' inputs", np.concatenate(
        [_as_array("x", x, integer=True).ravel() for x, _ in got]))
    return f"{len(expected)} segments of the right shapes (S={S}, N={N}, bptt={bptt})"


@check
def segments_values(segments, seed=0, S=23, N=3, bptt=5):
    """Every segment's inputs ``x`` and targets ``y`` (one step later)."""
    streams, got = _segments_out(segments, seed, S, N, bptt)
    expected = _ref.segments(streams, bptt)
    if len(got) != len(expected):
        raise CheckFailed(f"segments returned {len(got)} segments, expected {len(expected)}")
    for k, ((x, y), (ex, ey)) in enumerate(zip(got, expected)):
        x = _as_array(f"segment {k}'s x", x, integer=True)
        y = _as_array(f"segment {k}'s y", y, integer=True)
        if x.shape != tuple(ex.shape) or not np.array_equal(x, ex.numpy()):
            raise CheckFailed(f"segment {k}'s inputs x are wrong. Hint: segment k starts at "
                              "step k * bptt of the streams")
        if y.shape != tuple(ey.shape) or not np.array_equal(y, ey.numpy()):
            hint = "the target at each step is the next character of the same stream"
            if np.array_equal(y, x):
                hint = "y equals x: the targets must be shifted one step later"
            raise CheckFailed(f"segment {k}'s targets y are wrong. Hint: {hint}")
    return f"every segment's inputs and targets are right (S={S}, N={N}, bptt={bptt})"


# --- the training loop --------------------------------------------------------------------


def _tbptt_inputs(seed, V, H, N, bptt, n_segments):
    torch = _torch()
    params = _ref.init_lm_params(V, H, seed=seed)
    S = n_segments * bptt + 1 + int(rng_for(seed + 7).integers(0, bptt))
    streams = torch.from_numpy(rng_for(seed + 1).integers(0, V, size=(S, N)).astype(np.int64))
    return params, streams


def _variant(params, streams, bptt, lr, n_segments, mode):
    """What typical wrong loops compute: ``"reset"`` (zero state at every segment) or
    ``"accumulate"`` (gradients never zeroed)."""
    return _ref._sgd_segments(params, streams, bptt, lr, n_segments,
                              reset_state=mode == "reset", zero_grad=mode != "accumulate")


def _run_tbptt(train_tbptt, params, streams, bptt, lr, n_segments):
    out = _call(train_tbptt, "train_tbptt", {k: v.clone() for k, v in params.items()},
                streams.clone(), bptt, lr, n_segments)
    losses, final = expect_tuple("train_tbptt", out, 2, "(losses, params)")
    if not isinstance(losses, (list, tuple)) or len(losses) != n_segments:
        got = f"{len(losses)} items" if isinstance(losses, (list, tuple)) else \
            type(losses).__name__
        raise CheckFailed(f"losses should be a list of {n_segments} numbers, got {got}")
    try:
        losses = np.array([float(v) for v in losses])
    except (TypeError, ValueError):
        raise CheckFailed("losses should hold numbers (loss.item())") from None
    if not isinstance(final, dict) or set(final) != set(PARAM_NAMES):
        keys = sorted(final) if isinstance(final, dict) else type(final).__name__
        raise CheckFailed(f"params should be a dict with keys {list(PARAM_NAMES)}, got {keys}")
    return losses, final


def _diagnose(got, variants):
    for hint, value in variants:
        if got.shape == value.shape and np.allclose(got, value, rtol=RTOL, atol=ATOL):
            return hint
    return ""


_RESET_HINT = ("the values match a loop that starts every segment from a zero state; carry "
               "the state from one segment to the next (detached)")
_ACC_HINT = ("the values match a loop whose gradients add up across segments; zero (or set "
             "to None) every parameter's .grad before each backward pass")


@check
def tbptt_losses(train_tbptt, seed=0, V=5, H=4, N=3, bptt=4, lr=0.5, n_segments=4):
    """The list of losses, one per segment, before each update."""
    params, streams = _tbptt_inputs(seed, V, H, N, bptt, n_segments)
    expected = np.array(_ref.train_tbptt(params, streams, bptt, lr, n_segments)[0])
    got, _ = _run_tbptt(train_tbptt, params, streams, bptt, lr, n_segments)
    if not np.allclose(got, expected, rtol=RTOL, atol=ATOL):
        variants = [(_RESET_HINT, np.array(_variant(params, streams, bptt, lr, n_segments,
                                                    "reset")[0])),
                    (_ACC_HINT, np.array(_variant(params, streams, bptt, lr, n_segments,
                                                  "accumulate")[0]))]
        hint = _diagnose(got, variants)
        if not hint:
            first_bad = int(np.argmax(~np.isclose(got, expected, rtol=RTOL, atol=ATOL)))
            hint = ("the first loss is the loss of segment 0 from a zero state with the "
                    "initial parameters" if first_bad == 0 else
                    f"losses 0 to {first_bad - 1} are right; loss {first_bad} must come from "
                    "the updated parameters and the state the previous segment ended with "
                    "(detached), with the gradients of that segment only")
        expect_close("losses", got, expected, RTOL, ATOL, hint=hint)
    return (f"the {n_segments} losses are right (V={V}, H={H}, N={N}, bptt={bptt})")


@check
def tbptt_params(train_tbptt, name, seed=0, V=5, H=4, N=3, bptt=4, lr=0.5, n_segments=1):
    """One final parameter (``name`` in :data:`PARAM_NAMES`) after the updates; one segment
    by default (the state carried between segments is :func:`tbptt_losses`' business)."""
    if name not in PARAM_NAMES:
        raise ValueError(f"name must be one of {PARAM_NAMES}, got {name!r}")
    params, streams = _tbptt_inputs(seed, V, H, N, bptt, n_segments)
    expected = _ref.train_tbptt(params, streams, bptt, lr, n_segments)[1][name].numpy()
    _, final = _run_tbptt(train_tbptt, params, streams, bptt, lr, n_segments)
    got = _as_array(f"params[{name!r}]", final[name])
    if got.shape != expected.shape:
        raise CheckFailed(f"params[{name!r}] has shape {got.shape}, expected {expected.shape}")
    if not np.allclose(got, expected, rtol=RTOL, atol=ATOL):
        if np.allclose(got, params[name].numpy(), rtol=RTOL, atol=ATOL):
            hint = "it still holds its initial values: update it after every segment"
        else:
            hint = _diagnose(got, [
                (_RESET_HINT, _variant(params, streams, bptt, lr, n_segments,
                                       "reset")[1][name].numpy()),
                (_ACC_HINT, _variant(params, streams, bptt, lr, n_segments,
                                     "accumulate")[1][name].numpy()),
            ]) or "one SGD step p - lr * p.grad per segment, with that segment's gradient"
        expect_close(f"params[{name!r}]", got, expected, RTOL, ATOL, hint=hint)
    return f"the final {name} is right (V={V}, H={H}, N={N}, bptt={bptt})"


@check
def tbptt_inputs_unchanged(train_tbptt, seed=0, V=5, H=4, N=3, bptt=4, lr=0.5,
                           n_segments=1):
    """``train_tbptt`` trains copies: it returns new parameters, moved by training, and
    leaves the ones it is given unchanged. One segment by default, so that a bug of the
    state carried between segments (a missing detach) costs this check nothing."""
    torch = _torch()
    params, streams = _tbptt_inputs(seed, V, H, N, bptt, n_segments)
    given = {k: v.clone() for k, v in params.items()}
    out = _call(train_tbptt, "train_tbptt", given, streams.clone(), bptt, lr, n_segments)
    if out is None:
        raise CheckFailed("train_tbptt returned None; it should return (losses, params)")
    _, final = expect_tuple("train_tbptt", out, 2, "(losses, params)")
    for k, v in params.items():
        if not torch.equal(given[k], v):
            raise CheckFailed(f"train_tbptt changed the parameter {k} it was given; train "
                              "copies (v.detach().clone().requires_grad_()) and return them")
    if not isinstance(final, dict) or set(final) != set(PARAM_NAMES):
        raise CheckFailed(f"the params returned should be a dict with keys {list(PARAM_NAMES)}")
    moved = [k for k in PARAM_NAMES
             if _as_array(f"params[{k!r}]", final[k]).shape == tuple(params[k].shape)
             and not np.array_equal(final[k].detach().cpu().numpy(), params[k].numpy())]
    if not moved:
        raise CheckFailed("the params returned equal the ones given: train_tbptt must update "
                          "its copies with SGD and return them")
    return "train_tbptt trains copies and leaves its inputs unchanged"


# --- clipping -----------------------------------------------------------------------------


def _grads(seed, shapes, scale):
    torch = _torch()
    rng = rng_for(seed)
    return [torch.from_numpy(rng.standard_normal(s) * scale) for s in shapes]


_SHAPES = ((3, 4), (5,), (2, 2, 2))


def _run_clip(clip_global_norm, grads, max_norm):
    given = [g.clone() for g in grads]
    out = _call(clip_global_norm, "clip_global_norm", given, max_norm)
    for k, (g, before) in enumerate(zip(given, grads)):
        if not bool((g == before).all()):
            raise CheckFailed(f"clip_global_norm modified grads[{k}] in place; return new "
                              "tensors")
    clipped, total = expect_tuple("clip_global_norm", out, 2, "(clipped, total_norm)")
    if not isinstance(clipped, (list, tuple)) or len(clipped) != len(grads):
        raise CheckFailed(f"clipped should be a list of {len(grads)} tensors")
    try:
        total = float(total)
    except (TypeError, ValueError):
        raise CheckFailed(f"total_norm should be a number, got {type(total).__name__}") \
            from None
    return [_as_array(f"clipped[{k}]", c) for k, c in enumerate(clipped)], total


@check
def clip_norm(clip_global_norm, seed=0, scale=2.0, max_norm=1.0, shapes=_SHAPES):
    """The returned ``total_norm``: the global norm of all gradients before clipping."""
    grads = _grads(seed, shapes, scale)
    expected = _ref.clip_global_norm(grads, max_norm)[1]
    _, got = _run_clip(clip_global_norm, grads, max_norm)
    if not np.isclose(got, expected, rtol=RTOL, atol=ATOL):
        hint = "the square root of the sum of the squares of every entry of every gradient"
        if np.isclose(got, expected**2, rtol=RTOL):
            hint = "total_norm is the sum of squares: take its square root"
        elif np.isclose(got, sum(float(g.norm()) for g in grads), rtol=RTOL):
            hint = ("that is the sum of the tensors' norms; the global norm is the square "
                    "root of the sum of their squared norms")
        raise CheckFailed(f"total_norm is wrong. Hint: {hint}")
    return f"total_norm is right ({len(shapes)} tensors)"


@check
def clip_values(clip_global_norm, seed=0, scale=2.0, max_norm=1.0, shapes=_SHAPES):
    """The clipped gradients when their global norm exceeds ``max_norm``."""
    grads = _grads(seed, shapes, scale)
    expected = [c.numpy() for c in _ref.clip_global_norm(grads, max_norm)[0]]
    got, _ = _run_clip(clip_global_norm, grads, max_norm)
    per_tensor = [(g * min(1.0, max_norm / float(g.norm()))).numpy() for g in grads]
    for k, (c, e) in enumerate(zip(got, expected)):
        if c.shape != e.shape:
            raise CheckFailed(f"clipped[{k}] has shape {c.shape}, expected {e.shape}")
    for k, (c, e) in enumerate(zip(got, expected)):
        if not np.allclose(c, e, rtol=RTOL, atol=ATOL):
            hint = "every gradient is multiplied by the same factor max_norm / total_norm"
            if all(np.allclose(a, b, rtol=RTOL, atol=ATOL) for a, b in zip(got, per_tensor)):
                hint = ("each tensor was clipped to max_norm on its own; global clipping "
                        "scales all of them by one factor from their joint norm, so their "
                        "directions relative to each other are kept")
            elif np.allclose(c, grads[k].numpy(), rtol=RTOL, atol=ATOL):
                hint = "the gradients were returned unscaled although their norm exceeds max_norm"
            expect_close(f"clipped[{k}]", c, e, RTOL, ATOL, hint=hint)
    return f"the clipped gradients are right ({len(shapes)} tensors, max_norm={max_norm})"


@check
def clip_below_threshold(clip_global_norm, seed=0, scale=0.05, max_norm=1.0, shapes=_SHAPES):
    """Below ``max_norm`` the gradients come back unchanged."""
    grads = _grads(seed, shapes, scale)
    got, _ = _run_clip(clip_global_norm, grads, max_norm)
    # the points need a function that clips: above the threshold its result is smaller
    # (its exact values are clip_values' business)
    big = _grads(seed + 1, shapes, 1.0)
    big_norm = float(np.sqrt(sum(float((g ** 2).sum()) for g in big)))
    big = [g * (3.0 * max_norm / big_norm) for g in big]
    clipped, _ = _run_clip(clip_global_norm, big, max_norm)
    if float(np.sqrt(sum(float((c ** 2).sum()) for c in clipped))) > 0.999 * 3.0 * max_norm:
        raise CheckFailed("clip_global_norm leaves gradients whose global norm exceeds "
                          "max_norm unclipped; this check gives points to a function that "
                          "clips above the threshold and changes nothing below it")
    for k, (c, g) in enumerate(zip(got, grads)):
        if c.shape != tuple(g.shape) or not np.allclose(c, g.numpy(), rtol=RTOL, atol=ATOL):
            raise CheckFailed(
                f"clipped[{k}] differs from grads[{k}] although the global norm is below "
                "max_norm. Hint: the factor is min(1, max_norm / total_norm): clipping only "
                "ever shrinks")
    return "gradients below max_norm are returned unchanged"
