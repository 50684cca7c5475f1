"""lstm_ref.convert: gate orders, and weights between numpy and torch modules, round trip."""

import copy
import itertools

import numpy as np
import pytest
import torch

import lstm_ref.torch as ours
from lstm_ref.convert import (
    lstm_params_from_torch,
    numpy_to_torch_lstm,
    numpy_to_torch_rnn,
    reorder_gates,
    torch_lstm_to_numpy,
    torch_rnn_to_numpy,
)
from lstm_ref.numpy import lstm_forward, rnn_forward

ORDERS = ["".join(p) for p in itertools.permutations("ifgo")]
L, N, D, H = 4, 2, 3, 5


# --- reorder_gates -------------------------------------------------------------------------


def _labelled(order, H=2, rows=3):
    """A (rows, 4H) array whose block for gate ``k`` holds the code of letter ``k``."""
    return np.concatenate([np.full((rows, H), float(ord(g))) for g in order], axis=1)


@pytest.mark.parametrize("src", ORDERS)
def test_reorder_gates_moves_each_block_and_back(src, rng):
    for dst in ORDERS:
        out = reorder_gates(_labelled(src), src, dst)
        np.testing.assert_array_equal(out, _labelled(dst))
    w = rng.standard_normal((3, 8))
    for dst in ORDERS:
        np.testing.assert_array_equal(reorder_gates(reorder_gates(w, src, dst), dst, src), w)


def test_reorder_gates_torch_layout_and_defaults(rng):
    w = rng.standard_normal((3, 8))
    # default: PyTorch's i,f,g,o to CS231n's i,f,o,g, along the last axis
    np.testing.assert_array_equal(
        reorder_gates(w), np.concatenate([w[:, :4], w[:, 6:], w[:, 4:6]], axis=1)
    )
    t = torch.from_numpy(w.T.copy()).requires_grad_()  # torch layout (4H, D): axis 0
    out = reorder_gates(t, "ifgo", "ifog", axis=0)
    assert isinstance(out, torch.Tensor)
    np.testing.assert_array_equal(out.detach().numpy(), reorder_gates(w).T)
    out.sum().backward()  # differentiable
    np.testing.assert_array_equal(t.grad.numpy(), np.ones_like(w.T))
    b = rng.standard_normal(8)
    np.testing.assert_array_equal(reorder_gates(reorder_gates(b, axis=0), "ifog", "ifgo", 0), b)


def test_cs231n_order_gives_the_same_lstm(rng):
    """Weights in i,f,o,g fed to an LSTM written for i,f,o,g equal ours in i,f,g,o."""
    x = rng.standard_normal((L, N, D))
    Wx, Wh, b = rng.standard_normal((D, 4 * H)), rng.standard_normal((H, 4 * H)), rng.standard_normal(4 * H)
    h0 = c0 = np.zeros((N, H))
    ours_h, _, _ = lstm_forward(x, h0, c0, Wx, Wh, b)
    Wx2, Wh2, b2 = (reorder_gates(w) for w in (Wx, Wh, b))
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    h, c, hs = h0, c0, []
    for t in range(L):  # an i, f, o, g cell, as in CS231n
        a = x[t] @ Wx2 + h @ Wh2 + b2
        i, f, o, g = sig(a[:, :H]), sig(a[:, H : 2 * H]), sig(a[:, 2 * H : 3 * H]), np.tanh(a[:, 3 * H :])
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
    np.testing.assert_allclose(ours_h, np.stack(hs), atol=1e-12)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"src": "ifgx"}, r"src must be a gate order.*got 'ifgx'"),
        ({"dst": "iffo"}, r"dst must be a gate order.*got 'iffo'"),
        ({"axis": 0}, r"size 4H \(a multiple of 4\) along axis 0, got shape \(3, 8\)"),
        ({"axis": 2}, r"axis 2 is out of range for w of shape \(3, 8\)"),
    ],
)
def test_reorder_gates_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        reorder_gates(np.zeros((3, 8)), **kwargs)


