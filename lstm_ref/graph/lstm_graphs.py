r"""The LSTM cell as a graph, three ways, as the lineage went; and char-rnn's model.

All three cells compute the LSTM with a forget gate of :mod:`lstm_ref.numpy.lstm`:

.. math::
    \begin{aligned}
    i &= \sigma(W_{xi} x + W_{hi} h_{t-1} + b_i), \quad
    f = \sigma(W_{xf} x + W_{hf} h_{t-1} + b_f), \quad
    o = \sigma(W_{xo} x + W_{ho} h_{t-1} + b_o)\\
    g &= \tanh(W_{xg} x + W_{hg} h_{t-1} + b_g), \quad
    c_t = f \odot c_{t-1} + i \odot g, \quad h_t = o \odot \tanh(c_t)
    \end{aligned}

Each builder returns a :class:`~lstm_ref.graph.gModule` with inputs ``[x, prev_c, prev_h]``
and outputs ``[next_c, next_h]``; ``x`` is ``(D,)`` or ``(N, D)``, the states ``(H,)`` or
``(N, H)``:

- :func:`lstm_four_sums`: four input sums of two ``Linear`` each, one per gate (the Oxford
  practical's cell, the first seed's code);
- :func:`lstm_narrow`: one fused ``Linear(D, 4H)`` per input, cut into gates with
  ``Narrow`` (char-rnn's first version, the second seed's code);
- :func:`lstm_reshape_split`: the same fused sums, ``Reshape(4, H)`` then
  ``SplitTable(-2)`` into four (char-rnn's ``model/LSTM.lua`` today).

The fused graphs stack their gate blocks in char-rnn's order **i, f, o, g**; the course's
numpy weights ``Wx (D, 4H)``, ``Wh (H, 4H)``, ``b (4H,)`` use PyTorch's i, f, g, o, so
:func:`load_lstm_weights` and :func:`lstm_weights` convert with
:func:`lstm_ref.convert.reorder_gates`. They find the ``Linear`` modules by the names the
builders annotate (``i2h_<layer>``, ``h2h_<layer>``; ``i2h_<layer>_<gate>`` in the
four-sums cell), as char-rnn's trainer finds ``i2h_<layer>`` to set the forget biases.

Where char-rnn wrote ``nn.Narrow(2, ...)`` and ``nn.SplitTable(2)`` (its inputs were always
batches), these graphs write the axis counted from the end, ``Narrow(-1, ...)`` and
``SplitTable(-2)``, Lua's negative dims: the same line then serves one example and a batch.
"""

import re

import numpy as np

from ..convert import reorder_gates
from ..numpy.lstm import _check_weights
from .gmodule import gModule
from .module import resolve_rng
from .node import annotate_nodes
from .modules import (
    CAddTable,
    CMulTable,
    Dropout,
    Identity,
    Linear,
    LogSoftMax,
    Narrow,
    OneHot,
    Reshape,
    Sigmoid,
    SplitTable,
    Tanh,
)

FUSED_ORDER = "ifog"
"""The gate order of the fused graphs' ``4H`` blocks (char-rnn's, CS231n's)."""


