r"""cuDNN against our own LSTM layers, on a GPU (or, smaller, on a CPU): a benchmark.

``python -m lstm_ref.bench_gpu [--device auto|cpu|cuda] [--tf32 off|on] [--out FILE.json]``
times one LSTM layer (input size ``D = H``), forward (no gradient) and forward+backward
(gradients on the input and every weight from a fixed random upstream gradient on every
hidden state), for

- ``cudnn``: ``torch.nn.LSTM`` (cuDNN on a GPU; on a CPU, ATen's own LSTM: the baseline
  there, and the table says so);
- ``ours``: :class:`lstm_ref.torch.LSTM` (a loop of PyTorch operations, autograd);
- ``ours-compiled``: the same under ``torch.compile`` (its compile time reported apart);
- ``fused``: :class:`lstm_ref.torch.fused.FusedLSTM` (per step one product and one
  element-wise kernel, Triton on a GPU);
- ``fused-graph`` (CUDA only): the same with its step loops recorded as CUDA graphs
  (``cuda_graphs=True``, as the trainer's ``--model fused`` runs it);
- ``fused-onestep`` (CUDA only): one Triton kernel per step (the product with the
  element-wise step as its epilogue), in CUDA graphs too.

On a GPU the cases are ``T = 100``, ``N in {64, 256}``, ``H in {512, 1024}``, dtype in
{fp32, bf16, fp16} (module and inputs converted to the dtype); on a CPU the same cases at
small sizes, float32, one thread.

Fairness: TF32 is set the same way for cuDNN and for our products
(``torch.backends.cudnn.allow_tf32`` and ``torch.backends.cuda.matmul.allow_tf32`` both
off, or both on with ``--tf32 on``), recorded, and the fp32 rows are measured against the
matching peak (FP32 or TF32); the caller's settings are restored afterwards. The JSON
records whether cuDNN was enabled, its version, and the names of the GPU kernels of one
profiled forward+backward of ``torch.nn.LSTM`` per dtype and batch size at the largest
``H`` (so a reader can see whether cuDNN ran a persistent kernel); on a CPU ``"n/a"``.

Before timing, the fused layer is compared with a float64 ``torch.nn.LSTM``: the error of
every output and gradient relative to the tensor's largest entry, against ``torch.nn.LSTM``'s
own error in the same dtype as the yardstick (fp32: at most 10 times it; bf16, fp16: at
most 3e-2 and 5e-3).

Timing: on a GPU, CUDA events around each call; on a CPU, wall time of calls grouped to
last at least 20 ms. Forward and forward+backward are measured in alternation, ``repeats``
rounds, and the median is reported, so a busy machine slows both alike. Each row reports
the median time, tokens/s (``T N`` per pass), the ratio of tokens/s to the baseline's in
the same case, and achieved TFLOP/s counting the matrix products only (forward
:math:`2 \cdot T N \cdot 4H (D + H)`, backward twice that) against the peak for the dtype
(a table of published dense peaks by device name; on a CPU the best of several measured
one-thread float32 matrix products, before and after the timing). Results that cannot be
right on a quiet machine (a forward slower than forward+backward, a rate above the
measured peak) are flagged in ``warnings``. Everything goes to a JSON file with the device
name and the date. It is a measurement, not a test: nothing fails when a target is missed.
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
IMPLS = ("cudnn", "ours", "ours-compiled", "fused", "fused-graph", "fused-onestep")
CUDA_ONLY = ("fused-graph", "fused-onestep")
SCHEMA = "lstm_ref.bench_gpu/2"

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
TARGET = {"impl": "fused-graph", "pass": "fwdbwd", "N": 256, "H": 1024, "dtype": "bf16",
          "min_ratio_to_cudnn": 0.5}
# the fused layer against a float64 torch.nn.LSTM, each tensor's error relative to its
# largest entry: fp32 within CHECK_FACTOR times torch.nn.LSTM's own fp32 error (at least
# float32's epsilon); bf16 and fp16 within these (8 and 11 bits of significand)
CHECK_FACTOR = 10
CHECK_TOL = {"bf16": 3e-2, "fp16": 5e-3}
MIN_CALL_S = 0.02  # a CPU timing groups calls to last at least this long


def _torch_dtype(name):
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def peak_for(device_name):
    """``(peaks by dtype, source)`` for a GPU name, or ``(None, None)`` if unknown."""
    for key, peaks, source in PEAKS:
        if key in device_name:
            return peaks, source
    return None, None


def cpu_roofline(size=1024, repeats=5):
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
    elif impl == "fused":
        module = FusedLSTM(D, H)
    elif impl == "fused-graph":
        module = FusedLSTM(D, H, cuda_graphs=True)
    else:
        module = FusedLSTM(D, H, backend="triton-onestep", cuda_graphs=True)
    if module is not ref:
        module.load_state_dict(ref.state_dict())
    module = module.to(device=device, dtype=dtype)
    if impl == "ours-compiled":
        module.compile()
    return module


def _timer(device):
    import torch

    if device.type != "cuda":
        def grouped(fn):  # calls grouped to last MIN_CALL_S: less noise from the clock
            calls, start = 0, time.perf_counter()
            while True:
                fn()
                calls += 1
                elapsed = time.perf_counter() - start
                if elapsed >= MIN_CALL_S:
                    return elapsed / calls

        return grouped

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

    def fwd():
        with torch.no_grad():
            return module(x)[0]

    def fwdbwd():
        xg.grad = None
        for p in module.parameters():
            p.grad = None
        module(xg)[0].backward(dy)

    if impl == "ours-compiled":  # the first calls compile: report them apart
        compile_s = _wall(fwdbwd) + _wall(fwd)
    if impl in CUDA_ONLY:  # the first calls record the CUDA graphs: report them apart
        start = time.perf_counter()
        fwdbwd()
        fwd()
        torch.cuda.synchronize()
        compile_s = time.perf_counter() - start
    for _ in range(warmup):
        fwd()
        fwdbwd()
    if device.type == "cuda":
        torch.cuda.synchronize()
    samples = {"fwd": [], "fwdbwd": []}
    for _ in range(repeats):  # alternate, so a busy machine slows both passes alike
        samples["fwd"].append(timed(fwd))
        samples["fwdbwd"].append(timed(fwdbwd))
    result = {name: statistics.median(v) for name, v in samples.items()}
    result["spread"] = {name: (min(v), max(v)) for name, v in samples.items()}
    return result, compile_s


def _rel_errors(got, ref):
    """Per tensor: ``max|got - ref| / max|ref|`` (float64)."""
    return [float((a.double().cpu() - b).abs().max() / b.abs().max().clamp_min(1e-30))
            for a, b in zip(got, ref)]


def _outputs_and_grads(module, x, dy, device, dtype):
    import torch

    module.zero_grad()
    xg = x.detach().to(device=device, dtype=dtype, copy=True).requires_grad_()
    y = module(xg)[0]
    y.backward(dy.to(device=device, dtype=dtype))
    return [y.detach(), xg.grad] + [p.grad for p in module.parameters()]


def check_fused(device, dtypes, T=20, N=16, H=128, impls=("fused",)):
    """The fused layer(s) against a float64 ``torch.nn.LSTM`` (on the CPU), per dtype: the
    largest relative error over the output and every gradient, with ``torch.nn.LSTM``'s own
    in the same dtype on ``device`` as the yardstick. Recorded, never raised."""
    import torch

    from .torch.fused import FusedLSTM, triton_available

    out = {"backend": "triton" if device.type == "cuda" and triton_available() else "torch",
           "reference": "torch.nn.LSTM in float64 on the CPU",
           "rule": f"fp32: error <= {CHECK_FACTOR} x torch.nn.LSTM's fp32 error (at least "
                   "float32 eps); bf16/fp16: error <= tolerance",
           "tolerance": CHECK_TOL, "cases": {}}
    try:
        torch.manual_seed(0)
        ref64 = torch.nn.LSTM(H, H).double()
        gen = torch.Generator().manual_seed(1)
        x = torch.randn(T, N, H, generator=gen, dtype=torch.float64)
        dy = torch.randn(T, N, H, generator=gen, dtype=torch.float64)
        expected = _outputs_and_grads(ref64, x, dy, "cpu", torch.float64)
        for name in dtypes:
            dtype = _torch_dtype(name)
            base = torch.nn.LSTM(H, H)
            base.load_state_dict(ref64.state_dict())
            base = base.to(device=device, dtype=dtype)
            yard = max(_rel_errors(_outputs_and_grads(base, x, dy, device, dtype), expected))
            for impl in impls:
                ours = {"fused": lambda: FusedLSTM(H, H),
                        "fused-graph": lambda: FusedLSTM(H, H, cuda_graphs=True),
                        "fused-onestep": lambda: FusedLSTM(H, H, backend="triton-onestep",
                                                           cuda_graphs=True)}[impl]()
                ours.load_state_dict(ref64.state_dict())
                ours = ours.to(device=device, dtype=dtype)
                errs = []
                for _ in range(2 if impl != "fused" else 1):  # graphs: record, then replay
                    errs = _rel_errors(_outputs_and_grads(ours, x, dy, device, dtype),
                                       expected)
                tol = CHECK_FACTOR * max(yard, torch.finfo(torch.float32).eps) \
                    if name == "fp32" else CHECK_TOL[name]
                key = name if impl == "fused" else f"{name} {impl}"
                out["cases"][key] = {"forward_error": errs[0], "grad_error": max(errs[1:]),
                                     "torch_lstm_error": yard, "tolerance": tol,
                                     "pass": max(errs) <= tol}
    except Exception as exc:  # recorded, not raised: the JSON says what failed
        out["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    out["pass"] = "error" not in out and all(c["pass"] for c in out["cases"].values())
    return out


class tf32_setting:
    """Set ``torch.backends.cudnn.allow_tf32`` and ``torch.backends.cuda.matmul.allow_tf32``
    both to ``on`` inside the block; restore the caller's values (whatever they were) after."""

    def __init__(self, on):
        self.on = bool(on)

    def __enter__(self):
        import torch

        self.saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
        torch.backends.cudnn.allow_tf32 = self.on
        torch.backends.cuda.matmul.allow_tf32 = self.on
        return self

    def __exit__(self, *exc):
        import torch

        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = self.saved
        return False


