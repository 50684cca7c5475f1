"""Graph nodes: a module applied to the outputs of other nodes (nngraph's ``nngraph.Node``).

A node holds one module and the ordered list of the nodes whose outputs feed it
(``node.parents``); each node also remembers the nodes made from it (``node.children``), so
that :class:`~lstm_ref.graph.gModule` can tell a node that was made but never reaches an
output. A node records where it was made (file, line, function) when it is made: every
construction error names that place, as nngraph's ``_debugLabel`` does.

Two kinds of nodes carry no module: those made by :meth:`Node.split`. ``x.split(n)`` makes a
*split* node fed by ``x`` and ``n`` *select* nodes fed by it; select node ``k`` passes on item
``k`` of ``x``'s output (a list), and the backward pass gathers the ``n`` gradients into a
list again.
"""

import inspect
import itertools
import os

_ids = itertools.count(1)

_HERE = os.path.dirname(os.path.abspath(__file__))
# The files of the graph machinery: frames in them are skipped when a node records where it
# was made, so the label names the caller's line.
_MACHINERY = {
    os.path.join(_HERE, name)
    for name in ("module.py", "node.py", "gmodule.py", os.path.join("modules", "criterion.py"))
}


def _made_at():
    """``(file, line, function)`` of the first frame outside the graph machinery."""
    frame = inspect.currentframe()
    try:
        while frame is not None and os.path.abspath(frame.f_code.co_filename) in _MACHINERY:
            frame = frame.f_back
        if frame is None:
            return ("?", 0, "?")
        return (frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)
    finally:
        del frame


def _short(path):
    """A path relative to the working directory when it lies below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def _label_of(where):
    file, line, func = where
    return f"[{_short(file)}]:{line}" + (f" (in {func})" if func not in ("<module>", "?") else "")


def expecting_node_message(value, where, index):
    """nngraph's message for something that should have been a node and is not."""
    from .module import Module

    if value is None:
        return f"{where}[{index}] is None (a typo, or a bad index?)"
    if isinstance(value, Module):
        return (
            f"{where}[{index}] is a module, {value!r}, but only a graph node is accepted: did "
            "you forget the second pair of parentheses, which turns a module into a node "
            f"(e.g. {type(value).__name__}(...)())?"
        )
    return f"{where}[{index}] should be a graph Node but is a {type(value).__name__}"


def _parents_from_call(module, args):
    """The parent nodes of ``module(*args)``, checked as nngraph's ``Module:__call__``."""
    if len(args) > 1:
        raise TypeError(
            f"{module!r} called with {len(args)} arguments: pass several input nodes as one "
            "list, module([node1, node2])"
        )
    if not args:
        return []
    arg = args[0]
    if arg is None:
        raise ValueError(expecting_node_message(None, "inputs", 0))
    if isinstance(arg, (list, tuple)):
        if len(arg) == 0:
            raise ValueError(
                f"{module!r} called on an empty list of inputs; to make an input node, call "
                "it with no argument: module()"
            )
        parents = list(arg)
    else:
        parents = [arg]
    for k, p in enumerate(parents):
        if p is None:
            raise ValueError(expecting_node_message(p, "inputs", k))
        if not isinstance(p, Node):
            raise TypeError(expecting_node_message(p, "inputs", k))
    return parents


