"""The fused LSTM layer against torch.nn.LSTM: outputs, final states and every gradient
(CPU: float32 and float64; CUDA, when present: the Triton kernels in fp32, bf16, fp16, with
and without CUDA graphs). The Triton kernels on CPU, under Triton's interpreter, are in
test_fused_triton.py. float32 is compared with a float64 reference, relative to the
largest entry of each tensor, within 10 times torch.nn.LSTM's own float32 error."""

import pytest
import torch

from lstm_ref.torch import fused
from lstm_ref.torch.fused import FusedLSTM, FusedLSTMFunction

TOL64 = 1e-12  # float64 against float64: rounding only
FACTOR = 10  # float32: this many times torch.nn.LSTM's own float32 error (at least eps)
EPS32 = torch.finfo(torch.float32).eps
# bf16/fp16 against an fp32 torch.nn.LSTM, relative to the largest entry of each tensor:
# the products round their inputs to 8 (bf16) or 11 (fp16) bits of mantissa
LOW_TOL = {torch.bfloat16: 3e-2, torch.float16: 5e-3}
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _pair(D, H, layers=1, bidirectional=False, dtype=torch.float64, device="cpu", **kw):
    torch.manual_seed(0)
    ref = torch.nn.LSTM(D, H, layers, bidirectional=bidirectional).to(device, dtype)
    ours = FusedLSTM(D, H, layers, bidirectional=bidirectional, **kw).to(device, dtype)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def _run(module, x, hx, autocast_dtype=None):
    """Outputs and gradients (input, states, parameters) of a loss touching every output."""
    xg = x.clone().requires_grad_()
    hg = tuple(s.clone().requires_grad_() for s in hx)
    with torch.autocast(x.device.type, dtype=autocast_dtype or torch.float32,
                        enabled=autocast_dtype is not None):
        out, (hn, cn) = module(xg, hg)
    outs = [out.float(), hn.float(), cn.float()]
    gen = torch.Generator().manual_seed(3)
    weights = [torch.randn(o.shape, generator=gen).to(o) for o in outs]
    sum((o * w).sum() for o, w in zip(outs, weights)).backward()
    grads = [xg.grad, *(s.grad for s in hg)] + [p.grad for p in module.parameters()]
    return [o.detach() for o in outs], [g.float() for g in grads]


def _inputs(T, N, D, H, dirs, dtype, device="cpu"):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(T, N, D, generator=gen, dtype=torch.float64)
    hx = tuple(torch.randn(dirs, N, H, generator=gen, dtype=torch.float64) for _ in range(2))
    return x.to(device, dtype), tuple(s.to(device, dtype) for s in hx)


def _rel(a, ref):
    return float((a.double() - ref.double()).abs().max() / ref.double().abs().max().clamp_min(
        1e-30))


def _check_against_float64(module, D, H, layers, bidirectional, dtype, device="cpu",
                           autocast_dtype=None, low_tol=None, T=9, N=4):
    """``module`` (a copy of the seed-0 torch.nn.LSTM) in ``dtype`` against the float64
    torch.nn.LSTM on the CPU; float32 within FACTOR times torch.nn.LSTM's float32 error."""
    ref64, _ = _pair(D, H, layers, bidirectional, torch.float64)
    ref32, _ = _pair(D, H, layers, bidirectional, torch.float32, device)
    dirs = layers * (1 + bidirectional)
    x, hx = _inputs(T, N, D, H, dirs, torch.float64)
    e_o, e_g = _run(ref64, x, hx)
    expected = [t.double() for t in e_o + e_g]
    y_o, y_g = _run(ref32, x.to(device, torch.float32), tuple(s.to(device, torch.float32)
                                                               for s in hx))
    yard = [_rel(t.cpu(), e) for t, e in zip(y_o + y_g, expected)]
    g_o, g_g = _run(module, x.to(device, dtype), tuple(s.to(device, dtype) for s in hx),
                    autocast_dtype)
    names = ["output", "h_n", "c_n", "x", "h0", "c0"] + [n for n, _ in
                                                       module.named_parameters()]
    for name, got, exp, y in zip(names, g_o + g_g, expected, yard):
        assert got.shape == exp.shape, name
        err = _rel(got.cpu(), exp)
        tol = low_tol or FACTOR * max(y, EPS32)
        assert err <= tol, f"{name}: relative error {err:.2e} > {tol:.2e}"


