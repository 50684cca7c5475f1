"""lstm_ref.torch's GRU and GRUCell against torch.nn (outputs, final states, gradients,
state dicts both ways), against the numpy GRU, and the numpy <-> torch GRU conversion."""

import itertools

import numpy as np
import pytest
import torch
from torch_helpers import GRAD_REL_TOL, REL_TOL, assert_close, assert_matches_reference, pair_modules

import lstm_ref.torch as ours
from lstm_ref.convert import gru_params_from_torch, gru_params_to_torch
from lstm_ref.numpy import gru_backward, gru_forward

L, N, D, H = 5, 3, 4, 6


CONFIGS = list(itertools.product([1, 2], [False, True], [False, True], [torch.float64, torch.float32]))


@pytest.mark.parametrize(
    "num_layers,batch_first,bidirectional,dtype",
    CONFIGS,
    ids=[f"l{n}-bf{int(b)}-bi{int(d)}-{str(t)[6:]}" for n, b, d, t in CONFIGS],
)
def test_gru_matches_torch(num_layers, batch_first, bidirectional, dtype):
    ref, mine = pair_modules(torch.nn.GRU, ours.GRU, D, H, num_layers=num_layers,
                      batch_first=batch_first, bidirectional=bidirectional, dtype=dtype)
    gen = torch.Generator().manual_seed(1)
    shape = (N, L, D) if batch_first else (L, N, D)
    x = torch.randn(shape, generator=gen, dtype=dtype)
    layers = num_layers * (2 if bidirectional else 1)
    h0 = torch.randn(layers, N, H, generator=gen, dtype=dtype)
    ref = ref.double()  # the reference: float64 on the same numbers, whatever ours runs in
    results = []
    for module in (ref, mine):
        cast = torch.float64 if module is ref else dtype
        xg, hg = x.to(cast).clone().requires_grad_(), h0.to(cast).clone().requires_grad_()
        out, h_n = module(xg, hg)
        w_out = torch.linspace(-1, 1, out.numel(), dtype=cast).view_as(out)
        w_h = torch.linspace(1, -2, h_n.numel(), dtype=cast).view_as(h_n)
        ((out * w_out).sum() + (h_n * w_h).sum()).backward()
        results.append(((out, h_n), [xg.grad, hg.grad] + [p.grad for p in module.parameters()]))
    (ref_outs, ref_grads), (my_outs, my_grads) = results
    for name, a, b in zip(["output", "h_n"], my_outs, ref_outs):
        assert_matches_reference(a, b, dtype, REL_TOL[dtype], name)
    assert my_outs[0].shape == shape[:2] + ((2 if bidirectional else 1) * H,)
    names = [n for n, _ in ref.named_parameters()]
    assert [n for n, _ in mine.named_parameters()] == names
    for name, a, b in zip(["x", "h0"] + names, my_grads, ref_grads):
        assert_matches_reference(a, b, dtype, GRAD_REL_TOL[dtype], f"grad of {name}")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_matches_torch(dtype, bias):
    ref, mine = pair_modules(torch.nn.GRUCell, ours.GRUCell, D, H, bias=bias, dtype=dtype)
    x = torch.randn(N, D, dtype=dtype)
    h = torch.randn(N, H, dtype=dtype)
    ref = ref.double()  # the reference: float64 on the same numbers, whatever ours runs in
    outs = []
    for module in (ref, mine):
        cast = torch.float64 if module is ref else dtype
        xg, hg = x.to(cast).clone().requires_grad_(), h.to(cast).clone().requires_grad_()
        out = module(xg, hg)
        (out * torch.arange(out.numel(), dtype=cast).view_as(out)).sum().backward()
        outs.append([out, xg.grad, hg.grad] + [p.grad for p in module.parameters()])
    for k, (a, b) in enumerate(zip(outs[1], outs[0])):
        tol = REL_TOL[dtype] if k == 0 else GRAD_REL_TOL[dtype]
        assert_matches_reference(a, b, dtype, tol, f"cell output/grad {k}")
    a, b = mine(x[0]), ref(x[0].double())  # unbatched, no state
    assert a.shape == (H,)
    assert_matches_reference(a, b, dtype, REL_TOL[dtype], "unbatched cell")


