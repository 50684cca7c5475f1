r"""The GRU as ``torch.nn`` modules, written from the equations (autograd does the backward).

Same parameters, inputs and outputs as ``torch.nn.GRUCell`` and ``torch.nn.GRU`` (PyTorch's
convention: the reset gate multiplies the recurrent product, bias included), so a state dict
moves between them in both directions; :mod:`lstm_ref.numpy.gru` computes the same function
with ``reset_after=True`` and the weights transposed (see :mod:`lstm_ref.convert`).
"""

import torch

from ._base import _Cell, _Recurrent, _previous_states
from ._weight_grad import track_recurrent_weight


def _gru_update(xw, hh, h, H):
    """``h'`` from the input projection ``xw`` and the recurrent term ``hh`` (both ``(N, 3H)``,
    blocks r, z, n, biases included)."""
    rz = (xw[:, : 2 * H] + hh[:, : 2 * H]).sigmoid()
    r, z = rz[:, :H], rz[:, H:]
    n = torch.tanh(torch.addcmul(xw[:, 2 * H :], r, hh[:, 2 * H :]))
    return torch.lerp(n, h, z)  # (1 - z) * n + z * h


def gru_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    r"""One GRU step in torch's layout.

    .. math::
        \begin{array}{ll}
        r = \sigma(W_{ir} x + b_{ir} + W_{hr} h + b_{hr}) \\
        z = \sigma(W_{iz} x + b_{iz} + W_{hz} h + b_{hz}) \\
        n = \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn})) \\
        h' = (1 - z) \odot n + z \odot h
        \end{array}

    Args:
        x: ``(N, D)``; h: ``(N, H)``.
        w_ih: ``(3H, D)``; w_hh: ``(3H, H)``; b_ih, b_hh: ``(3H,)`` or None; gate blocks in
            order r, z, n.

    Returns:
        ``h' (N, H)``.
    """
    H = w_hh.shape[1]
    xw = x @ w_ih.t() if b_ih is None else torch.addmm(b_ih, x, w_ih.t())
    hh = h @ w_hh.t() if b_hh is None else torch.addmm(b_hh, h, w_hh.t())
    return _gru_update(xw, hh, h, H)


