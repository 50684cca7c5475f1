"""The numpy LSTM against torch.nn.LSTM/LSTMCell, finite differences and torch autograd."""

import numpy as np
import pytest
import torch
from numpy_helpers import SEQ_SHAPES, STEP_SHAPES, _t, assert_grads_match, assert_matches_reference

from lstm_ref.gradcheck import numeric_gradient, rel_error
from lstm_ref.numpy import (
    init_forget_bias,
    lstm_backward,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
)



def _params(rng, N, D, H, dtype=np.float64, T=None):
    x_shape = (N, D) if T is None else (T, N, D)
    x = rng.standard_normal(x_shape).astype(dtype)
    h0 = rng.standard_normal((N, H)).astype(dtype)
    c0 = rng.standard_normal((N, H)).astype(dtype)
    Wx = (0.5 * rng.standard_normal((D, 4 * H))).astype(dtype)
    Wh = (0.5 * rng.standard_normal((H, 4 * H))).astype(dtype)
    b = (0.3 * rng.standard_normal(4 * H)).astype(dtype)
    return x, h0, c0, Wx, Wh, b


def _torch_module(cls, Wx, Wh, b):
    """A torch.nn.LSTM/LSTMCell holding numpy weights (set by hand, not via convert)."""
    D, H = Wx.shape[0], Wh.shape[0]
    module = cls(D, H).double()  # the reference: float64, whatever the dtype of ours
    suffix = "_l0" if cls is torch.nn.LSTM else ""
    half = b / 2
    with torch.no_grad():
        getattr(module, "weight_ih" + suffix).copy_(torch.from_numpy(Wx.T.astype(np.float64)))
        getattr(module, "weight_hh" + suffix).copy_(torch.from_numpy(Wh.T.astype(np.float64)))
        getattr(module, "bias_ih" + suffix).copy_(torch.from_numpy(half.astype(np.float64)))
        getattr(module, "bias_hh" + suffix).copy_(torch.from_numpy((b - half).astype(np.float64)))
    return module, suffix


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("N,D,H", STEP_SHAPES)
def test_step_forward_matches_torch_cell(rng, dtype, N, D, H):
    x, h0, c0, Wx, Wh, b = _params(rng, N, D, H, dtype)
    h, c, _ = lstm_step_forward(x, h0, c0, Wx, Wh, b)
    assert h.dtype == dtype and c.dtype == dtype and h.shape == c.shape == (N, H)
    cell, _ = _torch_module(torch.nn.LSTMCell, Wx, Wh, b)
    with torch.no_grad():
        h_ref, c_ref = cell(_t(x), (_t(h0), _t(c0)))
    assert_matches_reference(h, h_ref, dtype, "h")
    assert_matches_reference(c, c_ref, dtype, "c")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("T,N,D,H", SEQ_SHAPES)
def test_forward_matches_torch_lstm(rng, dtype, T, N, D, H):
    x, h0, c0, Wx, Wh, b = _params(rng, N, D, H, dtype, T=T)
    h, c, _ = lstm_forward(x, h0, c0, Wx, Wh, b)
    assert h.dtype == dtype and c.dtype == dtype and h.shape == c.shape == (T, N, H)
    lstm, _ = _torch_module(torch.nn.LSTM, Wx, Wh, b)
    with torch.no_grad():
        out, (h_n, c_n) = lstm(_t(x), (_t(h0)[None], _t(c0)[None]))
    assert_matches_reference(h, out, dtype, "h")
    assert_matches_reference(c[-1], c_n[0], dtype, "c[-1]")
    assert_matches_reference(h[-1], h_n[0], dtype, "h[-1]")


def test_forward_does_not_modify_inputs(rng):
    args = _params(rng, 2, 3, 4, T=3)
    copies = [a.copy() for a in args]
    lstm_backward(np.ones((3, 2, 4)), lstm_forward(*args)[2], dc_last=np.ones((2, 4)))
    for a, a0 in zip(args, copies):
        np.testing.assert_array_equal(a, a0)


def test_forward_equals_steps(rng):
    x, h0, c0, Wx, Wh, b = _params(rng, 3, 4, 5, T=4)
    h, c, _ = lstm_forward(x, h0, c0, Wx, Wh, b)
    hs, cs = h0, c0
    for t in range(4):
        hs, cs, _ = lstm_step_forward(x[t], hs, cs, Wx, Wh, b)
        np.testing.assert_allclose(h[t], hs, rtol=0, atol=1e-14)
        np.testing.assert_allclose(c[t], cs, rtol=0, atol=1e-14)