@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, False), (2, True)])
def test_fused_matches_torch_lstm_on_cpu_float64(layers, bidirectional):
    D, H = 5, 7
    ref, ours = _pair(D, H, layers, bidirectional, torch.float64)
    x, hx = _inputs(9, 4, D, H, layers * (1 + bidirectional), torch.float64)
    (ro, rg), (oo, og) = _run(ref, x, hx), _run(ours, x, hx)
    for name, a, b in zip(["output", "h_n", "c_n"], ro, oo):
        assert (a - b).abs().max() <= TOL64, name
    names = ["x", "h0", "c0"] + [n for n, _ in ours.named_parameters()]
    for name, a, b in zip(names, rg, og):
        assert a.shape == b.shape, name
        assert (a - b).abs().max() <= TOL64, name


@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, True)])
def test_fused_float32_on_cpu_is_as_close_to_float64_as_torch_lstm(layers, bidirectional):
    _, ours = _pair(5, 7, layers, bidirectional, torch.float32)
    _check_against_float64(ours, 5, 7, layers, bidirectional, torch.float32)


def test_gradcheck_float64():
    torch.manual_seed(0)
    T, N, D, H = 3, 2, 3, 2
    args = [torch.randn(T, N, D), torch.randn(N, H), torch.randn(N, H), torch.randn(4 * H, D),
            torch.randn(4 * H, H), torch.randn(4 * H)]
    args = [a.double().requires_grad_() for a in args]
    assert torch.autograd.gradcheck(lambda *a: FusedLSTMFunction.apply(*a, "torch"), args)


def test_only_the_final_state_used():
    """The backward receives no gradient for the outputs it does not use."""
    ref, ours = _pair(3, 4)
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    grads = []
    for m in (ref, ours):
        m.zero_grad()
        _, (hn, _) = m(x)
        hn.sum().backward()
        grads.append(m.weight_hh_l0.grad.clone())
    assert (grads[0] - grads[1]).abs().max() < 1e-12


def test_state_dicts_are_interchangeable_and_errors_are_clear():
    from lstm_ref.torch import LSTM

    ours = FusedLSTM(3, 4, 2)
    LSTM(3, 4, 2).load_state_dict(ours.state_dict())
    with pytest.raises(ValueError, match="backend must be"):
        FusedLSTM(3, 4, backend="cuda")
    with pytest.raises(ValueError, match="input must have shape"):
        ours(torch.randn(5, 2, 4))
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="Triton"):
            FusedLSTM(3, 4, backend="triton")(torch.randn(2, 1, 3))


def test_autocast_bf16_on_cpu_keeps_the_cell_state_in_float32():
    ref, ours = _pair(4, 8, dtype=torch.float32)
    x, hx = _inputs(6, 3, 4, 8, 1, torch.float32)
    (ro, _), (oo, og) = _run(ref, x, hx), _run(ours, x, hx, torch.bfloat16)
    assert all(torch.isfinite(g).all() for g in og)
    scale = ro[0].abs().max()
    assert (ro[0] - oo[0]).abs().max() <= LOW_TOL[torch.bfloat16] * max(1.0, float(scale))


# --- CUDA graphs: the bookkeeping, with a stand-in recorder (CUDA graphs need a GPU) ------


class FakeRecorder:
    """Records by running the function once and keeping it; a replay runs it again, which
    is what a CUDA graph does with the same buffers (the same addresses)."""

    def __init__(self):
        self.recorded, self.replays = [], 0

    def record(self, fn):
        fn()
        self.recorded.append(fn)
        return fn

    def replay(self, fn):
        self.replays += 1
        fn()


