r"""Modules on one array: Identity, Linear, the nonlinearities, Dropout, LookupTable, OneHot.

Each module's backward sits beside its forward. An input is ``(features,)`` or a batch
``(N, features)`` as in Lua; element-wise modules take any shape.

Class and token indices (the input of :class:`LookupTable` and :class:`OneHot`) are data,
not positions written in code: they are **0-based**, as numpy and PyTorch index.
"""

import numpy as np

from ..module import Module, check_array, resolve_rng


class Identity(Module):
    r"""Passes its input through: :math:`y = x`; the usual input node, ``Identity()()``.

    The input may be anything, a list included (a table passes through unchanged).
    """

    def updateOutput(self, input):
        self.output = input
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = gradOutput
        return self.gradInput


class Linear(Module):
    r"""An affine map, Lua's ``nn.Linear(inputSize, outputSize)``.

    .. math::
        y = x W^\top + b, \qquad
        \frac{\partial L}{\partial x} = g W, \qquad
        \frac{\partial L}{\partial W} \mathrel{+}= g^\top x, \qquad
        \frac{\partial L}{\partial b} \mathrel{+}= \textstyle\sum_n g_n

    with ``g`` the gradient on ``y``. Initialised as Lua's: every weight and bias uniform in
    :math:`\pm 1/\sqrt{\text{inputSize}}`.

    Args:
        inputSize: ``in``, the number of input features.
        outputSize: ``out``, the number of output features.
        bias: whether there is a bias ``b``.
        rng: ``None``, an int seed or a ``numpy.random.Generator`` for the initialisation.
        dtype: the dtype of the parameters (float64 by default).

    Shapes:
        input ``(in,)`` or ``(N, in)``; output ``(out,)`` or ``(N, out)``.

    Attributes:
        weight: ``(out, in)``; bias: ``(out,)``; gradWeight, gradBias: their gradients.
    """

    def __init__(self, inputSize, outputSize, bias=True, rng=None, dtype=np.float64):
        super().__init__()
        for name, v in (("inputSize", inputSize), ("outputSize", outputSize)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"Linear's {name} must be an int >= 1, got {v!r}")
        self.inputSize, self.outputSize = int(inputSize), int(outputSize)
        self.weight = np.zeros((self.outputSize, self.inputSize), dtype=dtype)
        self.gradWeight = np.zeros_like(self.weight)
        self.bias = np.zeros(self.outputSize, dtype=dtype) if bias else None
        self.gradBias = np.zeros_like(self.bias) if bias else None
        self.reset(rng=rng)

    def reset(self, stdv=None, rng=None):
        """Draw the parameters uniform in ``±stdv`` (default ``1/sqrt(inputSize)``), in place."""
        rng = resolve_rng(rng)
        stdv = 1.0 / np.sqrt(self.inputSize) if stdv is None else stdv
        self.weight[...] = rng.uniform(-stdv, stdv, size=self.weight.shape)
        if self.bias is not None:
            self.bias[...] = rng.uniform(-stdv, stdv, size=self.bias.shape)
        return self

    def _check(self, input):
        check_array(self, input)
        if input.ndim not in (1, 2) or input.shape[-1] != self.inputSize:
            raise ValueError(
                f"{self!r} expects an input of shape ({self.inputSize},) or "
                f"(N, {self.inputSize}), got {input.shape}"
            )

    def updateOutput(self, input):
        self._check(input)
        self.output = input @ self.weight.T  # (N, out)
        if self.bias is not None:
            self.output = self.output + self.bias
        return self.output

    def updateGradInput(self, input, gradOutput):
        self._check(input)
        check_array(self, gradOutput, "gradOutput")
        if gradOutput.shape != input.shape[:-1] + (self.outputSize,):
            raise ValueError(
                f"{self!r}: gradOutput must have shape {input.shape[:-1] + (self.outputSize,)}, "
                f"got {gradOutput.shape}"
            )
        self.gradInput = gradOutput @ self.weight  # (N, in)
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1.0):
        g2 = np.atleast_2d(gradOutput)  # (N, out)
        x2 = np.atleast_2d(input)  # (N, in)
        self.gradWeight += scale * (g2.T @ x2)
        if self.bias is not None:
            self.gradBias += scale * g2.sum(axis=0)

    def parameters(self):
        if self.bias is None:
            return [self.weight], [self.gradWeight]
        return [self.weight, self.bias], [self.gradWeight, self.gradBias]

    def __repr__(self):
        no_bias = "" if self.bias is not None else ", no bias"
        return f"Linear({self.inputSize} -> {self.outputSize}{no_bias})"


class Sigmoid(Module):
    r"""Element-wise :math:`y = \sigma(x) = 1/(1+e^{-x})`; backward :math:`g\, y (1-y)`."""

    def updateOutput(self, input):
        check_array(self, input)
        self.output = 0.5 * (1.0 + np.tanh(0.5 * input))  # sigma(x), without overflow
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = gradOutput * self.output * (1.0 - self.output)
        return self.gradInput


class Tanh(Module):
    r"""Element-wise :math:`y = \tanh(x)`; backward :math:`g\,(1-y^2)`."""

    def updateOutput(self, input):
        check_array(self, input)
        self.output = np.tanh(input)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = gradOutput * (1.0 - self.output * self.output)
        return self.gradInput


