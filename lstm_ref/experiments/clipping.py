"""Chapter 2's clipping experiment, recorded: where a large gradient comes from, and what
norm clipping does about it (:mod:`lstm_ref.train.clipping`).

Four conditions, each changing one thing from the one before, on the same seeds (a seed
fixes the initial weights and every batch):

1. ``control``: :math:`\\sigma_{\\max}(W_h) = 0.5`, no clipping;
2. ``large``: :math:`\\sigma_{\\max}(W_h) = 3`, no clipping;
3. ``clipped``: as 2, the gradient's norm rescaled to at most :math:`\\theta = 1`;
4. ``clipped_1000``: as 3 with :math:`\\theta = 10^3`, the order of magnitude Pascanu et
   al.'s heuristic (the average norm before clipping) gives on these runs.

Every run is numpy in float64 with a constant learning rate, so its first ``k`` steps do
not depend on how many steps follow: the slice (20 steps) is a prefix of the record.
"""

from dataclasses import dataclass, field, replace

import numpy as np

from ..results import Experiment
from ..train.clipping import ClippingConfig, first_jump, train

CONDITIONS = (
    ("control", (("recurrent_scale", 0.5),)),
    ("large", (("recurrent_scale", 3.0),)),
    ("clipped", (("recurrent_scale", 3.0), ("clip", "norm"), ("threshold", 1.0))),
    ("clipped_1000", (("recurrent_scale", 3.0), ("clip", "norm"), ("threshold", 1000.0))),
)
SLICE_RTOL = 1e-9
"""The slice's tolerance. On this machine a rerun matches bit for bit. With the matrix
kernels of other CPUs (OpenBLAS forced to its Haswell or Prescott kernels), the control's 20
steps move by at most 1e-15 relative, and the first step of the sigma_max(W_h) = 3 runs by
6e-12: its backward pass multiplies rounding errors by a state Jacobian of about 1e4. Later
steps of those runs are not compared: after the first update their states saturate, the
gradient is then dominated by the rounding of 1 - h**2, and two CPUs' runs differ by 100 %
within 2 to 4 steps."""
EXACT = ("loss", "grad_norm", "sigma_max")
"""Curves kept in float64 (the slice compares the first two); the others go to float32."""
ROUNDED = ("jacobian", "wh_share", "readout_share")


@dataclass(frozen=True)
class Config:
    """The shared settings (``base``; its ``seed`` is replaced by each seed) and the
    conditions, each a name and the fields of :class:`ClippingConfig` it changes."""

    base: ClippingConfig = field(
        default_factory=lambda: ClippingConfig(lr=0.1, kind="orthogonal", steps=400))
    conditions: tuple = CONDITIONS


def run_seed(config, seed):
    """Every condition on one seed: per condition ``<name>_<curve>`` arrays ``(steps,)``
    and the scalars ``<name>_clipped`` (fraction of clipped steps), ``<name>_diverged``,
    ``<name>_jump`` (:func:`first_jump`, -1 for none); ``first_step``: the loss and the
    gradient norm of the first step of each condition."""
    out = {}
    for name, changes in config.conditions:
        r = train(replace(config.base, seed=seed, **dict(changes)))
        for key in EXACT:
            out[f"{name}_{key}"] = np.asarray(r[key], dtype=np.float64)
        for key in ROUNDED:
            out[f"{name}_{key}"] = np.asarray(r[key], dtype=np.float32)
        out[f"{name}_clipped"] = float(r["clipped"])
        out[f"{name}_diverged"] = bool(r["diverged"])
        jump = first_jump(r)
        out[f"{name}_jump"] = -1 if jump is None else int(jump)
    out["first_step"] = np.array([out[f"{name}_{key}"][0] for name, _ in config.conditions
                                  for key in ("loss", "grad_norm")])
    return out


def summarise(config, per_seed):
    """Per condition, over seeds: mean loss of the last 100 steps (min, max), mean gradient
    norm before clipping (min, max), number of seeds with a jump."""
    out = {}
    for name, _ in config.conditions:
        last = [float(np.mean(r[f"{name}_loss"][-100:])) for r in per_seed.values()]
        mean_norm = [float(np.mean(r[f"{name}_grad_norm"])) for r in per_seed.values()]
        out[name] = {"last100_loss_min": min(last), "last100_loss_max": max(last),
                     "mean_grad_norm_min": min(mean_norm), "mean_grad_norm_max": max(mean_norm),
                     "seeds_with_jump": sum(r[f"{name}_jump"] >= 0 for r in per_seed.values())}
    return out


def slice_config(config):
    return replace(config, base=replace(config.base, steps=20))


EXPERIMENT = Experiment(
    name="clipping",
    module=__name__,
    config=Config(),
    seeds=(0, 1, 2, 3, 4),
    run_seed=run_seed,
    summarise=summarise,
    slice_config=slice_config,
    # The control's curves, and the first step of every condition (see SLICE_RTOL).
    slice_keys=("control_loss", "control_grad_norm", "control_sigma_max", "first_step"),
    slice_rtol=SLICE_RTOL,
    description="ch02: tanh RNN on the adding problem, large W_h with and without norm clipping",
)
