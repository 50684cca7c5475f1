r"""``lstm_ref.graph``: Lua torch's nngraph, in Python and numpy.

Modules become graph nodes when called on nodes, and a graph of nodes becomes a module::

    import lstm_ref.graph as nn
    x1, x2, x3 = nn.Identity()(), nn.Identity()(), nn.Identity()()   # input nodes
    z = nn.CAddTable()([x1, nn.CMulTable()([x2, nn.Linear(20, 10)(x3)])])
    mlp = nn.gModule([x1, x2, x3], [z])
    out = mlp.forward([h1, h2, h3])             # one output -> an array; several -> a list
    gin = mlp.backward([h1, h2, h3], grad_out)  # the input gradients (a list of 3)
    params, grads = mlp.parameters()            # [W (10, 20), b (10,)], [dW, db]

How it reads:

- Lua's tables are Python lists (``{x2, y}`` -> ``[x2, y]``), tensors numpy arrays; an
  input is one example ``(features,)`` or a batch ``(N, features)``.
- Every module (:class:`Module`) defines ``updateOutput``, ``updateGradInput`` and
  ``accGradParameters`` next to each other; ``forward``/``backward`` call them as in Lua.
- :class:`gModule` walks the graph forward in topological order and backward over the
  reversed graph, summing the gradients of a node used several times.

Index convention. Numbers written in graph code keep **Lua's 1-based values**, so that a
Lua line translates as it stands: the ``dim`` of ``Narrow``, ``SplitTable``,
``JoinTable`` (1 = first axis, negative = counted from the end as in Lua, ``-1`` the
last), the ``offset`` of ``Narrow`` (the first element is 1) and the ``index`` of
``SelectTable`` (the first item is 1, ``-1`` the last). Lua's ``nn.Narrow(2, H + 1, H)`` is
``Narrow(2, H + 1, H)``, the numpy slice ``[:, H : 2H]``. Class labels and token indices
(``ClassNLLCriterion``, ``LookupTable``, ``OneHot``) are data, not code, and are **0-based**
as numpy and PyTorch index them. The same convention holds in every docstring and test.

The LSTM cell three ways and char-rnn's model are in :mod:`lstm_ref.graph.lstm_graphs`
(exported here too). Nothing here imports torch or matplotlib.
"""

from .gmodule import gModule
from .module import Module, clone_many_times
from .modules import (
    CAddTable,
    ClassNLLCriterion,
    CMulTable,
    Criterion,
    CSubTable,
    Dropout,
    Identity,
    JoinTable,
    Linear,
    LogSoftMax,
    LookupTable,
    ModuleFromCriterion,
    Narrow,
    OneHot,
    ReLU,
    Reshape,
    SelectTable,
    Sigmoid,
    SplitTable,
    Tanh,
)
from .node import Node, annotate_nodes
from .dot import render_svg, to_dot
from .lstm_graphs import (
    LSTM_GRAPHS,
    charrnn_lstm,
    compare_with_numpy,
    load_lstm_weights,
    lstm_four_sums,
    lstm_narrow,
    lstm_reshape_split,
    lstm_weights,
    set_forget_bias,
)

__all__ = [
    "LSTM_GRAPHS",
    "CAddTable",
    "ClassNLLCriterion",
    "CMulTable",
    "Criterion",
    "CSubTable",
    "Dropout",
    "Identity",
    "JoinTable",
    "Linear",
    "LogSoftMax",
    "LookupTable",
    "Module",
    "ModuleFromCriterion",
    "Narrow",
    "Node",
    "OneHot",
    "ReLU",
    "Reshape",
    "SelectTable",
    "Sigmoid",
    "SplitTable",
    "Tanh",
    "annotate_nodes",
    "charrnn_lstm",
    "clone_many_times",
    "compare_with_numpy",
    "load_lstm_weights",
    "lstm_four_sums",
    "lstm_narrow",
    "lstm_reshape_split",
    "lstm_weights",
    "set_forget_bias",
    "gModule",
    "render_svg",
    "to_dot",
]
