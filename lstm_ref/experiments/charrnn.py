"""Recorded experiment ``charrnn``: char-rnn trained on the novel, three seeds.

The model is char-rnn's (:func:`lstm_ref.graph.lstm_graphs.charrnn_lstm`), trained as the
torch model of :mod:`lstm_ref.train.charrnn_torch`, which computes the same function on the
same weights (``tests/train/test_charrnn_torch.py``) and is fast enough to train for
several epochs on one CPU core. Every ``eval_every`` batches the validation part is scored;
after training the test part is: every held-out character once, given the text before it
(:func:`lstm_ref.train.charrnn_torch.heldout_log2_probs`), the positions that
:mod:`.charrnn_ngram` scores its n-gram models on. Each seed also samples a few texts at
several temperatures; the weights are not kept.

The seed draws the initial weights and the dropout masks; the data and the order of the
batches are the same for every seed.
"""

import dataclasses

import numpy as np

from ..results import Experiment
from ..train.charrnn_torch import TrainConfig, heldout_log2_probs, sample, train
from .charrnn_split import heldout


@dataclasses.dataclass(frozen=True)
class CharRNNExperimentConfig:
    """The split, the training configuration and the samples.

    Attributes:
        corpus, val_frac, test_frac: the split (:func:`~.charrnn_split.heldout`).
        train: the :class:`~lstm_ref.train.charrnn_torch.TrainConfig`.
        temperatures: the sampling temperatures.
        sample_length: characters per sample.
        prime: the text each sample starts from.
    """

    corpus: str = "pride_and_prejudice"
    val_frac: float = 0.05
    test_frac: float = 0.05
    train: TrainConfig = TrainConfig(
        rnn_size=256, num_layers=1, seq_length=64, batch_size=16, dropout=0.2,
        optimizer="adam", learning_rate=1e-2, final_lr_frac=0.05, grad_clip=5.0,
        iterations=4000, eval_every=500, eval_streams=64, eval_warmup=128, dtype="float32")
    temperatures: tuple = (0.2, 0.5, 1.0, 3.0)
    sample_length: int = 300
    prime: str = "Elizabeth"


def run_seed(config, seed):
    data = heldout(config.corpus, config.val_frac, config.test_frac)
    ids, vocab = data["ids"], data["vocab"]
    (_, a), (_, b), (_, L) = data["train"], data["val"], data["test"]
    tc = config.train

    def val_bpc(model):
        return float(-heldout_log2_probs(model, ids, a, b, tc.eval_streams, tc.eval_warmup).mean())

    res = train(ids[:a], vocab.size, tc, seed, evaluate=val_bpc)
    out = {"train_loss": res["train_loss"], "lr": res["lr"].astype(np.float32),
           "eval_iterations": res["eval_iterations"], "val_bpc": res["val_bpc"],
           "train_seconds": res["seconds"], "n_params": res["n_params"],
           "batches": int(len(res["train_loss"])), "val_range": [a, b], "test_range": [b, L]}
    if tc.stop_after is None:  # the full run: test score and samples
        test = heldout_log2_probs(res["model"], ids, b, L, tc.eval_streams, tc.eval_warmup)
        out["test_bpc"] = float(-test.mean())
        out["test_scored"] = int(test.size)
        out["samples"] = {f"{tau:g}": sample(res["model"], vocab, config.sample_length, tau,
                                            prime=config.prime, seed=seed)
                          for tau in config.temperatures}
    return out


def summarise(config, per_seed):
    test = np.array([r["test_bpc"] for r in per_seed.values()])
    final_val = np.array([r["val_bpc"][-1] for r in per_seed.values()])
    seconds = np.array([r["train_seconds"] for r in per_seed.values()])
    return {"test_bpc_mean": float(test.mean()), "test_bpc_min": float(test.min()),
            "test_bpc_max": float(test.max()), "val_bpc_mean": float(final_val.mean()),
            "train_seconds_mean": float(seconds.mean())}


def slice_config(config):
    """Seed 0's first 6 batches: the schedule is that of the full run (it depends on
    ``iterations``, which the slice keeps)."""
    return dataclasses.replace(config, train=dataclasses.replace(config.train, stop_after=6))


EXPERIMENT = Experiment(
    name="charrnn",
    module=__name__,
    config=CharRNNExperimentConfig(),
    seeds=(0, 1, 2),
    run_seed=run_seed,
    summarise=summarise,
    slice_config=slice_config,
    slice_keys=("train_loss",),
    # float32 training: bit for bit on the machine that recorded it; on another CPU the
    # matrix kernels may sum in another order, within this relative tolerance after 6 batches
    slice_rtol=1e-5,
    description="char-rnn (torch LSTM) on Pride and Prejudice, 3 seeds, test bits/char",
)
