r"""Weights between the numpy layout of this course and torch's, and between gate orders.

The numpy functions multiply weights from the right, torch's modules from the left:

.. math::
    a = x W_x + h W_h + b \quad\text{(numpy)} \qquad
    a = x W_{ih}^\top + b_{ih} + h W_{hh}^\top + b_{hh} \quad\text{(torch)}

so ``Wx = weight_ih.T (D, 4H)``, ``Wh = weight_hh.T (H, 4H)`` and ``b = bias_ih + bias_hh``.
Both stack the four LSTM gate blocks in PyTorch's order i, f, g, o; CS231n and char-rnn use
i, f, o, g, and :func:`reorder_gates` converts between any two orders.

The functions work for ``torch.nn.RNN``/``torch.nn.LSTM``, their cells, and the modules of
:mod:`lstm_ref.torch` (same parameter names). Importing this module does not import torch:
the functions that need it import it when called, and :func:`reorder_gates` works on numpy
arrays without it.
"""

import sys

import numpy as np

from .numpy.rnn import _check_weights as _check_rnn_weights
from .numpy.lstm import _check_weights as _check_lstm_weights

GATES = "ifgo"
"""PyTorch's gate order, the one every fused ``4H`` weight in this package uses."""

_KINDS = {"LSTM": (4, _check_lstm_weights), "RNN": (1, _check_rnn_weights)}
"""Per module kind: the number of gate blocks its weights stack and the numpy weight check."""


def _is_tensor(w):
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(w, torch.Tensor)


def _check_order(name, order):
    if not isinstance(order, str) or len(order) != 4 or sorted(order) != sorted(GATES):
        raise ValueError(
            f"{name} must be a gate order, a permutation of the letters 'ifgo' "
            f"(input, forget, candidate g, output), got {order!r}"
        )


def reorder_gates(w, src="ifgo", dst="ifog", axis=-1):
    """Permute the four gate blocks of a fused LSTM weight from order ``src`` to ``dst``.

    ``w`` has size ``4H`` along ``axis``, made of four blocks of size ``H``, one per gate,
    in the order ``src``; the result holds the same blocks in the order ``dst``. Gate orders
    are written with the letters ``i`` (input), ``f`` (forget), ``g`` (candidate, the cell
    input) and ``o`` (output): PyTorch uses ``"ifgo"``, CS231n and char-rnn ``"ifog"``.

    Examples: a numpy ``Wx (D, 4H)`` uses ``axis=-1`` (the default); a torch
    ``weight_ih (4H, D)`` or a bias ``(4H,)`` uses ``axis=0``.

    Args:
        w: a numpy array or a torch tensor (the result is of the same kind; on a tensor the
            permutation is differentiable).
        src: the gate order of ``w``.
        dst: the gate order wanted.
        axis: the axis of size ``4H``.

    Returns:
        A new array (or tensor) of the shape of ``w``; ``reorder_gates(reorder_gates(w, a,
        b), b, a)`` equals ``w``.
    """
    _check_order("src", src)
    _check_order("dst", dst)
    tensor = _is_tensor(w)
    if not tensor:
        w = np.asarray(w)
    if w.ndim == 0:
        raise ValueError("w must have at least one axis of size 4H, got a scalar")
    if not -w.ndim <= axis < w.ndim:
        raise ValueError(f"axis {axis} is out of range for w of shape {tuple(w.shape)}")
    size = w.shape[axis]
    if size % 4:
        raise ValueError(
            f"w must have a size 4H (a multiple of 4) along axis {axis}, "
            f"got shape {tuple(w.shape)}"
        )
    H = size // 4
    if tensor:
        blocks = w.split(H, dim=axis)
        import torch

        return torch.cat([blocks[src.index(gate)] for gate in dst], dim=axis)
    blocks = np.split(w, 4, axis=axis)
    return np.concatenate([blocks[src.index(gate)] for gate in dst], axis=axis)


# --- torch modules -------------------------------------------------------------------------


