r"""The ``Module`` base class: Lua torch's ``nn.Module`` contract, in numpy.

A module maps an input to an output and back-propagates a gradient through that map.
Lua's ``nn`` split the backward pass in two, and so do we:

.. math::
    \text{output} = f(\text{input}; \theta) \qquad
    \text{gradInput} = \Big(\frac{\partial f}{\partial \text{input}}\Big)^{\!\top}
    \text{gradOutput} \qquad
    \text{gradParam} \mathrel{+}= \text{scale} \cdot
    \Big(\frac{\partial f}{\partial \theta}\Big)^{\!\top} \text{gradOutput}

- :meth:`Module.updateOutput` computes the output (and keeps what the backward needs),
- :meth:`Module.updateGradInput` the gradient on the input,
- :meth:`Module.accGradParameters` *adds* the gradient on the parameters into the
  gradient arrays (they are zeroed only by :meth:`Module.zeroGradParameters`),

and :meth:`Module.forward` / :meth:`Module.backward` call them as Lua's did. A backward must
follow the forward on the same input: modules keep their last output, as in Lua.

An input is a numpy array (Lua's Tensor) or a list of inputs (Lua's table), nested as deep
as needed. Calling a module on graph nodes, ``Linear(20, 10)(x)``, makes a new graph node
(:class:`~lstm_ref.graph.node.Node`); calling it with no argument, ``Identity()()``, makes
an input node.
"""

import copy

import numpy as np


class Module:
    """Base class of every module: subclasses define the three methods side by side."""

    def __init__(self):
        self.output = None
        self.gradInput = None
        self.train = True

    # --- the three methods a module defines ----------------------------------------------

    def updateOutput(self, input):
        """Compute ``self.output`` from ``input`` and return it."""
        raise NotImplementedError(f"{type(self).__name__} does not define updateOutput")

    def updateGradInput(self, input, gradOutput):
        """Compute ``self.gradInput``, the gradient on ``input``, and return it."""
        raise NotImplementedError(f"{type(self).__name__} does not define updateGradInput")

    def accGradParameters(self, input, gradOutput, scale=1.0):
        """Add ``scale`` times the gradient on the parameters to the gradient arrays.

        Modules without parameters inherit this no-op.
        """

    # --- Lua's nn.Module API -------------------------------------------------------------

    def forward(self, input):
        """``updateOutput(input)``: the output for ``input``."""
        return self.updateOutput(input)

    def backward(self, input, gradOutput, scale=1.0):
        """``updateGradInput`` then ``accGradParameters``.

        Args:
            input: the input of the last :meth:`forward`.
            gradOutput: the gradient of the loss on the output (same
                structure as the output).
            scale: the factor applied to the parameter gradients added.

        Returns:
            The gradient on ``input``.
        """
        gradInput = self.updateGradInput(input, gradOutput)
        self.accGradParameters(input, gradOutput, scale)
        return gradInput

    def parameters(self):
        """``(params, gradParams)``: two lists of arrays, empty for a module without any.

        The arrays are the module's own (not copies): updating them in place updates the
        module, which is how optimisers and :func:`~lstm_ref.graph.clone_many_times` work.
        """
        return [], []

    def zeroGradParameters(self):
        """Set every gradient array of :meth:`parameters` to zero, in place."""
        for g in self.parameters()[1]:
            g.fill(0.0)

    def training(self):
        """Training mode (Dropout drops); returns ``self``."""
        self.train = True
        return self

    def evaluate(self):
        """Evaluation mode (Dropout passes its input through); returns ``self``."""
        self.train = False
        return self

    def clone(self):
        """A deep copy of the module (parameters copied, not shared)."""
        return copy.deepcopy(self)

    def _shared_state(self):
        """Objects that clones made by ``clone_many_times`` share instead of copying."""
        params, grads = self.parameters()
        return list(params) + list(grads)

    # --- graph construction --------------------------------------------------------------

    def __call__(self, *args):
        """Make a graph node applying this module (nngraph's ``module(...)``).

        ``module()`` makes an input node; ``module(node)`` a node fed by one node;
        ``module([n1, n2, ...])`` a node fed by several, whose input is then the list of
        their outputs (a list of one node means that node).
        """
        from .node import Node, _parents_from_call

        return Node(self, _parents_from_call(self, args))

    def __neg__(self):
        """nngraph's sugar: ``-module`` is the input node ``module()``."""
        return self()

    def __repr__(self):
        return f"{type(self).__name__}()"


def resolve_rng(rng):
    """A ``numpy.random.Generator`` from ``None`` (a fresh one), an int seed or a Generator."""
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be None, an int seed or a numpy Generator, got {type(rng).__name__}")