@pytest.mark.parametrize("kind", ["GRU", "GRUCell"])
def test_state_dict_both_ways_and_same_default_init(kind):
    ref_cls, our_cls = {"GRU": (torch.nn.GRU, ours.GRU), "GRUCell": (torch.nn.GRUCell, ours.GRUCell)}[kind]
    kw = {} if kind == "GRUCell" else {"num_layers": 2, "bidirectional": True}
    torch.manual_seed(3)
    ref = ref_cls(D, H, **kw)
    torch.manual_seed(3)
    mine = our_cls(D, H, **kw)
    ref_sd, my_sd = ref.state_dict(), mine.state_dict()
    assert list(my_sd) == list(ref_sd)
    for name in ref_sd:
        assert torch.equal(my_sd[name], ref_sd[name]), name
        assert my_sd[name].shape[0] == 3 * H
    ref_cls(D, H, **kw).load_state_dict(our_cls(D, H, **kw).state_dict())
    our_cls(D, H, **kw).load_state_dict(ref_cls(D, H, **kw).state_dict())


def test_unbatched_default_state_bias_false_and_dropout():
    ref, mine = pair_modules(torch.nn.GRU, ours.GRU, D, H, num_layers=2, bidirectional=True, bias=False)
    assert "bias_ih_l0" not in dict(mine.named_parameters())
    x = torch.randn(L, D, dtype=torch.float64)  # unbatched, no h0
    for a, b in zip(mine(x), ref(x)):
        assert_close(a, b, 1e-12, "unbatched without bias")
    ref, mine = pair_modules(torch.nn.GRU, ours.GRU, D, H, num_layers=2, dropout=0.5)
    x = torch.randn(L, N, D, dtype=torch.float64)
    mine.eval()
    ref.eval()
    assert_close(mine(x)[0], ref(x)[0], 1e-12, "eval mode ignores dropout")
    mine.train()
    torch.manual_seed(0)
    a = mine(x)[0]
    torch.manual_seed(1)
    assert not torch.equal(a, mine(x)[0])


def test_bidirectional_h_n_is_output_at_step_0_for_the_backward_direction():
    _, mine = pair_modules(torch.nn.GRU, ours.GRU, D, H, bidirectional=True)
    out, h_n = mine(torch.randn(L, N, D, dtype=torch.float64))
    assert torch.equal(h_n[0], out[-1, :, :H])  # forward direction: last step
    assert torch.equal(h_n[1], out[0, :, H:])  # backward direction: step 0
    assert not torch.allclose(h_n[1], out[-1, :, H:])


