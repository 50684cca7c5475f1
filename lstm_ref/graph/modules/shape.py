r"""Modules that cut or reshape one array: Narrow and Reshape.

**Lua's 1-based numbers are kept**: ``Narrow(dim, offset, length)`` takes the numbers of
Lua's ``nn.Narrow``, so char-rnn's ``nn.Narrow(2, rnn_size + 1, rnn_size)`` is written
``Narrow(2, rnn_size + 1, rnn_size)``: axis ``dim`` (1 = first, negative = from the end),
the elements ``offset, ..., offset + length - 1`` counted from 1. That is the numpy slice
``[offset - 1 : offset - 1 + length]`` along axis ``dim - 1``.
"""

import numpy as np

from ..module import Module, check_array, lua_dim


class Narrow(Module):
    r"""``length`` elements from ``offset`` along ``dim``, Lua's ``nn.Narrow``.

    .. math::
        y = x[\ldots, \text{offset}-1 : \text{offset}-1+\text{length}, \ldots], \qquad
        \frac{\partial L}{\partial x} = g \text{ there, } 0 \text{ elsewhere}

    Args:
        dim: the axis, 1-based (negative: from the end: ``-1`` is the last axis, which
            works for one example and for a batch alike).
        offset: the first element kept, 1-based.
        length: how many elements (a negative length counts from the end as in Lua: ``-1``
            keeps everything from ``offset`` on).
    """

    def __init__(self, dim, offset, length=1):
        super().__init__()
        for name, v in (("dim", dim), ("offset", offset), ("length", length)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v == 0:
                raise ValueError(
                    f"Narrow's {name} must be a non-zero int (1-based, as in Lua), got {v!r}"
                )
        if offset < 1:
            raise ValueError(f"Narrow's offset is 1-based (the first element is 1), got {offset}")
        self.dim, self.offset, self.length = int(dim), int(offset), int(length)

    def _slice(self, input):
        axis = lua_dim(self, self.dim, input.ndim)
        size = input.shape[axis]
        length = self.length if self.length > 0 else size - self.offset + self.length + 2
        if length < 1 or self.offset - 1 + length > size:
            raise ValueError(
                f"{self!r} needs elements {self.offset}..{self.offset + length - 1} (1-based) "
                f"along axis {self.dim}, but the input has {size} there (shape {input.shape})"
            )
        index = [slice(None)] * input.ndim
        index[axis] = slice(self.offset - 1, self.offset - 1 + length)
        return tuple(index)

    def updateOutput(self, input):
        check_array(self, input)
        self.output = input[self._slice(input)]
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = np.zeros_like(input)
        self.gradInput[self._slice(input)] = gradOutput
        return self.gradInput

    def __repr__(self):
        return f"Narrow({self.dim}, {self.offset}, {self.length})"


class Reshape(Module):
    r"""A new shape for the same elements, Lua's ``nn.Reshape(s1, s2, ...)``.

    As in Lua, an input of exactly ``prod(size)`` elements whose first axis is not 1 is one
    example (``(4H,)`` -> ``(4, H)``); otherwise the first axis is a batch (``(N, 4H)`` ->
    ``(N, 4, H)``). ``batchMode=True``/``False`` forces one reading. Backward reshapes the
    gradient back.
    """

    def __init__(self, *size, batchMode=None):
        super().__init__()
        def is_size(s):
            return not isinstance(s, bool) and isinstance(s, (int, np.integer)) and s >= 1

        if not size or not all(map(is_size, size)):
            raise ValueError(f"Reshape needs positive int sizes, got {size}")
        self.size = tuple(int(s) for s in size)
        self.nelement = int(np.prod(self.size))
        self.batchMode = batchMode

    def _shape(self, input):
        single = self.batchMode is False or (
            self.batchMode is None and input.size == self.nelement and input.shape[0] != 1
        )
        shape = self.size if single else (input.shape[0],) + self.size
        if int(np.prod(shape)) != input.size:
            raise ValueError(
                f"{self!r} cannot reshape an input of shape {input.shape} into {shape}"
            )
        return shape

    def updateOutput(self, input):
        check_array(self, input)
        if input.ndim == 0:
            raise ValueError(f"{self!r} expects an array with at least one axis, got a scalar")
        self.output = input.reshape(self._shape(input))
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = np.reshape(gradOutput, input.shape)
        return self.gradInput

    def __repr__(self):
        return "Reshape(" + ", ".join(map(str, self.size)) + ")"
