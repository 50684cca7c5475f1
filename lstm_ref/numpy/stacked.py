r"""Stacked and bidirectional recurrent networks in numpy, over any cell of the course
(``"lstm"``, ``"gru"``, ``"rnn"``), forward and backward, in torch's layouts.

Layer :math:`\ell` reads the outputs of layer :math:`\ell - 1` (the input ``x`` for
:math:`\ell = 0`). A bidirectional layer runs one cell from :math:`t = 1` to :math:`T` and
another, with its own weights, from :math:`T` down to 1 on the same input, and concatenates
the two hidden states of each step:

.. math::
    \overrightarrow{h}_t = \operatorname{cell}(x_t, \overrightarrow{h}_{t-1}), \qquad
    \overleftarrow{h}_t = \operatorname{cell}'(x_t, \overleftarrow{h}_{t+1}), \qquad
    \text{output}_t = [\overrightarrow{h}_t, \overleftarrow{h}_t] \quad (N, 2H).

Layouts are torch's (``torch.nn.LSTM``/``GRU``/``RNN``, ``batch_first=False``), with
``K = num_layers * num_directions`` and ``k = layer * num_directions + direction``:

- ``output (T, N, num_directions * H)``: the last layer's states at every step;
- ``h_n (K, N, H)`` (and ``c_n`` for the LSTM): the final state of every layer and
  direction. For the backward direction the final state is the one at **step 0**, after
  it has read the whole sequence: ``h_n[-1] == output[0, :, H:]``, while
  ``output[-1, :, H:]`` is that direction's *first* state, computed from ``x_{T-1}``
  alone (:func:`final_states_from_output`).

Parameters: ``params_list[k]`` holds layer ``layer``'s weights for ``direction`` in the
numpy layout of the cell: ``(Wx, Wh, b)`` for ``"lstm"`` (:func:`~lstm_ref.numpy.lstm_forward`)
and ``"rnn"``, ``(Wx, Wh, bx, bh)`` for ``"gru"``; ``Wx`` has ``D`` rows for layer 0 and
``num_directions * H`` above. :mod:`lstm_ref.convert` gives them for a torch module
(``torch_lstm_to_numpy(module, layer, direction)``, ``gru_params_from_torch``,
``torch_rnn_to_numpy``).
"""

import numpy as np

from .._validate import check_same_dtype, check_shape
from .gru import gru_backward, gru_forward
from .lstm import lstm_backward, lstm_forward
from .rnn import rnn_backward, rnn_forward

CELLS = ("lstm", "gru", "rnn")
_N_PARAMS = {"lstm": 3, "gru": 4, "rnn": 3}


def _run_forward(cell, x, h0, c0, p, reset_after):
    """One layer, one direction: ``(h (T, N, H), c_T or None, cache)``."""
    if cell == "lstm":
        h, c, cache = lstm_forward(x, h0, c0, *p)
        return h, c[-1], cache
    if cell == "gru":
        h, cache = gru_forward(x, h0, *p, reset_after=reset_after)
    else:
        h, cache = rnn_forward(x, h0, *p)
    return h, None, cache


def _run_backward(cell, dh, cache, dc_last):
    """``(dx, dh0, dc0 or None, grads tuple)`` for :func:`_run_forward`."""
    if cell == "lstm":
        dx, dh0, dc0, *grads = lstm_backward(dh, cache, dc_last)
        return dx, dh0, dc0, tuple(grads)
    backward = gru_backward if cell == "gru" else rnn_backward
    dx, dh0, *grads = backward(dh, cache)
    return dx, dh0, None, tuple(grads)