class ReLU(Module):
    r"""Element-wise :math:`y = \max(x, 0)`; backward :math:`g\,[x > 0]`."""

    def updateOutput(self, input):
        check_array(self, input)
        self.output = np.maximum(input, 0.0)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = gradOutput * (input > 0)
        return self.gradInput


class LogSoftMax(Module):
    r"""Log-probabilities over the last axis, Lua's ``nn.LogSoftMax``.

    .. math::
        y_j = x_j - \log \textstyle\sum_k e^{x_k}, \qquad
        \frac{\partial L}{\partial x_j} = g_j - e^{y_j} \textstyle\sum_k g_k

    Shapes: input ``(C,)`` or ``(N, C)``; output the same.
    """

    def updateOutput(self, input):
        check_array(self, input)
        if input.ndim not in (1, 2):
            raise ValueError(
                f"{self!r} expects an input of shape (C,) or (N, C), got {input.shape}"
            )
        shifted = input - input.max(axis=-1, keepdims=True)
        self.output = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = gradOutput - np.exp(self.output) * gradOutput.sum(axis=-1, keepdims=True)
        return self.gradInput


class Dropout(Module):
    r"""Lua's ``nn.Dropout(p)``: in training, zero each element with probability ``p`` and
    scale the others by :math:`1/(1-p)`; in evaluation, pass the input through.

    .. math::
        y = x \odot m / (1-p), \quad m_j \sim \text{Bernoulli}(1-p); \qquad
        \frac{\partial L}{\partial x} = g \odot m / (1-p)

    Args:
        p: the probability of dropping an element, ``0 <= p < 1``.
        rng: ``None``, an int seed or a ``numpy.random.Generator`` drawing the masks (clones
            made by :func:`~lstm_ref.graph.clone_many_times` share it).
    """

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout's p must be in [0, 1), got {p!r}")
        self.p = float(p)
        self.rng = resolve_rng(rng)
        self.noise = None

    def updateOutput(self, input):
        check_array(self, input)
        if self.train and self.p > 0:
            self.noise = (self.rng.random(input.shape) >= self.p) / (1.0 - self.p)
            self.output = input * self.noise
        else:
            self.noise = None
            self.output = input
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = gradOutput if self.noise is None else gradOutput * self.noise
        return self.gradInput

    def _shared_state(self):
        return [self.rng]

    def __repr__(self):
        return f"Dropout({self.p})"


def _check_indices(module, input, size):
    """Integer-valued indices in ``[0, size)`` (0-based), as an int array."""
    arr = np.asarray(input)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{module!r} expects integer indices, got dtype {arr.dtype}")
    idx = arr.astype(np.int64)
    if np.issubdtype(arr.dtype, np.floating) and np.any(idx != arr):
        raise ValueError(f"{module!r} expects integer indices, got non-integer values")
    if idx.size and (idx.min() < 0 or idx.max() >= size):
        raise ValueError(
            f"{module!r} expects 0-based indices in [0, {size - 1}], got values from "
            f"{idx.min()} to {idx.max()}"
        )
    return idx


class LookupTable(Module):
    r"""An embedding, Lua's ``nn.LookupTable(nIndex, nOutput)``: row ``x`` of a weight.

    .. math::
        y = W[x], \qquad \frac{\partial L}{\partial W[k]} \mathrel{+}=
        \textstyle\sum_{n:\, x_n = k} g_n

    Indices are 0-based (Lua's were 1-based). The gradient on the indices is zero.

    Args:
        nIndex: the number of rows (the vocabulary size).
        nOutput: the size of each embedding.
        rng: ``None``, an int seed or a Generator; rows are drawn standard normal, as in Lua.

    Shapes: input integer ``(N,)`` (or any shape ``S``); output ``(N, nOutput)`` (``S +
    (nOutput,)``).
    """

    def __init__(self, nIndex, nOutput, rng=None, dtype=np.float64):
        super().__init__()
        self.nIndex, self.nOutput = int(nIndex), int(nOutput)
        self.weight = resolve_rng(rng).standard_normal((self.nIndex, self.nOutput)).astype(dtype)
        self.gradWeight = np.zeros_like(self.weight)

    def updateOutput(self, input):
        self._idx = _check_indices(self, input, self.nIndex)
        self.output = self.weight[self._idx]
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = np.zeros(np.shape(input), dtype=self.weight.dtype)
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1.0):
        idx = _check_indices(self, input, self.nIndex)
        np.add.at(self.gradWeight, idx.reshape(-1), scale * gradOutput.reshape(-1, self.nOutput))

    def parameters(self):
        return [self.weight], [self.gradWeight]

    def __repr__(self):
        return f"LookupTable({self.nIndex}, {self.nOutput})"


class OneHot(Module):
    r"""char-rnn's ``OneHot(outputSize)``: index ``k`` -> the unit vector :math:`e_k`.

    Indices are 0-based (char-rnn's were 1-based). The gradient on the indices is zero.

    Shapes: input integer ``(N,)`` (or a scalar); output ``(N, outputSize)``
    (``(outputSize,)``), float64.
    """

    def __init__(self, outputSize):
        super().__init__()
        self.outputSize = int(outputSize)

    def updateOutput(self, input):
        idx = _check_indices(self, input, self.outputSize)
        self.output = np.zeros(idx.shape + (self.outputSize,), dtype=np.float64)
        np.put_along_axis(self.output, idx[..., None], 1.0, axis=-1)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = np.zeros(np.shape(input), dtype=np.float64)
        return self.gradInput

    def __repr__(self):
        return f"OneHot({self.outputSize})"
