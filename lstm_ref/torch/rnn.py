r"""The Elman RNN as ``torch.nn`` modules, written from the equations.

Same parameters, inputs and outputs as ``torch.nn.RNNCell`` and ``torch.nn.RNN``;
:mod:`lstm_ref.numpy.rnn` computes the tanh case with weights transposed.
"""

import torch

from ._base import _Cell, _Recurrent, _previous_states
from ._weight_grad import track_recurrent_weight

_NONLINEARITIES = {"tanh": torch.tanh, "relu": torch.relu}


def _activation(nonlinearity):
    if nonlinearity not in _NONLINEARITIES:
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return _NONLINEARITIES[nonlinearity]


def rnn_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    r"""One step of an Elman RNN in torch's layout.

    .. math::
        h' = \tanh(W_{ih} x + b_{ih} + W_{hh} h + b_{hh})

    (ReLU instead of tanh if ``nonlinearity='relu'``).

    Args:
        x: ``(N, D)``; h: ``(N, H)``.
        w_ih: ``(H, D)``; w_hh: ``(H, H)``; b_ih, b_hh: ``(H,)`` or None.

    Returns:
        ``h' (N, H)``.
    """
    a = x @ w_ih.t() + h @ w_hh.t()
    if b_ih is not None:
        a = a + (b_ih + b_hh)
    return _activation(nonlinearity)(a)


def rnn_layer(x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh", reverse=False):
    r"""One RNN layer over a whole sequence, one direction: :func:`rnn_cell` at every step.

    Autograd computes the backward pass, except that ``w_hh`` gets its gradient from one
    matrix product over all steps (:mod:`lstm_ref.torch._weight_grad`).

    Args:
        x: ``(L, N, D)``, time-major; h: the initial state ``(N, H)``.
        w_ih: ``(H, D)``; w_hh: ``(H, H)``; b_ih, b_hh: ``(H,)`` or None.
        nonlinearity: ``'tanh'`` or ``'relu'``.
        reverse: run from the last step to the first; ``output[t]`` is the state at ``t``.

    Returns:
        ``(output (L, N, H), h_n (N, H))``.
    """
    act = _activation(nonlinearity)
    L, N, D = x.shape
    H = w_hh.shape[0]
    x2 = x.reshape(L * N, D)
    xw = x2 @ w_ih.t() if b_ih is None else torch.addmm(b_ih + b_hh, x2, w_ih.t())
    # w_hh's gradient: one matrix product after the loop, not one per step (_weight_grad).
    xw, w_hh_t, finish = track_recurrent_weight(xw, w_hh)  # w_hh_t (H, H)
    steps = xw.view(L, N, H).unbind(0)
    outputs = [None] * L
    h0 = h
    for t in range(L - 1, -1, -1) if reverse else range(L):
        h = act(torch.addmm(steps[t], h, w_hh_t))
        outputs[t] = h
    output = torch.stack(outputs)  # (L, N, H)
    finish(_previous_states(output, h0, reverse))
    return output, h


class RNNCell(_Cell):
    r"""An Elman RNN cell with tanh or ReLU nonlinearity.

    .. math::
        h' = \tanh(W_{ih} x + b_{ih} + W_{hh} h + b_{hh})

    If :attr:`nonlinearity` is ``'relu'``, ReLU is used instead of tanh. A drop-in
    replacement for ``torch.nn.RNNCell``.

    Args:
        input_size: the number of features ``D`` of the input ``x``.
        hidden_size: the number of features ``H`` of the state ``h``.
        bias: if ``False``, the cell has no ``bias_ih`` and ``bias_hh``. Default: ``True``.
        nonlinearity: ``'tanh'`` or ``'relu'``. Default: ``'tanh'``.

    Shapes:
        - input: ``(N, D)`` or ``(D,)`` unbatched.
        - hx: ``(N, H)`` or ``(H,)``; zeros if not given.
        - output: ``h'`` of the shape of ``hx``.

    Attributes:
        weight_ih: ``(H, D)``; weight_hh: ``(H, H)``; bias_ih, bias_hh: ``(H,)``.

    All parameters are initialised from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})`,
    :math:`k = 1/H`, as in torch.
    """

    def __init__(
        self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None
    ):
        _activation(nonlinearity)
        super().__init__(input_size, hidden_size, bias, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, hx)
        h = rnn_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                     self.nonlinearity)
        return h if batched else h.squeeze(0)


class RNN(_Recurrent):
    r"""A multi-layer Elman RNN with tanh or ReLU nonlinearity over an input sequence.

    For each element of the input sequence, each layer computes

    .. math::
        h_t = \tanh(x_t W_{ih}^T + b_{ih} + h_{t-1} W_{hh}^T + b_{hh})

    where :math:`x_t` is the input at step :math:`t` for the first layer and the output of
    the layer below (after dropout in training mode) for the others. If
    :attr:`nonlinearity` is ``'relu'``, ReLU is used instead of tanh. A drop-in replacement
    for ``torch.nn.RNN`` without packed sequences.

    Args:
        input_size: the number of features ``D`` of the input ``x``.
        hidden_size: the number of features ``H`` of the state ``h``.
        num_layers: the number of stacked layers. Default: 1.
        nonlinearity: ``'tanh'`` or ``'relu'``. Default: ``'tanh'``.
        bias: if ``False``, no ``bias_ih``/``bias_hh`` parameters. Default: ``True``.
        batch_first: if ``True``, input and output are ``(N, L, ·)`` instead of
            ``(L, N, ·)``; this does not apply to ``h_n``. Default: ``False``.
        dropout: the probability of zeroing an element of each layer's output except the
            last layer's, in training mode only. Default: 0.
        bidirectional: if ``True``, each layer also runs from the last step to the first
            and the two directions' outputs are concatenated. Default: ``False``.

    Shapes (``L`` steps, ``N`` sequences, ``Dir = 2`` if bidirectional else 1):
        - input: ``(L, N, D)``, ``(N, L, D)`` if ``batch_first``, or ``(L, D)`` unbatched.
        - hx: ``(Dir * num_layers, N, H)`` (``(Dir * num_layers, H)`` unbatched); zeros if
          not given.
        - output: ``(L, N, Dir * H)`` (``(N, L, Dir * H)`` if ``batch_first``), the last
          layer's ``h_t`` for every ``t``.
        - h_n: ``(Dir * num_layers, N, H)``, the final state of every layer and direction.

    Attributes:
        weight_ih_l[k]: ``(H, D)`` for ``k = 0``, ``(H, Dir * H)`` above.
        weight_hh_l[k]: ``(H, H)``; bias_ih_l[k], bias_hh_l[k]: ``(H,)``.
        ``..._reverse``: the same for the backward direction.

    All parameters are initialised from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})`,
    :math:`k = 1/H`, as in torch.
    """

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        nonlinearity="tanh",
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        device=None,
        dtype=None,
    ):
        _activation(nonlinearity)
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            device=device, dtype=dtype,
        )
        self.nonlinearity = nonlinearity
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"

    def _layer(self, x, states, weights, reverse):
        out, h = rnn_layer(x, *states, *weights, nonlinearity=self.nonlinearity, reverse=reverse)
        return out, (h,)

    def forward(self, input, hx=None):
        """Returns ``(output, h_n)``; see the class docstring for the shapes."""
        output, (h_n,) = self._run(input, hx)
        return output, h_n
