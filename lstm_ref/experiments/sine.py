"""Chapter 1's experiment, recorded: a tanh RNN predicts a sine wave, against the same
network with its recurrent matrix held at zero (:mod:`lstm_ref.train.sine`).

Both runs of a seed share the initial weights (but ``Wh``), every batch and the test set.
numpy, float64, Adam with a constant learning rate: the first steps of a run do not depend
on how many follow, so a 20-step run is a prefix of the record.
"""

from dataclasses import dataclass, replace

import numpy as np

from ..data.sine import make_sine_batch
from ..results import Experiment
from ..train.sine import train_sine

SHOW_SEED = 123
"""The seed of the one test sequence whose predictions the page plots."""


@dataclass(frozen=True)
class Config:
    H: int = 16
    steps: int = 400
    T: int = 40
    batch_size: int = 32
    lr: float = 0.01
    eval_every: int = 10
    n_test: int = 256


def run_seed(config, seed):
    """For ``rnn`` and ``ff`` (``Wh = 0``): ``<model>_steps``, ``<model>_train_loss``,
    ``<model>_test_loss`` (one entry per evaluation) and ``<model>_pred``, the predictions
    ``(T,)`` on the sequence drawn from :data:`SHOW_SEED` (also recorded, as ``show_x`` and
    ``show_y``)."""
    x, y = make_sine_batch(1, config.T, np.random.default_rng(SHOW_SEED))
    out = {"show_x": x[:, 0, 0], "show_y": y[:, 0, 0]}
    for name, recurrent in (("rnn", True), ("ff", False)):
        run = train_sine(H=config.H, steps=config.steps, T=config.T,
                         batch_size=config.batch_size, lr=config.lr, seed=seed,
                         recurrent=recurrent, eval_every=config.eval_every, n_test=config.n_test)
        out[f"{name}_steps"] = np.asarray(run.steps, dtype=np.int64)
        out[f"{name}_train_loss"] = np.asarray(run.train_loss, dtype=np.float64)
        out[f"{name}_test_loss"] = np.asarray(run.test_loss, dtype=np.float64)
        out[f"{name}_pred"] = run.model.predict(x)[:, 0, 0]
        out[f"{name}_final_test_loss"] = float(run.test_loss[-1])
    return out


def summarise(config, per_seed):
    """The final test losses per seed and their ratio (without recurrence / RNN)."""
    rnn = [r["rnn_final_test_loss"] for r in per_seed.values()]
    ff = [r["ff_final_test_loss"] for r in per_seed.values()]
    ratio = [f / r for f, r in zip(ff, rnn)]
    return {"rnn_final_test_loss": rnn, "ff_final_test_loss": ff, "ratio": ratio,
            "ratio_min": min(ratio), "ratio_max": max(ratio)}


EXPERIMENT = Experiment(
    name="sine",
    module=__name__,
    config=Config(),
    seeds=(0, 1, 2),
    run_seed=run_seed,
    summarise=summarise,
    slice_config=lambda c: replace(c, steps=20),
    slice_keys=("rnn_train_loss", "rnn_test_loss", "ff_train_loss", "ff_test_loss"),
    # Bit for bit on this machine; with another CPU's matrix kernels (OpenBLAS forced to
    # Haswell or Prescott) the 20-step slice moves by at most 5e-16 relative.
    slice_rtol=1e-12,
    description="ch01: tanh RNN predicting a sine wave, against the same network with W_h = 0",
)
