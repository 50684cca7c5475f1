r"""The LSTM with a forget gate (Gers et al., 2000): forward and backward.

.. math::
    \begin{aligned}
    a_t &= x_t W_x + h_{t-1} W_h + b \quad &(N, 4H),\ \text{blocks } i, f, g, o\\
    i_t &= \sigma(a^i_t), \quad f_t = \sigma(a^f_t), \quad
    g_t = \tanh(a^g_t), \quad o_t = \sigma(a^o_t)\\
    c_t &= f_t \odot c_{t-1} + i_t \odot g_t\\
    h_t &= o_t \odot \tanh(c_t)
    \end{aligned}

Gate blocks are stacked in PyTorch's order i, f, g, o along the last axis of ``Wx (D, 4H)``,
``Wh (H, 4H)`` and ``b (4H,)``. Time-major sequences: ``x (T, N, D)``, ``h, c (T, N, H)``.
"""

import numpy as np

from .._validate import check_same_dtype, check_shape, gate_hidden_size


def _check_params(N, D, h_name, h, c_name, c, Wx, Wh, b):
    H = gate_hidden_size("Wx", Wx, D, 4)
    check_shape(h_name, h, (N, H))
    check_shape(c_name, c, (N, H))
    check_shape("Wh", Wh, (H, 4 * H))
    check_shape("b", b, (4 * H,))
    return H


def _check_weights(D, H, Wx, Wh, b):
    """``Wx (D, 4H)``, ``Wh (H, 4H)``, ``b (4H,)`` of one dtype, for known ints ``D``, ``H``."""
    check_shape("Wx", Wx, (D, 4 * H))
    check_shape("Wh", Wh, (H, 4 * H))
    check_shape("b", b, (4 * H,))
    check_same_dtype(Wx=Wx, Wh=Wh, b=b)


def _sigmoid_inplace(a):
    """:func:`~lstm_ref.numpy.activations.sigmoid` computed in place, without temporaries."""
    a *= 0.5
    np.tanh(a, out=a)
    a += 1.0
    a *= 0.5


def _gates(a, H):
    """Apply the gate nonlinearities in place on the fused pre-activation ``a (N, 4H)``."""
    _sigmoid_inplace(a[:, : 2 * H])  # i, f
    np.tanh(a[:, 2 * H : 3 * H], out=a[:, 2 * H : 3 * H])  # g
    _sigmoid_inplace(a[:, 3 * H :])  # o
    return a


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    r"""One LSTM step.

    Args:
        x: input, ``(N, D)``.
        h_prev: previous hidden state, ``(N, H)``.
        c_prev: previous cell state, ``(N, H)``.
        Wx: ``(D, 4H)``; Wh: ``(H, 4H)``; b: ``(4H,)``, gate blocks in order i, f, g, o.

    Returns:
        ``(h_next, c_next, cache)``, both states ``(N, H)``.
    """
    check_shape("x", x, ("N", "D"))
    N, D = x.shape
    H = _check_params(N, D, "h_prev", h_prev, "c_prev", c_prev, Wx, Wh, b)
    check_same_dtype(x=x, h_prev=h_prev, c_prev=c_prev, Wx=Wx, Wh=Wh, b=b)
    gates = _gates(x @ Wx + h_prev @ Wh + b, H)  # (N, 4H)
    i, f, g, o = (gates[:, k * H : (k + 1) * H] for k in range(4))
    c_next = f * c_prev + i * g
    tanh_c = np.tanh(c_next)
    h_next = o * tanh_c
    return h_next, c_next, (x, h_prev, c_prev, Wx, Wh, gates, tanh_c)


