r"""The vanilla (Elman) recurrent network: forward and backward, one step and a sequence.

.. math::
    h_t = \tanh(x_t W_x + h_{t-1} W_h + b)

Time-major shapes: ``x (T, N, D)``, ``h (T, N, H)``; weights multiply from the right:
``Wx (D, H)``, ``Wh (H, H)``, ``b (H,)``.
"""

import numpy as np

from .._validate import check_same_dtype, check_shape, gate_hidden_size


def _check_weights(D, H, Wx, Wh, b):
    """``Wx (D, H)``, ``Wh (H, H)``, ``b (H,)`` of one dtype (``D``, ``H`` ints or names)."""
    check_shape("Wx", Wx, (D, H))
    check_shape("Wh", Wh, (H, H))
    check_shape("b", b, (H,))
    check_same_dtype(Wx=Wx, Wh=Wh, b=b)


def _check_params(N, D, h_name, h, Wx, Wh, b):
    """The shapes of ``Wx (D, H)``, the state ``h (N, H)`` (called ``h_name``), ``Wh (H, H)``
    and ``b (H,)`` for an input of ``N`` rows of ``D`` features; returns ``H``."""
    H = gate_hidden_size("Wx", Wx, D, 1)
    check_shape(h_name, h, (N, H))
    check_shape("Wh", Wh, (H, H))
    check_shape("b", b, (H,))
    return H


def rnn_step_forward(x, h_prev, Wx, Wh, b):
    r"""One step of a tanh RNN.

    .. math::
        h_{next} = \tanh(x W_x + h_{prev} W_h + b)

    Args:
        x: input at this step, ``(N, D)``.
        h_prev: previous hidden state, ``(N, H)``.
        Wx: input-to-hidden weights, ``(D, H)``.
        Wh: hidden-to-hidden weights, ``(H, H)``.
        b: bias, ``(H,)``.

    Returns:
        ``(h_next, cache)``: the next hidden state ``(N, H)`` and what the backward needs.
    """
    check_shape("x", x, ("N", "D"))
    N, D = x.shape
    _check_params(N, D, "h_prev", h_prev, Wx, Wh, b)
    check_same_dtype(x=x, h_prev=h_prev, Wx=Wx, Wh=Wh, b=b)
    h_next = np.tanh(x @ Wx + h_prev @ Wh + b)
    return h_next, (x, h_prev, Wx, Wh, h_next)


def rnn_step_backward(dh_next, cache):
    r"""Backward pass of :func:`rnn_step_forward`.

    With :math:`a = x W_x + h_{prev} W_h + b` and :math:`h = \tanh a`,
    :math:`\partial L/\partial a = \partial L/\partial h \odot (1 - h^2)`.

    Args:
        dh_next: gradient of the loss on ``h_next``, ``(N, H)``.
        cache: from the forward.

    Returns:
        ``(dx, dh_prev, dWx, dWh, db)`` with the shapes of the forward's inputs.
    """
    x, h_prev, Wx, Wh, h_next = cache
    check_shape("dh_next", dh_next, h_next.shape)
    check_same_dtype(**{"dh_next": dh_next, "the forward's h_next": h_next})
    da = dh_next * (1.0 - h_next * h_next)  # (N, H)
    dx = da @ Wx.T
    dh_prev = da @ Wh.T
    dWx = x.T @ da
    dWh = h_prev.T @ da
    db = da.sum(axis=0)
    return dx, dh_prev, dWx, dWh, db


def rnn_forward(x, h0, Wx, Wh, b):
    r"""A tanh RNN over a whole sequence.

    .. math::
        h_t = \tanh(x_t W_x + h_{t-1} W_h + b), \quad t = 1, \dots, T

    Args:
        x: inputs, ``(T, N, D)``.
        h0: initial hidden state, ``(N, H)``.
        Wx: ``(D, H)``; Wh: ``(H, H)``; b: ``(H,)``.

    Returns:
        ``(h, cache)``: every hidden state ``h (T, N, H)`` (``h0`` excluded) and the cache.
    """
    check_shape("x", x, ("T", "N", "D"))
    T, N, D = x.shape
    H = _check_params(N, D, "h0", h0, Wx, Wh, b)
    check_same_dtype(x=x, h0=h0, Wx=Wx, Wh=Wh, b=b)
    # The input projection of every step at once: one large matrix product.
    a_in = (x.reshape(T * N, D) @ Wx).reshape(T, N, H) + b
    h = np.empty((T, N, H), dtype=x.dtype)
    h_prev = h0
    for t in range(T):
        h[t] = np.tanh(a_in[t] + h_prev @ Wh)
        h_prev = h[t]
    return h, (x, h0, Wx, Wh, h)


def rnn_backward(dh, cache):
    r"""Backpropagation through time for :func:`rnn_forward`.

    ``dh[t]`` is the gradient of the loss on ``h_t`` from outside the recurrence (for
    example from an output layer at step ``t``). The gradient that reaches ``h_t`` is the
    sum of ``dh[t]`` and what flows back from step ``t+1``:

    .. math::
        \bar h_t = dh_t + (\bar h_{t+1} \odot (1 - h_{t+1}^2)) W_h^\top

    Args:
        dh: upstream gradients on every hidden state, ``(T, N, H)``.
        cache: from the forward.

    Returns:
        ``(dx, dh0, dWx, dWh, db)``: ``dx (T, N, D)``, ``dh0 (N, H)``, ``dWx (D, H)``,
        ``dWh (H, H)``, ``db (H,)``.
    """
    x, h0, Wx, Wh, h = cache
    check_shape("dh", dh, h.shape)
    check_same_dtype(**{"dh": dh, "the forward's h": h})
    T, N, D = x.shape
    H = h.shape[2]
    da = np.empty_like(h)  # (T, N, H): gradient on every pre-activation
    carry = np.zeros((N, H), dtype=h.dtype)  # gradient flowing back from step t+1
    for t in range(T - 1, -1, -1):
        da[t] = (dh[t] + carry) * (1.0 - h[t] * h[t])
        carry = da[t] @ Wh.T
    dh0 = carry
    h_prev = np.concatenate([h0[None], h[:-1]], axis=0)  # (T, N, H)
    dx = (da.reshape(T * N, H) @ Wx.T).reshape(T, N, D)
    dWx = x.reshape(T * N, D).T @ da.reshape(T * N, H)
    dWh = h_prev.reshape(T * N, H).T @ da.reshape(T * N, H)
    db = da.sum(axis=(0, 1))
    return dx, dh0, dWx, dWh, db
