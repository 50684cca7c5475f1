r"""The LSTM family of Greff et al. (2017) as one ``torch.nn`` module, for training.

:class:`VariantLSTM` computes the equations of :mod:`lstm_ref.numpy.variants` (the module
docstring there lists every variant) with the same parameters in the same numpy layout
(``Wx (D, K*H)``, ``Wh (H, K*H)``, ``b (K*H,)``, ``p (P, H)``, ``Wg (3H, 3H)``), so
:meth:`VariantLSTM.from_numpy_params` and :meth:`VariantLSTM.numpy_params` move weights
between the two exactly. Autograd computes the backward pass; the input projections of all
steps are one matrix product and ``Wh`` gets its gradient from one product over all steps
(:mod:`lstm_ref.torch._weight_grad`), so only the recurrence runs step by step.
"""

import math

import numpy as np
import torch
from torch import nn

from ..numpy.variants import VARIANTS, variant_param_shapes, variant_spec
from ._base import _check_dtype, _check_sizes, _check_state_shape, _previous_states
from ._weight_grad import track_recurrent_weight


class VariantLSTM(nn.Module):
    r"""One LSTM layer of a variant of Greff et al. (2017), "LSTM: A Search Space Odyssey".

    The vanilla variant (forget gate and peepholes, Gers & Schmidhuber 2000):

    .. math::
        \begin{array}{ll}
        i_t = \sigma(x_t W_{xi} + h_{t-1} W_{hi} + p_i \odot c_{t-1} + b_i) \\
        f_t = \sigma(x_t W_{xf} + h_{t-1} W_{hf} + p_f \odot c_{t-1} + b_f) \\
        g_t = \tanh(x_t W_{xg} + h_{t-1} W_{hg} + b_g) \\
        c_t = f_t \odot c_{t-1} + i_t \odot g_t \\
        o_t = \sigma(x_t W_{xo} + h_{t-1} W_{ho} + p_o \odot c_t + b_o) \\
        h_t = o_t \odot \tanh(c_t)
        \end{array}

    and the others change one thing: NIG :math:`i_t = 1`, NFG :math:`f_t = 1`, NOG
    :math:`o_t = 1`, NIAF :math:`g` linear, NOAF :math:`h_t = o_t \odot c_t`, NP no
    peepholes, CIFG :math:`f_t = 1 - i_t`, FGR :math:`[i_{t-1}, f_{t-1}, o_{t-1}] W_g` added
    to the gates' pre-activations.

    Args:
        input_size: the number of features ``D`` of the input.
        hidden_size: the number of features ``H`` of the states.
        variant: one of :data:`lstm_ref.numpy.VARIANTS`. Default: ``"vanilla"``.
        forget_bias: the initial bias of the forget gate (for CIFG, minus the input gate's;
            ignored by NFG), or None to leave it random. Default: 1.

    Shapes:
        - input: ``(T, N, D)``, time-major.
        - state: a tuple ``(h_0, c_0)``, each ``(N, H)``; zeros if not given.
        - output: ``(T, N, H)``, every ``h_t``; and ``(h_n, c_n)``, each ``(N, H)``.

    Attributes:
        Wx: ``(D, K*H)``; Wh: ``(H, K*H)``; b: ``(K*H,)``: the ``K`` gate blocks with
            parameters, in order i, f, g, o without the removed gate.
        p: ``(P, H)``, the peephole rows of the sigmoid gates present (i, f, o order); absent
            for NP.
        Wg: ``(3H, 3H)`` (FGR only), from ``[i, f, o]_{t-1}`` to the pre-activations of
            ``[i, f, o]_t``.

    Parameters are initialised from :math:`\mathcal U(-1/\sqrt H, 1/\sqrt H)` (torch's rule
    for recurrent layers), then the forget bias is set.
    """

    def __init__(self, input_size, hidden_size, variant="vanilla", forget_bias=1.0,
                 device=None, dtype=None):
        super().__init__()
        _check_sizes(input_size, hidden_size, True)
        self.spec = variant_spec(variant)
        if forget_bias is not None and not isinstance(forget_bias, (int, float)):
            raise TypeError(
                f"forget_bias must be a number or None, got {type(forget_bias).__name__}"
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.variant = variant
        self.forget_bias = forget_bias
        kw = {"device": device, "dtype": dtype}
        for name, shape in variant_param_shapes(input_size, hidden_size, variant).items():
            setattr(self, name, nn.Parameter(torch.empty(shape, **kw)))
        self.reset_parameters()

    def reset_parameters(self):
        """Uniform weights, then the forget bias (see the class docstring)."""
        k = 1.0 / math.sqrt(self.hidden_size)
        H = self.hidden_size
        with torch.no_grad():
            for p in self.parameters():
                nn.init.uniform_(p, -k, k)
            if self.forget_bias is not None:
                if "f" in self.spec.blocks:
                    j = self.spec.blocks.index("f")
                    self.b[j * H : (j + 1) * H] = self.forget_bias
                elif self.spec.coupled:
                    self.b[:H] = -self.forget_bias

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, variant={self.variant!r}"

    @classmethod
    def from_numpy_params(cls, params, variant="vanilla"):
        """A module holding copies of numpy ``params`` (as from
        :func:`lstm_ref.numpy.init_variant_params`), in their dtype."""
        spec = variant_spec(variant)
        if not isinstance(params, dict) or "Wx" not in params or "Wh" not in params:
            raise ValueError(
                f"params must be a dict with the keys "
                f"{list(variant_param_shapes(1, 1, variant))} of variant {variant!r}"
            )
        D, H = params["Wx"].shape[0], params["Wh"].shape[0]
        shapes = variant_param_shapes(D, H, variant)
        if sorted(params) != sorted(shapes):
            raise ValueError(
                f"params for variant {spec.name!r} must have exactly the keys {list(shapes)}, "
                f"got {list(params)}"
            )
        dtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}.get(
            np.asarray(params["Wx"]).dtype
        )
        if dtype is None:
            raise ValueError(f"params must be float32 or float64, got {params['Wx'].dtype}")
        module = cls(D, H, variant, forget_bias=None, dtype=dtype)
        with torch.no_grad():
            for name, shape in shapes.items():
                value = np.asarray(params[name])
                if value.shape != shape:
                    raise ValueError(
                        f"params['{name}'] must have shape {shape}, got {tuple(value.shape)}"
                    )
                getattr(module, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
        return module

    def numpy_params(self):
        """The parameters as a dict of numpy arrays (copies), keyed as in
        :func:`lstm_ref.numpy.init_variant_params`."""
        return {name: p.detach().cpu().numpy().copy() for name, p in self.named_parameters()}

    def _prepare(self, x, state):
        _check_dtype("x", x, self.Wx)
        if x.dim() != 3 or x.shape[2] != self.input_size:
            raise ValueError(
                f"VariantLSTM: x must have shape (T, N, {self.input_size}), got {tuple(x.shape)}"
            )
        N, H = x.shape[1], self.hidden_size
        if state is None:
            zeros = x.new_zeros(N, H)
            return zeros, zeros
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise ValueError("VariantLSTM: state must be a tuple (h_0, c_0) or None")
        for name, s in zip(("h_0", "c_0"), state):
            _check_dtype(name, s, self.Wx)
            _check_state_shape(f"VariantLSTM: {name}", s, (N, H))
        return tuple(state)

    def forward(self, x, state=None):
        """Returns ``(output (T, N, H), (h_n, c_n))``; see the class docstring."""
        h, c = self._prepare(x, state)
        spec = self.spec
        T, N, D = x.shape
        H = self.hidden_size
        K = len(spec.blocks)
        col = {k: j for j, k in enumerate(spec.blocks)}
        xw = torch.addmm(self.b, x.reshape(T * N, D), self.Wx)  # (T*N, K*H): all steps
        xw, Wh, finish = track_recurrent_weight(xw, self.Wh.t())  # Wh (H, K*H), detached
        steps = xw.view(T, N, K * H).unbind(0)
        peep = {k: self.p[j] for j, k in enumerate(spec.sig)} if spec.peep else {}
        if spec.fgr:  # [i, f, o]_{t-1} (N, 3H) -> columns i, f, (g: none), o
            zero = self.Wg.new_zeros(3 * H, H)
            Wg_full = torch.cat([self.Wg[:, : 2 * H], zero, self.Wg[:, 2 * H :]], dim=1)
        h0, outputs = h, []
        prev = x.new_zeros(N, 3 * H) if spec.fgr else None  # i_0 = f_0 = o_0 = 0
        for t in range(T):
            a = torch.addmm(steps[t], h, Wh)  # (N, K*H)
            if prev is not None:
                a = torch.addmm(a, prev, Wg_full)
            blocks = a.split(H, dim=1)

            def pre(k, cell):
                return torch.addcmul(blocks[col[k]], peep[k], cell) if k in peep else blocks[col[k]]

            i = torch.sigmoid(pre("i", c)) if "i" in col else None
            if spec.coupled:
                f = 1.0 - i
            else:
                f = torch.sigmoid(pre("f", c)) if "f" in col else None
            g = torch.tanh(blocks[col["g"]]) if spec.g_tanh else blocks[col["g"]]
            ig = g if i is None else i * g
            c = c + ig if f is None else torch.addcmul(ig, f, c)
            act = torch.tanh(c) if spec.h_tanh else c
            o = torch.sigmoid(pre("o", c)) if "o" in col else None
            h = act if o is None else o * act
            if spec.fgr:
                prev = torch.cat([i, f, o], dim=1)
            outputs.append(h)
        output = torch.stack(outputs)  # (T, N, H)
        finish(_previous_states(output, h0, False))
        return output, (h, c)


__all__ = ["VariantLSTM", "VARIANTS"]
