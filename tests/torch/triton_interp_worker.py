"""Run the fused layer's Triton kernels under Triton's interpreter, on CPU tensors, and
write their errors as JSON (``python tests/torch/triton_interp_worker.py OUT.json``).

Started by ``test_fused_triton.py`` in a fresh process with ``TRITON_INTERPRET=1``: Triton
reads that variable when it is imported, so it must be set before anything imports Triton,
which pytest's own process cannot promise.

For each case the reference is ``torch.nn.LSTM`` in float64; every tensor (output, h_n,
c_n, the gradient on x, h0, c0 and every parameter) gets its error relative to the largest
entry of the reference, ``max|y - y_ref| / max|y_ref|``, for the fused layer in float32
(the Triton kernels) and, as the yardstick, for ``torch.nn.LSTM`` in float32.
"""

import json
import os
import sys

import torch

# (name, T, N, D, H, layers, bidirectional)
CASES = [
    ("T1-N1-H1", 1, 1, 3, 1, 1, False),
    ("T3-N1-H7", 3, 1, 5, 7, 1, False),
    ("T2-N3-H33", 2, 3, 4, 33, 1, False),
    ("T2-N2-H77", 2, 2, 6, 77, 1, False),
    ("T2-N5-H100", 2, 5, 3, 100, 1, False),
    ("T3-N2-H7-2layers-bidir", 3, 2, 4, 7, 2, True),
]
BACKENDS = ("triton", "triton-onestep")
# bf16 storage, one case per backend: against float64, relative to each tensor's largest entry
LOW = ("T2-N3-H33", torch.bfloat16)


def run(module, x, hx, dtype):
    """Outputs and gradients of a loss touching every output, all as float64."""
    xg = x.detach().to(dtype, copy=True).requires_grad_()
    hg = tuple(s.detach().to(dtype, copy=True).requires_grad_() for s in hx)
    out, (hn, cn) = module(xg, hg)
    outs = [out, hn, cn]
    gen = torch.Generator().manual_seed(3)
    weights = [torch.randn(o.shape, generator=gen, dtype=torch.float64) for o in outs]
    sum((o.double() * w).sum() for o, w in zip(outs, weights)).backward()
    grads = [xg.grad, *(s.grad for s in hg)] + [p.grad for p in module.parameters()]
    return [t.detach().double() for t in outs + grads]


def rel_errors(got, ref):
    return [float((a - b).abs().max() / b.abs().max().clamp_min(1e-30)) for a, b in zip(got, ref)]


def case(name, T, N, D, H, layers, bidir, backend, low=None):
    from lstm_ref.torch.fused import FusedLSTM

    torch.manual_seed(0)
    ref = torch.nn.LSTM(D, H, layers, bidirectional=bidir).double()
    gen = torch.Generator().manual_seed(1)
    dirs = layers * (2 if bidir else 1)
    x = torch.randn(T, N, D, generator=gen, dtype=torch.float64)
    hx = tuple(torch.randn(dirs, N, H, generator=gen, dtype=torch.float64) for _ in range(2))
    names = ["output", "h_n", "c_n", "grad x", "grad h0", "grad c0"] + \
        [f"grad {n}" for n, _ in ref.named_parameters()]
    expected = run(ref, x, hx, torch.float64)
    dtype = low or torch.float32
    yard = torch.nn.LSTM(D, H, layers, bidirectional=bidir)
    yard.load_state_dict(ref.state_dict())
    ours = FusedLSTM(D, H, layers, bidirectional=bidir, backend=backend)
    ours.load_state_dict(ref.state_dict())
    ours = ours.to(dtype)
    got = run(ours, x, hx, dtype)
    dtypes = {str(t.dtype) for t in (ours(x.to(dtype))[0],)}
    return {"case": name, "backend": backend, "dtype": str(dtype).replace("torch.", ""),
            "names": names, "fused": rel_errors(got, expected),
            "torch_float32": rel_errors(run(yard, x, hx, torch.float32), expected),
            "output_dtypes": sorted(dtypes)}


def main(out):
    from lstm_ref.torch import fused

    assert fused.triton_interpreting(), "TRITON_INTERPRET=1 must be set before Triton imports"
    results = []
    for backend in BACKENDS:
        for c in CASES:
            results.append(case(*c, backend))
        name, dtype = LOW
        c = next(c for c in CASES if c[0] == name)
        results.append(case(*c, backend, low=dtype))
    with open(out, "w") as fh:
        json.dump({"interpreting": True, "env": os.environ.get("TRITON_INTERPRET"),
                   "results": results}, fh, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