def gru_layer(x, h, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    r"""One GRU layer over a whole sequence, one direction: :func:`gru_cell` at every step.

    The input projection of all steps is one matrix product. Autograd computes the backward
    pass, except that ``w_hh`` gets its gradient from one matrix product over all steps
    (:mod:`lstm_ref.torch._weight_grad`: here the tracked tensor is the recurrent bias,
    broadcast over the steps, whose gradient is exactly that of each recurrent product).

    Args:
        x: ``(L, N, D)``, time-major; h: the initial state ``(N, H)``.
        w_ih: ``(3H, D)``; w_hh: ``(3H, H)``; b_ih, b_hh: ``(3H,)`` or None (r, z, n).
        reverse: run from the last step to the first; ``output[t]`` is the state at ``t``.

    Returns:
        ``(output (L, N, H), h_n (N, H))``.
    """
    L, N, D = x.shape
    H = w_hh.shape[1]
    x2 = x.reshape(L * N, D)
    xw = x2 @ w_ih.t() if b_ih is None else torch.addmm(b_ih, x2, w_ih.t())
    steps = xw.view(L, N, 3 * H).unbind(0)
    if b_hh is None:
        hb = x.new_zeros(L, N, 3 * H)
    else:
        hb = b_hh.expand(L, N, 3 * H)
    hb, w_hh_t, finish = track_recurrent_weight(hb, w_hh)  # w_hh_t (H, 3H)
    hb = hb.unbind(0)
    outputs = [None] * L
    h0 = h
    for t in range(L - 1, -1, -1) if reverse else range(L):
        hh = torch.addmm(hb[t], h, w_hh_t)  # (N, 3H): h W_hh^T + b_hh
        h = _gru_update(steps[t], hh, h, H)
        outputs[t] = h
    output = torch.stack(outputs)  # (L, N, H)
    finish(_previous_states(output, h0, reverse))
    return output, h


class GRUCell(_Cell):
    r"""A gated recurrent unit (GRU) cell, PyTorch's convention.

    .. math::
        \begin{array}{ll}
        r = \sigma(W_{ir} x + b_{ir} + W_{hr} h + b_{hr}) \\
        z = \sigma(W_{iz} x + b_{iz} + W_{hz} h + b_{hz}) \\
        n = \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn})) \\
        h' = (1 - z) \odot n + z \odot h
        \end{array}

    where :math:`\sigma` is the sigmoid function and :math:`\odot` the elementwise product.
    The reset gate acts after the recurrent product (Cho et al. (2014) apply it to ``h``
    before: :func:`lstm_ref.numpy.gru_forward` with ``reset_after=False``). A drop-in
    replacement for ``torch.nn.GRUCell``.

    Args:
        input_size: the number of features ``D`` of the input ``x``.
        hidden_size: the number of features ``H`` of the state ``h``.
        bias: if ``False``, the cell has no ``bias_ih`` and ``bias_hh``. Default: ``True``.

    Shapes:
        - input: ``(N, D)`` or ``(D,)`` unbatched.
        - hx: ``(N, H)`` or ``(H,)``; zeros if not given.
        - output: ``h'`` of the shape of ``hx``.

    Attributes:
        weight_ih: ``(3H, D)``, blocks ``(W_ir|W_iz|W_in)``.
        weight_hh: ``(3H, H)``, blocks ``(W_hr|W_hz|W_hn)``.
        bias_ih, bias_hh: ``(3H,)``.

    All parameters are initialised from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})`,
    :math:`k = 1/H`, as in torch.
    """

    _gates = 3

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, hx)
        h = gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h if batched else h.squeeze(0)


class GRU(_Recurrent):
    r"""A multi-layer gated recurrent unit (GRU) network over an input sequence.

    For each element of the input sequence, each layer computes

    .. math::
        \begin{array}{ll}
            r_t = \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{(t-1)} + b_{hr}) \\
            z_t = \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{(t-1)} + b_{hz}) \\
            n_t = \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{(t-1)}+ b_{hn})) \\
            h_t = (1 - z_t) \odot n_t + z_t \odot h_{(t-1)}
        \end{array}

    where :math:`x_t` is the input at step :math:`t` for the first layer and, for layer
    :math:`k > 1`, the output :math:`h_t` of layer :math:`k-1` (after dropout in training
    mode, when ``dropout > 0``). A drop-in replacement for ``torch.nn.GRU`` without packed
    sequences.

    Args:
        input_size: the number of features ``D`` of the input ``x``.
        hidden_size: the number of features ``H`` of the state ``h``.
        num_layers: the number of stacked layers. Default: 1.
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
        - h_n: ``(Dir * num_layers, N, H)``, the final state of every layer and direction;
          for the backward direction "final" is step 0, so ``h_n[-1]`` equals
          ``output[0, :, H:]``, not ``output[-1, :, H:]``.

    Attributes:
        weight_ih_l[k]: ``(3H, D)`` for ``k = 0``, ``(3H, Dir * H)`` above; blocks
            ``(W_ir|W_iz|W_in)``.
        weight_hh_l[k]: ``(3H, H)``; bias_ih_l[k], bias_hh_l[k]: ``(3H,)``.
        ``..._reverse``: the same for the backward direction.

    All parameters are initialised from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})`,
    :math:`k = 1/H`, as in torch.
    """

    _gates = 3
    mode = "GRU"

    def _layer(self, x, states, weights, reverse):
        out, h = gru_layer(x, *states, *weights, reverse=reverse)
        return out, (h,)

    def forward(self, input, hx=None):
        """Returns ``(output, h_n)``; see the class docstring for the shapes."""
        output, (h_n,) = self._run(input, hx)
        return output, h_n
