"""char-rnn's graph weights in the torch model: :func:`from_graph`.

Kept apart from :mod:`lstm_ref.train.charrnn_torch` so that the recorded experiment's code
(which trains the torch model from char-rnn's initialisation, never from a graph) does not
depend on the gate-order conversions; ``tests/train/test_charrnn_torch.py`` uses it to show
that the two models compute the same function.
"""

import numpy as np
import torch

from ..convert import reorder_gates
from .charrnn_torch import TorchCharRNN

__all__ = ["from_graph"]


def from_graph(gmodule, dropout=0.0, dtype=torch.float64):
    """A :class:`TorchCharRNN` holding the weights of a graph from
    :func:`~lstm_ref.graph.lstm_graphs.charrnn_lstm`.

    ``weight_ih_l<k>``, ``weight_hh_l<k>``, ``bias_ih_l<k>``, ``bias_hh_l<k>`` are the
    ``i2h_<k+1>`` and ``h2h_<k+1>`` Linear weights and biases with their gate blocks
    reordered from i, f, o, g to i, f, g, o; the decoder is the node annotated ``decoder``.
    """
    named = {n.name: n.module for n in gmodule.forwardnodes if n.name}
    L = 0
    while f"i2h_{L + 1}" in named:
        L += 1
    if L == 0 or "decoder" not in named:
        raise ValueError("expected a char-rnn graph with Linear nodes annotated 'i2h_1', "
                         f"'h2h_1', ... and 'decoder', found {sorted(named)}")
    dec = named["decoder"]
    V, H = dec.outputSize, dec.inputSize
    model = TorchCharRNN(V, H, L, dropout).to(dtype)

    def put(name, array):
        getattr(model.lstm, name).data.copy_(torch.as_tensor(np.asarray(array), dtype=dtype))

    for k in range(L):
        i2h, h2h = named[f"i2h_{k + 1}"], named[f"h2h_{k + 1}"]
        put(f"weight_ih_l{k}", reorder_gates(i2h.weight, "ifog", "ifgo", axis=0))
        put(f"weight_hh_l{k}", reorder_gates(h2h.weight, "ifog", "ifgo", axis=0))
        put(f"bias_ih_l{k}", reorder_gates(i2h.bias, "ifog", "ifgo", axis=0))
        put(f"bias_hh_l{k}", reorder_gates(h2h.bias, "ifog", "ifgo", axis=0))
    model.decoder.weight.data.copy_(torch.as_tensor(dec.weight, dtype=dtype))
    model.decoder.bias.data.copy_(torch.as_tensor(dec.bias, dtype=dtype))
    return model