def cudnn_info(device):
    """Whether cuDNN is enabled and its version (``"n/a"`` off CUDA)."""
    import torch

    if device.type != "cuda":
        return {"enabled": "n/a", "version": "n/a"}
    return {"enabled": bool(torch.backends.cudnn.enabled),
            "version": torch.backends.cudnn.version()}


def profiled_kernels(device, dtype_name, T, N, H):
    """The names of the GPU kernels of one forward+backward of ``torch.nn.LSTM`` (one
    profiler trace), and whether any is one of cuDNN's persistent kernels (a name holding
    "persist"); ``"n/a"`` off CUDA, an ``"error"`` entry if the profiler fails."""
    import torch

    if device.type != "cuda":
        return {"kernels": "n/a", "persistent": "n/a"}
    try:
        from torch.profiler import ProfilerActivity, profile

        dtype = _torch_dtype(dtype_name)
        module = torch.nn.LSTM(H, H).to(device=device, dtype=dtype)
        x = torch.randn(T, N, H, device=device, dtype=dtype, requires_grad=True)
        module(x)[0].sum().backward()  # warm-up: outside the trace
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            module(x)[0].sum().backward()
            torch.cuda.synchronize()
        names = sorted({e.name for e in prof.events()
                        if str(getattr(e, "device_type", "")).endswith("CUDA")})
        return {"kernels": names, "persistent": any("persist" in n.lower() for n in names)}
    except Exception as exc:
        return {"kernels": [], "persistent": None, "error": f"{type(exc).__name__}: {exc}"}


