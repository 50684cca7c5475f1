r"""Time the numpy and torch LSTMs of :mod:`lstm_ref` against ``torch.nn.LSTM``.

Run it with ``python -m lstm_ref.bench`` (``make bench``). It is a measurement, not a test:
nothing fails when a target is missed, the table says so.

How it measures:

- Each library runs in its own child process (``python -m lstm_ref.bench --worker ...``)
  with ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS`` set to 1 (and
  ``torch.set_num_threads(1)``), so numpy's BLAS and torch's thread pools never compete for
  the cores; the numpy child never imports torch.
- Every case runs once to warm up, then ``--repeats`` times (the cases of one process
  alternating); the table shows the median wall time and the median CPU time of the
  worker process. Ratios use wall time unless ``--clock cpu``: on a busy machine a
  single-threaded worker waits for a core, which inflates its wall time but not its CPU time.
- Inputs are float32, time-major ``x (T, N, D)``, with ``T=100, N=64, D=128`` by default;
  ``x`` and the upstream gradients are standard normal, the weights drawn as torch's
  default initialisation (the speed of ``tanh`` depends on the values it gets).
- "fwd+bwd" includes the gradients on the input and on every weight, from a fixed random
  upstream gradient on every hidden state.
- GFLOP/s counts only the matrix products: a forward does
  :math:`2 \cdot T N \cdot 4H (D + H)` flops, a backward twice that (inputs and weights).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

# (key, label, pass direction)
CASES = (
    ("torch_fwd", "torch.nn.LSTM forward (no grad)", "fwd"),
    ("torch_fwdbwd", "torch.nn.LSTM forward+backward", "fwdbwd"),
    ("numpy_fwd", "numpy lstm_forward", "fwd"),
    ("numpy_fwdbwd", "numpy lstm_forward+lstm_backward", "fwdbwd"),
    ("ours_fwdbwd", "lstm_ref.torch.LSTM forward+backward", "fwdbwd"),
)

# case key -> {hidden size (None: any): the largest ratio to torch.nn.LSTM aimed at}
TARGETS = {
    "numpy_fwdbwd": {512: 1.3, 256: 1.5},
    "numpy_fwd": {512: 1.4},
    "ours_fwdbwd": {None: 1.3},
}
REFERENCE = {"fwd": "torch_fwd", "fwdbwd": "torch_fwdbwd"}


def flops(T, N, D, H, direction):
    """Flops of the matrix products of one LSTM layer over ``T`` steps."""
    forward = 2 * T * N * 4 * H * (D + H)
    return forward if direction == "fwd" else 3 * forward


def _timed(fn):
    """``(wall seconds, CPU seconds of this process)`` of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _medians(samples):
    """``{key: [(wall, cpu), ...]}`` -> ``{key: [median wall, median CPU]}``."""
    return {
        key: [statistics.median(w for w, _ in pairs), statistics.median(c for _, c in pairs)]
        for key, pairs in samples.items()
    }


def _measure(fns, repeats):
    """Run each of ``fns`` (``{key: fn}``) once to warm up, then ``repeats`` times with the
    cases alternating (so that drift of the machine hits them alike); return
    :func:`_medians` of the timings."""
    samples = {key: [] for key in fns}
    for fn in fns.values():
        fn()  # warm-up: first-touch allocations, BLAS initialisation
    for _ in range(repeats):
        for key, fn in fns.items():
            samples[key].append(_timed(fn))
    return _medians(samples)


def _numpy_worker(T, N, D, H, repeats):
    import numpy as np

    from lstm_ref.numpy.lstm import lstm_backward, lstm_forward

    rng = np.random.default_rng(0)
    f32 = np.float32
    x = rng.standard_normal((T, N, D)).astype(f32)
    h0 = np.zeros((N, H), f32)
    c0 = np.zeros((N, H), f32)
    # torch.nn.LSTM's default initialisation, so both see the same distribution of values
    # (the speed of tanh depends on them): every parameter from U(-1/sqrt(H), 1/sqrt(H)).
    k = 1.0 / np.sqrt(H)
    Wx = rng.uniform(-k, k, (D, 4 * H)).astype(f32)
    Wh = rng.uniform(-k, k, (H, 4 * H)).astype(f32)
    b = (rng.uniform(-k, k, 4 * H) + rng.uniform(-k, k, 4 * H)).astype(f32)  # b_ih + b_hh
    dh = rng.standard_normal((T, N, H)).astype(f32)

    def fwd():
        return lstm_forward(x, h0, c0, Wx, Wh, b)

    def fwdbwd():
        _, _, cache = lstm_forward(x, h0, c0, Wx, Wh, b)
        grads = lstm_backward(dh, cache)
        assert grads[3].dtype == f32
        return grads

    return _measure({"numpy_fwd": fwd, "numpy_fwdbwd": fwdbwd}, repeats)