# --- backward: finite differences --------------------------------------------------------

STEP_NAMES = ["x", "h_prev", "c_prev", "Wx", "Wh", "b"]


@pytest.mark.parametrize("N,D,H", STEP_SHAPES)
def test_step_backward_matches_finite_differences(rng, N, D, H):
    args = list(_params(rng, N, D, H))
    dh = rng.standard_normal((N, H))
    dc = rng.standard_normal((N, H))
    h, c, cache = lstm_step_forward(*args)
    grads = lstm_step_backward(dh, dc, cache)  # in the order of the forward's inputs
    assert len(grads) == 6

    def f(_):
        h, c, _ = lstm_step_forward(*args)
        return np.concatenate([h.ravel(), c.ravel()])

    df = np.concatenate([dh.ravel(), dc.ravel()])
    for k, name in enumerate(STEP_NAMES):
        num = numeric_gradient(f, args[k], df)
        assert grads[k].shape == args[k].shape, name
        assert rel_error(grads[k], num) <= 1e-7, name


SEQ_NAMES = ["x", "h0", "c0", "Wx", "Wh", "b"]


@pytest.mark.parametrize("with_dc_last", [False, True])
@pytest.mark.parametrize("T,N,D,H", [(1, 2, 3, 2), (4, 1, 2, 3), (3, 2, 3, 3)])
def test_backward_matches_finite_differences(rng, T, N, D, H, with_dc_last):
    args = list(_params(rng, N, D, H, T=T))
    dh = rng.standard_normal((T, N, H))
    dc_last = rng.standard_normal((N, H)) if with_dc_last else None
    _, _, cache = lstm_forward(*args)
    grads = lstm_backward(dh, cache, dc_last=dc_last)

    def f(_):
        h, c, _ = lstm_forward(*args)
        return np.concatenate([h.ravel(), c[-1].ravel()])

    df = np.concatenate([dh.ravel(), (dc_last if with_dc_last else np.zeros((N, H))).ravel()])
    for k, name in enumerate(SEQ_NAMES):
        num = numeric_gradient(f, args[k], df)
        assert grads[k].shape == args[k].shape, name
        assert rel_error(grads[k], num) <= 1e-7, name


# --- backward: torch autograd ------------------------------------------------------------


@pytest.mark.parametrize("N,D,H", STEP_SHAPES)
def test_step_backward_matches_autograd(rng, N, D, H):
    x, h0, c0, Wx, Wh, b = _params(rng, N, D, H)
    dh = rng.standard_normal((N, H))
    dc = rng.standard_normal((N, H))
    _, _, cache = lstm_step_forward(x, h0, c0, Wx, Wh, b)
    dx, dh_prev, dc_prev, dWx, dWh, db = lstm_step_backward(dh, dc, cache)
    cell, _ = _torch_module(torch.nn.LSTMCell, Wx, Wh, b)
    xt, ht, ct = _t(x, True), _t(h0, True), _t(c0, True)
    h_ref, c_ref = cell(xt, (ht, ct))
    ((h_ref * _t(dh)).sum() + (c_ref * _t(dc)).sum()).backward()
    for ours, ref in [
        (dx, xt.grad),
        (dh_prev, ht.grad),
        (dc_prev, ct.grad),
        (dWx, cell.weight_ih.grad.T),
        (dWh, cell.weight_hh.grad.T),
        (db, cell.bias_ih.grad),
        (db, cell.bias_hh.grad),
    ]:
        assert ours.shape == tuple(ref.shape)
        assert np.max(np.abs(ours - ref.numpy())) <= 1e-10


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("with_dc_last", [False, True])
@pytest.mark.parametrize("T,N,D,H", SEQ_SHAPES)
def test_backward_matches_autograd(rng, T, N, D, H, with_dc_last, dtype):
    x, h0, c0, Wx, Wh, b = _params(rng, N, D, H, dtype, T=T)
    dh = rng.standard_normal((T, N, H)).astype(dtype)
    dc_last = rng.standard_normal((N, H)).astype(dtype) if with_dc_last else None
    _, _, cache = lstm_forward(x, h0, c0, Wx, Wh, b)
    grads = lstm_backward(dh, cache, dc_last)
    lstm, s = _torch_module(torch.nn.LSTM, Wx, Wh, b)
    xt, ht, ct = _t(x, True), _t(h0[None], True), _t(c0[None], True)
    out, (_, c_n) = lstm(xt, (ht, ct))
    loss = (out * _t(dh)).sum()
    if with_dc_last:
        loss = loss + (c_n[0] * _t(dc_last)).sum()
    loss.backward()
    refs = [
        xt.grad,
        ht.grad[0],
        ct.grad[0],
        getattr(lstm, "weight_ih" + s).grad.T,
        getattr(lstm, "weight_hh" + s).grad.T,
        getattr(lstm, "bias_ih" + s).grad,
    ]
    assert_grads_match(SEQ_NAMES, grads, refs, dtype)


