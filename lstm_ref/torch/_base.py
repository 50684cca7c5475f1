"""What the recurrent modules share: parameters named as torch's, initialisation, argument
checks, and the loop over layers and directions.

A subclass says how many gate blocks its weights stack (1 for an RNN, 4 for an LSTM), which
states it carries (``h`` alone or ``h`` and ``c``) and how one layer runs in one direction
(:meth:`_Recurrent._layer`); everything else (unbatched and ``batch_first`` inputs, the
initial state, bidirectional concatenation, dropout between layers) is written once here.
"""

import math
import numbers
import warnings

import torch
from torch import nn
from torch.nn import functional as F


def _check_sizes(input_size, hidden_size, bias):
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not isinstance(bias, bool):
        raise TypeError(f"bias must be a bool, got {type(bias).__name__}")


def _check_dtype(name, tensor, weight):
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dtype != weight.dtype:
        raise ValueError(
            f"{name} has dtype {tensor.dtype} but the module's parameters have {weight.dtype}; "
            f"convert one of them (tensor.to({weight.dtype}) or module.to({tensor.dtype}))"
        )


def _check_state_shape(name, state, expected):
    if tuple(state.shape) != tuple(expected):
        raise ValueError(f"{name} must have shape {tuple(expected)}, got {tuple(state.shape)}")


def _check_states(cls, hx, names, suffix, weight, expected, batched, batch_dim):
    """Split ``hx`` (a tensor for one state, a tuple for several) into the states ``names``,
    check each one's dtype against ``weight`` and its shape against ``expected``, and return
    them as a tuple, batched (unbatched ones get a size-1 axis at ``batch_dim``).

    ``suffix`` ends each state's name in the messages (``"_0"`` for ``h_0``, ``c_0``)."""
    states = (hx,) if len(names) == 1 else tuple(hx)
    if len(states) != len(names):
        expected_names = ", ".join(name + suffix for name in names)
        raise ValueError(
            f"{cls}: hx must be a tuple ({expected_names}), got {len(states)} tensors"
        )
    checked = []
    for name, s in zip(names, states):
        _check_dtype(name + suffix, s, weight)
        _check_state_shape(f"{cls}: {name}{suffix}", s, expected)
        checked.append(s if batched else s.unsqueeze(batch_dim))
    return tuple(checked)


def _previous_states(output, h0, reverse):
    """The state each step multiplied by ``w_hh``: ``h_{t-1}`` (``h_{t+1}`` when ``reverse``),
    ``(L, N, H)``, from the layer's ``output (L, N, H)`` and its initial state ``h0 (N, H)``."""
    h0 = h0.unsqueeze(0)
    return torch.cat([output[1:], h0]) if reverse else torch.cat([h0, output[:-1]])


def _uniform_init(module):
    """torch's default for recurrent weights: every parameter from U(-1/sqrt(H), 1/sqrt(H))."""
    stdv = 1.0 / math.sqrt(module.hidden_size)
    for weight in module.parameters():
        nn.init.uniform_(weight, -stdv, stdv)


