"""The numpy GRU, both reset conventions: against torch.nn.GRU/GRUCell (reset after), a
torch transcription of Cho et al.'s equations (reset before), finite differences and
autograd, the documented cache layout, and argument checks."""

import re

import numpy as np
import pytest
import torch
from numpy_helpers import SEQ_SHAPES, STEP_SHAPES, _t, assert_grads_match, assert_matches_reference

from lstm_ref.gradcheck import numeric_gradient, rel_error
from lstm_ref.numpy import gru_backward, gru_forward, gru_step_backward, gru_step_forward


def _params(rng, N, D, H, dtype=np.float64, T=None):
    x_shape = (N, D) if T is None else (T, N, D)
    x = rng.standard_normal(x_shape).astype(dtype)
    h0 = rng.standard_normal((N, H)).astype(dtype)
    Wx = (0.5 * rng.standard_normal((D, 3 * H))).astype(dtype)
    Wh = (0.5 * rng.standard_normal((H, 3 * H))).astype(dtype)
    bx = (0.3 * rng.standard_normal(3 * H)).astype(dtype)
    bh = (0.3 * rng.standard_normal(3 * H)).astype(dtype)
    return x, h0, Wx, Wh, bx, bh


def _torch_module(cls, Wx, Wh, bx, bh):
    """A torch.nn.GRU/GRUCell holding numpy weights (set by hand, not via convert)."""
    D, H = Wx.shape[0], Wh.shape[0]
    module = cls(D, H).double()  # the reference: float64, whatever the dtype of ours
    s = "_l0" if cls is torch.nn.GRU else ""
    with torch.no_grad():
        getattr(module, "weight_ih" + s).copy_(torch.from_numpy(Wx.T.astype(np.float64)))
        getattr(module, "weight_hh" + s).copy_(torch.from_numpy(Wh.T.astype(np.float64)))
        getattr(module, "bias_ih" + s).copy_(torch.from_numpy(bx.astype(np.float64)))
        getattr(module, "bias_hh" + s).copy_(torch.from_numpy(bh.astype(np.float64)))
    return module, s


def _torch_reset_before(x, h, Wx, Wh, bx, bh):
    """Cho et al. (2014)'s GRU step, transcribed in torch for autograd (reset before)."""
    H = h.shape[1]
    ax = x @ Wx + bx
    r = torch.sigmoid(ax[:, :H] + h @ Wh[:, :H] + bh[:H])
    z = torch.sigmoid(ax[:, H : 2 * H] + h @ Wh[:, H : 2 * H] + bh[H : 2 * H])
    n = torch.tanh(ax[:, 2 * H :] + (r * h) @ Wh[:, 2 * H :] + bh[2 * H :])
    return (1 - z) * n + z * h


def _torch_seq_reset_before(x, h, *w):
    hs = []
    for t in range(x.shape[0]):
        h = _torch_reset_before(x[t], h, *w)
        hs.append(h)
    return torch.stack(hs)


# --- forward -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("N,D,H", STEP_SHAPES)
def test_step_forward_matches_torch_cell(rng, dtype, N, D, H):
    x, h0, Wx, Wh, bx, bh = _params(rng, N, D, H, dtype)
    h, cache = gru_step_forward(x, h0, Wx, Wh, bx, bh)
    assert h.dtype == dtype and h.shape == (N, H)
    cell, _ = _torch_module(torch.nn.GRUCell, Wx, Wh, bx, bh)
    with torch.no_grad():
        h_ref = cell(_t(x), _t(h0))
    assert_matches_reference(h, h_ref, dtype, "h")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("T,N,D,H", SEQ_SHAPES)
def test_forward_matches_torch_gru(rng, dtype, T, N, D, H):
    x, h0, Wx, Wh, bx, bh = _params(rng, N, D, H, dtype, T=T)
    h, _ = gru_forward(x, h0, Wx, Wh, bx, bh)
    assert h.dtype == dtype and h.shape == (T, N, H)
    gru, _ = _torch_module(torch.nn.GRU, Wx, Wh, bx, bh)
    with torch.no_grad():
        out, h_n = gru(_t(x), _t(h0)[None])
    assert_matches_reference(h, out, dtype, "h")
    assert_matches_reference(h[-1], h_n[0], dtype, "h[-1]")