def _param_names(module, layer, direction, kind):
    """The names of ``(weight_ih, weight_hh, bias_ih, bias_hh)`` for one layer/direction.

    Checks that ``module`` is a recurrent module with ``gates * hidden_size`` rows per
    weight (1 for an RNN, 4 for an LSTM) and that the layer and direction exist.
    """
    gates = _KINDS[kind][0]
    hidden = getattr(module, "hidden_size", None)
    if not isinstance(hidden, int):
        raise ValueError(
            f"module must be a torch.nn.{kind} or {kind}Cell (or lstm_ref.torch.{kind}), "
            f"got {type(module).__name__}"
        )
    if getattr(module, "proj_size", 0):
        raise ValueError(
            f"LSTMs with projections (proj_size={module.proj_size}) have no numpy "
            "counterpart in this course"
        )
    if not isinstance(layer, int) or not isinstance(direction, int):
        raise ValueError(f"layer and direction must be ints, got {layer!r} and {direction!r}")
    is_cell = hasattr(module, "weight_ih") and not hasattr(module, "num_layers")
    if is_cell:
        if layer != 0 or direction != 0:
            raise ValueError(
                f"a cell ({type(module).__name__}) has one layer and one direction, "
                f"got layer={layer}, direction={direction}"
            )
        suffix = ""
    else:
        num_layers = getattr(module, "num_layers", None)
        if not isinstance(num_layers, int):
            raise ValueError(f"module {type(module).__name__} has no num_layers attribute")
        if not 0 <= layer < num_layers:
            raise ValueError(
                f"layer must be in [0, {num_layers - 1}] for a module with "
                f"num_layers={num_layers}, got {layer}"
            )
        directions = 2 if getattr(module, "bidirectional", False) else 1
        if direction not in range(directions):
            raise ValueError(
                f"direction must be 0 (forward)"
                + (" or 1 (backward)" if directions == 2 else " for a unidirectional module")
                + f", got {direction}"
            )
        suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
    names = [f"{p}{suffix}" for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    w_ih = getattr(module, names[0], None)
    if w_ih is None:
        raise ValueError(f"module {type(module).__name__} has no parameter {names[0]}")
    if w_ih.shape[0] != gates * hidden:
        found = w_ih.shape[0] // hidden if w_ih.shape[0] % hidden == 0 else "?"
        raise ValueError(
            f"module must be an {kind} ({gates} gate block(s) of hidden_size={hidden} in "
            f"{names[0]}), but {names[0]} has shape {tuple(w_ih.shape)} ({found} blocks); "
            f"got {type(module).__name__}"
        )
    has_bias = getattr(module, names[2], None) is not None
    return names, has_bias


def _to_numpy(module, layer, direction, kind):
    names, has_bias = _param_names(module, layer, direction, kind)
    w_ih, w_hh = getattr(module, names[0]), getattr(module, names[1])
    dtype = {"torch.float32": np.float32, "torch.float64": np.float64}.get(str(w_ih.dtype))
    if dtype is None:
        raise ValueError(
            f"the parameters must be float32 or float64 to convert to numpy, got {w_ih.dtype}"
        )
    import torch

    with torch.no_grad():
        Wx = np.ascontiguousarray(w_ih.detach().cpu().numpy().T)
        Wh = np.ascontiguousarray(w_hh.detach().cpu().numpy().T)
        if has_bias:
            b = (getattr(module, names[2]) + getattr(module, names[3])).detach().cpu().numpy()
            b = np.array(b, dtype=dtype)
        else:
            b = np.zeros(w_ih.shape[0], dtype=dtype)
    return Wx, Wh, b


def _from_numpy(Wx, Wh, b, module, layer, direction, kind):
    names, has_bias = _param_names(module, layer, direction, kind)
    w_ih, w_hh = getattr(module, names[0]), getattr(module, names[1])
    D, H = w_ih.shape[1], w_hh.shape[1]
    _KINDS[kind][1](D, H, Wx, Wh, b)
    if not has_bias and np.any(b != 0):
        raise ValueError(
            f"the module has no biases (bias=False) but b is not zero; "
            f"build the module with bias=True to load b"
        )
    import torch

    with torch.no_grad():
        w_ih.copy_(torch.from_numpy(np.ascontiguousarray(Wx.T)))
        w_hh.copy_(torch.from_numpy(np.ascontiguousarray(Wh.T)))
        if has_bias:
            getattr(module, names[2]).copy_(torch.from_numpy(b))
            getattr(module, names[3]).zero_()
    return module


def torch_lstm_to_numpy(module, layer=0, direction=0):
    """The numpy weights ``(Wx, Wh, b)`` of one layer and direction of a torch LSTM.

    ``Wx = weight_ih.T (D, 4H)``, ``Wh = weight_hh.T (H, 4H)``, ``b = bias_ih + bias_hh
    (4H,)`` (zeros when the module has ``bias=False``), gate blocks in order i, f, g, o,
    as new arrays of the parameters' dtype; ``lstm_forward(x, h0, c0, Wx, Wh, b)`` then
    computes what that layer computes.

    Args:
        module: a ``torch.nn.LSTM``/``LSTMCell`` or an ``lstm_ref.torch.LSTM``/``LSTMCell``.
        layer: which layer, ``0 <= layer < num_layers`` (``D`` is ``input_size`` for layer 0
            and ``H`` or ``2H`` (bidirectional) above).
        direction: 0 for the forward direction, 1 for the backward one (``_reverse``).
    """
    return _to_numpy(module, layer, direction, "LSTM")


def lstm_params_from_torch(module):
    """``(Wx, Wh, b)`` of a one-layer, unidirectional LSTM, in the numpy layout.

    The case of a single ``torch.nn.LSTM(D, H)`` (or an ``LSTMCell``), for which
    ``lstm_forward(x, h0, c0, Wx, Wh, b)`` equals the module's output. See
    :func:`torch_lstm_to_numpy` for stacked or bidirectional modules.

    Raises:
        ValueError: if ``module`` is not a one-layer unidirectional LSTM.
    """
    if getattr(module, "num_layers", 1) != 1 or getattr(module, "bidirectional", False):
        raise ValueError(
            "lstm_params_from_torch needs a one-layer, unidirectional LSTM, got "
            f"{type(module).__name__} with num_layers={getattr(module, 'num_layers', 1)}, "
            f"bidirectional={getattr(module, 'bidirectional', False)}; "
            "use torch_lstm_to_numpy(module, layer, direction) for one layer of it"
        )
    return torch_lstm_to_numpy(module)


def numpy_to_torch_lstm(Wx, Wh, b, module, layer=0, direction=0):
    """Copy numpy weights into one layer and direction of a torch LSTM, in place.

    The inverse of :func:`torch_lstm_to_numpy`: ``weight_ih = Wx.T``, ``weight_hh = Wh.T``,
    ``bias_ih = b`` and ``bias_hh = 0`` (the two torch biases only ever appear summed).
    Values are converted to the parameters' dtype; gradients are not tracked.

    Args:
        Wx: ``(D, 4H)``; Wh: ``(H, 4H)``; b: ``(4H,)`` (must be zero if the module has
            ``bias=False``), gate blocks in order i, f, g, o.
        module: a ``torch.nn.LSTM``/``LSTMCell`` or an ``lstm_ref.torch.LSTM``/``LSTMCell``.
        layer, direction: as in :func:`torch_lstm_to_numpy`.

    Returns:
        ``module``.
    """
    return _from_numpy(Wx, Wh, b, module, layer, direction, "LSTM")


def torch_rnn_to_numpy(module, layer=0, direction=0):
    """The numpy weights ``(Wx, Wh, b)`` of one layer and direction of a torch RNN.

    ``Wx = weight_ih.T (D, H)``, ``Wh = weight_hh.T (H, H)``, ``b = bias_ih + bias_hh (H,)``
    (zeros when ``bias=False``). The numpy :func:`~lstm_ref.numpy.rnn_forward` is the tanh
    RNN: with ``nonlinearity='relu'`` the weights convert, but the numpy functions compute
    something else.

    Args:
        module: a ``torch.nn.RNN``/``RNNCell`` or an ``lstm_ref.torch.RNN``/``RNNCell``.
        layer, direction: as in :func:`torch_lstm_to_numpy`.
    """
    return _to_numpy(module, layer, direction, "RNN")


def numpy_to_torch_rnn(Wx, Wh, b, module, layer=0, direction=0):
    """Copy numpy weights ``Wx (D, H)``, ``Wh (H, H)``, ``b (H,)`` into a torch RNN in place.

    The inverse of :func:`torch_rnn_to_numpy` (``bias_ih = b``, ``bias_hh = 0``).

    Returns:
        ``module``.
    """
    return _from_numpy(Wx, Wh, b, module, layer, direction, "RNN")


# --- the GRU (chapter 4) -------------------------------------------------------------------

from .numpy.gru import _check_weights as _check_gru_weights  # noqa: E402

_KINDS["GRU"] = (3, _check_gru_weights)


def gru_params_from_torch(module, layer=0, direction=0):
    """The numpy weights ``(Wx, Wh, bx, bh)`` of one layer and direction of a torch GRU.

    ``Wx = weight_ih.T (D, 3H)``, ``Wh = weight_hh.T (H, 3H)``, ``bx = bias_ih (3H,)``,
    ``bh = bias_hh (3H,)`` (zeros when the module has ``bias=False``), gate blocks in order
    r, z, n, as new arrays of the parameters' dtype. The two biases stay apart: PyTorch's
    GRU multiplies ``bhn`` by the reset gate. ``gru_forward(x, h0, Wx, Wh, bx, bh)`` (with
    ``reset_after=True``) then computes what that layer computes.

    Args:
        module: a ``torch.nn.GRU``/``GRUCell`` or an ``lstm_ref.torch.GRU``/``GRUCell``.
        layer: which layer, ``0 <= layer < num_layers``.
        direction: 0 for the forward direction, 1 for the backward one (``_reverse``).
    """
    names, has_bias = _param_names(module, layer, direction, "GRU")
    w_ih = getattr(module, names[0])
    dtype = {"torch.float32": np.float32, "torch.float64": np.float64}.get(str(w_ih.dtype))
    if dtype is None:
        raise ValueError(
            f"the parameters must be float32 or float64 to convert to numpy, got {w_ih.dtype}"
        )

    def grab(name, transpose):
        a = getattr(module, name).detach().cpu().numpy()
        return np.array(a.T if transpose else a, dtype=dtype, order="C")

    Wx, Wh = grab(names[0], True), grab(names[1], True)
    if has_bias:
        bx, bh = grab(names[2], False), grab(names[3], False)
    else:
        bx, bh = np.zeros(w_ih.shape[0], dtype=dtype), np.zeros(w_ih.shape[0], dtype=dtype)
    return Wx, Wh, bx, bh


def gru_params_to_torch(Wx, Wh, bx, bh, module, layer=0, direction=0):
    """Copy numpy weights into one layer and direction of a torch GRU, in place.

    The inverse of :func:`gru_params_from_torch`: ``weight_ih = Wx.T``, ``weight_hh =
    Wh.T``, ``bias_ih = bx``, ``bias_hh = bh``. Values are converted to the parameters'
    dtype; gradients are not tracked.

    Args:
        Wx: ``(D, 3H)``; Wh: ``(H, 3H)``; bx, bh: ``(3H,)`` (both zero if the module has
            ``bias=False``), gate blocks in order r, z, n.
        module: a ``torch.nn.GRU``/``GRUCell`` or an ``lstm_ref.torch.GRU``/``GRUCell``.
        layer, direction: as in :func:`gru_params_from_torch`.

    Returns:
        ``module``.
    """
    names, has_bias = _param_names(module, layer, direction, "GRU")
    w_ih, w_hh = getattr(module, names[0]), getattr(module, names[1])
    _check_gru_weights(w_ih.shape[1], w_hh.shape[1], Wx, Wh, bx, bh)
    if not has_bias and (np.any(bx != 0) or np.any(bh != 0)):
        raise ValueError(
            "the module has no biases (bias=False) but bx or bh is not zero; "
            "build the module with bias=True to load them"
        )
    import torch

    with torch.no_grad():
        w_ih.copy_(torch.from_numpy(np.ascontiguousarray(Wx.T)))
        w_hh.copy_(torch.from_numpy(np.ascontiguousarray(Wh.T)))
        if has_bias:
            getattr(module, names[2]).copy_(torch.from_numpy(np.ascontiguousarray(bx)))
            getattr(module, names[3]).copy_(torch.from_numpy(np.ascontiguousarray(bh)))
    return module
