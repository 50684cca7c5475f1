"""Chapter 6's truncated-BPTT experiments, recorded (:mod:`lstm_ref.train.tbptt`).

Per seed, on the bundled corpus:

- **carried against reset**: one ``torch.nn.LSTM`` layer trained by truncated BPTT with the
  state carried across segments, and the same with the state reset at every segment (the
  control), then scored in held-out bits per character (:func:`carry_run`);
- **without the detach**: the autograd graph behind each segment's loss and the backward
  pass's wall time, state detached against state carried with its graph
  (:func:`no_detach_demo`). The node counts are exact; the times are measurements of the
  machine that made the record.

One torch thread, seeded, constant learning rate: a shorter run is a prefix of the record.
"""

from dataclasses import dataclass, replace

import numpy as np

from ..data.corpus import load_corpus
from ..results import Experiment
from ..train.tbptt import carry_run, no_detach_demo


@dataclass(frozen=True)
class Config:
    hidden_size: int = 64
    batch: int = 32
    bptt: int = 10
    steps: int = 200
    lr: float = 1e-2
    eval_chars: int = 8000
    demo_chars: int = 40_000
    demo_hidden: int = 32
    demo_batch: int = 8
    demo_bptt: int = 20
    demo_segments: int = 10
    num_threads: int = 1


def run_seed(config, seed):
    """``carried_loss``, ``reset_loss`` (training loss per step), ``carried_bpc``,
    ``reset_bpc``; ``detach_nodes``, ``retained_nodes`` (autograd nodes per segment),
    ``detach_ms``, ``retained_ms`` (backward wall time per segment) and ``no_detach_error``
    (torch's message when the state is carried with its graph)."""
    train_ids, valid_ids, vocab = load_corpus()
    out = {}
    for mode in ("carried", "reset"):
        losses, bpc = carry_run(train_ids, valid_ids, len(vocab), mode, seed,
                                hidden_size=config.hidden_size, batch=config.batch,
                                bptt=config.bptt, steps=config.steps, lr=config.lr,
                                eval_chars=config.eval_chars, num_threads=config.num_threads)
        out[f"{mode}_loss"] = np.asarray(losses, dtype=np.float64)
        out[f"{mode}_bpc"] = float(bpc)
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(config.num_threads)
    try:
        demo = no_detach_demo(train_ids[: config.demo_chars], len(vocab),
                              hidden_size=config.demo_hidden, batch=config.demo_batch,
                              bptt=config.demo_bptt, n_segments=config.demo_segments, seed=seed)
    finally:
        torch.set_num_threads(before)
    out["no_detach_error"] = demo["error"]
    for mode, key in (("detach", "detach"), ("retain_graph", "retained")):
        out[f"{key}_nodes"] = np.asarray(demo[mode]["nodes"], dtype=np.int64)
        out[f"{key}_ms"] = np.asarray(demo[mode]["ms"], dtype=np.float32)
    return out


def summarise(config, per_seed):
    carried = [r["carried_bpc"] for r in per_seed.values()]
    reset = [r["reset_bpc"] for r in per_seed.values()]
    diff = [b - a for a, b in zip(carried, reset)]
    return {"carried_bpc": carried, "reset_bpc": reset, "reset_minus_carried": diff,
            "carried_mean": float(np.mean(carried)), "reset_mean": float(np.mean(reset)),
            "carried_better": sum(d > 0 for d in diff)}


EXPERIMENT = Experiment(
    name="tbptt",
    module=__name__,
    config=Config(),
    seeds=(0, 1, 2),
    run_seed=run_seed,
    summarise=summarise,
    slice_config=lambda c: replace(c, steps=10),
    slice_keys=("carried_loss", "reset_loss", "detach_nodes", "retained_nodes"),
    # Bit for bit on this machine. With torch's and MKL's kernels for other CPUs (AVX2, or
    # ATEN_CPU_CAPABILITY=default with MKL_ENABLE_INSTRUCTIONS=SSE4_2) the float32 losses of
    # the 10 steps move by at most 2e-7 relative; the node counts are integers.
    slice_rtol=1e-5,
    description="ch06: truncated BPTT, state carried against reset, and the missing detach",
)