@pytest.mark.parametrize("T,N,D,H", SEQ_SHAPES)
def test_reset_before_matches_cho_equations(rng, T, N, D, H):
    x, h0, Wx, Wh, bx, bh = _params(rng, N, D, H, T=T)
    h, _ = gru_forward(x, h0, Wx, Wh, bx, bh, reset_after=False)
    with torch.no_grad():
        ref = _torch_seq_reset_before(*(_t(a) for a in (x, h0, Wx, Wh, bx, bh)))
    assert np.max(np.abs(h - ref.numpy())) <= 1e-12
    step, _ = gru_step_forward(x[0], h0, Wx, Wh, bx, bh, reset_after=False)
    assert np.max(np.abs(step - ref[0].numpy())) <= 1e-12


def test_the_two_conventions_differ_unless_h_is_zero(rng):
    x, h0, Wx, Wh, bx, bh = _params(rng, 3, 4, 5)
    after, _ = gru_step_forward(x, h0, Wx, Wh, bx, bh, reset_after=True)
    before, _ = gru_step_forward(x, h0, Wx, Wh, bx, bh, reset_after=False)
    assert np.max(np.abs(after - before)) > 1e-3
    # with h = 0 and bhn = 0 both candidates are tanh(x Wxn + bxn)
    bh0 = bh.copy()
    bh0[10:] = 0.0
    zero = np.zeros_like(h0)
    a, _ = gru_step_forward(x, zero, Wx, Wh, bx, bh0, reset_after=True)
    b, _ = gru_step_forward(x, zero, Wx, Wh, bx, bh0, reset_after=False)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-15)


@pytest.mark.parametrize("reset_after", [True, False])
def test_forward_equals_steps_and_cache_layout(rng, reset_after):
    x, h0, Wx, Wh, bx, bh = _params(rng, 3, 4, 5, T=4)
    h, cache = gru_forward(x, h0, Wx, Wh, bx, bh, reset_after)
    assert len(cache) == 12 and cache[-1] is reset_after
    hs = h0
    for t in range(4):
        hs, step_cache = gru_step_forward(x[t], hs, Wx, Wh, bx, bh, reset_after)
        np.testing.assert_allclose(h[t], hs, rtol=0, atol=1e-14)
        # the step cache is (x, h_prev, Wx, Wh, bx, bh, r, z, n, hn, reset_after)
        assert len(step_cache) == 11 and step_cache[-1] is reset_after
        assert step_cache[0] is x[t] or np.array_equal(step_cache[0], x[t])
        for k, name in zip(range(6, 10), "r z n hn".split()):
            np.testing.assert_allclose(step_cache[k], cache[k][t], atol=1e-14, err_msg=name)
        r, z, n, hn = step_cache[6:10]
        np.testing.assert_allclose(hs, (1 - z) * n + z * step_cache[1], atol=1e-15)
        h_prev = step_cache[1]
        expected_hn = (h_prev if reset_after else r * h_prev) @ Wh[:, 10:] + bh[10:]
        np.testing.assert_allclose(hn, expected_hn, atol=1e-14)


def test_backward_reads_a_cache_built_by_hand(rng):
    """The documented layout is all the backward needs: a cache assembled from the
    equations (not by the forward) gives the same gradients."""
    x, h0, Wx, Wh, bx, bh = _params(rng, 2, 3, 4)
    dh = rng.standard_normal((2, 4))
    H = 4
    for reset_after in (True, False):
        sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
        r = sig(x @ Wx[:, :H] + bx[:H] + h0 @ Wh[:, :H] + bh[:H])
        z = sig(x @ Wx[:, H : 2 * H] + bx[H : 2 * H] + h0 @ Wh[:, H : 2 * H] + bh[H : 2 * H])
        hn = (h0 if reset_after else r * h0) @ Wh[:, 2 * H :] + bh[2 * H :]
        n = np.tanh(x @ Wx[:, 2 * H :] + bx[2 * H :] + (r * hn if reset_after else hn))
        cache = (x, h0, Wx, Wh, bx, bh, r, z, n, hn, reset_after)
        _, ref_cache = gru_step_forward(x, h0, Wx, Wh, bx, bh, reset_after)
        for a, b in zip(gru_step_backward(dh, cache), gru_step_backward(dh, ref_cache)):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)