def test_no_torch_recurrent_kernel_is_called(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("torch's recurrent kernel was called")

    for name in ("gru", "gru_cell"):
        monkeypatch.setattr(torch._VF, name, refuse, raising=False)
    x = torch.randn(L, N, D)
    ours.GRU(D, H, num_layers=2, bidirectional=True)(x)[0].sum().backward()
    ours.GRUCell(D, H)(x[0]).sum().backward()
    with pytest.raises(AssertionError, match="kernel"):
        torch.nn.GRU(D, H)(x)


def test_recurrent_weight_gradient_edge_cases():
    ref, mine = pair_modules(torch.nn.GRU, ours.GRU, D, H, num_layers=2, bidirectional=True)
    x = torch.randn(L, N, D, dtype=torch.float64)
    for module in (ref, mine):
        out = module(x)[0]
        out.sum().backward(retain_graph=True)
        (2 * out).sum().backward()
    for (name, p), q in zip(ref.named_parameters(), mine.parameters()):
        assert_close(q.grad, p.grad, 1e-11, f"grad of {name} after two backward passes")
    for module in (ref, mine):
        module.zero_grad()
        for name, p in module.named_parameters():
            p.requires_grad_(name.startswith("weight_hh"))
        module(x)[0].pow(2).sum().backward()
    for (name, p), q in zip(ref.named_parameters(), mine.parameters()):
        assert (p.grad is None) == (q.grad is None), name
        if p.grad is not None:
            assert_close(q.grad, p.grad, 1e-11, f"grad of {name} with the others frozen")


def test_argument_errors():
    gru = ours.GRU(D, H, num_layers=2)
    with pytest.raises(ValueError, match=rf"input must have shape \(L, N, {D}\).*got \(5, 3, 7\)"):
        gru(torch.randn(L, N, 7))
    with pytest.raises(ValueError, match=rf"h_0 must have shape \(2, {N}, {H}\), got \(1, {N}, {H}\)"):
        gru(torch.randn(L, N, D), torch.zeros(1, N, H))
    with pytest.raises(ValueError, match=r"input has dtype torch.float64.*torch.float32"):
        ours.GRUCell(D, H)(torch.randn(N, D, dtype=torch.float64))
    with pytest.raises(ValueError, match="hidden_size must be a positive int, got -1"):
        ours.GRUCell(D, -1)


def test_functional_forms_match_modules():
    torch.manual_seed(0)
    gru = ours.GRU(D, H).double()
    x = torch.randn(L, N, D, dtype=torch.float64)
    h0 = torch.zeros(N, H, dtype=torch.float64)
    out, h = ours.gru_layer(x, h0, *gru.all_weights[0], reverse=True)
    assert_close(out, gru(x.flip(0))[0].flip(0), 1e-14, "gru_layer reverse")
    assert_close(ours.gru_cell(x[-1], h0, *gru.all_weights[0]), out[-1], 1e-14, "gru_cell")


# --- numpy <-> torch -----------------------------------------------------------------------


@pytest.mark.parametrize("cls", [torch.nn.GRU, ours.GRU])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_convert_round_trip_every_layer_and_direction(cls, dtype):
    torch.manual_seed(0)
    module = cls(D, H, num_layers=2, bidirectional=True).to(dtype)
    other = cls(D, H, num_layers=2, bidirectional=True).to(dtype)
    for layer, direction in itertools.product(range(2), range(2)):
        Wx, Wh, bx, bh = gru_params_from_torch(module, layer, direction)
        assert Wx.shape == ((D if layer == 0 else 2 * H), 3 * H) and Wh.shape == (H, 3 * H)
        assert bx.shape == bh.shape == (3 * H,)
        assert Wx.dtype == {torch.float64: np.float64, torch.float32: np.float32}[dtype]
        gru_params_to_torch(Wx, Wh, bx, bh, other, layer, direction)
        back = gru_params_from_torch(other, layer, direction)
        assert all(np.array_equal(a, b) for a, b in zip(back, (Wx, Wh, bx, bh)))
    for (name, p), q in zip(module.named_parameters(), other.parameters()):
        assert torch.equal(p, q), name


@pytest.mark.parametrize("reverse", [False, True])
def test_numpy_gru_equals_torch_through_convert(rng, reverse):
    """Forward and every gradient of one layer (and the reverse direction)."""
    torch.manual_seed(1)
    module = torch.nn.GRU(D, H, bidirectional=True).double()
    Wx, Wh, bx, bh = gru_params_from_torch(module, 0, int(reverse))
    x = rng.standard_normal((L, N, D))
    h0 = rng.standard_normal((N, H))
    xs = x[::-1].copy() if reverse else x
    h, cache = gru_forward(xs, h0, Wx, Wh, bx, bh)
    if reverse:
        h = h[::-1]
    xt = torch.from_numpy(x).requires_grad_()
    h0t = torch.zeros(2, N, H, dtype=torch.float64)
    h0t[int(reverse)] = torch.from_numpy(h0)
    h0t.requires_grad_()
    out, _ = module(xt, h0t)
    part = out[:, :, H:] if reverse else out[:, :, :H]
    assert np.max(np.abs(h - part.detach().numpy())) <= 1e-12
    dh = rng.standard_normal((L, N, H))
    (part * torch.from_numpy(dh)).sum().backward()
    dxs, dh0, dWx, dWh, dbx, dbh = gru_backward(dh[::-1].copy() if reverse else dh, cache)
    dx = dxs[::-1] if reverse else dxs
    s = "_l0_reverse" if reverse else "_l0"
    pairs = [(dx, xt.grad), (dh0, h0t.grad[int(reverse)]),
             (dWx, getattr(module, "weight_ih" + s).grad.T),
             (dWh, getattr(module, "weight_hh" + s).grad.T),
             (dbx, getattr(module, "bias_ih" + s).grad), (dbh, getattr(module, "bias_hh" + s).grad)]
    for a, b in pairs:
        assert np.max(np.abs(a - b.numpy())) <= 1e-11


def test_convert_errors_and_cells(rng):
    cell = torch.nn.GRUCell(D, H).double()
    Wx, Wh, bx, bh = gru_params_from_torch(cell)
    ours_cell = gru_params_to_torch(Wx, Wh, bx, bh, ours.GRUCell(D, H).double())
    for p, q in zip(cell.parameters(), ours_cell.parameters()):
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match=r"3 gate block.*weight_ih_l0 has shape \(24, 4\)"):
        gru_params_from_torch(torch.nn.LSTM(D, H))
    with pytest.raises(ValueError, match=r"Wh must have shape \(6, 18\), got \(6, 24\)"):
        gru_params_to_torch(Wx, np.zeros((H, 4 * H)), bx, bh, cell)
    with pytest.raises(ValueError, match="layer must be in \\[0, 0\\]"):
        gru_params_from_torch(torch.nn.GRU(D, H), layer=1)
    nobias = torch.nn.GRU(D, H, bias=False).double()
    Wx, Wh, bx, bh = gru_params_from_torch(nobias)
    assert not bx.any() and not bh.any()
    with pytest.raises(ValueError, match="bias=False"):
        gru_params_to_torch(Wx, Wh, bx + 1, bh, nobias)
