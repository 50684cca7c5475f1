r"""Time the three LSTM graphs of :mod:`lstm_ref.graph.lstm_graphs` against the numpy step.

Run ``python -m lstm_ref.graph.bench`` (options: ``--repeats``, ``--sizes N,D,H ...``), or
call :func:`time_lstm_graphs` from a page. A measurement, not a test: nothing is asserted.

How it measures: one LSTM step, float64, ``x (N, D)`` and states ``(N, H)`` standard normal,
weights loaded with :func:`~lstm_ref.graph.lstm_graphs.load_lstm_weights`. "forward" is
``gmodule.forward``; "fwd+bwd" adds ``backward`` with random upstream gradients on both
outputs (input and parameter gradients). Each case runs once to warm up, then ``repeats``
times with the cases alternating; the best (smallest) wall time and the best CPU time of
the process are reported, in milliseconds, as ``timeit`` advises: on a shared machine the
other runs measure the waiting for a core more than the code, and a busy machine inflates
wall time (waiting) but hardly CPU time, so the ratios to numpy use CPU time. The
reference row is :func:`lstm_ref.numpy.lstm_step_forward` (+ ``lstm_step_backward``). The
process uses whatever BLAS threads numpy has; on a shared machine timings are noisy.
"""

import argparse
import time

import numpy as np

from ..numpy.lstm import lstm_step_backward, lstm_step_forward
from .lstm_graphs import LSTM_GRAPHS, load_lstm_weights

DEFAULT_SIZES = ((1, 32, 32), (32, 64, 128), (64, 128, 256))
"""``(N, D, H)`` cases: one example, a small batch, a char-rnn-sized batch."""

REFERENCE = "numpy lstm_step"


def _cases(N, D, H, seed):
    """``{name: (forward, forward_backward)}`` callables for one size."""
    rng = np.random.default_rng(seed)
    x, c, h = rng.standard_normal((N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    Wx, Wh = 0.1 * rng.standard_normal((D, 4 * H)), 0.1 * rng.standard_normal((H, 4 * H))
    b = 0.1 * rng.standard_normal(4 * H)
    dc, dh = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    cases = {}
    for name, builder in LSTM_GRAPHS.items():
        graph = load_lstm_weights(builder(D, H, rng=seed), Wx, Wh, b)

        def fwd(graph=graph):
            graph.forward([x, c, h])

        def fwdbwd(graph=graph):
            graph.forward([x, c, h])
            graph.backward([x, c, h], [dc, dh])

        cases[name] = (fwd, fwdbwd)

    def ref_fwd():
        lstm_step_forward(x, h, c, Wx, Wh, b)

    def ref_fwdbwd():
        lstm_step_backward(dh, dc, lstm_step_forward(x, h, c, Wx, Wh, b)[2])

    cases[REFERENCE] = (ref_fwd, ref_fwdbwd)
    return cases


def time_lstm_graphs(sizes=DEFAULT_SIZES, repeats=7, seed=0):
    """Best-of-``repeats`` times of one LSTM step through each graph and the numpy step.

    Args:
        sizes: ``(N, D, H)`` tuples.
        repeats: timed runs per case (after one warm-up run).
        seed: the seed of inputs and weights.

    Returns:
        A list of dicts, one per (size, implementation): ``{"graph", "N", "D", "H",
        "forward_ms", "fwdbwd_ms", "forward_cpu_ms", "fwdbwd_cpu_ms", "fwdbwd_vs_numpy"}``
        (wall and CPU times; the last is the fwd+bwd CPU time over the numpy reference's,
        for the same size).
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1, got {repeats!r}")
    rows = []
    for size in sizes:
        if len(size) != 3 or any(not isinstance(s, int) or s < 1 for s in size):
            raise ValueError(f"each size must be (N, D, H) of positive ints, got {size!r}")
        N, D, H = size
        cases = _cases(N, D, H, seed)
        samples = {(name, k): [] for name in cases for k in (0, 1)}
        for fns in cases.values():
            for fn in fns:
                fn()  # warm-up
        for _ in range(repeats):
            for name, fns in cases.items():
                for k, fn in enumerate(fns):
                    wall, cpu = time.perf_counter(), time.process_time()
                    fn()
                    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                    samples[(name, k)].append((wall, cpu))
        best = {key: 1e3 * min(w for w, _ in v) for key, v in samples.items()}
        best_cpu = {key: 1e3 * min(c for _, c in v) for key, v in samples.items()}
        for name in cases:
            rows.append({
                "graph": name, "N": N, "D": D, "H": H,
                "forward_ms": best[(name, 0)],
                "fwdbwd_ms": best[(name, 1)],
                "forward_cpu_ms": best_cpu[(name, 0)],
                "fwdbwd_cpu_ms": best_cpu[(name, 1)],
                "fwdbwd_vs_numpy": best_cpu[(name, 1)] / max(best_cpu[(REFERENCE, 1)], 1e-9),
            })
    return rows


def format_table(rows):
    """The rows of :func:`time_lstm_graphs` as a plain-text table."""
    head = (
        f"{'implementation':<18} {'N':>4} {'D':>4} {'H':>4} {'forward ms':>11} "
        f"{'fwd+bwd ms':>11} {'fwd+bwd CPU ms':>15} {'vs numpy (CPU)':>15}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['graph']:<18} {r['N']:>4} {r['D']:>4} {r['H']:>4} {r['forward_ms']:>11.3f} "
            f"{r['fwdbwd_ms']:>11.3f} {r['fwdbwd_cpu_ms']:>15.3f} {r['fwdbwd_vs_numpy']:>14.2f}x"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sizes", nargs="+", metavar="N,D,H", help="e.g. 32,64,128")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sizes = DEFAULT_SIZES
    if args.sizes:
        try:
            sizes = [tuple(int(v) for v in s.split(",")) for s in args.sizes]
        except ValueError:
            sizes = []
        if not sizes or any(len(s) != 3 for s in sizes):
            parser.error(f"--sizes takes N,D,H triples of ints, got {args.sizes}")
    print(format_table(time_lstm_graphs(sizes, args.repeats, args.seed)))


if __name__ == "__main__":
    main()