# --- backward: finite differences ----------------------------------------------------------

NAMES = ["x", "h", "Wx", "Wh", "bx", "bh"]


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("N,D,H", STEP_SHAPES)
def test_step_backward_matches_finite_differences(rng, N, D, H, reset_after):
    args = list(_params(rng, N, D, H))
    dh = rng.standard_normal((N, H))
    _, cache = gru_step_forward(*args, reset_after=reset_after)
    grads = gru_step_backward(dh, cache)
    assert len(grads) == 6

    def f(_):
        return gru_step_forward(*args, reset_after=reset_after)[0]

    for k, name in enumerate(NAMES):
        num = numeric_gradient(f, args[k], dh)
        assert grads[k].shape == args[k].shape, name
        assert rel_error(grads[k], num) <= 1e-7, name


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("T,N,D,H", [(1, 2, 3, 2), (4, 1, 2, 3), (3, 2, 3, 3)])
def test_backward_matches_finite_differences(rng, T, N, D, H, reset_after):
    args = list(_params(rng, N, D, H, T=T))
    dh = rng.standard_normal((T, N, H))
    _, cache = gru_forward(*args, reset_after=reset_after)
    grads = gru_backward(dh, cache)

    def f(_):
        return gru_forward(*args, reset_after=reset_after)[0]

    for k, name in enumerate(NAMES):
        num = numeric_gradient(f, args[k], dh)
        assert grads[k].shape == args[k].shape, name
        assert rel_error(grads[k], num) <= 1e-7, name


# --- backward: torch autograd --------------------------------------------------------------


