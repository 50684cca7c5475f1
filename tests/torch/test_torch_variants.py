"""lstm_ref.torch.VariantLSTM against the numpy variants (forward and gradients, float64),
the numpy parameter round trip, initialisation and argument checks."""

import numpy as np
import pytest
import torch

from lstm_ref.numpy import (
    VARIANTS,
    count_variant_params,
    init_variant_params,
    lstm_forward,
    variant_lstm_backward,
    variant_lstm_forward,
)
from lstm_ref.torch import LSTM, VariantLSTM


def _numpy_inputs(rng, T, N, D, H, variant, dtype=np.float64):
    params = {k: (0.5 * rng.standard_normal(v.shape)).astype(dtype)
              for k, v in init_variant_params(D, H, variant, rng=rng).items()}
    x = rng.standard_normal((T, N, D)).astype(dtype)
    h0 = rng.standard_normal((N, H)).astype(dtype)
    c0 = rng.standard_normal((N, H)).astype(dtype)
    return x, h0, c0, params


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("T,N,D,H", [(1, 1, 2, 3), (5, 3, 4, 2)])
def test_module_equals_numpy_forward_and_backward(rng, variant, T, N, D, H):
    x, h0, c0, params = _numpy_inputs(rng, T, N, D, H, variant)
    module = VariantLSTM.from_numpy_params(params, variant)
    h, cache = variant_lstm_forward(x, h0, c0, params, variant)
    xt, ht, ct = (torch.from_numpy(a.copy()).requires_grad_() for a in (x, h0, c0))
    out, (h_n, c_n) = module(xt, (ht, ct))
    assert out.shape == (T, N, H) and out.dtype == torch.float64
    assert np.max(np.abs(out.detach().numpy() - h)) <= 1e-12
    assert np.max(np.abs(h_n.detach().numpy() - h[-1])) <= 1e-12
    assert np.max(np.abs(c_n.detach().numpy() - cache[6][-1])) <= 1e-12
    dh = rng.standard_normal((T, N, H))
    dc = rng.standard_normal((N, H))
    ((out * torch.from_numpy(dh)).sum() + (c_n * torch.from_numpy(dc)).sum()).backward()
    dx, dh0, dc0, grads = variant_lstm_backward(dh, cache, dc)
    pairs = [("x", dx, xt.grad), ("h0", dh0, ht.grad), ("c0", dc0, ct.grad)]
    pairs += [(k, grads[k], getattr(module, k).grad) for k in params]
    for name, ours, ref in pairs:
        assert ours.shape == tuple(ref.shape), name
        assert np.max(np.abs(ours - ref.numpy())) <= 1e-11, f"{variant}: {name}"


def test_numpy_params_round_trip_and_counts(rng):
    for variant in VARIANTS:
        params = init_variant_params(3, 4, variant, rng=rng)
        module = VariantLSTM.from_numpy_params(params, variant)
        back = module.numpy_params()
        assert list(back) == list(params)
        assert all(np.array_equal(back[k], params[k]) for k in params)
        assert sum(p.numel() for p in module.parameters()) == count_variant_params(3, 4, variant)
    module32 = VariantLSTM.from_numpy_params(init_variant_params(3, 4, "NP", dtype=np.float32), "NP")
    assert module32.Wx.dtype == torch.float32


def test_np_variant_equals_the_lstm_module():
    """NP is the chapter 3 LSTM: with b = bias_ih + bias_hh and transposed weights, the
    module equals lstm_ref.torch.LSTM (float32, default dtype)."""
    torch.manual_seed(0)
    lstm = LSTM(4, 5)
    params = {"Wx": lstm.weight_ih_l0.detach().numpy().T, "Wh": lstm.weight_hh_l0.detach().numpy().T,
              "b": (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().numpy()}
    module = VariantLSTM.from_numpy_params(params, "NP")
    x = torch.randn(6, 2, 4)
    out, (h, c) = module(x)
    ref, (h_ref, c_ref) = lstm(x)
    # Both float32 modules against the float64 reference on the same numbers, relative to
    # max(1, |reference|) (values here are at most 1): measured at most 1e-7.
    h_np, c_np, _ = lstm_forward(x.numpy().astype(np.float64), np.zeros((2, 5)), np.zeros((2, 5)),
                                 *(params[k].astype(np.float64) for k in ("Wx", "Wh", "b")))
    for name, ours, want in (("variant h", out, h_np), ("variant c_n", c, c_np[-1]),
                             ("LSTM h", ref, h_np), ("LSTM c_n", c_ref[0], c_np[-1])):
        err = np.max(np.abs(ours.detach().numpy() - want)) / max(1.0, np.max(np.abs(want)))
        assert err <= 1e-5, f"{name}: relative difference {err:.3g} from float64"


def test_default_init_and_forget_bias():
    torch.manual_seed(0)
    m = VariantLSTM(3, 4)
    assert m.Wx.dtype == torch.float32 and m.p.shape == (3, 4)
    assert torch.all(m.b[4:8] == 1.0)
    assert torch.all(VariantLSTM(3, 4, "CIFG").b[:4] == -1.0)
    assert not hasattr(VariantLSTM(3, 4, "NP"), "p") or VariantLSTM(3, 4, "NP").p is None
    assert VariantLSTM(3, 4, "FGR").Wg.shape == (12, 12)
    w = VariantLSTM(3, 4, "NFG", forget_bias=5.0)
    assert not torch.any(w.b == 5.0) and w.Wx.shape == (3, 12)
    assert all(p.abs().max() <= 0.5 for n, p in m.named_parameters() if n != "b")
    out, (h, c) = m(torch.randn(7, 2, 3))  # state None: zeros
    assert out.shape == (7, 2, 4) and h.shape == c.shape == (2, 4)
    assert "variant='vanilla'" in repr(m)


def test_trains():
    """A few steps of Adam lower the loss of every variant on a fixed batch."""
    torch.manual_seed(0)
    x = torch.randn(8, 16, 2)
    y = x[:, :, :1].cumsum(0)
    for variant in VARIANTS:
        m = VariantLSTM(2, 8, variant)
        head = torch.nn.Linear(8, 1)
        opt = torch.optim.Adam(list(m.parameters()) + list(head.parameters()), lr=0.05)
        losses = []
        for _ in range(15):
            opt.zero_grad()
            loss = ((head(m(x)[0]) - y) ** 2).mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[-1] < 0.7 * losses[0], variant


def test_argument_errors():
    m = VariantLSTM(3, 4, "CIFG")
    with pytest.raises(ValueError, match=r"x must have shape \(T, N, 3\), got \(2, 3\)"):
        m(torch.randn(2, 3))
    with pytest.raises(ValueError, match=r"x has dtype torch.float64.*torch.float32"):
        m(torch.randn(2, 2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"c_0 must have shape \(2, 4\), got \(1, 4\)"):
        m(torch.randn(5, 2, 3), (torch.zeros(2, 4), torch.zeros(1, 4)))
    with pytest.raises(ValueError, match="state must be a tuple"):
        m(torch.randn(5, 2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="variant must be one of .*got 'GRU'"):
        VariantLSTM(3, 4, "GRU")
    with pytest.raises(ValueError, match="input_size must be a positive int"):
        VariantLSTM(0, 4)
    params = init_variant_params(3, 4, "vanilla")
    with pytest.raises(ValueError, match="variant 'NP' must have exactly the keys"):
        VariantLSTM.from_numpy_params(params, "NP")