def _torch_worker(T, N, D, H, repeats):
    import torch

    from lstm_ref.torch import LSTM

    torch.set_num_threads(1)
    torch.manual_seed(0)
    ref = torch.nn.LSTM(D, H)
    ours = LSTM(D, H)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(T, N, D)
    dh = torch.randn(T, N, H)

    def fwd():
        with torch.no_grad():
            return ref(x)

    def fwdbwd(module):
        def run():
            module.zero_grad(set_to_none=True)
            xg = x.detach().requires_grad_()
            out, _ = module(xg)
            out.backward(dh)
            return xg.grad

        return run

    # Alternate the modules' repeats so that drift of the machine hits both alike.
    fns = {"torch_fwd": fwd, "torch_fwdbwd": fwdbwd(ref), "ours_fwdbwd": fwdbwd(ours)}
    return _measure(fns, repeats)


def _run_worker(library, T, N, D, H, repeats):
    env = dict(os.environ)
    env.update({var: "1" for var in THREAD_VARS})
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [
        sys.executable, "-m", "lstm_ref.bench", "--worker", library,
        "--T", str(T), "--N", str(N), "--D", str(D), "--hidden", str(H),
        "--repeats", str(repeats),
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {library} worker failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _target(key, H):
    targets = TARGETS.get(key, {})
    return targets.get(H, targets.get(None))


def run(T=100, N=64, D=128, hidden=(256, 512), repeats=7, clock="wall", out=print):
    """Measure every case for every hidden size and print the table; return the rows.

    ``clock`` chooses what the ratios, GFLOP/s and verdicts use: ``"wall"`` (elapsed time)
    or ``"cpu"`` (the CPU time of the single-threaded worker, which a busy machine
    disturbs much less); both medians are printed.
    """
    out(
        f"LSTM benchmark: float32, T={T}, N={N}, D={D}, H in {list(hidden)}; "
        f"median of {repeats} runs after one warm-up, runs of a process's cases alternating."
    )
    out(
        "Each library runs in its own process with one thread "
        f"({'/'.join(THREAD_VARS)}=1, torch.set_num_threads(1)); numpy's never imports torch."
    )
    out("GFLOP/s counts matrix products only (forward 2*T*N*4H*(D+H), backward twice that).")
    out(
        "wall x, CPU x = time / torch.nn.LSTM's time for the same pass (fwd or fwd+bwd), "
        f"lower is better; GFLOP/s and the targets use the {clock} time."
    )
    rows = []
    col = 0 if clock == "wall" else 1
    for H in hidden:
        times = {}
        for library in ("numpy", "torch"):
            times.update(_run_worker(library, T, N, D, H, repeats))
        for key, label, direction in CASES:
            wall, cpu = times[key]
            seconds = times[key][col]
            ref = times[REFERENCE[direction]]
            ratio = seconds / ref[col]
            target = _target(key, H)
            verdict = "" if target is None else ("PASS" if ratio <= target else "MISS")
            rows.append(
                {
                    "H": H,
                    "case": label,
                    "key": key,
                    "wall_ms": 1e3 * wall,
                    "cpu_ms": 1e3 * cpu,
                    "gflops": flops(T, N, D, H, direction) / seconds / 1e9,
                    "ratio": ratio,
                    "wall_ratio": wall / ref[0],
                    "cpu_ratio": cpu / ref[1],
                    "target": target,
                    "verdict": verdict,
                }
            )
    out("")
    header = (
        f"{'H':>4}  {'case':<38} {'wall ms':>8} {'CPU ms':>8} {'GFLOP/s':>8} "
        f"{'wall x':>7} {'CPU x':>6}  target ({clock})"
    )
    out(header)
    out("-" * len(header))
    for r in rows:
        target = f"<= {r['target']:.1f}x {r['verdict']}" if r["target"] is not None else ""
        out(
            f"{r['H']:>4}  {r['case']:<38} {r['wall_ms']:>8.1f} {r['cpu_ms']:>8.1f} "
            f"{r['gflops']:>8.1f} {r['wall_ratio']:>6.2f}x {r['cpu_ratio']:>5.2f}x  {target}"
        )
    timed = [r["cpu_ms"] / r["wall_ms"] for r in rows if r["wall_ms"] > 5]  # not the tiny ones
    share = min(timed, default=1.0)
    if share < 0.9:
        out(
            f"\nWarning: a worker got only {share:.0%} of a core (CPU time / wall time): the "
            "machine is busy and wall times are inflated unevenly; rerun on an idle machine "
            "or compare with --clock cpu."
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m lstm_ref.bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 512], help="hidden sizes H")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per case (median)")
    parser.add_argument("--T", type=int, default=100, help="sequence length")
    parser.add_argument("--N", type=int, default=64, help="batch size")
    parser.add_argument("--D", type=int, default=128, help="input size")
    parser.add_argument(
        "--quick", action="store_true",
        help="a tiny smoke run (T=5, N=4, D=8, H=16, 1 repeat): checks that it works",
    )
    parser.add_argument(
        "--clock", choices=("wall", "cpu"), default="wall",
        help="the time the ratios use: elapsed (default) or the worker's CPU time",
    )
    parser.add_argument("--worker", choices=("numpy", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.T, args.N, args.D, args.hidden, args.repeats = 5, 4, 8, [16], 1
    if args.worker:
        worker = _numpy_worker if args.worker == "numpy" else _torch_worker
        result = worker(args.T, args.N, args.D, args.hidden[0], args.repeats)
        print(json.dumps(result))
        return 0
    run(args.T, args.N, args.D, args.hidden, args.repeats, args.clock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
