"""lstm_ref.torch's RNN, RNNCell, LSTM and LSTMCell against torch.nn: outputs, final
states and gradients, state dicts both ways, argument checks."""

import itertools

import pytest
import torch
from torch_helpers import GRAD_REL_TOL, REL_TOL, assert_close, assert_matches_reference, pair_modules

import lstm_ref.torch as ours

L, N, D, H = 5, 3, 4, 6

PAIRS = {"LSTM": (torch.nn.LSTM, ours.LSTM), "RNN": (torch.nn.RNN, ours.RNN)}
CELLS = {"LSTMCell": (torch.nn.LSTMCell, ours.LSTMCell), "RNNCell": (torch.nn.RNNCell, ours.RNNCell)}


def _states(out):
    """``(output, h_n)`` or ``(output, (h_n, c_n))`` -> a flat tuple of tensors."""
    output, hn = out
    return (output,) + (tuple(hn) if isinstance(hn, tuple) else (hn,))


CONFIGS = list(
    itertools.product(
        ["LSTM", "RNN"], [1, 2], [False, True], [False, True], [torch.float64, torch.float32]
    )
)


@pytest.mark.parametrize(
    "kind,num_layers,batch_first,bidirectional,dtype",
    CONFIGS,
    ids=[f"{k}-l{n}-bf{int(b)}-bi{int(d)}-{str(t)[6:]}" for k, n, b, d, t in CONFIGS],
)
def test_module_matches_torch(kind, num_layers, batch_first, bidirectional, dtype):
    ref, mine = pair_modules(
        *PAIRS[kind], D, H, num_layers=num_layers, batch_first=batch_first,
        bidirectional=bidirectional, dtype=dtype,
    )
    gen = torch.Generator().manual_seed(1)
    shape = (N, L, D) if batch_first else (L, N, D)
    x = torch.randn(shape, generator=gen, dtype=dtype)
    layers = num_layers * (2 if bidirectional else 1)
    h0 = torch.randn(layers, N, H, generator=gen, dtype=dtype)
    c0 = torch.randn(layers, N, H, generator=gen, dtype=dtype)
    hx = (h0, c0) if kind == "LSTM" else h0

    ref = ref.double()  # the reference: float64 on the same numbers, whatever ours runs in
    results = []
    for module in (ref, mine):
        cast = torch.float64 if module is ref else dtype
        xg = x.to(cast).clone().requires_grad_()
        if kind == "LSTM":
            hxg = tuple(s.to(cast).clone().requires_grad_() for s in hx)
        else:
            hxg = hx.to(cast).clone().requires_grad_()
        outs = _states(module(xg, hxg))
        # a loss that touches the output and every final state
        weights = [torch.linspace(-1, 1, o.numel(), dtype=cast).view_as(o) for o in outs]
        loss = sum((o * w).sum() for o, w in zip(outs, weights))
        loss.backward()
        grads = [xg.grad] + ([s.grad for s in hxg] if kind == "LSTM" else [hxg.grad])
        grads += [p.grad for p in module.parameters()]
        results.append((outs, grads))

    (ref_outs, ref_grads), (my_outs, my_grads) = results
    names = ["output", "h_n", "c_n"]
    for name, a, b in zip(names, my_outs, ref_outs):
        assert_matches_reference(a, b, dtype, REL_TOL[dtype], name)
    assert my_outs[0].shape == (shape[:2] + ((2 if bidirectional else 1) * H,))
    param_names = [n for n, _ in ref.named_parameters()]
    assert [n for n, _ in mine.named_parameters()] == param_names
    grad_names = ["x", "h0", "c0"][: len(my_grads) - len(param_names)] + param_names
    for name, a, b in zip(grad_names, my_grads, ref_grads):
        assert_matches_reference(a, b, dtype, GRAD_REL_TOL[dtype], f"grad of {name}")


@pytest.mark.parametrize("kind", ["LSTM", "RNN"])
def test_default_state_and_unbatched_input(kind):
    ref, mine = pair_modules(*PAIRS[kind], D, H, num_layers=2, bidirectional=True)
    mine.flatten_parameters()  # a no-op, so code written for torch.nn runs unchanged
    x = torch.randn(L, D, dtype=torch.float64)  # unbatched (L, D)
    for a, b in zip(_states(mine(x)), _states(ref(x))):
        assert_close(a, b, 1e-12, "unbatched")
    xb = torch.randn(L, N, D, dtype=torch.float64)  # hx omitted: zeros
    for a, b in zip(_states(mine(xb)), _states(ref(xb))):
        assert_close(a, b, 1e-12, "no hx")


