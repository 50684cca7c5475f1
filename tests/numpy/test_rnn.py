"""The numpy tanh RNN against torch.nn.RNN/RNNCell, finite differences and torch autograd."""

import numpy as np
import pytest
import torch
from numpy_helpers import SEQ_SHAPES, STEP_SHAPES, _t, assert_grads_match, assert_matches_reference

from lstm_ref.gradcheck import numeric_gradient, rel_error
from lstm_ref.numpy import rnn_backward, rnn_forward, rnn_step_backward, rnn_step_forward

NAMES = ["x", "h0", "Wx", "Wh", "b"]


def _params(rng, N, D, H, dtype=np.float64, T=None):
    x_shape = (N, D) if T is None else (T, N, D)
    x = rng.standard_normal(x_shape).astype(dtype)
    h0 = rng.standard_normal((N, H)).astype(dtype)
    Wx = (0.5 * rng.standard_normal((D, H))).astype(dtype)
    Wh = (0.5 * rng.standard_normal((H, H))).astype(dtype)
    b = (0.3 * rng.standard_normal(H)).astype(dtype)
    return x, h0, Wx, Wh, b


def _torch_module(cls, Wx, Wh, b):
    """A torch.nn.RNN/RNNCell (tanh) holding numpy weights, set by hand."""
    D, H = Wx.shape
    module = cls(D, H, nonlinearity="tanh").double()  # the reference: float64, whatever the dtype of ours
    s = "_l0" if cls is torch.nn.RNN else ""
    with torch.no_grad():
        getattr(module, "weight_ih" + s).copy_(torch.from_numpy(Wx.T.astype(np.float64)))
        getattr(module, "weight_hh" + s).copy_(torch.from_numpy(Wh.T.astype(np.float64)))
        getattr(module, "bias_ih" + s).copy_(torch.from_numpy(0.25 * b.astype(np.float64)))
        getattr(module, "bias_hh" + s).copy_(torch.from_numpy(0.75 * b.astype(np.float64)))
    return module, s


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("N,D,H", STEP_SHAPES)
def test_step_forward_matches_torch_cell(rng, dtype, N, D, H):
    x, h0, Wx, Wh, b = _params(rng, N, D, H, dtype)
    h, _ = rnn_step_forward(x, h0, Wx, Wh, b)
    assert h.dtype == dtype and h.shape == (N, H)
    cell, _ = _torch_module(torch.nn.RNNCell, Wx, Wh, b)
    with torch.no_grad():
        ref = cell(_t(x), _t(h0))
    assert_matches_reference(h, ref, dtype, "h")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("T,N,D,H", SEQ_SHAPES)
def test_forward_matches_torch_rnn(rng, dtype, T, N, D, H):
    x, h0, Wx, Wh, b = _params(rng, N, D, H, dtype, T=T)
    h, _ = rnn_forward(x, h0, Wx, Wh, b)
    assert h.dtype == dtype and h.shape == (T, N, H)
    rnn, _ = _torch_module(torch.nn.RNN, Wx, Wh, b)
    with torch.no_grad():
        out, h_n = rnn(_t(x), _t(h0)[None])
    assert_matches_reference(h, out, dtype, "h")
    assert_matches_reference(h[-1], h_n[0], dtype, "h[-1]")


def test_forward_equals_steps(rng):
    x, h0, Wx, Wh, b = _params(rng, 3, 4, 5, T=4)
    h, _ = rnn_forward(x, h0, Wx, Wh, b)
    hs = h0
    for t in range(4):
        hs, _ = rnn_step_forward(x[t], hs, Wx, Wh, b)
        np.testing.assert_allclose(h[t], hs, rtol=0, atol=1e-14)


def test_inputs_not_modified(rng):
    args = _params(rng, 2, 3, 4, T=3)
    copies = [a.copy() for a in args]
    rnn_backward(np.ones((3, 2, 4)), rnn_forward(*args)[1])
    rnn_step_backward(np.ones((2, 4)), rnn_step_forward(args[0][0], *args[1:])[1])
    for a, a0 in zip(args, copies):
        np.testing.assert_array_equal(a, a0)


@pytest.mark.parametrize("N,D,H", STEP_SHAPES)
def test_step_backward_matches_finite_differences(rng, N, D, H):
    args = list(_params(rng, N, D, H))
    dh = rng.standard_normal((N, H))
    _, cache = rnn_step_forward(*args)
    grads = rnn_step_backward(dh, cache)
    assert len(grads) == 5
    for k, name in enumerate(NAMES):
        num = numeric_gradient(lambda _: rnn_step_forward(*args)[0], args[k], dh)
        assert grads[k].shape == args[k].shape, name
        assert rel_error(grads[k], num) <= 1e-7, name


@pytest.mark.parametrize("T,N,D,H", [(1, 2, 3, 2), (4, 1, 2, 3), (3, 2, 3, 3)])
def test_backward_matches_finite_differences(rng, T, N, D, H):
    args = list(_params(rng, N, D, H, T=T))
    dh = rng.standard_normal((T, N, H))
    _, cache = rnn_forward(*args)
    grads = rnn_backward(dh, cache)
    for k, name in enumerate(NAMES):
        num = numeric_gradient(lambda _: rnn_forward(*args)[0], args[k], dh)
        assert grads[k].shape == args[k].shape, name
        assert rel_error(grads[k], num) <= 1e-7, name


@pytest.mark.parametrize("N,D,H", STEP_SHAPES)
def test_step_backward_matches_autograd(rng, N, D, H):
    x, h0, Wx, Wh, b = _params(rng, N, D, H)
    dh = rng.standard_normal((N, H))
    _, cache = rnn_step_forward(x, h0, Wx, Wh, b)
    grads = rnn_step_backward(dh, cache)
    cell, _ = _torch_module(torch.nn.RNNCell, Wx, Wh, b)
    xt, ht = _t(x, True), _t(h0, True)
    (cell(xt, ht) * _t(dh)).sum().backward()
    refs = [xt.grad, ht.grad, cell.weight_ih.grad.T, cell.weight_hh.grad.T, cell.bias_ih.grad]
    for name, ours, ref in zip(NAMES, grads, refs):
        assert ours.shape == tuple(ref.shape), name
        assert np.max(np.abs(ours - ref.numpy())) <= 1e-10, name
    np.testing.assert_allclose(grads[4], cell.bias_hh.grad.numpy(), atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("T,N,D,H", SEQ_SHAPES)
def test_backward_matches_autograd(rng, dtype, T, N, D, H):
    x, h0, Wx, Wh, b = _params(rng, N, D, H, dtype, T=T)
    dh = rng.standard_normal((T, N, H)).astype(dtype)
    _, cache = rnn_forward(x, h0, Wx, Wh, b)
    grads = rnn_backward(dh, cache)
    rnn, s = _torch_module(torch.nn.RNN, Wx, Wh, b)
    xt, ht = _t(x, True), _t(h0[None], True)
    out, _ = rnn(xt, ht)
    (out * _t(dh)).sum().backward()
    refs = [
        xt.grad,
        ht.grad[0],
        getattr(rnn, "weight_ih" + s).grad.T,
        getattr(rnn, "weight_hh" + s).grad.T,
        getattr(rnn, "bias_ih" + s).grad,
    ]
    assert_grads_match(NAMES, grads, refs, dtype)
