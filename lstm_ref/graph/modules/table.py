r"""Modules on tables (Python lists of arrays): element-wise sums and products, and the
modules that turn an array into a list and back.

**Lua's 1-based numbers are kept.** ``SplitTable(dim)``, ``JoinTable(dim)`` and
``SelectTable(index)`` take the numbers Lua took, so a Lua line translates as it stands:
``dim = 1`` is the first axis, ``dim = -1`` the last (negative numbers count from the end,
as in Lua), ``SelectTable(1)`` the first item, ``SelectTable(-1)`` the last. The optional
``nInputDims`` is Lua's batch convention: when the input has ``nInputDims + 1`` axes, a
positive ``dim`` is shifted by one, so the same module splits a single example or a batch.
"""

import numpy as np

from ..module import Module, check_array, check_same_shapes, check_table, lua_dim, zeros_like_nested


class CAddTable(Module):
    r"""The sum of a list of arrays of one shape, :math:`y = \sum_k x_k`; each
    :math:`\partial L/\partial x_k = g`."""

    def updateOutput(self, input):
        xs = check_same_shapes(self, check_table(self, input))
        self.output = xs[0].copy()
        for x in xs[1:]:
            self.output += x
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = [gradOutput for _ in input]
        return self.gradInput


class CMulTable(Module):
    r"""The element-wise product of a list of arrays, :math:`y = \prod_k x_k`;
    :math:`\partial L/\partial x_k = g \odot \prod_{j \ne k} x_j` (computed without dividing,
    so zeros in the inputs are fine)."""

    def updateOutput(self, input):
        xs = check_same_shapes(self, check_table(self, input))
        self.output = xs[0].copy()
        for x in xs[1:]:
            self.output *= x
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = []
        for k in range(len(input)):
            grad = gradOutput.copy()
            for j, x in enumerate(input):
                if j != k:
                    grad *= x
            self.gradInput.append(grad)
        return self.gradInput


class CSubTable(Module):
    r"""The difference of two arrays, :math:`y = x_1 - x_2`; gradients :math:`g` and
    :math:`-g`."""

    def updateOutput(self, input):
        a, b = check_same_shapes(self, check_table(self, input, n=2))
        self.output = a - b
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = [gradOutput, -gradOutput]
        return self.gradInput


class SplitTable(Module):
    r"""An array -> the list of its slices along ``dim``, Lua's ``nn.SplitTable(dim,
    nInputDims)``; backward stacks the gradients along ``dim``.

    Args:
        dim: the axis, 1-based as in Lua (negative: from the end).
        nInputDims: the number of axes of one example (optional; see the module docs).

    Example: ``SplitTable(2)`` on ``(N, 4, H)`` gives four ``(N, H)`` arrays.
    """

    def __init__(self, dim, nInputDims=None):
        super().__init__()
        self.dim, self.nInputDims = dim, nInputDims

    def updateOutput(self, input):
        check_array(self, input)
        axis = lua_dim(self, self.dim, input.ndim, self.nInputDims)
        self.output = [np.take(input, k, axis=axis) for k in range(input.shape[axis])]
        return self.output

    def updateGradInput(self, input, gradOutput):
        axis = lua_dim(self, self.dim, input.ndim, self.nInputDims)
        grads = check_table(self, gradOutput, n=input.shape[axis], what="gradOutput")
        self.gradInput = np.stack(grads, axis=axis)
        return self.gradInput

    def __repr__(self):
        extra = f", {self.nInputDims}" if self.nInputDims is not None else ""
        return f"SplitTable({self.dim}{extra})"


class JoinTable(Module):
    r"""A list of arrays -> their concatenation along ``dim``, Lua's ``nn.JoinTable(dim,
    nInputDims)``; backward cuts the gradient back into pieces of the inputs' sizes.

    Args:
        dim: the axis, 1-based as in Lua (negative: from the end).
        nInputDims: the number of axes of one example (optional; see the module docs).
    """

    def __init__(self, dim, nInputDims=None):
        super().__init__()
        self.dim, self.nInputDims = dim, nInputDims

    def updateOutput(self, input):
        xs = check_table(self, input)
        for k, x in enumerate(xs):
            check_array(self, x, f"input[{k}]")
        ndims = {x.ndim for x in xs}
        if len(ndims) > 1:
            raise ValueError(
                f"{self!r} expects arrays with one number of axes, got shapes "
                f"{[x.shape for x in xs]}"
            )
        axis = lua_dim(self, self.dim, xs[0].ndim, self.nInputDims)
        others = {x.shape[:axis] + x.shape[axis + 1 :] for x in xs}
        if len(others) > 1:
            raise ValueError(
                f"{self!r} expects arrays that differ only along axis {axis} (0-based), got "
                f"shapes {[x.shape for x in xs]}"
            )
        self.output = np.concatenate(xs, axis=axis)
        return self.output

    def updateGradInput(self, input, gradOutput):
        axis = lua_dim(self, self.dim, input[0].ndim, self.nInputDims)
        cuts = np.cumsum([x.shape[axis] for x in input])[:-1]
        self.gradInput = np.split(gradOutput, cuts, axis=axis)
        return self.gradInput

    def __repr__(self):
        extra = f", {self.nInputDims}" if self.nInputDims is not None else ""
        return f"JoinTable({self.dim}{extra})"


class SelectTable(Module):
    r"""Item ``index`` of a list, Lua's ``nn.SelectTable(index)`` (1-based, negative from
    the end); backward puts the gradient there and zeros on the other items."""

    def __init__(self, index):
        super().__init__()
        if isinstance(index, bool) or not isinstance(index, int) or index == 0:
            raise ValueError(
                f"SelectTable's index is 1-based as in Lua (or negative): got {index!r}"
            )
        self.index = index

    def _position(self, input):
        xs = check_table(self, input)
        k = self.index - 1 if self.index > 0 else len(xs) + self.index
        if not 0 <= k < len(xs):
            raise ValueError(
                f"{self!r}: index {self.index} (1-based) is out of range for a list of {len(xs)}"
            )
        return k

    def updateOutput(self, input):
        self.output = input[self._position(input)]
        return self.output

    def updateGradInput(self, input, gradOutput):
        k = self._position(input)
        self.gradInput = [
            gradOutput if j == k else zeros_like_nested(x) for j, x in enumerate(input)
        ]
        return self.gradInput

    def __repr__(self):
        return f"SelectTable({self.index})"
