r"""``gModule``: a graph of nodes packed into a module (nngraph's ``nn.gModule``).

The whole graph walk lives in this file:

- **construction** collects the nodes that reach the outputs and checks the graph as nngraph
  does (every input reaches an output, every node made from a node of the graph reaches an
  output, every output of a ``split`` is used, input nodes take no input);
- **forward** visits the nodes in creation order, which is a topological order (a node can
  only be made from nodes that exist), and feeds each module the output of its parent, or
  the list of its parents' outputs;
- **backward** visits them in the reverse order; a node's gradient is the **sum** of the
  gradients its children send back (fan-out), which is the multivariate chain rule:

.. math::
    \frac{\partial L}{\partial y_v} = \sum_{c \,\in\, \text{children}(v)}
    \Big(\frac{\partial y_c}{\partial y_v}\Big)^{\!\top} \frac{\partial L}{\partial y_c}

- **accGradParameters** gives each module the input it saw and the summed gradient.
"""

import copy

from .module import Module, add_nested
from .node import Node, expecting_node_message


def _node_list(nodes, where):
    """``nodes`` as a non-empty list of Nodes (nngraph's checks of gModule's arguments)."""
    if isinstance(nodes, Node):
        nodes = [nodes]
    if not isinstance(nodes, (list, tuple)):
        raise TypeError(
            f"gModule's {where} must be a list of graph nodes, got {type(nodes).__name__}"
        )
    if len(nodes) == 0:
        raise ValueError(f"gModule needs at least one node in its {where}")
    for k, node in enumerate(nodes):
        if node is None:
            raise ValueError(expecting_node_message(node, where, k))
        if not isinstance(node, Node):
            raise TypeError(expecting_node_message(node, where, k))
    return list(nodes)


def _ancestors(outputs):
    """Every node from which an output can be reached (the outputs included)."""
    seen, stack = set(), list(outputs)
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(node.parents)
    return seen


def _describe(value):
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_describe(v) for v in value) + "]"
    shape = getattr(value, "shape", None)
    return f"array{tuple(shape)}" if shape is not None else type(value).__name__


def _check_like(grad, value, what):
    """``grad`` must have the structure and shapes of ``value``."""
    if isinstance(value, (list, tuple)):
        if not isinstance(grad, (list, tuple)) or len(grad) != len(value):
            raise ValueError(
                f"{what} must be a list like the output {_describe(value)}, got {_describe(grad)}"
            )
        for k, (g, v) in enumerate(zip(grad, value)):
            _check_like(g, v, f"{what}[{k}]")
    elif getattr(grad, "shape", None) != getattr(value, "shape", None):
        raise ValueError(
            f"{what} must have the output's shape {_describe(value)}, got {_describe(grad)}"
        )


