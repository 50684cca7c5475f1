r"""The gated recurrent unit (GRU, Cho et al., 2014): forward and backward, both reset
conventions.

.. math::
    \begin{aligned}
    r_t &= \sigma(x_t W_{xr} + b_{xr} + h_{t-1} W_{hr} + b_{hr})\\
    z_t &= \sigma(x_t W_{xz} + b_{xz} + h_{t-1} W_{hz} + b_{hz})\\
    n_t &= \tanh\bigl(x_t W_{xn} + b_{xn} + r_t \odot (h_{t-1} W_{hn} + b_{hn})\bigr)
        &\text{reset\_after=True (PyTorch)}\\
    n_t &= \tanh\bigl(x_t W_{xn} + b_{xn} + (r_t \odot h_{t-1}) W_{hn} + b_{hn}\bigr)
        &\text{reset\_after=False (Cho et al., d2l)}\\
    h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}
    \end{aligned}

Gate blocks are stacked in PyTorch's order r, z, n along the last axis of ``Wx (D, 3H)``,
``Wh (H, 3H)``, ``bx (3H,)`` and ``bh (3H,)``. The two biases are kept apart because with
``reset_after=True`` the recurrent bias ``bhn`` is multiplied by ``r``: only the ``r`` and
``z`` blocks of ``bx`` and ``bh`` act as one sum. With ``reset_after=True`` the functions
equal ``torch.nn.GRUCell``/``torch.nn.GRU`` given ``Wx = weight_ih.T``, ``Wh =
weight_hh.T``, ``bx = bias_ih``, ``bh = bias_hh`` (:mod:`lstm_ref.convert`).

Time-major sequences: ``x (T, N, D)``, ``h (T, N, H)``.
"""

import numpy as np

from .._validate import check_same_dtype, check_shape, gate_hidden_size
from .activations import sigmoid


def _check_params(N, D, h_name, h, Wx, Wh, bx, bh):
    """Shapes of ``Wx (D, 3H)``, ``h (N, H)``, ``Wh (H, 3H)``, ``bx``, ``bh (3H,)``; returns H."""
    H = gate_hidden_size("Wx", Wx, D, 3)
    check_shape(h_name, h, (N, H))
    check_shape("Wh", Wh, (H, 3 * H))
    check_shape("bx", bx, (3 * H,))
    check_shape("bh", bh, (3 * H,))
    return H


def _check_weights(D, H, Wx, Wh, bx, bh):
    """``Wx (D, 3H)``, ``Wh (H, 3H)``, ``bx``, ``bh (3H,)`` of one dtype, for ints ``D``, ``H``."""
    check_shape("Wx", Wx, (D, 3 * H))
    check_shape("Wh", Wh, (H, 3 * H))
    check_shape("bx", bx, (3 * H,))
    check_shape("bh", bh, (3 * H,))
    check_same_dtype(Wx=Wx, Wh=Wh, bx=bx, bh=bh)


def _check_reset_after(reset_after):
    if not isinstance(reset_after, (bool, np.bool_)):
        raise TypeError(
            "reset_after must be a bool (True: PyTorch's r * (h Whn + bhn); False: Cho et "
            f"al.'s (r * h) Whn + bhn), got {type(reset_after).__name__}"
        )
    return bool(reset_after)


def _step(ax, h_prev, Wh, bh, H, reset_after):
    """One step from the input projection ``ax = x Wx + bx (N, 3H)``: ``(h, r, z, n, hn)``."""
    if reset_after:
        ah = h_prev @ Wh + bh  # (N, 3H)
        rz = sigmoid(ax[:, : 2 * H] + ah[:, : 2 * H])
        r, z = rz[:, :H], rz[:, H:]
        hn = ah[:, 2 * H :]
    else:
        rz = sigmoid(ax[:, : 2 * H] + h_prev @ Wh[:, : 2 * H] + bh[: 2 * H])
        r, z = rz[:, :H], rz[:, H:]
        hn = (r * h_prev) @ Wh[:, 2 * H :] + bh[2 * H :]
    n = np.tanh(ax[:, 2 * H :] + (r * hn if reset_after else hn))
    h = n + z * (h_prev - n)  # (1 - z) * n + z * h_prev
    return h, r, z, n, hn