def test_dc_last_is_the_truncated_bptt_carry(rng):
    """Backward through two chunks, passing (dh0, dc0) of the second as the first's
    upstream gradients, equals backward through the whole sequence."""
    x, h0, c0, Wx, Wh, b = _params(rng, 2, 3, 4, T=6)
    dh = rng.standard_normal((6, 2, 4))
    _, _, cache = lstm_forward(x, h0, c0, Wx, Wh, b)
    whole = lstm_backward(dh, cache)
    h1, c1, cache1 = lstm_forward(x[:3], h0, c0, Wx, Wh, b)
    _, _, cache2 = lstm_forward(x[3:], h1[-1], c1[-1], Wx, Wh, b)
    dx2, dh_mid, dc_mid, dWx2, dWh2, db2 = lstm_backward(dh[3:], cache2)
    dh1 = dh[:3].copy()
    dh1[-1] += dh_mid
    dx1, dh0, dc0, dWx1, dWh1, db1 = lstm_backward(dh1, cache1, dc_last=dc_mid)
    np.testing.assert_allclose(np.concatenate([dx1, dx2]), whole[0], atol=1e-12)
    np.testing.assert_allclose(dh0, whole[1], atol=1e-12)
    np.testing.assert_allclose(dc0, whole[2], atol=1e-12)
    np.testing.assert_allclose(dWx1 + dWx2, whole[3], atol=1e-12)
    np.testing.assert_allclose(dWh1 + dWh2, whole[4], atol=1e-12)
    np.testing.assert_allclose(db1 + db2, whole[5], atol=1e-12)


def test_float32_stays_float32(rng):
    args = _params(rng, 2, 3, 4, np.float32, T=3)
    h, c, cache = lstm_forward(*args)
    grads = lstm_backward(np.ones_like(h), cache, np.ones_like(c[-1]))
    assert all(g.dtype == np.float32 for g in grads)
    _, _, step_cache = lstm_step_forward(args[0][0], *args[1:])
    step_grads = lstm_step_backward(np.ones_like(h[0]), np.ones_like(c[0]), step_cache)
    assert all(g.dtype == np.float32 for g in step_grads)


def test_init_forget_bias(rng):
    b = rng.standard_normal(12)
    out = init_forget_bias(b, 1.0)
    np.testing.assert_array_equal(out[3:6], 1.0)
    np.testing.assert_array_equal(np.delete(out, range(3, 6)), np.delete(b, range(3, 6)))
    assert not np.any(b[3:6] == 1.0)  # a copy: b unchanged


def test_forward_accepts_non_contiguous_arrays(rng):
    x, h0, c0, Wx, Wh, b = _params(rng, 3, 4, 5, T=6)
    x_nc = np.ascontiguousarray(x.transpose(1, 0, 2)).transpose(1, 0, 2)  # batch-first memory
    Wx_f, Wh_f, h0_f = np.asfortranarray(Wx), np.asfortranarray(Wh), np.asfortranarray(h0)
    expected = lstm_forward(x, h0, c0, Wx, Wh, b)
    got = lstm_forward(x_nc, h0_f, c0, Wx_f, Wh_f, b)
    for a, e in zip(got[:2], expected[:2]):
        np.testing.assert_allclose(a, e, rtol=0, atol=1e-14)
    grads = lstm_backward(np.ones((6, 3, 5)), got[2])
    for a, e in zip(grads, lstm_backward(np.ones((6, 3, 5)), expected[2])):
        np.testing.assert_allclose(a, e, rtol=0, atol=1e-13)