@pytest.mark.parametrize("N,D,H", STEP_SHAPES)
def test_step_backward_matches_autograd_cell(rng, N, D, H):
    x, h0, Wx, Wh, bx, bh = _params(rng, N, D, H)
    dh = rng.standard_normal((N, H))
    _, cache = gru_step_forward(x, h0, Wx, Wh, bx, bh)
    grads = gru_step_backward(dh, cache)
    cell, _ = _torch_module(torch.nn.GRUCell, Wx, Wh, bx, bh)
    xt, ht = _t(x, True), _t(h0, True)
    (cell(xt, ht) * _t(dh)).sum().backward()
    refs = [xt.grad, ht.grad, cell.weight_ih.grad.T, cell.weight_hh.grad.T,
            cell.bias_ih.grad, cell.bias_hh.grad]
    assert_grads_match(NAMES, grads, refs, np.float64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("T,N,D,H", SEQ_SHAPES)
def test_backward_matches_autograd_gru(rng, T, N, D, H, dtype):
    x, h0, Wx, Wh, bx, bh = _params(rng, N, D, H, dtype, T=T)
    dh = rng.standard_normal((T, N, H)).astype(dtype)
    _, cache = gru_forward(x, h0, Wx, Wh, bx, bh)
    grads = gru_backward(dh, cache)
    gru, s = _torch_module(torch.nn.GRU, Wx, Wh, bx, bh)
    xt, ht = _t(x, True), _t(h0[None], True)
    (gru(xt, ht)[0] * _t(dh)).sum().backward()
    refs = [xt.grad, ht.grad[0]] + [
        getattr(gru, n + s).grad.T if n.startswith("weight") else getattr(gru, n + s).grad
        for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    ]
    assert_grads_match(NAMES, grads, refs, dtype)


@pytest.mark.parametrize("T,N,D,H", SEQ_SHAPES)
def test_reset_before_backward_matches_autograd(rng, T, N, D, H):
    args = _params(rng, N, D, H, T=T)
    dh = rng.standard_normal((T, N, H))
    _, cache = gru_forward(*args, reset_after=False)
    grads = gru_backward(dh, cache)
    ts = [_t(a, True) for a in args]
    (_torch_seq_reset_before(*ts) * _t(dh)).sum().backward()
    assert_grads_match(NAMES, grads, [a.grad for a in ts], np.float64)


def test_float32_stays_float32_and_inputs_unchanged(rng):
    args = _params(rng, 2, 3, 4, np.float32, T=3)
    copies = [a.copy() for a in args]
    for reset_after in (True, False):
        h, cache = gru_forward(*args, reset_after=reset_after)
        assert h.dtype == np.float32
        assert all(g.dtype == np.float32 for g in gru_backward(np.ones_like(h), cache))
        _, sc = gru_step_forward(args[0][0], *args[1:], reset_after=reset_after)
        assert all(g.dtype == np.float32 for g in gru_step_backward(np.ones_like(h[0]), sc))
    for a, a0 in zip(args, copies):
        np.testing.assert_array_equal(a, a0)


# --- argument checks -----------------------------------------------------------------------

T_, N_, D_, H_ = 3, 2, 5, 4


def _z(*shape, dtype=np.float64):
    return np.zeros(shape, dtype=dtype)


def _step_args(**change):
    args = dict(x=_z(N_, D_), h_prev=_z(N_, H_), Wx=_z(D_, 3 * H_), Wh=_z(H_, 3 * H_),
                bx=_z(3 * H_), bh=_z(3 * H_))
    args.update(change)
    return args


def _seq_args(**change):
    args = _step_args(x=_z(T_, N_, D_))
    args["h0"] = args.pop("h_prev")
    args.update(change)
    return args


def _msg(name, expected, got):
    return re.escape(f"{name} must have shape {expected}, got {got}")


@pytest.mark.parametrize(
    "fn,args,message",
    [
        (gru_step_forward, _step_args(x=_z(D_)), _msg("x", "(N, D)", (D_,))),
        (gru_step_forward, _step_args(h_prev=_z(N_ + 1, H_)), _msg("h_prev", (N_, H_), (N_ + 1, H_))),
        (gru_step_forward, _step_args(Wx=_z(D_ - 1, 3 * H_)), _msg("Wx", f"({D_}, 3H)", (D_ - 1, 3 * H_))),
        (gru_step_forward, _step_args(Wx=_z(D_, 13)), r"Wx must have shape \(D, 3H\).*got \(5, 13\)"),
        (gru_step_forward, _step_args(Wh=_z(H_, 4 * H_)), _msg("Wh", (H_, 3 * H_), (H_, 4 * H_))),
        (gru_step_forward, _step_args(bh=_z(4 * H_)), _msg("bh", f"({3 * H_},)", (4 * H_,))),
        (gru_forward, _seq_args(x=_z(N_, D_)), _msg("x", "(T, N, D)", (N_, D_))),
        (gru_forward, _seq_args(h0=_z(H_)), _msg("h0", (N_, H_), (H_,))),
        (gru_forward, _seq_args(bx=_z(3 * H_, 1)), _msg("bx", f"({3 * H_},)", (3 * H_, 1))),
    ],
)
def test_bad_shapes_name_the_argument(fn, args, message):
    with pytest.raises(ValueError, match=message):
        fn(**args)


def test_bad_dtypes_and_flags_are_refused():
    with pytest.raises(ValueError, match="same dtype.*bh: float32"):
        gru_forward(**_seq_args(bh=_z(3 * H_, dtype=np.float32)))
    with pytest.raises(ValueError, match="x must have dtype float32 or float64, got int64"):
        gru_step_forward(**_step_args(x=_z(N_, D_, dtype=np.int64)))
    with pytest.raises(TypeError, match="reset_after must be a bool.*got str"):
        gru_forward(**_seq_args(), reset_after="pytorch")
    _, cache = gru_step_forward(**_step_args())
    with pytest.raises(ValueError, match=_msg("dh_next", (N_, H_), (N_, H_ + 1))):
        gru_step_backward(_z(N_, H_ + 1), cache)
    with pytest.raises(ValueError, match="cache must be the tuple .* got tuple of length 10"):
        gru_step_backward(_z(N_, H_), cache[:10])
    _, cache = gru_forward(**_seq_args())
    with pytest.raises(ValueError, match=_msg("dh", (T_, N_, H_), (N_, H_))):
        gru_backward(_z(N_, H_), cache)
    with pytest.raises(ValueError, match="same dtype.*dh: float32"):
        gru_backward(_z(T_, N_, H_, dtype=np.float32), cache)