def run(device="auto", T=None, Ns=None, Hs=None, dtypes=None, impls=IMPLS, repeats=None,
        threads=1, out=None, echo=print, tf32=False):
    """Check the fused layer, time every case, print the table; return the results dict
    (and write it as JSON to ``out`` if given, after every case)."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    dev = torch.device(device)
    with tf32_setting(tf32):
        return _run(dev, T, Ns, Hs, dtypes, impls, repeats, threads, out, echo, bool(tf32))


def _run(dev, T, Ns, Hs, dtypes, impls, repeats, threads, out, echo, tf32):
    import torch

    sizes = GPU_SIZES if dev.type == "cuda" else CPU_SIZES
    T = T or sizes["T"]
    Ns, Hs = tuple(Ns or sizes["N"]), tuple(Hs or sizes["H"])
    dtypes = tuple(dtypes or sizes["dtypes"])
    repeats = repeats or (20 if dev.type == "cuda" else 5)
    impls = [i for i in impls if dev.type == "cuda" or i not in CUDA_ONLY]
    if dev.type == "cpu":
        torch.set_num_threads(threads)
        name = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo") as fh:
                name = next(l.split(":", 1)[1].strip() for l in fh if l.startswith("model name"))
        except (OSError, StopIteration):
            pass
        source = "measured: best one-thread float32 matmul, before and after the timing"
        machine = cpu_roofline()
        peaks = {"fp32": machine["matmul_tflops"]}
        baseline = "torch.nn.LSTM on the CPU (ATen's LSTM, not cuDNN)"
    else:
        name = torch.cuda.get_device_name(dev)
        peaks, source = peak_for(name)
        machine = {}
        baseline = "torch.nn.LSTM (cuDNN)"
    checked = [i for i in impls if i.startswith("fused")] or ["fused"]
    result = {
        "schema": SCHEMA, "device": name, "device_type": dev.type,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__, "cuda": torch.version.cuda if dev.type == "cuda" else "n/a",
        "cudnn": cudnn_info(dev), "baseline": baseline,
        "threads": torch.get_num_threads() if dev.type == "cpu" else None,
        "load_average": list(os.getloadavg()), "peak_tflops": peaks,
        "peak_source": source, "machine": machine,
        "settings": {"T": T, "N": list(Ns), "H": list(Hs), "D": "H", "dtypes": list(dtypes),
                     "repeats": repeats, "impls": list(impls), "tf32": tf32,
                     "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
                     "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
                     "timing": "CUDA events" if dev.type == "cuda" else
                     f"wall clock, calls grouped to >= {MIN_CALL_S} s",
                     "statistic": "median of repeats, fwd and fwdbwd alternated"},
        "check": check_fused(dev, dtypes, impls=checked),
        # per dtype and batch size at the largest H: fp16 at N <= 128 is where cuDNN may
        # pick its persistent kernel
        "profile": {f"{d} N={N} H={max(Hs)}": profiled_kernels(dev, d, T, N, max(Hs))
                    for d in dtypes for N in Ns},
        "rows": [], "target": None, "warnings": [],
    }
    echo(f"device: {name} ({dev.type}), torch {torch.__version__}, {result['date']}, "
         f"TF32 {'on' if tf32 else 'off'} for cuDNN and matmul alike")
    echo(f"fused layer vs float64 torch.nn.LSTM ({result['check']['backend']} kernels): "
         + ("PASS" if result["check"]["pass"] else "FAIL") + " "
         + json.dumps(result["check"].get("cases", result["check"].get("error"))))
    if out:
        _write_json(result, out)
    for dtype in dtypes:
        peak_key = "tf32" if dtype == "fp32" and tf32 and dev.type == "cuda" else dtype
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
                               "fraction_of_peak": None, "peak": peak_key,
                               "spread_s": None,
                               "compile_s": extra if isinstance(extra, float) else None,
                               "error": extra if isinstance(extra, str) else None}
                        if t is not None and t[pass_] is not None:
                            s = t[pass_]
                            row["seconds"] = s
                            row["spread_s"] = list(t["spread"][pass_])
                            row["tokens_per_s"] = T * N / s
                            row["tflops"] = flops(T, N, H, H, pass_) / s / 1e12
                            if peaks and peaks.get(peak_key):
                                row["fraction_of_peak"] = row["tflops"] / peaks[peak_key]
                            ref = times.get("cudnn", (None,))[0]
                            if ref is not None and ref[pass_]:
                                row["ratio_to_cudnn"] = ref[pass_] / s
                        result["rows"].append(row)
                    if t is not None and t["fwd"] > t["fwdbwd"]:
                        result["warnings"].append(
                            f"{dtype} N={N} H={H} {impl}: forward slower than forward+backward"
                            " (the machine was busy: rerun for numbers to read)")
                if out:  # after each case, so a run cut short still leaves its results
                    _write_json(result, out)
    if dev.type == "cpu":  # the peak again, after: the best measurement is the least disturbed
        again = cpu_roofline()
        best = max(machine["matmul_tflops"], again["matmul_tflops"])
        result["peak_measurements_tflops"] = [machine["matmul_tflops"], again["matmul_tflops"]]
        machine.update(matmul_tflops=best,
                       bandwidth_gbs=max(machine["bandwidth_gbs"], again["bandwidth_gbs"]))
        peaks["fp32"] = best
        for r in result["rows"]:
            if r["tflops"] is not None:
                r["fraction_of_peak"] = r["tflops"] / best
    for r in result["rows"]:
        if r["fraction_of_peak"] is not None and r["fraction_of_peak"] > 1:
            result["warnings"].append(
                f"{r['dtype']} N={r['N']} H={r['H']} {r['impl']} {r['pass']}: "
                f"{100 * r['fraction_of_peak']:.0f}% of the measured peak (the peak was "
                "measured while the machine was busy: rerun)")
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
    """The rows as a plain-text table. The ratio column is against the baseline of the
    device: cuDNN on a GPU, ``torch.nn.LSTM`` on a CPU (then labelled ``x nn.LSTM``)."""
    gpu = result.get("device_type") == "cuda"
    ratio = "x cuDNN" if gpu else "x nn.LSTM"
    names = {} if gpu else {"cudnn": "nn.LSTM (CPU)"}
    lines = [f"{'dtype':<5} {'N':>4} {'H':>5} {'impl':<14} {'pass':<7} {'ms':>9} "
             f"{'tokens/s':>11} {ratio:>9} {'TFLOP/s':>8} {'% peak':>7} {'setup s':>8}"]
    lines.append("-" * len(lines[0]))
    for r in result["rows"]:
        impl = names.get(r["impl"], r["impl"])
        if r["seconds"] is None:
            if r["pass"] == "fwdbwd" or r["error"]:
                lines.append(f"{r['dtype']:<5} {r['N']:>4} {r['H']:>5} {impl:<14} "
                             f"{r['pass']:<7} {(r['error'] or 'not measured')[:60]}")
            continue

        def f(v, fmt):
            return format(v, fmt) if v is not None else "-"

        lines.append(
            f"{r['dtype']:<5} {r['N']:>4} {r['H']:>5} {impl:<14} {r['pass']:<7} "
            f"{1e3 * r['seconds']:>9.2f} {r['tokens_per_s']:>11,.0f} "
            f"{f(r['ratio_to_cudnn'], '>9.2f')} {r['tflops']:>8.3f} "
            f"{f(None if r['fraction_of_peak'] is None else 100 * r['fraction_of_peak'], '>7.1f')}"
            f" {f(r['compile_s'], '>8.1f')}")
    settings = result.get("settings", {})
    lines.append(f"median of {settings.get('repeats')} alternated runs; ratio: tokens/s over "
                 f"{result.get('baseline', 'cuDNN')}'s; % peak of "
                 + (f"the card's {'TF32' if settings.get('tf32') else 'FP32'}/bf16/fp16 peak"
                    if gpu else "this CPU's best measured one-thread matmul"))
    for w in result.get("warnings", []):
        lines.append("warning: " + w)
    if result.get("target"):
        t = result["target"]
        lines.append(f"target: {t['impl']} fwd+bwd at N={t['N']}, H={t['H']}, {t['dtype']}: "
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
    parser.add_argument("--tf32", choices=("off", "on"), default="off",
                        help="TF32 for cuDNN and matmul alike (default off: full FP32)")
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
            args.repeats, args.threads, args.out, tf32=args.tf32 == "on")
    except ValueError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