def _step_grads(dh, h_prev, Wh, r, z, n, hn, reset_after):
    """The gradients of one step given ``dh`` on its output ``h_t (N, H)``.

    Returns ``(dax, dah, dh_prev)``: ``dax (N, 3H)`` on the input projection ``x Wx + bx``,
    ``dah (N, 3H)`` on the recurrent products ``[h Whr, h Whz, m Whn] (+ bh)`` where ``m`` is
    ``h_prev`` (reset after) or ``r * h_prev`` (reset before), and ``dh_prev (N, H)``.
    """
    H = h_prev.shape[1]
    dn_pre = dh * (1.0 - z) * (1.0 - n * n)  # on n's pre-activation
    dz_pre = dh * (h_prev - n) * z * (1.0 - z)
    dh_prev = dh * z
    if reset_after:
        dhn = dn_pre * r
        dr_pre = dn_pre * hn * r * (1.0 - r)
    else:
        dhn = dn_pre
        d_rh = dn_pre @ Wh[:, 2 * H :].T  # on r * h_prev
        dr_pre = d_rh * h_prev * r * (1.0 - r)
        dh_prev = dh_prev + d_rh * r
    dax = np.concatenate([dr_pre, dz_pre, dn_pre], axis=1)
    dah = np.concatenate([dr_pre, dz_pre, dhn], axis=1)
    if reset_after:
        dh_prev = dh_prev + dah @ Wh.T
    else:
        dh_prev = dh_prev + dah[:, : 2 * H] @ Wh[:, : 2 * H].T
    return dax, dah, dh_prev


def _dWh(h_prev, r, dah, reset_after):
    """``dWh (H, 3H)`` from the states, the reset gates and ``dah`` (each with ``N`` rows)."""
    H = h_prev.shape[1]
    if reset_after:
        return h_prev.T @ dah
    return np.concatenate(
        [h_prev.T @ dah[:, : 2 * H], (r * h_prev).T @ dah[:, 2 * H :]], axis=1
    )


def gru_step_forward(x, h_prev, Wx, Wh, bx, bh, reset_after=True):
    r"""One GRU step.

    .. math::
        \begin{aligned}
        r &= \sigma(x W_{xr} + b_{xr} + h W_{hr} + b_{hr}), \quad
        z = \sigma(x W_{xz} + b_{xz} + h W_{hz} + b_{hz})\\
        h_n &= h W_{hn} + b_{hn}, \quad n = \tanh(x W_{xn} + b_{xn} + r \odot h_n)
        &\text{(reset\_after=True)}\\
        h_n &= (r \odot h) W_{hn} + b_{hn}, \quad n = \tanh(x W_{xn} + b_{xn} + h_n)
        &\text{(reset\_after=False)}\\
        h' &= (1 - z) \odot n + z \odot h
        \end{aligned}

    Args:
        x: input, ``(N, D)``.
        h_prev: previous hidden state ``h``, ``(N, H)``.
        Wx: ``(D, 3H)``; Wh: ``(H, 3H)``; bx: ``(3H,)``; bh: ``(3H,)``; gate blocks in order
            r, z, n.
        reset_after: ``True`` applies the reset gate after the recurrent product (PyTorch,
            cuDNN); ``False`` before it (Cho et al., 2014; d2l).

    Returns:
        ``(h_next, cache)``: ``h_next (N, H)`` and the tuple

        ``cache = (x, h_prev, Wx, Wh, bx, bh, r, z, n, hn, reset_after)``

        with the gates ``r``, ``z``, the candidate ``n`` and the recurrent term ``hn``, each
        ``(N, H)``: ``hn = h_prev Whn + bhn`` when ``reset_after`` (``n`` adds ``r * hn``),
        ``hn = (r * h_prev) Whn + bhn`` otherwise (``n`` adds ``hn``), ``Whn = Wh[:, 2H:]``,
        ``bhn = bh[2H:]``. :func:`gru_step_backward` reads exactly this layout.
    """
    check_shape("x", x, ("N", "D"))
    N, D = x.shape
    H = _check_params(N, D, "h_prev", h_prev, Wx, Wh, bx, bh)
    check_same_dtype(x=x, h_prev=h_prev, Wx=Wx, Wh=Wh, bx=bx, bh=bh)
    reset_after = _check_reset_after(reset_after)
    h_next, r, z, n, hn = _step(x @ Wx + bx, h_prev, Wh, bh, H, reset_after)
    return h_next, (x, h_prev, Wx, Wh, bx, bh, r, z, n, hn, reset_after)