def _layer_call(graphs, x, h0, c0, params, backward=True):
    xg = x.clone().requires_grad_()
    out, hn, cn = FusedLSTMFunction.apply(xg, h0, c0, *params, "torch", graphs)
    if backward:
        (out.sum() + hn.sum() + cn.sum()).backward()
        return out.detach(), xg.grad, [p.grad.clone() for p in params]
    return out, hn, cn


def _layer_inputs(T=4, N=3, D=5, H=6):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(T, N, D, generator=gen)
    h0, c0 = torch.randn(N, H, generator=gen), torch.randn(N, H, generator=gen)
    params = [torch.randn(4 * H, D, generator=gen), torch.randn(4 * H, H, generator=gen),
              torch.randn(4 * H, generator=gen)]
    return x, h0, c0, [p.mul_(0.3).requires_grad_() for p in params]


def test_recorded_step_loops_replay_to_the_eager_result():
    x, h0, c0, params = _layer_inputs()
    eager = _layer_call(None, x, h0, c0, params)
    for p in params:
        p.grad = None
    rec = fused.StepGraphs(FakeRecorder())
    for call in range(3):  # record on the first call, replay on the next two
        got = _layer_call(rec, x + call, h0, c0, params)
        if call == 0:
            first = got
        for p in params:
            p.grad = None
    assert rec.recorded == 2 and rec.replayed == 4  # forward and backward
    again = _layer_call(rec, x, h0, c0, params)
    for a, b in zip([eager[0], eager[1], *eager[2]], [again[0], again[1], *again[2]]):
        assert torch.equal(a, b)
    assert torch.equal(first[0], eager[0])


def test_a_pending_backward_keeps_its_buffers():
    """Two forwards before their backwards: the second must not overwrite the buffers the
    first one's backward reads (it takes a second entry), and outputs are copies."""
    x, h0, c0, params = _layer_inputs()
    rec = fused.StepGraphs(FakeRecorder(), per_shape=2)
    xa, xb = x.clone().requires_grad_(), (x + 1).clone().requires_grad_()
    out_a, _, _ = FusedLSTMFunction.apply(xa, h0, c0, *params, "torch", rec)
    kept = out_a.detach().clone()
    out_b, _, _ = FusedLSTMFunction.apply(xb, h0, c0, *params, "torch", rec)
    assert len(rec.entries[next(iter(rec.entries))]) == 2
    assert torch.equal(out_a, kept)  # the second forward did not write into the first output
    out_a.sum().backward()
    grad_a = xa.grad.clone()
    xe = x.clone().requires_grad_()
    FusedLSTMFunction.apply(xe, h0, c0, *params, "torch", None)[0].sum().backward()
    assert torch.equal(grad_a, xe.grad)
    # a third forward while both are pending runs without graphs, and is still right
    xc = x.clone().requires_grad_()
    out_c, _, _ = FusedLSTMFunction.apply(xc, h0, c0, *params, "torch", rec)
    assert len(rec.entries[next(iter(rec.entries))]) == 2 and torch.equal(out_c, kept)
    del out_a, out_b, out_c  # the autograd nodes go: both entries are free again
    import gc

    gc.collect()
    with torch.no_grad():
        _layer_call(rec, x, h0, c0, params, backward=False)
    assert rec.recorded == 3  # forward a, forward b, backward a; nothing new


def test_a_new_shape_records_new_graphs():
    rec = fused.StepGraphs(FakeRecorder())
    x, h0, c0, params = _layer_inputs(T=4)
    for T in (4, 4, 2):  # a shorter last segment, as in truncated BPTT
        with torch.no_grad():
            FusedLSTMFunction.apply(x[:T], h0, c0, *params, "torch", rec)
    assert rec.recorded == 2 and rec.replayed == 1
    with torch.no_grad():  # new weights, same shapes (autocast casts them at every call):
        new = [p.detach() + 1 for p in params]  # the graph reads its own copy of W_hh
        got = FusedLSTMFunction.apply(x, h0, c0, *new, "torch", rec)[0]
        expected = FusedLSTMFunction.apply(x, h0, c0, *new, "torch", None)[0]
    assert rec.recorded == 2 and torch.equal(got, expected)