class _Cell(nn.Module):
    """One step: parameters ``weight_ih (G*H, D)``, ``weight_hh (G*H, H)``, ``bias_ih``,
    ``bias_hh (G*H,)`` for ``G`` gate blocks, named as in ``torch.nn.RNNCellBase``."""

    _gates = 1
    _states = ("h",)

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__()
        _check_sizes(input_size, hidden_size, bias)
        kw = {"device": device, "dtype": dtype}
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        G = self._gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(G, input_size, **kw))
        self.weight_hh = nn.Parameter(torch.empty(G, hidden_size, **kw))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(G, **kw))
            self.bias_hh = nn.Parameter(torch.empty(G, **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        _uniform_init(self)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _prepare(self, input, hx):
        """Check ``input (N, D)`` or ``(D,)`` and the states; return them batched.

        ``hx`` is a tensor (RNN) or a tuple ``(h, c)`` (LSTM), or None for zeros.
        """
        cls = type(self).__name__
        _check_dtype("input", input, self.weight_ih)
        if input.dim() not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(
                f"{cls}: input must have shape (N, {self.input_size}) or ({self.input_size},), "
                f"got {tuple(input.shape)}"
            )
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)
        N = x.shape[0]
        if hx is None:
            zeros = x.new_zeros(N, self.hidden_size)
            return x, (zeros,) * len(self._states), batched
        expected = (N, self.hidden_size) if batched else (self.hidden_size,)
        states = _check_states(cls, hx, self._states, "", self.weight_ih, expected, batched, 0)
        return x, states, batched


class _Recurrent(nn.Module):
    """A stack of ``num_layers`` recurrent layers, optionally bidirectional.

    Parameters are registered in torch's order and with torch's names: for each layer ``k``
    and direction (suffix ``""`` or ``"_reverse"``) ``weight_ih_l{k}``, ``weight_hh_l{k}``,
    then ``bias_ih_l{k}``, ``bias_hh_l{k}`` when ``bias``; so state dicts are interchangeable
    with ``torch.nn`` and, seeded alike, the default initialisation draws the same numbers.
    """

    _gates = 1
    _states = ("h",)

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        device=None,
        dtype=None,
    ):
        super().__init__()
        _check_sizes(input_size, hidden_size, bias)
        if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers <= 0:
            raise ValueError(f"num_layers must be a positive int, got {num_layers!r}")
        if (
            not isinstance(dropout, numbers.Number)
            or isinstance(dropout, bool)
            or not 0 <= dropout <= 1
        ):
            raise ValueError(
                f"dropout must be a probability in [0, 1] of zeroing an element, got {dropout!r}"
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout applies between layers, after all but the last one, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                f"num_layers={num_layers}",
                stacklevel=3,
            )
        for name, value in (("batch_first", batch_first), ("bidirectional", bidirectional)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = 0  # torch.nn.LSTM's projections are not implemented here
        kw = {"device": device, "dtype": dtype}
        directions = 2 if bidirectional else 1
        G = self._gates * hidden_size
        self._all_weights = []  # names per (layer, direction), as torch.nn.RNNBase
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = {"weight_ih": (G, layer_input), "weight_hh": (G, hidden_size)}
                if bias:
                    shapes.update(bias_ih=(G,), bias_hh=(G,))
                names = []
                for prefix, shape in shapes.items():
                    setattr(self, prefix + suffix, nn.Parameter(torch.empty(shape, **kw)))
                    names.append(prefix + suffix)
                self._all_weights.append(names)
        self.reset_parameters()

    @property
    def all_weights(self):
        """The parameters of each layer and direction, as in ``torch.nn.RNNBase``."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def reset_parameters(self):
        _uniform_init(self)

    def flatten_parameters(self):
        """Does nothing: torch packs its weights for cuDNN here; ours stay separate tensors.

        Present so that code written for ``torch.nn.LSTM``, which often calls it after
        moving a model to the GPU, runs unchanged.
        """

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        for name, default in (
            ("num_layers", 1),
            ("bias", True),
            ("batch_first", False),
            ("dropout", 0.0),
            ("bidirectional", False),
        ):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s

    def _layer(self, x, states, weights, reverse):
        """Run one layer in one direction: ``x (L, N, D)`` time-major, ``states`` a tuple of
        ``(N, H)`` tensors, ``weights`` ``(weight_ih, weight_hh, bias_ih, bias_hh)`` (biases
        None without bias). Returns ``(output (L, N, H), final states tuple)``."""
        raise NotImplementedError

    def _prepare(self, input, hx):
        """Check the arguments; return time-major batched input, the states, and a flag."""
        cls = type(self).__name__
        weight = self.weight_ih_l0
        _check_dtype("input", input, weight)
        if input.dim() not in (2, 3) or input.shape[-1] != self.input_size:
            layout = "(N, L, " if self.batch_first else "(L, N, "
            raise ValueError(
                f"{cls}: input must have shape {layout}{self.input_size}) "
                f"(batch_first={self.batch_first}) or (L, {self.input_size}) unbatched, "
                f"got {tuple(input.shape)}"
            )
        batched = input.dim() == 3
        if not batched:  # batch_first does not apply to unbatched input
            x = input.unsqueeze(1)
        elif self.batch_first:
            x = input.transpose(0, 1)
        else:
            x = input
        N = x.shape[1]
        layers = self.num_layers * (2 if self.bidirectional else 1)
        if hx is None:
            zeros = x.new_zeros(layers, N, self.hidden_size)
            return x, (zeros,) * len(self._states), batched
        expected = (layers, N, self.hidden_size) if batched else (layers, self.hidden_size)
        states = _check_states(cls, hx, self._states, "_0", weight, expected, batched, 1)
        return x, states, batched

    def _run(self, input, hx):
        """The whole stack; returns ``(output, final states)`` shaped as torch's."""
        x, states, batched = self._prepare(input, hx)
        directions = 2 if self.bidirectional else 1
        finals = [[] for _ in self._states]
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                k = layer * directions + direction
                weights = [getattr(self, name) for name in self._all_weights[k]]
                if not self.bias:
                    weights += [None, None]
                out, last = self._layer(x, tuple(s[k] for s in states), weights, direction == 1)
                outputs.append(out)
                for final, s in zip(finals, last):
                    final.append(s)
            x = outputs[0] if directions == 1 else torch.cat(outputs, dim=2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        finals = tuple(torch.stack(f) for f in finals)  # each (D * num_layers, N, H)
        if not batched:
            return x.squeeze(1), tuple(f.squeeze(1) for f in finals)
        if self.batch_first:
            x = x.transpose(0, 1)
        return x, finals