class gModule(Module):
    """A module made of a graph of nodes: ``gModule(inputs, outputs)``.

    Example (the seed's ``z = x1 + x2 * linear(x3)``)::

        x1, x2, x3 = nn.Identity()(), nn.Identity()(), nn.Identity()()
        z = nn.CAddTable()([x1, nn.CMulTable()([x2, nn.Linear(20, 10)(x3)])])
        mlp = nn.gModule([x1, x2, x3], [z])
        out = mlp.forward([h1, h2, h3])          # (10,)

    Args:
        inputs: the input nodes (made by ``module()``), in the order of the values
            :meth:`forward` takes.
        outputs: the output nodes, in the order of the values :meth:`forward` returns.

    Raises at construction, naming where the offending node was made: an input with inputs
    of its own, an input that reaches no output, a node made from a node of the graph that
    reaches no output, an unused output of ``split``, a node without inputs that is not
    among ``inputs``, a module used by two nodes, something that is not a node.

    Attributes:
        forwardnodes: the nodes of the graph in the order forward visits them.
        backwardnodes: the same, reversed.
        modules: the modules of the nodes, in forward order.
        input_nodes, output_nodes: the nodes given.
    """

    def __init__(self, inputs, outputs):
        super().__init__()
        inputs = _node_list(inputs, "inputs")
        outputs = _node_list(outputs, "outputs")
        for k, node in enumerate(inputs):
            if node.parents:
                raise ValueError(
                    f"inputs[{k}], the node {node.kind()} made at {node.debug_label}, has inputs "
                    "of its own; an input node is made with no argument, e.g. Identity()()"
                )
            if node in inputs[:k]:
                raise ValueError(
                    f"inputs[{k}], the node made at {node.debug_label}, is listed twice"
                )
        graph = _ancestors(outputs)
        for k, node in enumerate(inputs):
            if node not in graph:
                raise ValueError(
                    f"inputs[{k}], the node made at {node.debug_label}, is unused: it does "
                    "not connect to any output"
                )
        self.forwardnodes = sorted(graph, key=lambda n: n.id)  # creation order: topological
        self.backwardnodes = self.forwardnodes[::-1]
        self.input_nodes, self.output_nodes = inputs, outputs
        self._input_index = {node: k for k, node in enumerate(inputs)}
        owner = {}
        for node in self.forwardnodes:
            if not node.parents and node not in self._input_index:
                raise ValueError(
                    f"the node {node.kind()} made at {node.debug_label} takes no input but is "
                    "not one of the gModule's inputs"
                )
            if node.split_outputs is not None:
                unused = [s for s in node.children if s not in graph]
                if unused:
                    raise ValueError(
                        f"{len(unused)} of split({node.split_outputs}) outputs from the node "
                        f"made at {node.parents[0].debug_label} are unused"
                    )
            for child in node.children:
                if child not in graph:
                    raise ValueError(
                        f"the node {child.kind()} made at {child.debug_label} does not connect "
                        "to the gModule's outputs"
                    )
            if node.module is not None:
                if node.module is self:
                    raise ValueError("a gModule cannot be a node of its own graph")
                if id(node.module) in owner:
                    raise ValueError(
                        f"the module {node.module!r} is used by two nodes, made at "
                        f"{owner[id(node.module)].debug_label} and {node.debug_label}; a module "
                        "keeps its last output for its backward, so each node needs its own "
                        "module (share parameters with clone_many_times instead)"
                    )
                owner[id(node.module)] = node
        self.modules = [n.module for n in self.forwardnodes if n.module is not None]
        self._inputs = None  # node -> the input its module saw in the last forward
        self._grads = None  # node -> the summed gradient on its output in the last backward

    # --- the graph walk -------------------------------------------------------------------

    def _run(self, node, method, *args):
        """``node.module.<method>(*args)``, errors prefixed with where the node was made."""
        try:
            return getattr(node.module, method)(*args)
        except (ValueError, TypeError, IndexError) as err:
            try:
                located = type(err)(f"in the node {node.kind()} made at {node.debug_label}: {err}")
            except Exception:  # an exception class that takes other arguments: keep it as is
                raise err from None
            raise located from err

    def updateOutput(self, input):
        """Run the graph forward.

        Args:
            input: one value when the graph has one input node (an array, or a list for a
                node that takes a table), else a list of one value per input node.

        Returns:
            The output node's value, or the list of the output nodes' values.
        """
        n = len(self.input_nodes)
        if n == 1:
            fed = [input]
        elif not isinstance(input, (list, tuple)):
            raise TypeError(
                f"this gModule has {n} inputs: expected a list of {n} values, got "
                f"{_describe(input)}"
            )
        elif len(input) != n:
            raise ValueError(f"this gModule has {n} inputs, got a list of {len(input)}")
        else:
            fed = list(input)
        values, self._inputs = {}, {}
        for node in self.forwardnodes:
            if node in self._input_index:
                x = fed[self._input_index[node]]
            elif len(node.parents) == 1:
                x = values[node.parents[0]]
            else:
                x = [values[p] for p in node.parents]
            self._inputs[node] = x
            if node.select_index is not None:  # item k of the split's list
                values[node] = x[node.select_index]
            elif node.split_outputs is not None:  # the split itself: check the list
                if not isinstance(x, (list, tuple)) or len(x) != node.split_outputs:
                    got = f"{len(x)} outputs" if isinstance(x, (list, tuple)) else _describe(x)
                    raise ValueError(
                        f"split({node.split_outputs}) cannot split {got} of the node made at "
                        f"{node.parents[0].debug_label}"
                    )
                values[node] = x
            else:
                values[node] = self._run(node, "updateOutput", x)
        outs = [values[node] for node in self.output_nodes]
        self.output = outs[0] if len(outs) == 1 else outs
        self._outputs = outs
        return self.output

    def updateGradInput(self, input, gradOutput):
        """Run the graph backward (after :meth:`forward` on the same input).

        Args:
            input: the input of the last forward (the graph uses what it
                kept from it).
            gradOutput: the gradient on the output: one value for one output
                node, else a list of one per output node.

        Returns:
            The gradient on the input: one value, or a list of one per input
            node.
        """
        if self._inputs is None:
            raise RuntimeError(
                "backward called before forward: run forward(input) first")
        n = len(self.output_nodes)
        if n == 1:
            gos = [gradOutput]
        elif (not isinstance(gradOutput, (list, tuple))
              or len(gradOutput) != n):
            raise ValueError(
                f"this gModule has {n} outputs: expected a list of {n} "
                f"gradOutputs, got {_describe(gradOutput)}"
            )
        else:
            gos = list(gradOutput)
        for k, (g, out) in enumerate(zip(gos, self._outputs)):
            _check_like(g, out, f"gradOutput[{k}]" if n > 1 else "gradOutput")

        pending = {}  # node -> sum of the gradients received so far

        def send(node, grad):
            if node in pending:
                grad = add_nested(pending[node], grad)
            pending[node] = grad

        for node, g in zip(self.output_nodes, gos):
            send(node, g)
        slots = {}  # split node -> its select nodes' gradients, in a list
        self._grads, grad_in = {}, {}
        for node in self.backwardnodes:
            if node.split_outputs is not None:
                g = slots.pop(node)
            else:
                g = pending.pop(node)
            self._grads[node] = g
            if node.select_index is not None:
                split = node.parents[0]
                slot = slots.setdefault(split, [None] * split.split_outputs)
                slot[node.select_index] = g
                continue
            if node.module is None:  # a split passes the list of gradients on
                gi = g
            else:
                gi = self._run(node, "updateGradInput", self._inputs[node], g)
            if node in self._input_index:
                grad_in[node] = gi
            elif len(node.parents) == 1:
                send(node.parents[0], gi)
            else:
                if (not isinstance(gi, (list, tuple))
                        or len(gi) != len(node.parents)):
                    raise ValueError(
                        f"the node {node.kind()} made at {node.debug_label} "
                        f"has {len(node.parents)} inputs but its gradInput "
                        f"is {_describe(gi)}"
                    )
                for parent, gp in zip(node.parents, gi):
                    send(parent, gp)
        gins = [grad_in[node] for node in self.input_nodes]
        self.gradInput = gins[0] if len(gins) == 1 else gins
        return self.gradInput

    def accGradParameters(self, input, gradOutput, scale=1.0):
        """Give every module the input it saw and its summed gradient (after a backward)."""
        if self._grads is None:
            raise RuntimeError("accGradParameters needs updateGradInput to have run first")
        for node in self.backwardnodes:
            if node.module is not None:
                self._run(node, "accGradParameters", self._inputs[node], self._grads[node], scale)

    # --- the container API ----------------------------------------------------------------

    def parameters(self):
        """The parameters of the modules in forward (creation) order: ``(params, grads)``."""
        params, grads = [], []
        for m in self.modules:
            p, g = m.parameters()
            params.extend(p)
            grads.extend(g)
        return params, grads

    def training(self):
        self.train = True
        for m in self.modules:
            m.training()
        return self

    def evaluate(self):
        self.train = False
        for m in self.modules:
            m.evaluate()
        return self

    def _shared_state(self):
        return [obj for m in self.modules for obj in m._shared_state()]

    def __deepcopy__(self, memo):
        """A deep copy that walks the nodes in a loop (``copy.deepcopy`` would recurse along
        every parent/child link and overflow Python's stack on a long graph)."""
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        in_graph = {id(node) for node in self.forwardnodes}
        for node in self.forwardnodes:
            memo[id(node)] = Node.__new__(Node)
        for node in self.forwardnodes:
            twin = memo[id(node)]
            for key, value in node.__dict__.items():
                if key not in ("parents", "children"):
                    twin.__dict__[key] = copy.deepcopy(value, memo)
            twin.parents = [memo[id(p)] for p in node.parents]
            twin.children = [memo[id(c)] for c in node.children if id(c) in in_graph]
        for key, value in self.__dict__.items():
            new.__dict__[key] = copy.deepcopy(value, memo)
        return new

    def to_dot(self, title=None, backward=False):
        """The graph as DOT text (see :func:`lstm_ref.graph.dot.to_dot`)."""
        from .dot import to_dot

        return to_dot(self, title=title, backward=backward)

    def __repr__(self):
        return (
            f"gModule({len(self.input_nodes)} inputs -> {len(self.output_nodes)} outputs, "
            f"{len(self.forwardnodes)} nodes)"
        )