class _FakeGraphedLSTM(FusedLSTM):
    """FusedLSTM(cuda_graphs=True) as on a GPU, with the stand-in recorder on a CPU."""

    def _step_graphs(self, x, weight_hh):
        if self._graphs is None:
            self._graphs = {}
        return self._graphs.setdefault(id(weight_hh), fused.StepGraphs(FakeRecorder()))


def test_the_trainers_path_with_graphs_and_autocast_replays_correctly():
    """Two layers, bf16 autocast (the weights cast anew at every call), three training
    calls: the replays give exactly the eager layer's outputs and gradients."""
    torch.manual_seed(0)
    eager = FusedLSTM(6, 8, 2)
    graphed = _FakeGraphedLSTM(6, 8, 2, cuda_graphs=True)
    graphed.load_state_dict(eager.state_dict())
    for call in range(3):
        x, hx = _inputs(5, 3, 6, 8, 2, torch.float32)
        x = x + call
        (eo, eg), (go, gg) = (_run(m, x, hx, torch.bfloat16) for m in (eager, graphed))
        for a, b in zip(eo + eg, go + gg):
            assert torch.equal(a, b)
        for m in (eager, graphed):
            m.zero_grad()
    graphs = list(graphed._graphs.values())
    assert len(graphs) == 2  # one per layer
    assert all(g.recorded == 2 and g.replayed == 4 for g in graphs)


def test_cuda_graphs_flag_is_ignored_on_cpu():
    ref, ours = _pair(4, 5, dtype=torch.float32, cuda_graphs=True)
    x, hx = _inputs(3, 2, 4, 5, 1, torch.float32)
    (ro, _), (oo, _) = _run(ref, x, hx), _run(ours, x, hx)
    assert ours._graphs is None
    assert all(float((a - b).abs().max()) < 1e-5 for a, b in zip(ro, oo))


# --- CUDA (skipped without a GPU; run by scripts/gpu_check.sh) ----------------------------


@pytest.fixture()
def no_tf32():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@CUDA
@pytest.mark.skipif(not fused.triton_available(), reason="needs Triton and a CUDA device")
@pytest.mark.parametrize("backend", ["triton", "triton-onestep"])
@pytest.mark.parametrize("graphs", [False, True], ids=["eager", "cuda-graphs"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_triton_kernels_match_float64_on_cuda(dtype, graphs, backend, no_tf32):
    D, H = 64, 128
    _, ours = _pair(D, H, dtype=torch.float32, device="cuda", backend=backend,
                    cuda_graphs=graphs)
    for _ in range(2 if graphs else 1):  # with graphs: the recording call, then a replay
        _check_against_float64(ours, D, H, 1, False, torch.float32, "cuda",
                               None if dtype == torch.float32 else dtype,
                               None if dtype == torch.float32 else LOW_TOL[dtype], T=20, N=16)
        ours.zero_grad()
    if graphs:
        assert sum(g.replayed for g in ours._graphs.values()) >= 2  # replays happened


@CUDA
def test_torch_backend_on_cuda_matches_torch_lstm():
    ref, ours = _pair(16, 32, dtype=torch.float64, device="cuda", backend="torch")
    x, hx = _inputs(10, 4, 16, 32, 1, torch.float64, "cuda")
    (ro, rg), (oo, og) = _run(ref, x, hx), _run(ours, x, hx)
    assert max(float((a - b).abs().max()) for a, b in zip(ro + rg, oo + og)) <= 1e-12


@CUDA
def test_float64_on_cuda_takes_the_torch_path():
    _, ours = _pair(8, 16, dtype=torch.float64, device="cuda")  # backend "auto"
    x, hx = _inputs(5, 3, 8, 16, 1, torch.float64, "cuda")
    ref, _ = _pair(8, 16, dtype=torch.float64)
    (ro, _), (oo, _) = _run(ref, x.cpu(), tuple(s.cpu() for s in hx)), _run(ours, x, hx)
    assert max(float((a - b.cpu()).abs().max()) for a, b in zip(ro, oo)) <= 1e-12