# --- numpy <-> torch -------------------------------------------------------------------------


def _numpy_stack(x, weights, num_layers, bidirectional, forward):
    """Run a stacked, optionally bidirectional network with numpy weights per (layer, dir)."""
    directions = 2 if bidirectional else 1
    for layer in range(num_layers):
        outs = []
        for direction in range(directions):
            Wx, Wh, b = weights[layer, direction]
            xs = x[::-1] if direction else x
            h = forward(np.ascontiguousarray(xs), Wx, Wh, b)
            outs.append(h[::-1] if direction else h)
        x = np.concatenate(outs, axis=2)
    return x


def _lstm_np(x, Wx, Wh, b):
    z = np.zeros((x.shape[1], Wh.shape[0]), dtype=x.dtype)
    return lstm_forward(x, z, z, Wx, Wh, b)[0]


def _rnn_np(x, Wx, Wh, b):
    return rnn_forward(x, np.zeros((x.shape[1], Wh.shape[0]), dtype=x.dtype), Wx, Wh, b)[0]


KINDS = {
    "LSTM": (4, torch_lstm_to_numpy, numpy_to_torch_lstm, _lstm_np, torch.nn.LSTM, ours.LSTM),
    "RNN": (1, torch_rnn_to_numpy, numpy_to_torch_rnn, _rnn_np, torch.nn.RNN, ours.RNN),
}


@pytest.mark.parametrize("kind", ["LSTM", "RNN"])
@pytest.mark.parametrize("which", ["torch.nn", "lstm_ref.torch"])
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, True)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_torch_to_numpy_and_back(kind, which, num_layers, bidirectional, dtype, rng):
    G, to_np, to_torch, forward, ref_cls, our_cls = KINDS[kind]
    cls = ref_cls if which == "torch.nn" else our_cls
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    torch.manual_seed(0)
    module = cls(D, H, num_layers=num_layers, bidirectional=bidirectional).to(tdtype)
    directions = 2 if bidirectional else 1
    weights = {}
    for layer, direction in itertools.product(range(num_layers), range(directions)):
        Wx, Wh, b = to_np(module, layer=layer, direction=direction)
        width = D if layer == 0 else directions * H
        assert Wx.shape == (width, G * H) and Wh.shape == (H, G * H) and b.shape == (G * H,)
        assert Wx.dtype == Wh.dtype == b.dtype == dtype
        weights[layer, direction] = Wx, Wh, b
    x = rng.standard_normal((L, N, D)).astype(dtype)
    # The reference runs in float64 on the same numbers (float32 weights and inputs are exact
    # in float64); ours runs in dtype. Tolerance relative to max(1, |reference|); measured at
    # most 2e-7 in float32 (torch's initial weights) and 3e-6 with the standard-normal weights
    # below, whose larger products amplify rounding (hence 10 * tol there); 2e-15 in float64.
    tol = 1e-12 if dtype == np.float64 else 1e-5

    def reference(m):
        with torch.no_grad():
            return copy.deepcopy(m).double()(torch.from_numpy(x.astype(np.float64)))[0].numpy()

    def relative(got, expected):
        assert got.dtype == dtype
        return np.max(np.abs(got - expected)) / max(1.0, np.max(np.abs(expected)))

    got = _numpy_stack(x, weights, num_layers, bidirectional, forward)
    assert relative(got, reference(module)) <= tol

    # back: random numpy weights into a fresh module, then out again unchanged
    fresh = cls(D, H, num_layers=num_layers, bidirectional=bidirectional).to(tdtype)
    new = {}
    for (layer, direction), (Wx, Wh, b) in weights.items():
        new[layer, direction] = tuple(rng.standard_normal(w.shape).astype(dtype) for w in (Wx, Wh, b))
        assert to_torch(*new[layer, direction], fresh, layer=layer, direction=direction) is fresh
    for key, ws in new.items():
        for w_in, w_out in zip(ws, to_np(fresh, *key)):
            np.testing.assert_array_equal(w_out, w_in)  # a copy both ways, no arithmetic
    got = _numpy_stack(x, new, num_layers, bidirectional, forward)
    assert relative(got, reference(fresh)) <= 10 * tol


