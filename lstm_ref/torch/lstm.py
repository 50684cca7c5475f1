r"""The LSTM as ``torch.nn`` modules, written from the equations (autograd does the backward).

Same parameters, inputs and outputs as ``torch.nn.LSTMCell`` and ``torch.nn.LSTM``, so a
state dict moves between them in both directions; :mod:`lstm_ref.numpy.lstm` computes the
same function with weights transposed (see :mod:`lstm_ref.convert`).
"""

import torch

from ..convert import reorder_gates
from ._base import _Cell, _Recurrent, _previous_states
from ._weight_grad import track_recurrent_weight


def lstm_cell(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    r"""One LSTM step in torch's layout.

    .. math::
        \begin{array}{ll}
        i = \sigma(W_{ii} x + b_{ii} + W_{hi} h + b_{hi}) \\
        f = \sigma(W_{if} x + b_{if} + W_{hf} h + b_{hf}) \\
        g = \tanh(W_{ig} x + b_{ig} + W_{hg} h + b_{hg}) \\
        o = \sigma(W_{io} x + b_{io} + W_{ho} h + b_{ho}) \\
        c' = f \odot c + i \odot g \\
        h' = o \odot \tanh(c') \\
        \end{array}

    Args:
        x: ``(N, D)``; h, c: ``(N, H)``.
        w_ih: ``(4H, D)``; w_hh: ``(4H, H)``; b_ih, b_hh: ``(4H,)`` or None; gate blocks in
            order i, f, g, o.

    Returns:
        ``(h', c')``, each ``(N, H)``.
    """
    a = x @ w_ih.t() + h @ w_hh.t()  # (N, 4H)
    if b_ih is not None:
        a = a + (b_ih + b_hh)
    i, f, g, o = a.chunk(4, dim=1)
    i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
    c = f * c + i * g
    h = o * c.tanh()
    return h, c


def lstm_layer(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    r"""One LSTM layer over a whole sequence, one direction.

    Applies :func:`lstm_cell` at every step. The input projection of all steps is one
    matrix product; the loop adds the recurrent product and the gates. Autograd computes
    the backward pass, except that ``w_hh`` gets its gradient from one matrix product over
    all steps (see :mod:`lstm_ref.torch._weight_grad`), so it is differentiable once.

    Args:
        x: ``(L, N, D)``, time-major.
        h, c: initial states, ``(N, H)``.
        w_ih: ``(4H, D)``; w_hh: ``(4H, H)``; b_ih, b_hh: ``(4H,)`` or None (i, f, g, o).
        reverse: run from the last step to the first (the backward direction of a
            bidirectional LSTM); ``output[t]`` is still the state at step ``t``.

    Returns:
        ``(output, (h_n, c_n))``: the hidden states ``output (L, N, H)`` and the final
        states ``(N, H)`` (at step 0 when ``reverse``).
    """
    L, N, D = x.shape
    H = w_hh.shape[1]
    # Internally the gates are laid out i, f, o, g (reorder_gates' default dst), so one
    # sigmoid covers the three gates i, f, o; the parameters keep torch's i, f, g, o.
    w_ih, w_hh = reorder_gates(w_ih, axis=0), reorder_gates(w_hh, axis=0)
    x2 = x.reshape(L * N, D)
    if b_ih is None:
        xw = x2 @ w_ih.t()
    else:
        xw = torch.addmm(reorder_gates(b_ih + b_hh, axis=0), x2, w_ih.t())
    # w_hh's gradient: one matrix product after the loop, not one per step (_weight_grad).
    xw, w_hh_t, finish = track_recurrent_weight(xw, w_hh)  # w_hh_t (H, 4H)
    steps = xw.view(L, N, 4 * H).unbind(0)  # unbind: indexing under autograd is far slower
    outputs = [None] * L
    h0 = h
    for t in range(L - 1, -1, -1) if reverse else range(L):
        a = torch.addmm(steps[t], h, w_hh_t)  # (N, 4H), blocks i, f, o, g
        sig = a[:, : 3 * H].sigmoid()
        g = a[:, 3 * H :].tanh()
        i, f, o = sig.chunk(3, dim=1)
        c = torch.addcmul(f * c, i, g)
        h = o * c.tanh()
        outputs[t] = h
    output = torch.stack(outputs)  # (L, N, H)
    finish(_previous_states(output, h0, reverse))
    return output, (h, c)


class LSTMCell(_Cell):
    r"""A long short-term memory (LSTM) cell.

    .. math::
        \begin{array}{ll}
        i = \sigma(W_{ii} x + b_{ii} + W_{hi} h + b_{hi}) \\
        f = \sigma(W_{if} x + b_{if} + W_{hf} h + b_{hf}) \\
        g = \tanh(W_{ig} x + b_{ig} + W_{hg} h + b_{hg}) \\
        o = \sigma(W_{io} x + b_{io} + W_{ho} h + b_{ho}) \\
        c' = f \odot c + i \odot g \\
        h' = o \odot \tanh(c') \\
        \end{array}

    where :math:`\sigma` is the sigmoid function and :math:`\odot` the elementwise product.
    A drop-in replacement for ``torch.nn.LSTMCell``.

    Args:
        input_size: the number of features ``D`` of the input ``x``.
        hidden_size: the number of features ``H`` of the states ``h`` and ``c``.
        bias: if ``False``, the cell has no ``bias_ih`` and ``bias_hh``. Default: ``True``.

    Shapes:
        - input: ``(N, D)`` or ``(D,)`` unbatched.
        - hx: a tuple ``(h, c)``, each ``(N, H)`` (or ``(H,)``); zeros if not given.
        - output: a tuple ``(h', c')`` of the shape of ``(h, c)``.

    Attributes:
        weight_ih: ``(4H, D)``, blocks ``(W_ii|W_if|W_ig|W_io)``.
        weight_hh: ``(4H, H)``, blocks ``(W_hi|W_hf|W_hg|W_ho)``.
        bias_ih, bias_hh: ``(4H,)``.

    All parameters are initialised from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})`,
    :math:`k = 1/H`, as in torch.
    """

    _gates = 4
    _states = ("h", "c")

    def forward(self, input, hx=None):
        x, (h, c), batched = self._prepare(input, hx)
        h, c = lstm_cell(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class LSTM(_Recurrent):
    r"""A multi-layer long short-term memory (LSTM) network over an input sequence.

    For each element of the input sequence, each layer computes

    .. math::
        \begin{array}{ll} \\
            i_t = \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}) \\
            f_t = \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) \\
            g_t = \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) \\
            o_t = \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}) \\
            c_t = f_t \odot c_{t-1} + i_t \odot g_t \\
            h_t = o_t \odot \tanh(c_t) \\
        \end{array}

    where :math:`x_t` is the input at step :math:`t` for the first layer and, for layer
    :math:`k > 1`, the output :math:`h_t` of layer :math:`k-1` (after dropout in training
    mode, when ``dropout > 0``). A drop-in replacement for ``torch.nn.LSTM`` without
    ``proj_size`` and packed sequences.

    Args:
        input_size: the number of features ``D`` of the input ``x``.
        hidden_size: the number of features ``H`` of the states ``h`` and ``c``.
        num_layers: the number of stacked layers. Default: 1.
        bias: if ``False``, no ``bias_ih``/``bias_hh`` parameters. Default: ``True``.
        batch_first: if ``True``, input and output are ``(N, L, ·)`` instead of
            ``(L, N, ·)``; this does not apply to the states ``h_n``, ``c_n``. Default:
            ``False``.
        dropout: the probability of zeroing an element of each layer's output except the
            last layer's, in training mode only. Default: 0.
        bidirectional: if ``True``, each layer also runs from the last step to the first
            and the two directions' outputs are concatenated. Default: ``False``.

    Shapes (``L`` steps, ``N`` sequences, ``Dir = 2`` if bidirectional else 1):
        - input: ``(L, N, D)``, ``(N, L, D)`` if ``batch_first``, or ``(L, D)`` unbatched.
        - hx: a tuple ``(h_0, c_0)``, each ``(Dir * num_layers, N, H)`` (or
          ``(Dir * num_layers, H)`` unbatched); zeros if not given.
        - output: ``(L, N, Dir * H)`` (``(N, L, Dir * H)`` if ``batch_first``, ``(L, Dir * H)``
          unbatched), the last layer's ``h_t`` for every ``t``.
        - ``(h_n, c_n)``: the final states of every layer and direction, each
          ``(Dir * num_layers, N, H)``; for the backward direction "final" is step 0.

    Attributes:
        weight_ih_l[k]: ``(4H, D)`` for ``k = 0``, ``(4H, Dir * H)`` above; blocks
            ``(W_ii|W_if|W_ig|W_io)``.
        weight_hh_l[k]: ``(4H, H)``.
        bias_ih_l[k], bias_hh_l[k]: ``(4H,)``.
        ``..._reverse``: the same for the backward direction.

    All parameters are initialised from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})`,
    :math:`k = 1/H`, as in torch.
    """

    _gates = 4
    _states = ("h", "c")
    mode = "LSTM"

    def _layer(self, x, states, weights, reverse):
        return lstm_layer(x, *states, *weights, reverse=reverse)

    def forward(self, input, hx=None):
        """Returns ``(output, (h_n, c_n))``; see the class docstring for the shapes."""
        return self._run(input, hx)
