"""Recorded experiment ``charrnn_ngram``: the n-gram baselines of the char-rnn page.

For order ``n = 1, 2, ...`` the interpolated model of :mod:`lstm_ref.train.ngram` is fit on
the training part, its smoothing strength ``alpha`` chosen on a grid by validation bits per
character, and the tuned model scored on the test part (each held-out character given all
the text before it, as :func:`lstm_ref.experiments.charrnn_split.heldout` defines). The
search stops once validation bits per character have risen above the best order's for
``patience`` orders in a row, or at ``max_order``. Deterministic: one "seed", which draws
nothing.
"""

import dataclasses
import time

import numpy as np

from ..results import Experiment
from ..train.ngram import NGramModel, tune_alpha
from .charrnn_split import heldout


@dataclasses.dataclass(frozen=True)
class NGramSearchConfig:
    """What the search runs.

    Attributes:
        corpus, val_frac, test_frac: the split (:func:`~.charrnn_split.heldout`).
        max_order: the highest order tried.
        patience: stop after this many orders in a row worse than the best on validation.
        alpha_grid: the smoothing strengths tried per order.
    """

    corpus: str = "pride_and_prejudice"
    val_frac: float = 0.05
    test_frac: float = 0.05
    max_order: int = 20
    patience: int = 2
    alpha_grid: tuple = (0.1, 0.2, 0.5, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0,
                         50.0, 70.0, 100.0, 200.0)


def run_seed(config, seed):
    data = heldout(config.corpus, config.val_frac, config.test_frac)
    ids, V = data["ids"], data["vocab"].size
    (_, a), (_, b), (_, L) = data["train"], data["val"], data["test"]
    train = ids[:a]
    orders, alphas, val, test, seconds = [], [], [], [], []
    for n in range(1, config.max_order + 1):
        t0 = time.perf_counter()
        alpha, val_bpc = tune_alpha(n, train, ids[a:b], V, grid=config.alpha_grid)
        model = NGramModel(n, V, alpha).fit(train)
        test_bpc = model.bits_per_char(ids[b:], context=ids[:b])
        orders.append(n)
        alphas.append(alpha)
        val.append(val_bpc)
        test.append(test_bpc)
        seconds.append(time.perf_counter() - t0)
        best = int(np.argmin(val))
        if len(val) - 1 - best >= config.patience:
            break
    return {"order": np.array(orders), "alpha": np.array(alphas), "val_bpc": np.array(val),
            "test_bpc": np.array(test), "seconds": np.array(seconds),
            "val_range": [a, b], "test_range": [b, L], "vocab_size": V}


def summarise(config, per_seed):
    r = per_seed[0]
    best = int(np.argmin(r["val_bpc"]))
    return {"best_order": int(r["order"][best]), "best_alpha": float(r["alpha"][best]),
            "best_val_bpc": float(r["val_bpc"][best]), "best_test_bpc": float(r["test_bpc"][best]),
            "orders_tried": int(len(r["order"]))}


def slice_config(config):
    return dataclasses.replace(config, max_order=3)


EXPERIMENT = Experiment(
    name="charrnn_ngram",
    module=__name__,
    config=NGramSearchConfig(),
    seeds=(0,),
    run_seed=run_seed,
    summarise=summarise,
    slice_config=slice_config,
    slice_keys=("alpha", "val_bpc", "test_bpc"),
    slice_rtol=0.0,
    description="n-gram baselines for char-rnn: order search, smoothing tuned on validation",
)
