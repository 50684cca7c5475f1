"""The fused LSTM layer against torch.nn.LSTM: outputs, final states and every gradient
(CPU: float32 and float64; CUDA, when present: the Triton kernels in fp32, bf16, fp16)."""

import pytest
import torch

from lstm_ref.torch import fused
from lstm_ref.torch.fused import FusedLSTM, FusedLSTMFunction

TOL = {torch.float64: 1e-12, torch.float32: 1e-5}
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


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, False), (2, True)])
def test_fused_matches_torch_lstm_on_cpu(dtype, layers, bidirectional):
    D, H = 5, 7
    ref, ours = _pair(D, H, layers, bidirectional, dtype)
    x, hx = _inputs(9, 4, D, H, layers * (1 + bidirectional), dtype)
    (ro, rg), (oo, og) = _run(ref, x, hx), _run(ours, x, hx)
    for name, a, b in zip(["output", "h_n", "c_n"], ro, oo):
        assert (a - b).abs().max() <= TOL[dtype], name
    names = ["x", "h0", "c0"] + [n for n, _ in ours.named_parameters()]
    for name, a, b in zip(names, rg, og):
        assert a.shape == b.shape, name
        assert (a - b).abs().max() <= TOL[dtype], name


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


# --- CUDA (skipped without a GPU; run by scripts/gpu_check.sh) ----------------------------


@CUDA
@pytest.mark.skipif(not fused.triton_available(), reason="needs Triton")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_triton_kernels_match_torch_lstm_on_cuda(dtype):
    D, H = 64, 128
    ref, ours = _pair(D, H, dtype=torch.float32, device="cuda", backend="triton")
    x, hx = _inputs(20, 16, D, H, 1, torch.float32, "cuda")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    ro, rg = _run(ref, x, hx)
    oo, og = _run(ours, x, hx, None if dtype == torch.float32 else dtype)
    tol = TOL[torch.float32] if dtype == torch.float32 else LOW_TOL[dtype]
    for a, b in zip(ro + rg, oo + og):
        scale = 1.0 if dtype == torch.float32 else max(1.0, float(a.abs().max()))
        assert float((a - b).abs().max()) <= tol * scale


@CUDA
def test_torch_backend_on_cuda_matches_torch_lstm():
    ref, ours = _pair(16, 32, dtype=torch.float64, device="cuda", backend="torch")
    x, hx = _inputs(10, 4, 16, 32, 1, torch.float64, "cuda")
    (ro, rg), (oo, og) = _run(ref, x, hx), _run(ours, x, hx)
    assert max(float((a - b).abs().max()) for a, b in zip(ro + rg, oo + og)) <= 1e-12
