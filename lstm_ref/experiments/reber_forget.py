r"""Gers, Schmidhuber & Cummins (2000), "Learning to Forget", on the continual embedded
Reber grammar, recorded.

Three cells, as in the paper's comparison (all without peepholes, which came later in
Gers & Schmidhuber's work): the LSTM with a forget gate, the cell without one (as in 1997),
and the cell without one whose state is reset to zero at the start of every embedded string
(the "external reset" of the paper: it is told where strings begin, the others are not).
For one seed the three train together on the same streams
(:func:`lstm_ref.train.ablation.train_reber_batch`), with the state carried on from chunk
to chunk and never reset (except the third cell's resets at string starts).

Success criterion: a run *solves* the task when its thresholded prediction is exactly the
set of allowed symbols at every scored step of the held-out streams (``eval_streams``
streams of ``eval_steps`` symbols, read from a zero state without reset, the first string
of each a warm-up): no error in about :math:`10^5` symbols.
"""

import dataclasses

import numpy as np

from ..results import Experiment
from ..train.ablation import ContinualReberConfig, train_reber_batch
from ..train.batched_variants import Cell

CELLS = {
    "forget gate": (Cell(peepholes=False), False),
    "no forget gate": (Cell(forget="none", peepholes=False), False),
    "no forget gate, external reset": (Cell(forget="none", peepholes=False), True),
}
"""name -> (cell, reset at every string's start)."""


@dataclasses.dataclass(frozen=True)
class ReberForgetConfig:
    """Attributes:
        train: a :class:`~lstm_ref.train.ablation.ContinualReberConfig`.
        cells: names of :data:`CELLS`.
        lrs: Adam's learning rates; every cell is trained at each.
        test_seed: seeds the held-out streams.
    """

    train: ContinualReberConfig = ContinualReberConfig(
        hidden_size=16, updates=3000, batch_size=8, chunk=40, eval_steps=10_000,
        eval_streams=10, head=40, block=100, decay="linear")
    cells: tuple = tuple(CELLS)
    lrs: tuple = (1e-2, 3e-2)
    test_seed: int = 2002


SEEDS = tuple(range(10))

KEYS = ("step_accuracy", "critical_choice", "critical_accuracy", "errors", "solved",
        "first_error")


def run_seed(config, seed):
    """Train the cells at every learning rate with ``seed``; arrays indexed
    ``[cell, lr]`` (curves ``[cell, lr, window]``, losses ``[update, cell, lr]``)."""
    C, L = len(config.cells), len(config.lrs)
    cells = [CELLS[name][0] for name in config.cells for _ in config.lrs]
    resets = [CELLS[name][1] for name in config.cells for _ in config.lrs]
    lrs = [lr for _ in config.cells for lr in config.lrs]
    out = train_reber_batch(cells, lrs, config.train, seed, resets=resets,
                            eval_seeds=(config.test_seed,))
    result = {"loss_head": out["loss_head"].reshape(-1, C, L),
              "loss_blocks": out["loss_blocks"].reshape(-1, C, L)}
    for key in KEYS:
        result[key] = out[f"e0_{key}"].reshape(C, L)
    for key in ("step_error", "cell_abs"):
        result[key] = out[f"e0_{key}"].reshape(C, L, -1)
    return result


def summarise(config, per_seed):
    """Per cell and learning rate (``out[cell][str(lr)]``): the number of seeds that solved
    the task, and the mean, sd, min, max and per-seed values of the other numbers."""
    seeds = list(per_seed)
    out = {}
    for c, name in enumerate(config.cells):
        out[name] = {}
        for j, lr in enumerate(config.lrs):
            entry = {}
            for key in KEYS:
                vals = [float(np.asarray(per_seed[s][key])[c, j]) for s in seeds]
                entry[key] = {"values": vals, "mean": float(np.mean(vals)),
                              "sd": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
                              "min": float(np.min(vals)), "max": float(np.max(vals))}
            entry["n_solved"] = int(sum(entry["solved"]["values"]))
            cabs = np.stack([np.asarray(per_seed[s]["cell_abs"])[c, j] for s in seeds])
            entry["cell_abs_first"] = float(cabs[:, 0].mean())
            entry["cell_abs_last"] = float(cabs[:, -1].mean())
            out[name][f"{lr:g}"] = entry
    return out


def slice_config(config):
    """The first 20 updates of the schedule, with a tiny evaluation."""
    return dataclasses.replace(config, train=dataclasses.replace(
        config.train, stop_after=20, block=20, eval_steps=200, eval_streams=1))


EXPERIMENT = Experiment(
    name="reber_forget",
    module=__name__,
    config=ReberForgetConfig(),
    seeds=SEEDS,
    run_seed=run_seed,
    summarise=summarise,
    slice_config=slice_config,
    slice_keys=("loss_head",),
    slice_rtol=1e-9,
    description="Gers et al. (2000): continual embedded Reber with and without forget gate, "
                "and with external reset",
)
