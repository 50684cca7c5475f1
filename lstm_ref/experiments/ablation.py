r"""Greff et al. (2017)'s ablation at the scale of this course, recorded.

Nine cells (the vanilla LSTM with peepholes, the control, and the eight variants that each
change one part) learn the continual embedded Reber grammar, each at every learning rate of
a small grid, with ten seeds. For one seed, all ``9 x len(lrs)`` models train together on
the same streams (:func:`lstm_ref.train.ablation.train_reber_batch`), so a seed is the
unit of resumption. Each model is then read on two held-out sets of streams: a validation
set, which picks each variant's learning rate (the best mean over seeds), and a test set,
fresh data on which the picked runs are compared with the control's picked runs by an exact
two-sided Mann-Whitney test, Holm-corrected for the eight comparisons.
"""

import dataclasses

import numpy as np

from ..numpy.variants import VARIANTS
from ..results import Experiment
from ..train.ablation import ContinualReberConfig, holm, mann_whitney_p, train_reber_batch
from ..train.batched_variants import variant_cell


@dataclasses.dataclass(frozen=True)
class AblationConfig:
    """The study: the training of every model, the variants, the grid, the held-out sets.

    Attributes:
        train: a :class:`~lstm_ref.train.ablation.ContinualReberConfig`.
        variants: the cells, the control first.
        lrs: the learning-rate grid, the same for every variant.
        val_seed: seeds the validation streams (the choice of learning rate).
        test_seed: seeds the test streams (the reported numbers).
        alpha: the family-wise level of the Holm-corrected tests.
    """

    train: ContinualReberConfig = ContinualReberConfig(
        hidden_size=16, updates=700, batch_size=8, chunk=40, eval_steps=2500,
        eval_streams=4, head=40, block=50, decay="linear")
    variants: tuple = VARIANTS
    lrs: tuple = (1e-2, 3e-2, 1e-1)
    val_seed: int = 1001
    test_seed: int = 1002
    alpha: float = 0.05


SEEDS = tuple(range(10))

PER_MODEL = ("step_accuracy", "critical_choice", "critical_accuracy", "errors", "solved",
             "first_error")


def run_seed(config, seed):
    """Train every variant at every learning rate with ``seed``; arrays indexed
    ``[variant, lr]`` (``loss_head`` and ``loss_blocks``: ``[update, variant, lr]``)."""
    V, L = len(config.variants), len(config.lrs)
    cells = [variant_cell(v) for v in config.variants for _ in config.lrs]
    lrs = [lr for _ in config.variants for lr in config.lrs]
    out = train_reber_batch(cells, lrs, config.train, seed,
                            eval_seeds=(config.val_seed, config.test_seed))
    result = {"loss_head": out["loss_head"].reshape(-1, V, L),
              "loss_blocks": out["loss_blocks"].reshape(-1, V, L)}
    for prefix, j in (("val", 0), ("test", 1)):
        for key in PER_MODEL:
            result[f"{prefix}_{key}"] = out[f"e{j}_{key}"].reshape(V, L)
    for key in ("step_error", "cell_abs"):  # test streams only: (V, L, windows)
        result[f"test_{key}"] = out[f"e1_{key}"].reshape(V, L, -1)
    return result


def summarise(config, per_seed):
    """Per variant: the learning rate picked on validation (best mean step accuracy over
    seeds; the smaller rate on a tie), the test numbers of the picked runs (per seed, mean,
    sd, min, max), the exact Mann-Whitney p against the control's picked runs and its Holm
    adjustment over the other variants."""
    seeds = list(per_seed)
    val = np.stack([np.asarray(per_seed[s]["val_step_accuracy"]) for s in seeds])  # (S, V, L)
    picked = [int(np.argmax(val[:, v].mean(axis=0))) for v in range(len(config.variants))]
    out = {"lr_index": picked, "lr": [config.lrs[j] for j in picked],
           "val_mean": val.mean(axis=0).tolist(), "variants": {}}

    def picked_values(key, v):
        return [float(np.asarray(per_seed[s][f"test_{key}"])[v, picked[v]]) for s in seeds]

    control = picked_values("step_accuracy", 0)
    raw = []
    for v, name in enumerate(config.variants):
        entry = {}
        for key in PER_MODEL:
            vals = picked_values(key, v)
            entry[key] = {"values": vals, "mean": float(np.mean(vals)),
                          "sd": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0, "min": float(np.min(vals)),
                          "max": float(np.max(vals)), "median": float(np.median(vals))}
        cabs = np.stack([np.asarray(per_seed[s]["test_cell_abs"])[v, picked[v]] for s in seeds])
        entry["cell_abs_first"] = float(cabs[:, 0].mean())
        entry["cell_abs_last"] = float(cabs[:, -1].mean())
        if v:
            entry["p"] = mann_whitney_p(entry["step_accuracy"]["values"], control)
            entry["delta"] = entry["step_accuracy"]["mean"] - float(np.mean(control))
            raw.append(entry["p"])
        out["variants"][name] = entry
    adjusted = holm(raw)
    for v, name in enumerate(config.variants[1:]):
        e = out["variants"][name]
        e["p_holm"] = float(adjusted[v])
        e["differs"] = bool(adjusted[v] <= config.alpha)
    return out


def slice_config(config):
    """The first 20 updates of every model's schedule, with a tiny evaluation."""
    return dataclasses.replace(config, train=dataclasses.replace(
        config.train, stop_after=20, block=20, eval_steps=200, eval_streams=1))


EXPERIMENT = Experiment(
    name="ablation",
    module=__name__,
    config=AblationConfig(),
    seeds=SEEDS,
    run_seed=run_seed,
    summarise=summarise,
    slice_config=slice_config,
    slice_keys=("loss_head",),
    slice_rtol=1e-9,
    description="Greff et al. (2017) ablation: 9 cells x 3 learning rates x 10 seeds on the "
                "continual embedded Reber grammar",
)