def lstm_step_backward(dh_next, dc_next, cache):
    r"""Backward pass of :func:`lstm_step_forward`.

    Args:
        dh_next: gradient of the loss on ``h_next``, ``(N, H)``.
        dc_next: gradient of the loss on ``c_next``, ``(N, H)``.
        cache: from the forward.

    Returns:
        ``(dx, dh_prev, dc_prev, dWx, dWh, db)``.
    """
    x, h_prev, c_prev, Wx, Wh, gates, tanh_c = cache
    check_shape("dh_next", dh_next, h_prev.shape)
    check_shape("dc_next", dc_next, c_prev.shape)
    check_same_dtype(**{"dh_next": dh_next, "dc_next": dc_next, "the forward's x": x})
    H = h_prev.shape[1]
    i, f, g, o = (gates[:, k * H : (k + 1) * H] for k in range(4))
    dc = dc_next + dh_next * o * (1.0 - tanh_c * tanh_c)
    da = np.concatenate(
        [
            dc * g * i * (1.0 - i),  # input gate
            dc * c_prev * f * (1.0 - f),  # forget gate
            dc * i * (1.0 - g * g),  # candidate
            dh_next * tanh_c * o * (1.0 - o),  # output gate
        ],
        axis=1,
    )  # (N, 4H)
    dx = da @ Wx.T
    dh_prev = da @ Wh.T
    dc_prev = dc * f
    dWx = x.T @ da
    dWh = h_prev.T @ da
    db = da.sum(axis=0)
    return dx, dh_prev, dc_prev, dWx, dWh, db


def lstm_forward(x, h0, c0, Wx, Wh, b):
    r"""An LSTM over a whole sequence.

    Args:
        x: inputs, ``(T, N, D)``.
        h0: initial hidden state, ``(N, H)``.
        c0: initial cell state, ``(N, H)``.
        Wx: ``(D, 4H)``; Wh: ``(H, 4H)``; b: ``(4H,)``, gate blocks in order i, f, g, o.

    Returns:
        ``(h, c, cache)``: hidden and cell states of every step, each ``(T, N, H)``
        (``h0`` and ``c0`` excluded).
    """
    check_shape("x", x, ("T", "N", "D"))
    T, N, D = x.shape
    H = _check_params(N, D, "h0", h0, "c0", c0, Wx, Wh, b)
    check_same_dtype(x=x, h0=h0, c0=c0, Wx=Wx, Wh=Wh, b=b)
    # sigmoid(z) = (1 + tanh(z / 2)) / 2: with the i, f, o columns of the weights halved
    # (halving is exact in floating point), one tanh over the whole block serves all 4 gates.
    half = np.full(4 * H, 0.5, dtype=x.dtype)
    half[2 * H : 3 * H] = 1.0  # g is a plain tanh
    Wx_half, Wh_half, b_half = Wx * half, Wh * half, b * half
    # One matrix product per step, [x_t, h_{t-1}] [Wx; Wh], computed transposed: OpenBLAS is
    # faster with a (4H, N) result for these shapes, the gates then act on contiguous rows,
    # and no (T, N, 4H) input projection has to be allocated besides the cache.
    W_T = np.ascontiguousarray(np.concatenate([Wx_half, Wh_half]).T)  # (4H, D+H)
    gates = np.empty((T, N, 4 * H), dtype=x.dtype)
    h = np.empty((T, N, H), dtype=x.dtype)
    c = np.empty((T, N, H), dtype=x.dtype)
    tanh_c = np.empty((T, N, H), dtype=x.dtype)
    a_T = np.empty((4 * H, N), dtype=x.dtype)  # buffers reused at every step
    xh = np.empty((N, D + H), dtype=x.dtype)  # [x_t, h_{t-1}]
    ig = np.empty((N, H), dtype=x.dtype)
    b_col = b_half[:, None]
    h_prev, c_prev = h0, c0
    for t in range(T):
        xh[:, :D] = x[t]
        xh[:, D:] = h_prev
        np.matmul(W_T, xh.T, out=a_T)
        a_T += b_col
        np.tanh(a_T, out=a_T)  # g, and tanh(z/2) for i, f, o
        for sig in (a_T[: 2 * H], a_T[3 * H :]):
            sig *= 0.5
            sig += 0.5
        a = gates[t]  # (N, 4H): the activations i, f, g, o, kept for the backward
        a[...] = a_T.T
        np.multiply(a[:, H : 2 * H], c_prev, out=c[t])
        c[t] += np.multiply(a[:, :H], a[:, 2 * H : 3 * H], out=ig)
        np.tanh(c[t], out=tanh_c[t])
        np.multiply(a[:, 3 * H :], tanh_c[t], out=h[t])
        h_prev, c_prev = h[t], c[t]
    return h, c, (x, h0, c0, Wx, Wh, gates, c, tanh_c, h)


