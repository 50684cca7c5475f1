r"""Chapter 2's clipping experiment: a tanh RNN on the adding problem, with and without clipping.

The network is chapter 1's tanh RNN (:func:`lstm_ref.numpy.rnn_forward`) with a linear
read-out of the last state,

.. math::
    h_t = \tanh(x_t W_x + h_{t-1} W_h + b), \qquad \hat y = h_T W_y + b_y, \qquad
    L = \frac{1}{2N} \sum_n (\hat y_n - y_n)^2,

trained by plain stochastic gradient descent on the adding problem
(:func:`lstm_ref.data.adding.make_adding_batch`). The recurrent matrix starts with a large
spectral norm (``recurrent_scale``) chosen by the experiment: below 1 the chapter's theorem
rules exploding Jacobians out, above it they are possible. Runs that share the initial
weights and every batch differ only in what happens to the gradient before the update:
nothing, norm rescaling (:func:`lstm_ref.numpy.clip_grad_norm`, Pascanu et al. 2013) or
element-wise clamping (:func:`lstm_ref.numpy.clip_grad_value`, char-rnn). Besides the loss,
each run records at every step the norm :math:`\lVert\partial h_T/\partial h_0\rVert_2`
of the state Jacobian and the share of the gradient's norm that lies in ``Wh``: these say
whether a large gradient came through the recurrence or from the read-out.

Everything is numpy and float64; a run of a few hundred steps takes seconds on one core.
"""

from dataclasses import dataclass, replace

import numpy as np

from ..data.adding import make_adding_batch
from ..numpy.rnn import rnn_forward, rnn_step_backward
from ..numpy.vanishing import _global_norm, clip_grad_norm, clip_grad_value, random_recurrent_matrix

CLIP_MODES = (None, "norm", "value")
TINY = 1e-150
"""Gradients and Jacobian entries below this are set to 0 step by step. Saturated states make
the backward products fall towards the subnormal floating-point range, where every
arithmetic operation is about a hundred times slower; values this small change no result."""
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
        kind: the random recurrent matrix, ``"gaussian"`` or ``"orthogonal"``
            (:func:`lstm_ref.numpy.random_recurrent_matrix`).
        jacobian_examples: the number of sequences of each batch on which
            :math:`\lVert\partial h_T/\partial h_0\rVert_2` is measured.
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
    kind: str = "gaussian"
    jacobian_examples: int = 4

    def __post_init__(self):
        if self.kind not in ("gaussian", "orthogonal"):
            raise ValueError(f"kind must be 'gaussian' or 'orthogonal', got {self.kind!r}")
        if self.clip not in CLIP_MODES:
            raise ValueError(f"clip must be one of {CLIP_MODES}, got {self.clip!r}")
        for name in ("T", "hidden", "batch_size", "steps", "jacobian_examples"):
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
        "Wh": random_recurrent_matrix(H, cfg.recurrent_scale, rng, kind=cfg.kind),
        "b": np.zeros(H),
        "Wy": rng.standard_normal((H, 1)) / np.sqrt(H),
        "by": np.full(1, 0.5),
    }


def state_jacobian_norm(h, Wh, k=0):
    r"""Spectral norm of :math:`\partial h_T/\partial h_k` for every sequence of a batch.

    For :math:`h_t = \tanh(x_t W_x + h_{t-1} W_h + b)` (row vectors, weights from the
    right), the Jacobian of one step is
    :math:`\partial h_t/\partial h_{t-1} = \operatorname{diag}(1 - h_t^2)\, W_h^\top`, and

    .. math::
        \frac{\partial h_T}{\partial h_k} = \prod_{t=T}^{k+1}
        \operatorname{diag}(1 - h_t^2)\, W_h^\top .

    Args:
        h: the states ``(T, N, H)`` of :func:`lstm_ref.numpy.rnn_forward` (``h[t - 1]`` is
            :math:`h_t`).
        Wh: ``(H, H)``.
        k: the earlier step, ``0 <= k < T`` (``0``: the initial state).

    Returns:
        ``(N,)``, float64.
    """
    h = np.asarray(h, dtype=np.float64)
    if h.ndim != 3 or Wh.shape != (h.shape[2], h.shape[2]):
        raise ValueError(
            f"h must be (T, N, H) and Wh (H, H), got {np.shape(h)} and {np.shape(Wh)}"
        )
    T, N, H = h.shape
    if not (isinstance(k, (int, np.integer)) and 0 <= k < T):
        raise ValueError(f"k must be an int in [0, {T}), got {k!r}")
    J = np.broadcast_to(np.eye(H), (N, H, H)).copy()  # (N, H, H)
    for t in range(k, T):  # h[t] is h_{t+1}
        J = (1.0 - h[t] ** 2)[:, :, None] * (Wh.T @ J)
        J[np.abs(J) < TINY] = 0.0
    return np.linalg.norm(J, ord=2, axis=(1, 2))