def _check_layout(x, params_list, cell, bidirectional):
    if not isinstance(cell, str) or cell not in CELLS:
        raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
    if not isinstance(bidirectional, bool):
        raise TypeError(f"bidirectional must be a bool, got {type(bidirectional).__name__}")
    check_shape("x", x, ("T", "N", "D"))
    dirs = 2 if bidirectional else 1
    if not isinstance(params_list, (list, tuple)) or not params_list:
        raise TypeError(
            "params_list must be a non-empty list of per-layer, per-direction weight tuples, "
            f"got {type(params_list).__name__}"
            + (" (empty)" if isinstance(params_list, (list, tuple)) else "")
        )
    if len(params_list) % dirs:
        raise ValueError(
            f"params_list must have num_layers * 2 entries for a bidirectional network "
            f"(forward and backward direction of each layer), got {len(params_list)}"
        )
    n = _N_PARAMS[cell]
    names = "(Wx, Wh, bx, bh)" if cell == "gru" else "(Wx, Wh, b)"
    for k, p in enumerate(params_list):
        if not isinstance(p, (list, tuple)) or len(p) != n:
            raise ValueError(
                f"params_list[{k}] must be a tuple {names} for cell {cell!r}, got "
                f"{type(p).__name__}"
                + (f" of length {len(p)}" if isinstance(p, (list, tuple)) else "")
            )
    return dirs, len(params_list) // dirs


def _check_states(name, s, K, N, H, dtype):
    if s is None:
        return np.zeros((K, N, H), dtype=dtype)
    check_shape(name, s, (K, N, H))
    check_same_dtype(**{"x": np.empty(0, dtype), name: s})
    return s


def stacked_forward(x, params_list, cell="lstm", bidirectional=False, h0=None, c0=None,
                    reset_after=True):
    r"""A stack of recurrent layers, optionally bidirectional, over a whole sequence.

    Args:
        x: inputs, ``(T, N, D)``.
        params_list: ``num_layers * num_directions`` weight tuples, entry ``k = layer *
            num_directions + direction`` (see the module docstring).
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"`` (tanh).
        bidirectional: whether every layer also runs backwards in time.
        h0: initial hidden states ``(num_layers * num_directions, N, H)``; zeros if None.
        c0: initial cell states, same shape (LSTM only); zeros if None.
        reset_after: the GRU's convention (:func:`~lstm_ref.numpy.gru_forward`).

    Returns:
        ``(output, h_n, c_n, cache)`` for the LSTM, ``(output, h_n, cache)`` for the GRU and
        the RNN: ``output (T, N, num_directions * H)``, ``h_n`` and ``c_n`` ``(num_layers *
        num_directions, N, H)``, as ``torch.nn.LSTM``/``GRU``/``RNN`` return them.
    """
    dirs, num_layers = _check_layout(x, params_list, cell, bidirectional)
    if cell != "lstm" and c0 is not None:
        raise ValueError(f"c0 is only for cell='lstm'; a {cell.upper()} has no cell state")
    T, N, D = x.shape
    Wh0 = params_list[0][1]
    check_shape("params_list[0] Wh", Wh0, ("H", "G*H"))
    H = Wh0.shape[0]
    K = len(params_list)
    h0 = _check_states("h0", h0, K, N, H, x.dtype)
    if cell == "lstm":
        c0 = _check_states("c0", c0, K, N, H, x.dtype)
    h_n = np.empty((K, N, H), dtype=x.dtype)
    c_n = np.empty((K, N, H), dtype=x.dtype) if cell == "lstm" else None
    caches = []
    layer_in = x
    for layer in range(num_layers):
        outs = []
        for direction in range(dirs):
            k = layer * dirs + direction
            xin = layer_in[::-1] if direction else layer_in  # backward direction: x reversed
            try:
                h, c_last, cache = _run_forward(
                    cell, xin, h0[k], c0[k] if cell == "lstm" else None, params_list[k],
                    reset_after,
                )
            except ValueError as err:
                raise ValueError(
                    f"params_list[{k}] (layer {layer}, direction {direction}): {err}"
                ) from None
            h_n[k] = h[-1]  # for direction 1 this is the state at step 0
            if c_n is not None:
                c_n[k] = c_last
            outs.append(h[::-1] if direction else h)
            caches.append(cache)
        layer_in = np.concatenate(outs, axis=2) if dirs == 2 else outs[0]
    cache = (cell, dirs, num_layers, H, caches, layer_in.shape)
    if cell == "lstm":
        return layer_in, h_n, c_n, cache
    return layer_in, h_n, cache


