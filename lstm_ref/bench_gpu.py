r"""cuDNN against our own LSTM layers, on a GPU (or, smaller, on a CPU): a benchmark.

``python -m lstm_ref.bench_gpu [--device auto|cpu|cuda] [--out FILE.json]`` times one LSTM
layer (input size ``D = H``), forward (no gradient) and forward+backward (gradients on the
input and every weight from a fixed random upstream gradient on every hidden state), for

- ``cudnn``: ``torch.nn.LSTM`` (cuDNN on a GPU, ATen's kernels on a CPU);
- ``ours``: :class:`lstm_ref.torch.LSTM` (a loop of PyTorch operations, autograd);
- ``ours-compiled``: the same under ``torch.compile`` (its compile time reported apart);
- ``fused``: :class:`lstm_ref.torch.fused.FusedLSTM` (per step one product and one
  element-wise kernel, Triton on a GPU);
- ``fused-graph`` (CUDA only): the fused layer captured in CUDA graphs
  (``torch.cuda.make_graphed_callables``), which removes the per-kernel launch cost.

On a GPU the cases are ``T = 100``, ``N in {64, 256}``, ``H in {512, 1024}``, dtype in
{fp32, bf16, fp16} (module and inputs converted to the dtype); on a CPU the same cases at
small sizes, float32, one thread. Before timing, the fused layer is compared with
``torch.nn.LSTM`` in every dtype (forward and gradients) and the result recorded.

Each row reports the median time, tokens/s (``T N`` per pass), the ratio of tokens/s to
cuDNN's in the same case, and achieved TFLOP/s counting the matrix products only (forward
:math:`2 \cdot T N \cdot 4H (D + H)`, backward twice that) against the card's peak for the
dtype (a table of published dense peaks by device name; on a CPU the peak is a measured
one-thread float32 matrix product). Everything goes to a JSON file with the device name and
the date. It is a measurement, not a test: nothing fails when a target is missed.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time

from .bench import flops

GPU_SIZES = {"T": 100, "N": (64, 256), "H": (512, 1024), "dtypes": ("fp32", "bf16", "fp16")}
CPU_SIZES = {"T": 50, "N": (8, 32), "H": (64, 128), "dtypes": ("fp32",)}
IMPLS = ("cudnn", "ours", "ours-compiled", "fused", "fused-graph")
SCHEMA = "lstm_ref.bench_gpu/1"

# Dense (no sparsity) peak TFLOP/s from NVIDIA's data sheets; fp32 is the non-tensor-core
# rate. Matched against torch.cuda.get_device_name() in order, first match wins.
PEAKS = (
    ("H200", {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4},
     "NVIDIA H200 Tensor Core GPU data sheet (SXM)"),
    ("H100 PCIe", {"fp32": 51.2, "tf32": 378.0, "bf16": 756.0, "fp16": 756.0},
     "NVIDIA H100 Tensor Core GPU data sheet (PCIe)"),
    ("H100", {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4},
     "NVIDIA H100 Tensor Core GPU data sheet (SXM)"),
    ("A100", {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0},
     "NVIDIA A100 Tensor Core GPU data sheet"),
    ("L4", {"fp32": 30.3, "tf32": 60.0, "bf16": 121.0, "fp16": 121.0},
     "NVIDIA L4 Tensor Core GPU data sheet"),
)
TARGET = {"impl": "fused", "pass": "fwdbwd", "N": 256, "H": 1024, "dtype": "bf16",
          "min_ratio_to_cudnn": 0.5}
# the fused layer against torch.nn.LSTM in float32: largest absolute error allowed on the
# outputs and gradients (fp32), or relative to each tensor's largest entry (bf16, fp16)
CHECK_TOL = {"fp32": 1e-5, "bf16": 3e-2, "fp16": 5e-3}


def _torch_dtype(name):
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def peak_for(device_name):
    """``(peaks by dtype, source)`` for a GPU name, or ``(None, None)`` if unknown."""
    for key, peaks, source in PEAKS:
        if key in device_name:
            return peaks, source
    return None, None


def cpu_roofline(size=1024, repeats=3):
    """One-thread float32 matrix-product rate (TFLOP/s) and copy bandwidth (GB/s) of this
    CPU, measured: the ceilings of the CPU roofline."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = min(_wall(lambda: a @ b) for _ in range(repeats))
    big = torch.empty(32 * 2**20 // 4)  # 32 MiB, beyond the caches
    dst = torch.empty_like(big)
    dst.copy_(big)
    copy = min(_wall(lambda: dst.copy_(big)) for _ in range(repeats))
    return {"matmul_tflops": 2 * size**3 / best / 1e12,
            "bandwidth_gbs": 2 * big.numel() * 4 / copy / 1e9}


def arithmetic_intensity(N, H, bytes_per_element=4):
    r"""Flops per byte of the per-step product ``h_{t-1} W_{hh}^\top``, ``(N, H) @ (H, 4H)``:

    .. math::
        I = \frac{2 \cdot N \cdot H \cdot 4H}{b\,(4H \cdot H + N H + 4 N H)}
          \approx \frac{2N}{b} \quad (N \ll H),

    counting the weight, ``h`` and the output once (``b`` bytes per element)."""
    return 8 * N * H * H / (bytes_per_element * (4 * H * H + 5 * N * H))


def step_product_points(Ns=(1, 4, 16, 64, 256), H=256, repeats=20):
    """Measured ``(intensity, TFLOP/s)`` of the per-step product on this CPU (float32, the
    current number of threads), one point per batch size in ``Ns``: the best of
    ``repeats`` timings of 10 products each."""
    import torch

    w = torch.randn(H, 4 * H)
    points = []
    for N in Ns:
        h = torch.randn(N, H)
        out = torch.empty(N, 4 * H)

        def ten():
            for _ in range(10):
                torch.mm(h, w, out=out)

        ten()
        best = min(_wall(ten) for _ in range(repeats)) / 10
        points.append({"N": N, "H": H, "intensity": arithmetic_intensity(N, H),
                       "tflops": 8 * N * H * H / best / 1e12, "seconds": best})
    return points


def _wall(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _build(impl, D, H, dtype, device):
    import torch

    from .torch import LSTM
    from .torch.fused import FusedLSTM

    torch.manual_seed(0)
    ref = torch.nn.LSTM(D, H)
    if impl == "cudnn":
        module = ref
    elif impl in ("ours", "ours-compiled"):
        module = LSTM(D, H)
    else:
        module = FusedLSTM(D, H)
    if module is not ref:
        module.load_state_dict(ref.state_dict())
    module = module.to(device=device, dtype=dtype)
    if impl == "ours-compiled":
        module.compile()
    return module


def _timer(device):
    import torch

    if device.type != "cuda":
        return _wall

    def timed(fn):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3

    return timed


def time_case(impl, T, N, H, dtype_name, device, repeats, warmup=2):
    """Median seconds of the forward and of forward+backward, and the compile time."""
    import torch

    dtype = _torch_dtype(dtype_name)
    D = H
    module = _build(impl, D, H, dtype, device)
    gen = torch.Generator(device="cpu").manual_seed(1)
    x = torch.randn(T, N, D, generator=gen).to(device=device, dtype=dtype)
    dy = torch.randn(T, N, H, generator=gen).to(device=device, dtype=dtype)
    xg = x.clone().requires_grad_()
    timed = _timer(device)
    compile_s = None
    run = lambda inp: module(inp)[0]  # noqa: E731  the output (T, N, H) only
    if impl == "fused-graph":
        # CUDA graphs of the forward and of the backward, replayed with one launch each;
        # the graphed callable returns the output only
        class _Output(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, inp):
                return self.inner(inp)[0]

        start = time.perf_counter()
        run = torch.cuda.make_graphed_callables(_Output(module), (xg,))
        torch.cuda.synchronize()
        compile_s = time.perf_counter() - start

    def fwd():
        with torch.no_grad():
            return run(x)

    def fwdbwd():
        xg.grad = None
        for p in module.parameters():
            p.grad = None
        run(xg).backward(dy)

    if impl == "ours-compiled":  # the first calls compile: report them apart
        compile_s = _wall(fwdbwd) + _wall(fwd)
    if impl == "fused-graph":  # a graphed callable replays its autograd graph only
        fwd = fwdbwd
    result = {}
    for name, fn in (("fwd", fwd), ("fwdbwd", fwdbwd)):
        for _ in range(warmup):
            fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        result[name] = statistics.median(timed(fn) for _ in range(repeats))
    if impl == "fused-graph":
        result["fwd"] = None  # not measured apart: the graph replays forward with backward
    return result, compile_s


def check_fused(device, dtypes, T=20, N=16, H=128):
    """The fused layer (Triton kernels on CUDA when available) against an fp32
    ``torch.nn.LSTM``: the largest error on the output and on the gradients, per dtype."""
    import torch

    from .torch.fused import FusedLSTM, triton_available

    out = {"backend": "triton" if device.type == "cuda" and triton_available() else "torch",
           "tolerance": CHECK_TOL, "cases": {}}
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    try:
        for name in dtypes:
            dtype = _torch_dtype(name)
            torch.manual_seed(0)
            ref = torch.nn.LSTM(H, H).to(device)
            ours = FusedLSTM(H, H).to(device)
            ours.load_state_dict(ref.state_dict())
            gen = torch.Generator().manual_seed(1)
            x = torch.randn(T, N, H, generator=gen).to(device)
            dy = torch.randn(T, N, H, generator=gen).to(device)
            res = []
            for module, cast in ((ref, None), (ours, dtype)):
                module.zero_grad()
                xg = x.clone().requires_grad_()
                with torch.autocast(device.type, dtype=cast or torch.float32,
                                    enabled=cast not in (None, torch.float32)):
                    y = module(xg)[0]
                y.float().backward(dy)
                res.append([y.float().detach(), xg.grad] + [p.grad for p in module.parameters()])
            fwd_err = float((res[0][0] - res[1][0]).abs().max())
            grad_err = max(float((a - b).abs().max()) for a, b in zip(res[0][1:], res[1][1:]))
            if name != "fp32":
                fwd_err /= max(1.0, float(res[0][0].abs().max()))
                grad_err /= max(1.0, max(float(a.abs().max()) for a in res[0][1:]))
            ok = fwd_err <= CHECK_TOL[name] and grad_err <= CHECK_TOL[name]
            out["cases"][name] = {"forward_error": fwd_err, "grad_error": grad_err, "pass": ok}
    except Exception as exc:  # recorded, not raised: the JSON says what failed
        out["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = True
    out["pass"] = "error" not in out and all(c["pass"] for c in out["cases"].values())
    return out


def run(device="auto", T=None, Ns=None, Hs=None, dtypes=None, impls=IMPLS, repeats=None,
        threads=1, out=None, echo=print):
    """Check the fused layer, time every case, print the table; return the results dict
    (and write it as JSON to ``out`` if given)."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    dev = torch.device(device)
    sizes = GPU_SIZES if dev.type == "cuda" else CPU_SIZES
    T = T or sizes["T"]
    Ns, Hs = tuple(Ns or sizes["N"]), tuple(Hs or sizes["H"])
    dtypes = tuple(dtypes or sizes["dtypes"])
    repeats = repeats or (20 if dev.type == "cuda" else 5)
    impls = [i for i in impls if dev.type == "cuda" or i != "fused-graph"]
    if dev.type == "cpu":
        torch.set_num_threads(threads)
        name = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo") as fh:
                name = next(l.split(":", 1)[1].strip() for l in fh if l.startswith("model name"))
        except (OSError, StopIteration):
            pass
        peaks, source = None, "measured: one-thread float32 matmul (see machine)"
        machine = cpu_roofline()
        peaks = {"fp32": machine["matmul_tflops"]}
    else:
        name = torch.cuda.get_device_name(dev)
        peaks, source = peak_for(name)
        machine = {}
    result = {
        "schema": SCHEMA, "device": name, "device_type": dev.type,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__, "threads": torch.get_num_threads() if dev.type == "cpu"
        else None, "load_average": list(os.getloadavg()), "peak_tflops": peaks,
        "peak_source": source, "machine": machine,
        "settings": {"T": T, "N": list(Ns), "H": list(Hs), "D": "H", "dtypes": list(dtypes),
                     "repeats": repeats, "impls": list(impls),
                     "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
                     "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32},
        "check": check_fused(dev, dtypes), "rows": [], "target": None,
    }
    echo(f"device: {name} ({dev.type}), torch {torch.__version__}, {result['date']}")
    echo(f"fused layer vs torch.nn.LSTM ({result['check']['backend']} kernels): "
         + ("PASS" if result["check"]["pass"] else "FAIL") + " "
         + json.dumps(result["check"].get("cases", result["check"].get("error"))))
    for dtype in dtypes:
        for N in Ns:
            for H in Hs:
                times = {}
                for impl in impls:
                    try:
                        times[impl] = time_case(impl, T, N, H, dtype, dev, repeats)
                    except Exception as exc:  # an OOM or a compiler failure: recorded
                        times[impl] = (None, f"{type(exc).__name__}: {str(exc)[:200]}")
                for impl in impls:
                    t, extra = times[impl]
                    for pass_ in ("fwd", "fwdbwd"):
                        row = {"impl": impl, "pass": pass_, "T": T, "N": N, "H": H, "D": H,
                               "dtype": dtype, "seconds": None, "tokens_per_s": None,
                               "ratio_to_cudnn": None, "tflops": None,
                               "fraction_of_peak": None,
                               "compile_s": extra if isinstance(extra, float) else None,
                               "error": extra if isinstance(extra, str) else None}
                        if t is not None and t[pass_] is not None:
                            s = t[pass_]
                            row["seconds"] = s
                            row["tokens_per_s"] = T * N / s
                            row["tflops"] = flops(T, N, H, H, pass_) / s / 1e12
                            if peaks and peaks.get(dtype):
                                row["fraction_of_peak"] = row["tflops"] / peaks[dtype]
                            ref = times.get("cudnn", (None,))[0]
                            if ref is not None and ref[pass_]:
                                row["ratio_to_cudnn"] = ref[pass_] / s
                        result["rows"].append(row)
                if out:  # after each case, so a run cut short still leaves its results
                    _write_json(result, out)
    for r in result["rows"]:
        if all(r.get(k) == TARGET[k] for k in ("impl", "pass", "N", "H", "dtype")) and \
                r["ratio_to_cudnn"] is not None:
            result["target"] = dict(TARGET, ratio=r["ratio_to_cudnn"],
                                    met=r["ratio_to_cudnn"] >= TARGET["min_ratio_to_cudnn"])
    echo(format_table(result))
    if out:
        _write_json(result, out)
        echo(f"wrote {out}")
    return result


def _write_json(result, out):
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out + ".tmp", "w") as fh:
        json.dump(result, fh, indent=1)
    os.replace(out + ".tmp", out)


def format_table(result):
    """The rows as a plain-text table."""
    lines = [f"{'dtype':<5} {'N':>4} {'H':>5} {'impl':<14} {'pass':<7} {'ms':>9} "
             f"{'tokens/s':>11} {'x cuDNN':>8} {'TFLOP/s':>8} {'% peak':>7} {'compile s':>9}"]
    lines.append("-" * len(lines[0]))
    for r in result["rows"]:
        if r["seconds"] is None:
            if r["pass"] == "fwdbwd" or r["error"]:
                lines.append(f"{r['dtype']:<5} {r['N']:>4} {r['H']:>5} {r['impl']:<14} "
                             f"{r['pass']:<7} {(r['error'] or 'not measured')[:60]}")
            continue

        def f(v, fmt):
            return format(v, fmt) if v is not None else "-"

        lines.append(
            f"{r['dtype']:<5} {r['N']:>4} {r['H']:>5} {r['impl']:<14} {r['pass']:<7} "
            f"{1e3 * r['seconds']:>9.2f} {r['tokens_per_s']:>11,.0f} "
            f"{f(r['ratio_to_cudnn'], '>8.2f')} {r['tflops']:>8.3f} "
            f"{f(None if r['fraction_of_peak'] is None else 100 * r['fraction_of_peak'], '>7.1f')}"
            f" {f(r['compile_s'], '>9.1f')}")
    if result.get("target"):
        t = result["target"]
        lines.append(f"target: fused fwd+bwd at N={t['N']}, H={t['H']}, {t['dtype']}: "
                     f"{t['ratio']:.2f}x cuDNN's tokens/s (aim >= {t['min_ratio_to_cudnn']}): "
                     + ("MET" if t["met"] else "MISSED"))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lstm_ref.bench_gpu",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--out", help="write the results as JSON to this file")
    parser.add_argument("--T", type=int, help="sequence length (GPU 100, CPU 50)")
    parser.add_argument("--N", type=int, nargs="+", help="batch sizes")
    parser.add_argument("--H", type=int, nargs="+", help="hidden sizes (D = H)")
    parser.add_argument("--dtypes", nargs="+", choices=("fp32", "bf16", "fp16"))
    parser.add_argument("--impls", nargs="+", choices=IMPLS, default=list(IMPLS))
    parser.add_argument("--repeats", type=int, help="timed runs per case (median)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes (T=4, N=2, H=8, 1 repeat): checks that it works")
    args = parser.parse_args(argv)
    for name in ("T", "repeats", "threads"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            parser.error(f"--{name} must be positive, got {value}")
    for name in ("N", "H"):
        if getattr(args, name) and min(getattr(args, name)) <= 0:
            parser.error(f"--{name} must be positive")
    if args.quick:
        args.T, args.N, args.H, args.repeats = 4, [2], [8], 1
    try:
        run(args.device, args.T, args.N, args.H, args.dtypes, tuple(args.impls),
            args.repeats, args.threads, args.out)
    except ValueError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