def _check_sizes(input_size, rnn_size):
    for name, v in (("input_size", input_size), ("rnn_size", rnn_size)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")


def _cell_update(in_gate, forget_gate, out_gate, in_transform, prev_c):
    """The nodes of :math:`c_t = f c_{t-1} + i g` and
    :math:`h_t = o \\tanh(c_t)`."""
    c_forget = CMulTable()([forget_gate, prev_c])  # what the cell keeps
    c_input = CMulTable()([in_gate, in_transform])  # what it writes
    next_c = CAddTable()([c_forget, c_input])
    c_transform = Tanh()(next_c)
    next_h = CMulTable()([out_gate, c_transform])
    annotate_nodes(skip=("in_gate", "forget_gate", "out_gate",
                         "in_transform", "prev_c"))
    return next_c, next_h


# --- (a) four input sums ----------------------------------------------------------------------

_LAYER_ARGS = ("x", "prev_c", "prev_h")
# A layer names its nodes after its variables (annotate_nodes), but not the nodes it is given.


def _cell_inputs():
    """The input nodes ``x, prev_c, prev_h`` of a one-cell graph, named."""
    x, prev_c, prev_h = Identity()(), Identity()(), Identity()()
    annotate_nodes()
    return x, prev_c, prev_h


def _four_sums_layer(x, prev_c, prev_h, input_size, rnn_size, layer, rng):
    def new_input_sum(gate):
        i2h = Linear(input_size, rnn_size, rng=rng)(x)
        h2h = Linear(rnn_size, rnn_size, rng=rng)(prev_h)
        i2h.annotate(name=f"i2h_{layer}_{gate}")
        h2h.annotate(name=f"h2h_{layer}_{gate}")
        return CAddTable()([i2h, h2h]).annotate(name=f"{gate}_sum")

    in_gate = Sigmoid()(new_input_sum("i"))
    forget_gate = Sigmoid()(new_input_sum("f"))
    out_gate = Sigmoid()(new_input_sum("o"))
    in_transform = Tanh()(new_input_sum("g"))
    annotate_nodes(skip=_LAYER_ARGS)  # diagrams show these names
    return _cell_update(in_gate, forget_gate, out_gate, in_transform,
                        prev_c)


def lstm_four_sums(input_size, rnn_size, rng=None):
    """The LSTM cell with one input sum ``Linear(x) + Linear(prev_h)`` per gate.

    Eight ``Linear`` modules, annotated ``i2h_1_<gate>`` and ``h2h_1_<gate>`` for gate in
    ``i, f, o, g``.

    Args:
        input_size: ``D``; rnn_size: ``H``.
        rng: ``None``, an int seed or a Generator for the ``Linear`` initialisations.

    Returns:
        A gModule: ``[x (N, D), prev_c (N, H), prev_h (N, H)] -> [next_c, next_h]``.
    """
    _check_sizes(input_size, rnn_size)
    x, prev_c, prev_h = _cell_inputs()
    next_c, next_h = _four_sums_layer(x, prev_c, prev_h, input_size, rnn_size, 1, resolve_rng(rng))
    return gModule([x, prev_c, prev_h], [next_c, next_h])


# --- (b) fused sums cut with Narrow ------------------------------------------------------------

def _fused_sums(x, prev_h, input_size, rnn_size, layer, rng):
    i2h = Linear(input_size, 4 * rnn_size, rng=rng)(x).annotate(name=f"i2h_{layer}")
    h2h = Linear(rnn_size, 4 * rnn_size, rng=rng)(prev_h).annotate(name=f"h2h_{layer}")
    return CAddTable()([i2h, h2h])  # (N, 4H), blocks i, f, o, g


def _narrow_layer(x, prev_c, prev_h, input_size, rnn_size, layer, rng):
    H = rnn_size
    preactivations = _fused_sums(x, prev_h, input_size, H, layer, rng)
    pre_sigmoid_chunk = Narrow(-1, 1, 3 * H)(preactivations)  # i, f, o
    all_gates = Sigmoid()(pre_sigmoid_chunk)
    in_chunk = Narrow(-1, 3 * H + 1, H)(preactivations)  # g
    in_transform = Tanh()(in_chunk)
    in_gate = Narrow(-1, 1, H)(all_gates)
    forget_gate = Narrow(-1, H + 1, H)(all_gates)
    out_gate = Narrow(-1, 2 * H + 1, H)(all_gates)
    annotate_nodes(skip=_LAYER_ARGS)
    return _cell_update(in_gate, forget_gate, out_gate, in_transform, prev_c)


def lstm_narrow(input_size, rnn_size, rng=None):
    """The LSTM cell with fused input sums cut into gates by ``Narrow`` (1-based offsets).

    ``Linear(D, 4H)`` on ``x`` (annotated ``i2h_1``) plus ``Linear(H, 4H)`` on ``prev_h``
    (``h2h_1``); one ``Sigmoid`` over the first ``3H`` (i, f, o), one ``Tanh`` over the last
    ``H`` (g). Arguments and result as :func:`lstm_four_sums`.
    """
    _check_sizes(input_size, rnn_size)
    x, prev_c, prev_h = _cell_inputs()
    next_c, next_h = _narrow_layer(x, prev_c, prev_h, input_size, rnn_size, 1, resolve_rng(rng))
    return gModule([x, prev_c, prev_h], [next_c, next_h])


# --- (c) fused sums, Reshape + SplitTable -----------------------------------------------------

def _reshape_split_layer(x, prev_c, prev_h, input_size, rnn_size, layer,
                         rng):
    all_input_sums = _fused_sums(x, prev_h, input_size, rnn_size, layer,
                                 rng)
    reshaped = Reshape(4, rnn_size)(all_input_sums)  # (N, 4, H)
    split = SplitTable(-2)(reshaped)
    n1, n2, n3, n4 = split.split(4)
    in_gate, forget_gate = Sigmoid()(n1), Sigmoid()(n2)
    out_gate = Sigmoid()(n3)
    in_transform = Tanh()(n4)
    annotate_nodes(skip=_LAYER_ARGS)
    return _cell_update(in_gate, forget_gate, out_gate, in_transform,
                        prev_c)


def lstm_reshape_split(input_size, rnn_size, rng=None):
    """The LSTM cell as char-rnn builds it: fused sums, ``Reshape(4, H)``, ``SplitTable``.

    Arguments and result as :func:`lstm_four_sums`; ``Linear`` nodes annotated ``i2h_1``,
    ``h2h_1``.
    """
    _check_sizes(input_size, rnn_size)
    x, prev_c, prev_h = _cell_inputs()
    layer = _reshape_split_layer(x, prev_c, prev_h, input_size, rnn_size, 1, resolve_rng(rng))
    return gModule([x, prev_c, prev_h], list(layer))


LSTM_GRAPHS = {
    "four sums": lstm_four_sums,
    "narrow": lstm_narrow,
    "reshape + split": lstm_reshape_split,
}
"""The three builders by name, in the order of the lineage."""


# --- weights between the course's layout and the graphs' --------------------------------------

def _named_linears(gmodule):
    if not isinstance(gmodule, gModule):
        raise TypeError(f"expected a gModule, got {type(gmodule).__name__}")
    return {
        n.name: n.module
        for n in gmodule.forwardnodes
        if n.name and isinstance(n.module, Linear)
    }


def _layer_linears(gmodule, layer):
    """``("fused", i2h, h2h)`` or ``("four sums", {gate: (i2h, h2h)})`` of one layer."""
    named = _named_linears(gmodule)
    if f"i2h_{layer}" in named and f"h2h_{layer}" in named:
        return "fused", (named[f"i2h_{layer}"], named[f"h2h_{layer}"])
    gates = {g: (named.get(f"i2h_{layer}_{g}"), named.get(f"h2h_{layer}_{g}")) for g in "ifgo"}
    if all(a is not None and b is not None for a, b in gates.values()):
        return "four sums", gates
    raise ValueError(
        f"the gModule has no LSTM layer {layer}: expected Linear nodes annotated "
        f"'i2h_{layer}' and 'h2h_{layer}' (or 'i2h_{layer}_<gate>'/'h2h_{layer}_<gate>'), "
        f"found {sorted(named)}"
    )


def load_lstm_weights(gmodule, Wx, Wh, b, layer=1):
    """Copy the course's LSTM weights into the ``Linear`` modules of one layer, in place.

    .. math::
        W^{i2h} = \\operatorname{reorder}(W_x)^\\top,\\quad
        W^{h2h} = \\operatorname{reorder}(W_h)^\\top,\\quad
        b^{i2h} = \\operatorname{reorder}(b),\\quad b^{h2h} = 0

    where ``reorder`` permutes the gate blocks from i, f, g, o to the graph's i, f, o, g
    (the four-sums cell takes each gate's block instead). Afterwards the graph computes
    ``lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)``.

    Args:
        gmodule: a graph from :func:`lstm_four_sums`, :func:`lstm_narrow`,
            :func:`lstm_reshape_split` or :func:`charrnn_lstm`.
        Wx: ``(D, 4H)``; Wh: ``(H, 4H)``; b: ``(4H,)``, gate blocks in order i, f, g, o.
        layer: which layer (1-based, as the annotations ``i2h_<layer>``).

    Returns:
        ``gmodule``.
    """
    kind, linears = _layer_linears(gmodule, layer)
    i2h = linears[0] if kind == "fused" else linears["i"][0]
    D, H = i2h.inputSize, (i2h.outputSize // 4 if kind == "fused" else i2h.outputSize)
    _check_weights(D, H, Wx, Wh, b)
    if kind == "fused":
        i2h, h2h = linears
        i2h.weight[...] = reorder_gates(Wx, "ifgo", FUSED_ORDER).T
        h2h.weight[...] = reorder_gates(Wh, "ifgo", FUSED_ORDER).T
        i2h.bias[...] = reorder_gates(b, "ifgo", FUSED_ORDER)
        h2h.bias[...] = 0.0
    else:
        for k, gate in enumerate("ifgo"):  # the course's order: block k is gate k
            i2h, h2h = linears[gate]
            block = slice(k * H, (k + 1) * H)
            i2h.weight[...] = Wx[:, block].T
            h2h.weight[...] = Wh[:, block].T
            i2h.bias[...] = b[block]
            h2h.bias[...] = 0.0
    return gmodule


def lstm_weights(gmodule, layer=1, grads=False):
    """The course's ``(Wx (D, 4H), Wh (H, 4H), b (4H,))`` of one layer (gates i, f, g, o).

    The inverse of :func:`load_lstm_weights`: ``b`` is the sum of the two biases. With
    ``grads=True`` the same read on the gradient arrays gives ``(dWx, dWh, db)``, the
    layout of :func:`lstm_ref.numpy.lstm_step_backward`; there ``db`` is the gradient of
    the ``i2h`` bias alone (the ``h2h`` bias receives the same one: both add to one sum).
    """
    kind, linears = _layer_linears(gmodule, layer)

    def w(m):
        return m.gradWeight if grads else m.weight

    def bias(i2h, h2h):
        return i2h.gradBias if grads else i2h.bias + h2h.bias

    if kind == "fused":
        i2h, h2h = linears
        return (
            reorder_gates(w(i2h).T, FUSED_ORDER, "ifgo"),
            reorder_gates(w(h2h).T, FUSED_ORDER, "ifgo"),
            reorder_gates(bias(i2h, h2h), FUSED_ORDER, "ifgo"),
        )
    parts = [linears[g] for g in "ifgo"]
    return (
        np.concatenate([w(i2h).T for i2h, _ in parts], axis=1),
        np.concatenate([w(h2h).T for _, h2h in parts], axis=1),
        np.concatenate([bias(i2h, h2h) for i2h, h2h in parts]),
    )


# --- char-rnn's multi-layer model --------------------------------------------------------------

def charrnn_lstm(input_size, rnn_size, n_layers, dropout=0.0, rng=None):
    """char-rnn's model (``model/LSTM.lua``): ``n_layers`` LSTM cells and a softmax decoder.

    Inputs ``[x, prev_c[1], prev_h[1], ..., prev_c[n], prev_h[n]]`` with ``x`` the 0-based
    character indices ``(N,)``, one-hot encoded by :class:`~lstm_ref.graph.OneHot`; outputs
    ``[next_c[1], next_h[1], ..., next_c[n], next_h[n], logprobs]`` with ``logprobs (N,
    input_size)`` from a ``Linear`` (annotated ``decoder``) and ``LogSoftMax``. Layer ``L``
    is :func:`lstm_reshape_split`'s cell with ``Linear`` nodes annotated ``i2h_L`` and
    ``h2h_L``; with ``dropout > 0`` a ``Dropout`` sits before every layer above the first
    and before the decoder.

    Args:
        input_size: the vocabulary size ``V``.
        rnn_size: ``H``.
        n_layers: the number of LSTM layers.
        dropout: the dropout probability between layers.
        rng: ``None``, an int seed or a Generator (initialisations and dropout masks).

    Returns:
        A gModule with ``2 n_layers + 1`` inputs and outputs.
    """
    _check_sizes(input_size, rnn_size)
    if isinstance(n_layers, bool) or not isinstance(n_layers, (int, np.integer)) or n_layers < 1:
        raise ValueError(f"n_layers must be an int >= 1, got {n_layers!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    rng = resolve_rng(rng)
    inputs = [Identity()().annotate(name="x")]
    for L in range(1, n_layers + 1):
        inputs.append(Identity()().annotate(name=f"prev_c[{L}]"))
        inputs.append(Identity()().annotate(name=f"prev_h[{L}]"))
    outputs = []
    for L in range(1, n_layers + 1):
        prev_c, prev_h = inputs[2 * L - 1], inputs[2 * L]
        if L == 1:
            x, input_size_L = OneHot(input_size)(inputs[0]).annotate(name="one_hot"), input_size
        else:
            x, input_size_L = outputs[-1], rnn_size  # next_h of the layer below
            if dropout > 0:
                x = Dropout(dropout, rng=rng)(x)
        next_c, next_h = _reshape_split_layer(x, prev_c, prev_h, input_size_L, rnn_size, L, rng)
        outputs += [next_c.annotate(name=f"next_c[{L}]"), next_h.annotate(name=f"next_h[{L}]")]
    top_h = outputs[-1]
    if dropout > 0:
        top_h = Dropout(dropout, rng=rng)(top_h)
    proj = Linear(rnn_size, input_size, rng=rng)(top_h).annotate(name="decoder")
    outputs.append(LogSoftMax()(proj).annotate(name="logsoft"))
    return gModule(inputs, outputs)


def set_forget_bias(gmodule, value=1.0):
    """Set every LSTM layer's forget-gate bias to ``value``, as char-rnn's trainer does.

    char-rnn walks ``forwardnodes``, finds the nodes annotated ``i2h_<layer>`` and fills the
    second block (f, in its gate order i, f, o, g) of their bias; this does the same (and
    sets the bias of ``i2h_<layer>_f`` in a four-sums cell).

    Returns:
        The number of layers set (0 if the graph has no annotated LSTM layer).
    """
    count = 0
    for node in gmodule.forwardnodes:
        name = node.name or ""
        if re.fullmatch(r"i2h_\d+", name):
            H = node.module.outputSize // 4
            node.module.bias[H : 2 * H] = value  # blocks i, f, o, g: f is the second
            count += 1
        elif re.fullmatch(r"i2h_\d+_f", name):
            node.module.bias[...] = value
            count += 1
    return count


def compare_with_numpy(builder, N=3, D=4, H=5, seed=0, metric="rel"):
    """How far a graph cell is from :func:`lstm_ref.numpy.lstm_step_forward` / backward.

    Draws float64 inputs and weights, loads the weights with :func:`load_lstm_weights`, runs
    both forward and backward with the same upstream gradients, and compares.

    Args:
        builder: one of :data:`LSTM_GRAPHS`' functions.
        N, D, H: the batch, input and hidden sizes.
        seed: the seed of the draws.
        metric: ``"rel"``, the largest element-wise relative error
            (:func:`lstm_ref.gradcheck.rel_error`, large-looking where an entry is near 0),
            or ``"abs"``, the largest absolute difference.

    Returns:
        ``{"next_c", "next_h", "dx", "dprev_c", "dprev_h", "dWx", "dWh", "db": float}``.
    """
    from ..gradcheck import rel_error
    from ..numpy.lstm import lstm_step_backward, lstm_step_forward

    rng = np.random.default_rng(seed)
    x, h, c = rng.standard_normal((N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    Wx, Wh = 0.5 * rng.standard_normal((D, 4 * H)), 0.5 * rng.standard_normal((H, 4 * H))
    b = rng.standard_normal(4 * H)
    dh, dc = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    h_ref, c_ref, cache = lstm_step_forward(x, h, c, Wx, Wh, b)
    grads_ref = lstm_step_backward(dh, dc, cache)
    graph = load_lstm_weights(builder(D, H, rng=seed), Wx, Wh, b)
    next_c, next_h = graph.forward([x, c, h])
    graph.zeroGradParameters()
    dx, dprev_c, dprev_h = graph.backward([x, c, h], [dc, dh])
    dWx, dWh, db = lstm_weights(graph, grads=True)
    ours = {"next_c": next_c, "next_h": next_h, "dx": dx, "dprev_c": dprev_c,
            "dprev_h": dprev_h, "dWx": dWx, "dWh": dWh, "db": db}
    ref = {"next_c": c_ref, "next_h": h_ref, "dx": grads_ref[0], "dprev_c": grads_ref[2],
           "dprev_h": grads_ref[1], "dWx": grads_ref[3], "dWh": grads_ref[4], "db": grads_ref[5]}
    if metric not in ("rel", "abs"):
        raise ValueError(f"metric must be 'rel' or 'abs', got {metric!r}")
    if metric == "abs":
        return {k: float(np.max(np.abs(ours[k] - ref[k]))) for k in ours}
    return {k: rel_error(ours[k], ref[k]) for k in ours}