def loss_and_grads(params, x, y, return_states=False):
    """Mean squared error (halved) of the last-step read-out and its gradients.

    Args:
        params: the dict of :func:`init_params`.
        x: inputs ``(T, N, 2)``; y: targets ``(N,)``.

        return_states: also return the states ``h (T, N, H)``.

    Returns:
        ``(loss, grads)``: a float and a dict with the keys and shapes of ``params``
        (``(loss, grads, h)`` with ``return_states``).
    """
    T, N, _ = x.shape
    H = params["Wh"].shape[0]
    h0 = np.zeros((N, H))
    h, _ = rnn_forward(x, h0, params["Wx"], params["Wh"], params["b"])
    pred = h[-1] @ params["Wy"] + params["by"]  # (N, 1)
    err = pred[:, 0] - y  # (N,)
    loss = 0.5 * float(np.mean(err**2))
    dpred = (err / N)[:, None]  # (N, 1)
    # Backpropagation through time, one rnn_step_backward per step (the loss reads h_T only),
    # with the gradient flowing back set to 0 where it falls below TINY.
    dh_t = dpred @ params["Wy"].T  # (N, H)
    dWx, dWh, db = (np.zeros_like(params[k]) for k in ("Wx", "Wh", "b"))
    for t in range(T - 1, -1, -1):
        h_prev = h[t - 1] if t > 0 else h0
        step_cache = (x[t], h_prev, params["Wx"], params["Wh"], h[t])
        _, dh_t, dWx_t, dWh_t, db_t = rnn_step_backward(dh_t, step_cache)
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
        dh_t[np.abs(dh_t) < TINY] = 0.0
    grads = {
        "Wx": dWx,
        "Wh": dWh,
        "b": db,
        "Wy": h[-1].T @ dpred,
        "by": dpred.sum(axis=0),
    }
    if return_states:
        return loss, grads, h
    return loss, grads


def train(cfg):
    r"""Train one network; stop early if the loss stops being finite.

    Returns:
        A dict with ``"loss"`` and ``"grad_norm"``: float64 arrays ``(steps,)`` (the loss of
        each batch before its update and the global gradient norm before any clipping; NaN
        after a run diverged), ``"clipped"``: the fraction of steps whose gradient was
        changed by clipping, ``"clipped_steps"``: a boolean array ``(steps,)`` marking
        them, ``"sigma_max"``: float64 array ``(steps,)``, the spectral norm of ``Wh`` before
        each update, ``"jacobian"``: float64 array ``(steps,)``, the largest
        :math:`\lVert\partial h_T/\partial h_0\rVert_2` over the first
        ``jacobian_examples`` sequences of the batch (:func:`state_jacobian_norm`),
        ``"wh_share"``: float64 array ``(steps,)``, the share
        :math:`\lVert\partial L/\partial W_h\rVert_F / \lVert g\rVert` of the gradient's
        norm that lies in ``Wh``, ``"readout_share"``: the same for ``Wy`` and ``by``
        together, and ``"diverged"``: whether the loss became NaN or infinite.
    """
    params = init_params(cfg)
    data_rng = np.random.default_rng([cfg.seed, 2])
    losses = np.full(cfg.steps, np.nan)
    norms = np.full(cfg.steps, np.nan)
    sigma = np.full(cfg.steps, np.nan)
    jac = np.full(cfg.steps, np.nan)
    wh_share = np.full(cfg.steps, np.nan)
    readout_share = np.full(cfg.steps, np.nan)
    clipped_steps = np.zeros(cfg.steps, dtype=bool)
    diverged = False
    with np.errstate(over="ignore", invalid="ignore"):
        for step in range(cfg.steps):
            x, y = make_adding_batch(cfg.batch_size, cfg.T, data_rng, dtype=np.float64)
            loss, grads, h = loss_and_grads(params, x, y, return_states=True)
            g = [grads[k] for k in PARAM_NAMES]
            norm = _global_norm(g)
            if not (np.isfinite(loss) and np.isfinite(norm)):
                diverged = True
                break
            losses[step], norms[step] = loss, norm
            jac[step] = np.max(state_jacobian_norm(h[:, : cfg.jacobian_examples], params["Wh"]))
            if norm > 0:
                wh_share[step] = _global_norm([grads["Wh"]]) / norm
                readout_share[step] = _global_norm([grads["Wy"], grads["by"]]) / norm
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
        "jacobian": jac,
        "wh_share": wh_share,
        "readout_share": readout_share,
        "diverged": diverged,
    }


def first_jump(result, factor=2.0):
    r"""The first update that took :math:`\sigma_{\max}(W_h)` above ``factor`` times its
    initial value, as a step index (the update of step ``k`` is seen in
    ``result["sigma_max"][k + 1]``), or None if none did.

    Args:
        result: a dict returned by :func:`train`.
        factor: a number > 1.
    """
    if not factor > 1:
        raise ValueError(f"factor must be a number > 1, got {factor!r}")
    sigma = np.asarray(result["sigma_max"])
    above = np.flatnonzero(sigma[1:] > factor * sigma[0])
    return int(above[0]) if above.size else None


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