def check_array(module, value, what="input"):
    """``value`` as a float numpy array, or a ``TypeError`` naming the module."""
    if isinstance(value, (list, tuple)):
        raise TypeError(
            f"{module!r} expects its {what} to be one array, got a list of {len(value)} "
            "(a table): did you mean a table module such as CAddTable, or split(n)?"
        )
    if not isinstance(value, np.ndarray):
        raise TypeError(
            f"{module!r} expects its {what} to be a numpy array, got {type(value).__name__}"
        )
    if not np.issubdtype(value.dtype, np.floating):
        raise TypeError(f"{module!r} expects a float array as its {what}, got dtype {value.dtype}")
    return value


def check_table(module, value, n=None, what="input"):
    """``value`` as a list (a Lua table) of ``n`` items (any number if ``None``)."""
    if not isinstance(value, (list, tuple)):
        if isinstance(value, np.ndarray):
            kind = f"an array of shape {value.shape}"
        else:
            kind = type(value).__name__
        raise TypeError(
            f"{module!r} expects its {what} to be a list of arrays (a table), got {kind}: "
            "give it several nodes, module([a, b]), or a node whose output is a list"
        )
    if n is not None and len(value) != n:
        raise ValueError(f"{module!r} expects a list of {n} arrays as its {what}, got {len(value)}")
    if len(value) == 0:
        raise ValueError(f"{module!r} expects a non-empty list as its {what}")
    return list(value)


def check_same_shapes(module, arrays, what="input"):
    """Every item of ``arrays`` a float array of one shape."""
    for k, a in enumerate(arrays):
        check_array(module, a, f"{what}[{k}]")
    shapes = [a.shape for a in arrays]
    if len(set(shapes)) > 1:
        raise ValueError(f"{module!r} expects arrays of one shape, got shapes {shapes}")
    return arrays


def lua_dim(module, dim, ndim, nInputDims=None, what="dim"):
    """Lua's 1-based ``dim`` (negative: from the end) -> a 0-based numpy axis.

    ``nInputDims`` is Lua's batch convention: when the input has ``nInputDims + 1`` axes,
    a positive ``dim`` is shifted by one (the first axis is the batch).
    """
    if dim < 0:
        axis = ndim + dim
    else:
        axis = dim - 1
        if nInputDims is not None and ndim == nInputDims + 1:
            axis += 1
    if not 0 <= axis < ndim:
        raise ValueError(
            f"{module!r}: {what}={dim} (1-based, as in Lua) is out of range for an input with "
            f"{ndim} axes"
        )
    return axis


def zeros_like_nested(value):
    """Zeros of the structure of ``value`` (an array, or a list of them, nested)."""
    if isinstance(value, (list, tuple)):
        return [zeros_like_nested(v) for v in value]
    value = np.asarray(value)
    dtype = value.dtype if np.issubdtype(value.dtype, np.floating) else np.float64
    return np.zeros(value.shape, dtype=dtype)


def add_nested(a, b):
    """``a + b`` item by item for two values of one structure (new arrays, inputs untouched)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            raise ValueError(f"cannot add gradients that are lists of {len(a)} and {len(b)} items")
        return [add_nested(x, y) for x, y in zip(a, b)]
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        raise ValueError("cannot add a gradient that is a list to one that is an array")
    if np.shape(a) != np.shape(b):
        raise ValueError(f"cannot add gradients of shapes {np.shape(a)} and {np.shape(b)}")
    return a + b


def clone_many_times(net, T):
    """``T`` copies of ``net`` that share its parameters and their gradients (char-rnn's
    ``model_utils.clone_many_times``), for backpropagation through time over ``T`` steps.

    Each clone has its own buffers (outputs, inputs kept for the backward), so clone ``t``
    can run step ``t`` of a sequence and keep what its backward needs; the weight arrays
    and the gradient arrays are the very arrays of ``net``, so every clone's
    ``accGradParameters`` adds into the same gradients, and an update of ``net``'s
    parameters is seen by all clones. Dropout modules share their random generator.

    Args:
        net: a module (typically a :class:`~lstm_ref.graph.gModule` of one time step).
        T: the number of clones, an int >= 1.

    Returns:
        A list of ``T`` modules.
    """
    if not isinstance(net, Module):
        raise TypeError(f"clone_many_times needs a Module, got {type(net).__name__}")
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 1:
        raise ValueError(f"clone_many_times needs an int T >= 1, got {T!r}")
    shared = net._shared_state()
    clones = []
    for _ in range(int(T)):
        memo = {id(obj): obj for obj in shared}  # deepcopy hands these back instead of copies
        clones.append(copy.deepcopy(net, memo))
    return clones