def gru_step_backward(dh_next, cache):
    r"""Backward pass of :func:`gru_step_forward`.

    With :math:`h' = n + z \odot (h - n)`: :math:`\partial h'/\partial n = 1 - z`,
    :math:`\partial h'/\partial z = h - n` and :math:`\partial h'/\partial h = z` plus the
    paths through the gates (and, for ``reset_after=False``, through :math:`r \odot h`).

    Args:
        dh_next: gradient of the loss on ``h_next``, ``(N, H)``.
        cache: ``(x, h_prev, Wx, Wh, bx, bh, r, z, n, hn, reset_after)`` from the forward.

    Returns:
        ``(dx, dh_prev, dWx, dWh, dbx, dbh)`` with the shapes of the forward's inputs.
    """
    if not isinstance(cache, tuple) or len(cache) != 11:
        raise ValueError(
            "cache must be the tuple (x, h_prev, Wx, Wh, bx, bh, r, z, n, hn, reset_after) "
            f"of gru_step_forward, got {type(cache).__name__}"
            + (f" of length {len(cache)}" if isinstance(cache, (tuple, list)) else "")
        )
    x, h_prev, Wx, Wh, bx, bh, r, z, n, hn, reset_after = cache
    check_shape("dh_next", dh_next, h_prev.shape)
    check_same_dtype(**{"dh_next": dh_next, "the forward's h_prev": h_prev})
    dax, dah, dh_prev = _step_grads(dh_next, h_prev, Wh, r, z, n, hn, bool(reset_after))
    dx = dax @ Wx.T
    dWx = x.T @ dax
    dWh = _dWh(h_prev, r, dah, bool(reset_after))
    return dx, dh_prev, dWx, dWh, dax.sum(axis=0), dah.sum(axis=0)


def gru_forward(x, h0, Wx, Wh, bx, bh, reset_after=True):
    r"""A GRU over a whole sequence: :func:`gru_step_forward` at every step.

    The input projections :math:`x_t W_x + b_x` of all steps are one matrix product.

    Args:
        x: inputs, ``(T, N, D)``.
        h0: initial hidden state, ``(N, H)``.
        Wx: ``(D, 3H)``; Wh: ``(H, 3H)``; bx, bh: ``(3H,)``; gate blocks in order r, z, n.
        reset_after: as in :func:`gru_step_forward`.

    Returns:
        ``(h, cache)``: every hidden state ``h (T, N, H)`` (``h0`` excluded) and
        ``cache = (x, h0, Wx, Wh, bx, bh, r, z, n, hn, h, reset_after)`` where ``r``, ``z``,
        ``n``, ``hn`` stack the per-step arrays of :func:`gru_step_forward`'s cache, each
        ``(T, N, H)``.
    """
    check_shape("x", x, ("T", "N", "D"))
    T, N, D = x.shape
    H = _check_params(N, D, "h0", h0, Wx, Wh, bx, bh)
    check_same_dtype(x=x, h0=h0, Wx=Wx, Wh=Wh, bx=bx, bh=bh)
    reset_after = _check_reset_after(reset_after)
    ax = (x.reshape(T * N, D) @ Wx).reshape(T, N, 3 * H) + bx  # every step's x Wx + bx
    h, r, z, n, hn = (np.empty((T, N, H), dtype=x.dtype) for _ in range(5))
    h_prev = h0
    for t in range(T):
        h[t], r[t], z[t], n[t], hn[t] = _step(ax[t], h_prev, Wh, bh, H, reset_after)
        h_prev = h[t]
    return h, (x, h0, Wx, Wh, bx, bh, r, z, n, hn, h, reset_after)


def gru_backward(dh, cache):
    r"""Backpropagation through time for :func:`gru_forward`.

    ``dh[t]`` is the gradient of the loss on ``h_t`` from outside the recurrence. Along the
    direct path :math:`\partial h_t / \partial h_{t-1} \ni \operatorname{diag}(z_t)`: the
    update gate plays the forget gate's part in the LSTM's carousel.

    Args:
        dh: upstream gradients on every hidden state, ``(T, N, H)``.
        cache: from the forward.

    Returns:
        ``(dx, dh0, dWx, dWh, dbx, dbh)`` with the shapes of the forward's inputs.
    """
    x, h0, Wx, Wh, bx, bh, r, z, n, hn, h, reset_after = cache
    check_shape("dh", dh, h.shape)
    check_same_dtype(**{"dh": dh, "the forward's h": h})
    T, N, D = x.shape
    H = h.shape[2]
    dax = np.empty((T, N, 3 * H), dtype=h.dtype)
    dah = np.empty((T, N, 3 * H), dtype=h.dtype)
    carry = np.zeros((N, H), dtype=h.dtype)  # gradient flowing back from step t+1
    h_prev = np.concatenate([h0[None], h[:-1]], axis=0)  # (T, N, H)
    for t in range(T - 1, -1, -1):
        dax[t], dah[t], carry = _step_grads(
            dh[t] + carry, h_prev[t], Wh, r[t], z[t], n[t], hn[t], reset_after
        )
    dax2, dah2 = dax.reshape(T * N, 3 * H), dah.reshape(T * N, 3 * H)
    dx = (dax2 @ Wx.T).reshape(T, N, D)
    dWx = x.reshape(T * N, D).T @ dax2
    dWh = _dWh(h_prev.reshape(T * N, H), r.reshape(T * N, H), dah2, reset_after)
    return dx, carry, dWx, dWh, dax2.sum(axis=0), dah2.sum(axis=0)
