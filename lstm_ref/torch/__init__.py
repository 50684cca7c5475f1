"""``torch.nn`` modules built from the equations: drop-in replacements for ``torch.nn.RNN``,
``RNNCell``, ``LSTM`` and ``LSTMCell``.

Parameter names, shapes, default initialisation, inputs and outputs are PyTorch's, so
``ours.load_state_dict(torch.nn.LSTM(...).state_dict())`` works, and back. Nothing here
calls torch's recurrent kernels (``torch.nn.LSTM``, ``torch._VF``): every step is written
out and autograd computes the backward pass, except that each recurrent weight ``weight_hh``
gets its gradient from one matrix product over all steps instead of one per step
(:mod:`lstm_ref.torch._weight_grad`; so these modules are differentiable once). The functional forms (``lstm_cell``,
``lstm_layer``, ``rnn_cell``, ``rnn_layer``) take the weights as arguments.
"""

from .lstm import LSTM, LSTMCell, lstm_cell, lstm_layer
from .rnn import RNN, RNNCell, rnn_cell, rnn_layer

__all__ = [
    "RNNCell",
    "RNN",
    "LSTMCell",
    "LSTM",
    "rnn_cell",
    "rnn_layer",
    "lstm_cell",
    "lstm_layer",
]

# Chapter 4: the GRU (PyTorch's convention) and the LSTM variants of Greff et al. (2017).
from .gru import GRU, GRUCell, gru_cell, gru_layer  # noqa: E402

__all__ += ["GRUCell", "GRU", "gru_cell", "gru_layer"]
from .variants import VariantLSTM  # noqa: E402

__all__ += ["VariantLSTM"]
