"""Stacked and bidirectional numpy networks against torch.nn.LSTM/GRU/RNN (num_layers=2,
bidirectional) through the convert helpers: outputs, final states, every gradient; finite
differences; the output/h_n layout of the backward direction; argument checks."""

import re

import numpy as np
import pytest
import torch
from numpy_helpers import GRAD_REL_TOL, _t, assert_matches_reference

from lstm_ref.convert import gru_params_from_torch, torch_lstm_to_numpy, torch_rnn_to_numpy
from lstm_ref.gradcheck import numeric_gradient, rel_error
from lstm_ref.numpy import final_states_from_output, stacked_backward, stacked_forward

TORCH = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}
TO_NUMPY = {"lstm": torch_lstm_to_numpy, "gru": gru_params_from_torch, "rnn": torch_rnn_to_numpy}
TORCH_NAMES = {"lstm": ("weight_ih", "weight_hh", "bias_ih"),
               "gru": ("weight_ih", "weight_hh", "bias_ih", "bias_hh"),
               "rnn": ("weight_ih", "weight_hh", "bias_ih")}


def _module(cell, D, H, num_layers, bidirectional, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    module = TORCH[cell](D, H, num_layers=num_layers, bidirectional=bidirectional).to(dtype)
    dirs = 2 if bidirectional else 1
    params = [TO_NUMPY[cell](module, layer, d) for layer in range(num_layers) for d in range(dirs)]
    return module, params


def _run(forward_out, cell):
    if cell == "lstm":
        output, h_n, c_n, cache = forward_out
        return output, h_n, c_n, cache
    output, h_n, cache = forward_out
    return output, h_n, None, cache


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("num_layers,bidirectional", [(2, True), (2, False), (1, True), (3, True)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_torch_forward_and_gradients(rng, cell, num_layers, bidirectional, dtype):
    T, N, D, H = 5, 3, 4, 6
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    module, params = _module(cell, D, H, num_layers, bidirectional, tdtype)  # ours: dtype
    dirs = 2 if bidirectional else 1
    K = num_layers * dirs
    x = rng.standard_normal((T, N, D)).astype(dtype)
    h0 = rng.standard_normal((K, N, H)).astype(dtype)
    c0 = rng.standard_normal((K, N, H)).astype(dtype)
    kw = {"c0": c0} if cell == "lstm" else {}
    output, h_n, c_n, cache = _run(stacked_forward(x, params, cell, bidirectional, h0=h0, **kw), cell)
    assert output.shape == (T, N, dirs * H) and h_n.shape == (K, N, H) and output.dtype == dtype

    module = module.double()  # the reference in float64 (float32 weights are exact in it)
    xt, h0t, c0t = (_t(a, True) for a in (x, h0, c0))
    out_t, hx = module(xt, (h0t, c0t) if cell == "lstm" else h0t)
    h_nt, c_nt = hx if cell == "lstm" else (hx, None)
    assert_matches_reference(output, out_t, dtype, "output")
    assert_matches_reference(h_n, h_nt, dtype, "h_n")
    if cell == "lstm":
        assert_matches_reference(c_n, c_nt, dtype, "c_n")

    dout = rng.standard_normal(output.shape).astype(dtype)
    dh_n = rng.standard_normal(h_n.shape).astype(dtype)
    dc_n = rng.standard_normal(h_n.shape).astype(dtype)
    loss = (out_t * _t(dout)).sum() + (h_nt * _t(dh_n)).sum()
    if cell == "lstm":
        loss = loss + (c_nt * _t(dc_n)).sum()
        dx, dh0, dc0, grads = stacked_backward(dout, cache, dh_n, dc_n)
    else:
        dx, dh0, grads = stacked_backward(dout, cache, dh_n)
    loss.backward()
    pairs = [("x", dx, xt.grad), ("h0", dh0, h0t.grad)]
    if cell == "lstm":
        pairs.append(("c0", dc0, c0t.grad))
    for layer in range(num_layers):
        for d in range(dirs):
            suffix = f"_l{layer}" + ("_reverse" if d else "")
            for name, g in zip(TORCH_NAMES[cell], grads[layer * dirs + d]):
                ref = getattr(module, name + suffix).grad
                pairs.append((name + suffix, g, ref.T if name.startswith("weight") else ref))
    for name, ours, ref in pairs:
        assert_matches_reference(ours, ref, dtype, name, GRAD_REL_TOL[dtype])


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_backward_matches_finite_differences(rng, cell):
    T, N, D, H = 3, 2, 2, 2
    _, params = _module(cell, D, H, 2, True)
    params = [tuple(np.array(w) for w in p) for p in params]
    x = rng.standard_normal((T, N, D))
    h0 = rng.standard_normal((4, N, H))
    c0 = rng.standard_normal((4, N, H))
    kw = {"c0": c0} if cell == "lstm" else {}
    dout = rng.standard_normal((T, N, 2 * H))
    dh_n = rng.standard_normal((4, N, H))
    dc_n = rng.standard_normal((4, N, H))

    def f(_):
        output, h_n, c_n, _ = _run(stacked_forward(x, params, cell, True, h0=h0, **kw), cell)
        parts = [output.ravel(), h_n.ravel()] + ([c_n.ravel()] if cell == "lstm" else [])
        return np.concatenate(parts)

    df = np.concatenate([dout.ravel(), dh_n.ravel()] + ([dc_n.ravel()] if cell == "lstm" else []))
    *_, cache = stacked_forward(x, params, cell, True, h0=h0, **kw)
    if cell == "lstm":
        dx, dh0, dc0, grads = stacked_backward(dout, cache, dh_n, dc_n)
        checks = [("x", x, dx), ("h0", h0, dh0), ("c0", c0, dc0)]
    else:
        dx, dh0, grads = stacked_backward(dout, cache, dh_n)
        checks = [("x", x, dx), ("h0", h0, dh0)]
    for k, (p, g) in enumerate(zip(params, grads)):
        checks += [(f"params_list[{k}][{j}]", w, gw) for j, (w, gw) in enumerate(zip(p, g))]
    for name, arr, grad in checks:
        assert rel_error(grad, numeric_gradient(f, arr, df)) <= 1e-7, name


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_backward_direction_ends_at_step_0(rng, cell):
    """h_n's backward-direction entry is output[0, :, H:], not output[-1, :, H:]; the
    latter is that direction's state after reading x[T-1] alone."""
    T, N, D, H = 6, 2, 3, 4
    _, params = _module(cell, D, H, 2, True)
    x = rng.standard_normal((T, N, D))
    output, h_n, _, _ = _run(stacked_forward(x, params, cell, True), cell)
    np.testing.assert_array_equal(h_n[-1], output[0, :, H:])
    np.testing.assert_array_equal(h_n[-2], output[-1, :, :H])
    assert np.max(np.abs(h_n[-1] - output[-1, :, H:])) > 1e-2  # the common mistake
    np.testing.assert_array_equal(final_states_from_output(output, True), h_n[-2:])
    # output[-1, :, H:] depends on the last input only: changing x[0] leaves it unchanged
    x2 = x.copy()
    x2[0] += 1.0
    output2, h_n2, _, _ = _run(stacked_forward(x2, params, cell, True), cell)
    # (layer 1's backward direction reads layer 0's outputs, which all change)
    _, single = _module(cell, D, H, 1, True)
    out_a, hn_a, _, _ = _run(stacked_forward(x, single, cell, True), cell)
    out_b, hn_b, _, _ = _run(stacked_forward(x2, single, cell, True), cell)
    np.testing.assert_array_equal(out_a[-1, :, H:], out_b[-1, :, H:])
    assert np.max(np.abs(hn_a[-1] - hn_b[-1])) > 1e-3
    # unidirectional: output[-1] is h_n[-1]
    _, uni = _module(cell, D, H, 1, False)
    out_u, hn_u, _, _ = _run(stacked_forward(x, uni, cell, False), cell)
    np.testing.assert_array_equal(final_states_from_output(out_u, False), hn_u)


def test_gru_reset_before_in_a_stack(rng):
    """reset_after=False is passed to every GRU layer (and differs from torch's default)."""
    _, params = _module("gru", 3, 4, 2, True)
    x = rng.standard_normal((4, 2, 3))
    a = stacked_forward(x, params, "gru", True)[0]
    b = stacked_forward(x, params, "gru", True, reset_after=False)
    assert np.max(np.abs(a - b[0])) > 1e-3
    grads = stacked_backward(np.ones_like(a), b[2])
    assert len(grads) == 3 and len(grads[2]) == 4


def test_argument_errors(rng):
    _, params = _module("lstm", 3, 4, 2, True)
    x = np.zeros((5, 2, 3))
    with pytest.raises(ValueError, match="cell must be one of \\('lstm', 'gru', 'rnn'\\), got 'LSTM'"):
        stacked_forward(x, params, "LSTM", True)
    with pytest.raises(ValueError, match="num_layers \\* 2 entries.*got 3"):
        stacked_forward(x, params[:3], "lstm", True)
    with pytest.raises(ValueError, match=re.escape("params_list[0] must be a tuple (Wx, Wh, bx, bh) for cell 'gru', got tuple of length 3")):
        stacked_forward(x, params, "gru", True)
    with pytest.raises(ValueError, match=re.escape("params_list[1] (layer 1, direction 0): Wx must have shape (4, 4H), got (3, 16)")):
        stacked_forward(x, params, "lstm", False)  # read as 4 layers: layer 1 expects D = H
    with pytest.raises(ValueError, match=re.escape("h0 must have shape (4, 2, 4), got (2, 2, 4)")):
        stacked_forward(x, params, "lstm", True, h0=np.zeros((2, 2, 4)))
    with pytest.raises(ValueError, match="c0 is only for cell='lstm'"):
        stacked_forward(x, [p[:2] + (np.zeros(4), np.zeros(4)) for p in params], "gru", True, c0=np.zeros((4, 2, 4)))
    with pytest.raises(TypeError, match="params_list must be a non-empty list"):
        stacked_forward(x, [], "lstm")
    with pytest.raises(TypeError, match="bidirectional must be a bool, got int"):
        stacked_forward(x, params, "lstm", 2)
    output, h_n, c_n, cache = stacked_forward(x, params, "lstm", True)
    with pytest.raises(ValueError, match=re.escape("doutput must have shape (5, 2, 8), got (5, 2, 4)")):
        stacked_backward(np.zeros((5, 2, 4)), cache)
    with pytest.raises(ValueError, match=re.escape("dh_n must have shape (4, 2, 4), got (2, 4)")):
        stacked_backward(np.zeros_like(output), cache, dh_n=np.zeros((2, 4)))
    with pytest.raises(ValueError, match="same dtype.*doutput: float32"):
        stacked_backward(np.zeros_like(output, dtype=np.float32), cache)
    with pytest.raises(ValueError, match="even last axis"):
        final_states_from_output(np.zeros((5, 2, 7)), True)