@pytest.mark.parametrize("cell", [torch.nn.LSTMCell, ours.LSTMCell])
def test_cells_and_lstm_params_from_torch(cell, rng):
    module = cell(D, H).double()
    Wx, Wh, b = lstm_params_from_torch(module)
    x, h0, c0 = rng.standard_normal((N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    with torch.no_grad():
        h, c = module(torch.from_numpy(x), (torch.from_numpy(h0), torch.from_numpy(c0)))
    h_np, c_np, _ = lstm_forward(x[None], h0, c0, Wx, Wh, b)
    np.testing.assert_allclose(h_np[0], h.numpy(), atol=1e-12)
    np.testing.assert_allclose(c_np[0], c.numpy(), atol=1e-12)
    numpy_to_torch_lstm(2 * Wx, Wh, b, module)
    np.testing.assert_array_equal(module.weight_ih.detach().numpy(), 2 * Wx.T)
    np.testing.assert_array_equal(module.bias_hh.detach().numpy(), 0.0)
    rnn = torch.nn.RNNCell(D, H).double()
    Wx, Wh, b = torch_rnn_to_numpy(rnn)
    with torch.no_grad():
        expected = rnn(torch.from_numpy(x), torch.from_numpy(h0)).numpy()
    np.testing.assert_allclose(rnn_forward(x[None], h0, Wx, Wh, b)[0][0], expected, atol=1e-12)


def test_bias_false():
    lstm = torch.nn.LSTM(D, H, bias=False).double()
    Wx, Wh, b = torch_lstm_to_numpy(lstm)
    np.testing.assert_array_equal(b, np.zeros(4 * H))
    numpy_to_torch_lstm(Wx, Wh, b, lstm)  # zeros load
    with pytest.raises(ValueError, match="bias=False"):
        numpy_to_torch_lstm(Wx, Wh, b + 1, lstm)


def test_conversion_errors():
    lstm = torch.nn.LSTM(D, H, num_layers=2).double()
    with pytest.raises(ValueError, match=r"layer must be in \[0, 1\].*got 2"):
        torch_lstm_to_numpy(lstm, layer=2)
    with pytest.raises(ValueError, match="direction must be 0.*unidirectional.*got 1"):
        torch_lstm_to_numpy(lstm, direction=1)
    with pytest.raises(ValueError, match="lstm_params_from_torch needs a one-layer"):
        lstm_params_from_torch(lstm)
    with pytest.raises(ValueError, match="must be an LSTM"):
        torch_lstm_to_numpy(torch.nn.RNN(D, H))
    with pytest.raises(ValueError, match="must be an RNN"):
        torch_rnn_to_numpy(lstm)
    with pytest.raises(ValueError, match="a cell .* has one layer"):
        torch_lstm_to_numpy(torch.nn.LSTMCell(D, H), layer=1)
    with pytest.raises(ValueError, match="proj_size"):
        torch_lstm_to_numpy(torch.nn.LSTM(D, H, proj_size=2))
    with pytest.raises(ValueError, match="module must be a torch.nn.LSTM"):
        torch_lstm_to_numpy(object())
    Wx, Wh, b = torch_lstm_to_numpy(lstm, layer=1)
    with pytest.raises(ValueError, match=rf"Wx must have shape \({H}, {4 * H}\), got \({D}, {4 * H}\)"):
        numpy_to_torch_lstm(np.zeros((D, 4 * H)), Wh, b, lstm, layer=1)
    with pytest.raises(ValueError, match=r"same dtype.*b: float32"):
        numpy_to_torch_lstm(Wx, Wh, b.astype(np.float32), lstm, layer=1)
    with pytest.raises(ValueError, match=rf"b must have shape \({H},\)"):
        numpy_to_torch_rnn(np.zeros((D, H)), np.zeros((H, H)), np.zeros(4 * H), torch.nn.RNN(D, H))