class Node:
    """One node of a graph: a module (or a split/select) fed by the outputs of ``parents``.

    Attributes:
        module: the :class:`~lstm_ref.graph.Module` applied, ``None`` for split and select
            nodes.
        parents: the input nodes, in order; the module's input is the parent's output when
            there is one parent, the list of their outputs when there are several.
        children: the nodes made from this one (in the order they were made).
        annotations: a dict with the optional ``name``, ``description`` and
            ``graph_attributes`` set by :meth:`annotate`.
        debug_label: ``"[file]:line (in function)"`` where the node was made.
        id: a number increasing with creation (the creation order is a topological order).
    """

    def __init__(self, module, parents, *, debug_label=None, split_outputs=None, select_index=None):
        self.id = next(_ids)
        self.module = module
        self.parents = list(parents)
        self.children = []
        self.annotations = {}
        self.split_outputs = split_outputs  # n for the split node made by split(n)
        self.select_index = select_index  # k (0-based) for select node k of a split
        self.made_at = _made_at()
        self.debug_label = debug_label if debug_label is not None else _label_of(self.made_at)
        for p in self.parents:
            p.children.append(self)

    @property
    def data(self):
        """The node itself: Lua's ``node.data.module`` / ``node.data.annotations`` read
        ``node.data.module`` / ``node.data.annotations`` here too."""
        return self

    def split(self, n):
        """``n`` nodes, node ``k`` passing on item ``k`` of this node's output (a list).

        The split is checked twice: when the graph is built, each of the ``n`` nodes must
        reach an output; when it runs, the output must be a list of exactly ``n`` items.

        Args:
            n: the number of items of this node's output, an int >= 1.

        Returns:
            A list of ``n`` nodes (unpack it: ``a, b = node.split(2)``).
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"split(n) needs an int n >= 1, got {n!r}")
        file, line, _ = _made_at()
        hub = Node(
            None,
            [self],
            debug_label=f"{self.debug_label} split at [{_short(file)}]:{line}-mnode",
            split_outputs=n,
        )
        return [
            Node(None, [hub], debug_label=f"{self.debug_label}-{k + 1}", select_index=k)
            for k in range(n)
        ]

    def annotate(self, annotations=None, *, name=None, description=None, graph_attributes=None):
        """Attach a name, a description and DOT attributes to the node; returns the node.

        ``node.annotate(name="i2h_1")`` or, as in Lua, ``node.annotate({"name": "i2h_1"})``
        (Lua's ``graphAttributes`` key is accepted for ``graph_attributes``). The name and
        description appear in :meth:`~lstm_ref.graph.gModule.to_dot`'s labels, the graph
        attributes (``color``, ``style``, ``tooltip``, ...) as DOT attributes of the node.
        """
        merged = dict(annotations or {})
        if "graphAttributes" in merged:
            merged["graph_attributes"] = merged.pop("graphAttributes")
        keywords = {"name": name, "description": description, "graph_attributes": graph_attributes}
        merged.update({key: value for key, value in keywords.items() if value is not None})
        unknown = set(merged) - {"name", "description", "graph_attributes"}
        if unknown:
            raise ValueError(
                f"annotate knows name, description and graph_attributes, got {sorted(unknown)}"
            )
        if "graph_attributes" in merged and not isinstance(merged["graph_attributes"], dict):
            raise TypeError(
                "graph_attributes must be a dict of DOT attributes, got "
                f"{type(merged['graph_attributes']).__name__}"
            )
        self.annotations.update(merged)
        return self

    @property
    def name(self):
        """The annotated name, or ``None``."""
        return self.annotations.get("name")

    def kind(self):
        """A short text for what the node computes: the module, ``split(n)`` or ``[k]``."""
        if self.split_outputs is not None:
            return f"split({self.split_outputs})"
        if self.select_index is not None:
            return f"[{self.select_index + 1}]"
        return repr(self.module)

    def label(self, number=None):
        """The node's text in diagrams: its name (or ``Node<number>``), what it computes and
        its description, one per line; ``number`` defaults to :attr:`id` (diagrams pass the
        node's place in its graph, so that they do not depend on what was made before)."""
        number = self.id if number is None else number
        lines = [f"{self.name} ({number})" if self.name else f"Node{number}", self.kind()]
        if self.annotations.get("description"):
            lines.append(f"desc = {self.annotations['description']}")
        return "\n".join(lines)

    def __sub__(self, module):
        """nngraph's chaining sugar: ``node - module`` is ``module(node)``, so
        ``-Identity() - Linear(3, 4) - Tanh()`` is a chain from a new input node."""
        from .module import Module

        if not isinstance(module, Module) and not hasattr(module, "updateOutput"):
            return NotImplemented
        return module(self)

    def __repr__(self):
        name = f" {self.name!r}" if self.name else ""
        return f"<Node{self.id}{name}: {self.kind()} made at {self.debug_label}>"


def annotate_nodes(skip=()):
    """Name every unnamed node held by a local variable of the caller after that variable
    (nngraph's ``annotateNodes``), so that diagrams say ``in_gate`` rather than ``Node14``.

    Names given with :meth:`Node.annotate` are kept. Call it at the end of the function
    that builds the nodes.

    Args:
        skip: variable names not to use (e.g. a function's parameters, whose nodes belong
            to the caller).

    Returns:
        The number of nodes named.
    """
    frame = inspect.currentframe().f_back
    try:
        named = 0
        for var, value in frame.f_locals.items():
            if isinstance(value, Node) and var not in skip and not value.name:
                value.annotate(name=var)
                named += 1
        return named
    finally:
        del frame
