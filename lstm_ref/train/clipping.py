r"""Chapter 2's clipping experiment: a tanh RNN with a large recurrent scale on the adding problem.

The network is chapter 1's tanh RNN (:func:`lstm_ref.numpy.rnn_forward`) with a linear
read-out of the last state,

.. math::
    h_t = \tanh(x_t W_x + h_{t-1} W_h + b), \qquad \hat y = h_T W_y + b_y, \qquad
    L = \frac{1}{2N} \sum_n (\hat y_n - y_n)^2,

trained by plain stochastic gradient descent on the adding problem
(:func:`lstm_ref.data.adding.make_adding_batch`). The recurrent matrix starts with a large
spectral norm (``recurrent_scale``), the regime where the gradient can explode. Two runs
that share the initial weights and every batch differ only in what happens to the gradient
before the update: nothing, norm rescaling (:func:`lstm_ref.numpy.clip_grad_norm`, Pascanu
et al. 2013) or element-wise clamping (:func:`lstm_ref.numpy.clip_grad_value`, char-rnn).

Everything is numpy and float64; a run of a few hundred steps takes seconds on one core.
"""

from dataclasses import dataclass, replace

import numpy as np

from ..data.adding import make_adding_batch
from ..numpy.rnn import rnn_backward, rnn_forward
from ..numpy.vanishing import _global_norm, clip_grad_norm, clip_grad_value, random_recurrent_matrix

CLIP_MODES = (None, "norm", "value")
PARAM_NAMES = ("Wx", "Wh", "b", "Wy", "by")


@dataclass(frozen=True)
class ClippingConfig:
    r"""One run of the experiment.

    Attributes:
        T: minimal length of the adding sequences (the lag is at least ``T/2``).
        hidden: the hidden size ``H``.
        batch_size: sequences per step ``N``.
        steps: number of SGD updates.
        lr: the SGD learning rate.
        recurrent_scale: :math:`\sigma_{\max}(W_h)` at initialisation.
        clip: ``None``, ``"norm"`` or ``"value"``.
        threshold: ``max_norm`` for ``"norm"``, the clamp value for ``"value"``.
        seed: seeds the initial weights and the batches (shared by runs that differ in
            ``clip`` only).
    """

    T: int = 30
    hidden: int = 32
    batch_size: int = 32
    steps: int = 400
    lr: float = 0.5
    recurrent_scale: float = 2.0
    clip: object = None
    threshold: float = 1.0
    seed: int = 0

    def __post_init__(self):
        if self.clip not in CLIP_MODES:
            raise ValueError(f"clip must be one of {CLIP_MODES}, got {self.clip!r}")
        for name in ("T", "hidden", "batch_size", "steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name in ("lr", "recurrent_scale", "threshold"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def init_params(cfg):
    r"""The initial weights of a run, a dict ``{name: array}`` (float64), from ``cfg.seed``.

    ``Wx (2, H)``, ``Wh (H, H)`` with :math:`\sigma_{\max}(W_h)` = ``cfg.recurrent_scale``,
    ``b (H,)``, ``Wy (H, 1)``, ``by (1,)``.
    """
    rng = np.random.default_rng([cfg.seed, 1])
    H = cfg.hidden
    return {
        "Wx": rng.standard_normal((2, H)) / np.sqrt(2.0),
        "Wh": random_recurrent_matrix(H, cfg.recurrent_scale, rng),
        "b": np.zeros(H),
        "Wy": rng.standard_normal((H, 1)) / np.sqrt(H),
        "by": np.full(1, 0.5),
    }


def loss_and_grads(params, x, y):
    """Mean squared error (halved) of the last-step read-out and its gradients.

    Args:
        params: the dict of :func:`init_params`.
        x: inputs ``(T, N, 2)``; y: targets ``(N,)``.

    Returns:
        ``(loss, grads)``: a float and a dict with the keys and shapes of ``params``.
    """
    T, N, _ = x.shape
    H = params["Wh"].shape[0]
    h0 = np.zeros((N, H))
    h, cache = rnn_forward(x, h0, params["Wx"], params["Wh"], params["b"])
    pred = h[-1] @ params["Wy"] + params["by"]  # (N, 1)
    err = pred[:, 0] - y  # (N,)
    loss = 0.5 * float(np.mean(err**2))
    dpred = (err / N)[:, None]  # (N, 1)
    dh = np.zeros_like(h)
    dh[-1] = dpred @ params["Wy"].T
    _, _, dWx, dWh, db = rnn_backward(dh, cache)
    grads = {
        "Wx": dWx,
        "Wh": dWh,
        "b": db,
        "Wy": h[-1].T @ dpred,
        "by": dpred.sum(axis=0),
    }
    return loss, grads


def train(cfg):
    """Train one network; stop early if the loss stops being finite.

    Returns:
        A dict with ``"loss"`` and ``"grad_norm"``: float64 arrays ``(steps,)`` (the loss of
        each batch before its update and the global gradient norm before any clipping; NaN
        after a run diverged), ``"clipped"``: the fraction of steps whose gradient was
        changed by clipping, ``"clipped_steps"``: a boolean array ``(steps,)`` marking
        them, ``"sigma_max"``: float64 array ``(steps,)``, the spectral norm of ``Wh`` before
        each update, and ``"diverged"``: whether the loss became NaN or infinite.
    """
    params = init_params(cfg)
    data_rng = np.random.default_rng([cfg.seed, 2])
    losses = np.full(cfg.steps, np.nan)
    norms = np.full(cfg.steps, np.nan)
    sigma = np.full(cfg.steps, np.nan)
    clipped_steps = np.zeros(cfg.steps, dtype=bool)
    diverged = False
    with np.errstate(over="ignore", invalid="ignore"):
        for step in range(cfg.steps):
            x, y = make_adding_batch(cfg.batch_size, cfg.T, data_rng, dtype=np.float64)
            loss, grads = loss_and_grads(params, x, y)
            g = [grads[k] for k in PARAM_NAMES]
            norm = _global_norm(g)
            if not (np.isfinite(loss) and np.isfinite(norm)):
                diverged = True
                break
            losses[step], norms[step] = loss, norm
            sigma[step] = np.linalg.norm(params["Wh"], 2)
            if cfg.clip == "norm":
                g, _ = clip_grad_norm(g, cfg.threshold)
                clipped_steps[step] = norm > cfg.threshold
            elif cfg.clip == "value":
                clipped_steps[step] = any(np.any(np.abs(a) > cfg.threshold) for a in g)
                g = clip_grad_value(g, cfg.threshold)
            for k, gk in zip(PARAM_NAMES, g):
                params[k] = params[k] - cfg.lr * gk
    return {
        "loss": losses,
        "grad_norm": norms,
        "clipped": float(np.mean(clipped_steps)),
        "clipped_steps": clipped_steps,
        "sigma_max": sigma,
        "diverged": diverged,
    }


def compare(cfg, modes=(None, "norm")):
    """Runs of ``cfg`` that differ only in ``clip`` (same weights, same batches).

    Returns:
        ``{mode: result of train}``. A ``"value"`` run clamps at char-rnn's 5, unless
        ``cfg.clip == "value"`` (then at ``cfg.threshold``).
    """
    out = {}
    for mode in modes:
        threshold = cfg.threshold
        if mode == "value" and cfg.clip != "value":
            threshold = 5.0
        out[mode] = train(replace(cfg, clip=mode, threshold=threshold))
    return out