def stacked_backward(doutput, cache, dh_n=None, dc_n=None):
    r"""Backpropagation through time for :func:`stacked_forward`.

    The gradient on a layer's output splits into its directions' halves; the backward
    direction's half is reversed in time before its cell's backward and its ``dx`` reversed
    back; the two directions' ``dx`` add up into the gradient on the layer's input (the
    output of the layer below).

    Args:
        doutput: gradient on ``output``, ``(T, N, num_directions * H)``.
        cache: from the forward.
        dh_n: optional gradient on ``h_n``, ``(num_layers * num_directions, N, H)``.
        dc_n: optional gradient on ``c_n`` (LSTM only), same shape.

    Returns:
        ``(dx, dh0, dc0, grads_list)`` for the LSTM, ``(dx, dh0, grads_list)`` for the GRU and
        the RNN: ``dx (T, N, D)``, ``dh0``/``dc0`` of the shape of ``h_n``, and
        ``grads_list[k]`` the gradients of ``params_list[k]``, a tuple in the same order.
    """
    cell, dirs, num_layers, H, caches, out_shape = cache
    check_shape("doutput", doutput, out_shape)
    K = num_layers * dirs
    N = out_shape[1]
    dtype = caches[0][0].dtype
    check_same_dtype(**{"doutput": doutput, "the forward's x": caches[0][0]})
    for name, g in (("dh_n", dh_n), ("dc_n", dc_n)):
        if g is not None:
            if name == "dc_n" and cell != "lstm":
                raise ValueError(
                    f"dc_n is only for cell='lstm'; a {cell.upper()} has no cell state"
                )
            check_shape(name, g, (K, N, H))
            check_same_dtype(**{name: g, "doutput": doutput})
    dh0 = np.empty((K, N, H), dtype=dtype)
    dc0 = np.empty((K, N, H), dtype=dtype) if cell == "lstm" else None
    grads_list = [None] * K
    d_layer = doutput
    for layer in range(num_layers - 1, -1, -1):
        dx = None
        for direction in range(dirs):
            k = layer * dirs + direction
            dh = d_layer[:, :, direction * H : (direction + 1) * H]
            dh = np.array(dh[::-1] if direction else dh)  # in the run's own time order
            if dh_n is not None:
                dh[-1] += dh_n[k]
            dc_last = dc_n[k] if dc_n is not None else None
            dxk, dh0[k], dc0k, grads_list[k] = _run_backward(cell, dh, caches[k], dc_last)
            if dc0 is not None:
                dc0[k] = dc0k
            dxk = dxk[::-1] if direction else dxk
            dx = dxk if dx is None else dx + dxk
        d_layer = dx
    dx = np.ascontiguousarray(d_layer)
    if cell == "lstm":
        return dx, dh0, dc0, grads_list
    return dx, dh0, grads_list


def final_states_from_output(output, bidirectional):
    r"""The last layer's final hidden states, read from ``output`` the right way.

    A frequent mistake takes ``output[-1]`` as "the final state" of a bidirectional network:
    its second half ``output[-1, :, H:]`` is the backward direction's state after its
    **first** step (it has read only :math:`x_{T-1}`). The backward direction ends at step 0,
    so its final state is ``output[0, :, H:]``. This function returns, as ``h_n`` lays them
    out, ``[output[-1, :, :H], output[0, :, H:]]``, equal to ``h_n[-2:]`` (``h_n[-1:]``, i.e.
    ``output[-1]``, for a unidirectional network).

    Args:
        output: ``(T, N, num_directions * H)``, as returned by :func:`stacked_forward` (or
            ``torch.nn.LSTM``/``GRU`` with ``batch_first=False``).
        bidirectional: whether ``output`` holds two directions.

    Returns:
        ``(num_directions, N, H)``.
    """
    check_shape("output", output, ("T", "N", "num_directions*H"))
    if not isinstance(bidirectional, bool):
        raise TypeError(f"bidirectional must be a bool, got {type(bidirectional).__name__}")
    if not bidirectional:
        return output[-1][None].copy()
    if output.shape[2] % 2:
        raise ValueError(
            f"output of a bidirectional network must have an even last axis (2H), got "
            f"{tuple(output.shape)}"
        )
    H = output.shape[2] // 2
    return np.stack([output[-1, :, :H], output[0, :, H:]])