def lstm_backward(dh, cache, dc_last=None):
    r"""Backpropagation through time for :func:`lstm_forward`.

    ``dh[t]`` is the gradient of the loss on ``h_t`` from outside the recurrence. Along
    the cell path :math:`\partial c_t / \partial c_{t-1} = \operatorname{diag}(f_t)`: the
    constant error carousel.

    Args:
        dh: upstream gradients on every hidden state, ``(T, N, H)``.
        cache: from the forward.
        dc_last: optional upstream gradient on the final cell state ``c_T``, ``(N, H)``
            (truncated BPTT carries it between chunks).

    Returns:
        ``(dx, dh0, dc0, dWx, dWh, db)`` with the shapes of the forward's inputs.
    """
    x, h0, c0, Wx, Wh, gates, c, tanh_c, h = cache
    check_shape("dh", dh, h.shape)
    check_same_dtype(**{"dh": dh, "the forward's h": h})
    T, N, D = x.shape
    H = h.shape[2]
    dtype = h.dtype
    dc_carry = np.zeros((N, H), dtype=dtype)
    if dc_last is not None:
        check_shape("dc_last", dc_last, (N, H))
        check_same_dtype(**{"dc_last": dc_last, "the forward's h": h})
        dc_carry[...] = dc_last
    dh_carry_T = np.zeros((H, N), dtype=dtype)  # gradient from step t+1, kept transposed:
    dh_carry = dh_carry_T.T  # OpenBLAS computes Wh d^T faster than d Wh^T for these shapes
    da = np.empty((T, N, 4 * H), dtype=dtype)  # gradient on every pre-activation
    dh_t = np.empty((N, H), dtype=dtype)
    for t in range(T - 1, -1, -1):
        a = gates[t]
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        c_prev = c[t - 1] if t > 0 else c0
        np.add(dh[t], dh_carry, out=dh_t)
        d = da[t]
        # output gate: h = o * tanh(c)
        np.multiply(dh_t, tanh_c[t], out=d[:, 3 * H :])
        d[:, 3 * H :] *= o * (1.0 - o)
        # cell: dc = dc_carry + dh * o * (1 - tanh(c)^2)
        dc = dc_carry + dh_t * o * (1.0 - tanh_c[t] * tanh_c[t])
        np.multiply(dc, g * i * (1.0 - i), out=d[:, :H])
        np.multiply(dc, c_prev * f * (1.0 - f), out=d[:, H : 2 * H])
        np.multiply(dc, i * (1.0 - g * g), out=d[:, 2 * H : 3 * H])
        np.multiply(dc, f, out=dc_carry)
        np.matmul(Wh, d.T, out=dh_carry_T)
    h_prev = np.concatenate([h0[None], h[:-1]], axis=0)  # (T, N, H)
    da2 = da.reshape(T * N, 4 * H)
    dx = (da2 @ Wx.T).reshape(T, N, D)
    dWx = x.reshape(T * N, D).T @ da2
    dWh = h_prev.reshape(T * N, H).T @ da2
    db = da2.sum(axis=0)
    return dx, np.ascontiguousarray(dh_carry), dc_carry, dWx, dWh, db


def init_forget_bias(b, value=1.0):
    """Return a copy of the fused bias ``b (4H,)`` with its forget-gate block set to ``value``.

    Jozefowicz et al. (2015) found that initialising the forget bias at 1 closes the gap
    between the LSTM and the GRU. ``b`` itself is not modified.
    """
    check_shape("b", b, ("4H",))
    if b.shape[0] % 4:
        raise ValueError(f"b must have shape (4H,) with 4H a multiple of 4, got {b.shape}")
    H = b.shape[0] // 4
    out = b.copy()
    out[H : 2 * H] = value
    return out