@pytest.mark.parametrize("kind", ["LSTM", "RNN"])
def test_batch_first_does_not_apply_to_final_states(kind):
    _, mine = pair_modules(*PAIRS[kind], D, H, num_layers=2, batch_first=True)
    out = _states(mine(torch.randn(N, L, D, dtype=torch.float64)))
    assert out[0].shape == (N, L, H)
    for s in out[1:]:
        assert s.shape == (2, N, H)


@pytest.mark.parametrize("kind", ["LSTMCell", "RNNCell"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_matches_torch(kind, dtype, bias):
    ref, mine = pair_modules(*CELLS[kind], D, H, bias=bias, dtype=dtype)
    x = torch.randn(N, D, dtype=dtype)
    hx = (torch.randn(N, H, dtype=dtype), torch.randn(N, H, dtype=dtype))
    hx = hx if kind == "LSTMCell" else hx[0]
    ref = ref.double()  # the reference: float64 on the same numbers, whatever ours runs in
    outs = []
    for module in (ref, mine):
        cast = torch.float64 if module is ref else dtype
        xg = x.to(cast).clone().requires_grad_()
        hxc = tuple(s.to(cast) for s in hx) if isinstance(hx, tuple) else hx.to(cast)
        out = module(xg, hxc)
        out = out if isinstance(out, tuple) else (out,)
        sum((o * (k + 1)).sum() for k, o in enumerate(out)).backward()
        outs.append((out, [xg.grad] + [p.grad for p in module.parameters()]))
    for a, b in zip(outs[0][0] + tuple(outs[0][1]), outs[1][0] + tuple(outs[1][1])):
        assert_matches_reference(b, a, dtype, GRAD_REL_TOL[dtype], kind)
    # unbatched and without a state
    a, b = mine(x[0]), ref(x[0].double())
    a, b = (a if isinstance(a, tuple) else (a,)), (b if isinstance(b, tuple) else (b,))
    assert len(a) == len(b) and a[0].shape == (H,)
    for p, q in zip(a, b):
        assert_matches_reference(p, q, dtype, REL_TOL[dtype], "unbatched cell")


@pytest.mark.parametrize("kind", ["LSTM", "RNN", "LSTMCell", "RNNCell"])
def test_state_dict_both_ways_and_same_default_init(kind):
    ref_cls, our_cls = {**PAIRS, **CELLS}[kind]
    kw = {} if kind.endswith("Cell") else {"num_layers": 2, "bidirectional": True}
    torch.manual_seed(3)
    ref = ref_cls(D, H, **kw)
    torch.manual_seed(3)
    mine = our_cls(D, H, **kw)
    # same names, shapes, order, and (seeded alike) the same default initial values
    ref_sd, my_sd = ref.state_dict(), mine.state_dict()
    assert list(my_sd) == list(ref_sd)
    for name in ref_sd:
        assert torch.equal(my_sd[name], ref_sd[name]), name
    # both ways, strict
    other_ref = ref_cls(D, H, **kw)
    other_ref.load_state_dict(our_cls(D, H, **kw).state_dict())
    other_mine = our_cls(D, H, **kw)
    other_mine.load_state_dict(ref_cls(D, H, **kw).state_dict())
    bound = 1 / H**0.5
    assert all(p.abs().max() <= bound for p in mine.parameters())


def test_dropout_between_layers_only_in_training():
    ref, mine = pair_modules(torch.nn.LSTM, ours.LSTM, D, H, num_layers=2, dropout=0.5)
    x = torch.randn(L, N, D, dtype=torch.float64)
    mine.eval()
    ref.eval()
    assert_close(mine(x)[0], ref(x)[0], 1e-12, "eval mode ignores dropout")
    mine.train()
    torch.manual_seed(0)
    a = mine(x)[0]
    torch.manual_seed(1)
    b = mine(x)[0]
    assert not torch.equal(a, b)  # training mode drops different elements
    with pytest.warns(UserWarning, match="num_layers"):
        ours.LSTM(D, H, num_layers=1, dropout=0.5)


def test_bias_false_and_relu():
    ref, mine = pair_modules(torch.nn.RNN, ours.RNN, D, H, num_layers=2, nonlinearity="relu", bias=False)
    assert "bias_ih_l0" not in dict(mine.named_parameters())
    x = torch.randn(L, N, D, dtype=torch.float64)
    for a, b in zip(_states(mine(x)), _states(ref(x))):
        assert_close(a, b, 1e-12, "relu, no bias")
    ref, mine = pair_modules(torch.nn.LSTM, ours.LSTM, D, H, bias=False)
    for a, b in zip(_states(mine(x)), _states(ref(x))):
        assert_close(a, b, 1e-12, "LSTM without bias")


def test_no_torch_recurrent_kernel_is_called(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("torch's recurrent kernel was called")

    for name in ("lstm", "lstm_cell", "rnn_tanh", "rnn_relu", "rnn_tanh_cell", "rnn_relu_cell"):
        monkeypatch.setattr(torch._VF, name, refuse, raising=False)
    x = torch.randn(L, N, D)
    ours.LSTM(D, H, num_layers=2, bidirectional=True)(x)[0].sum().backward()
    ours.RNN(D, H)(x)[0].sum().backward()
    ours.LSTMCell(D, H)(x[0])
    ours.RNNCell(D, H)(x[0])
    with pytest.raises(AssertionError, match="kernel"):
        torch.nn.LSTM(D, H)(x)  # the patch works: torch.nn.LSTM goes through it


def test_argument_errors():
    lstm = ours.LSTM(D, H, num_layers=2)
    with pytest.raises(ValueError, match=rf"input must have shape \(L, N, {D}\).*got \(5, 3, 7\)"):
        lstm(torch.randn(L, N, 7))
    with pytest.raises(ValueError, match=r"input has dtype torch.float64.*torch.float32"):
        lstm(torch.randn(L, N, D, dtype=torch.float64))
    h0 = torch.zeros(1, N, H)
    with pytest.raises(ValueError, match=rf"h_0 must have shape \(2, {N}, {H}\), got \(1, {N}, {H}\)"):
        lstm(torch.randn(L, N, D), (h0, h0))
    with pytest.raises(ValueError, match=r"hx must be a tuple \(h_0, c_0\)"):
        lstm(torch.randn(L, N, D), (torch.zeros(2, N, H),))
    with pytest.raises(ValueError, match=r"input must have shape \(N, L, 4\)"):
        ours.RNN(D, H, batch_first=True)(torch.randn(L, N, 5))
    with pytest.raises(ValueError, match=rf"h must have shape \({N}, {H}\), got \({N}, {H + 1}\)"):
        ours.RNNCell(D, H)(torch.randn(N, D), torch.zeros(N, H + 1))
    with pytest.raises(ValueError, match="hidden_size must be a positive int, got 0"):
        ours.LSTM(D, 0)
    with pytest.raises(ValueError, match="num_layers must be a positive int"):
        ours.RNN(D, H, num_layers=0)
    with pytest.raises(ValueError, match="dropout must be a probability"):
        ours.LSTM(D, H, dropout=1.5)
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"):
        ours.RNN(D, H, nonlinearity="sigmoid")


def test_functional_forms_match_modules():
    torch.manual_seed(0)
    lstm = ours.LSTM(D, H).double()
    x = torch.randn(L, N, D, dtype=torch.float64)
    h0, c0 = torch.zeros(N, H, dtype=torch.float64), torch.zeros(N, H, dtype=torch.float64)
    out, (h, c) = ours.lstm_layer(x, h0, c0, *lstm.all_weights[0])
    ref_out, (h_n, c_n) = lstm(x)
    assert_close(out, ref_out, 1e-14, "lstm_layer")
    h1, c1 = ours.lstm_cell(x[0], h0, c0, *lstm.all_weights[0])
    assert_close(h1, ref_out[0], 1e-14, "lstm_cell")
    rnn = ours.RNN(D, H).double()
    out, h = ours.rnn_layer(x, h0, *rnn.all_weights[0], reverse=True)
    ref = rnn(x.flip(0))[0].flip(0)
    assert_close(out, ref, 1e-14, "rnn_layer reverse")
    assert_close(ours.rnn_cell(x[-1], h0, *rnn.all_weights[0]), out[-1], 1e-14, "rnn_cell")


@pytest.mark.parametrize("kind", ["LSTM", "RNN"])
def test_recurrent_weight_gradient_edge_cases(kind):
    """w_hh's one-product gradient: backward twice, frozen other weights, no grad."""
    ref, mine = pair_modules(*PAIRS[kind], D, H, num_layers=2, bidirectional=True)
    x = torch.randn(L, N, D, dtype=torch.float64)
    for module in (ref, mine):
        out = module(x)[0]
        out.sum().backward(retain_graph=True)
        (2 * out).sum().backward()  # gradients accumulate: 3x the first
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
    with torch.no_grad():
        assert_close(mine(x)[0], ref(x)[0], 1e-12, "no grad")


def test_second_order_gradient_refused():
    lstm = ours.LSTM(D, H).double()
    out = lstm(torch.randn(L, N, D, dtype=torch.float64))[0]
    (grad,) = torch.autograd.grad(out.sum(), lstm.weight_hh_l0, create_graph=True)
    with pytest.raises(RuntimeError):
        grad.sum().backward()
