"""Diagrams of graphs: DOT text (:func:`to_dot`) and SVG (:func:`render_svg`).

``to_dot`` writes one DOT node per graph node, ``n<k>`` for the ``k``-th node of the
forward order (so a diagram does not depend on what was made before the graph), labelled as
nngraph labelled them (the annotated name or ``Node<k>``, what the node computes, ``desc =
...``), with the node's
``graph_attributes`` as DOT attributes and, unless one is given, a tooltip saying where the
node was made. Shapes tell the kinds apart: input nodes are ``invhouse``, output nodes have a
double border, modules are rounded boxes, a ``split`` is a triangle and its items circles.

``render_svg`` lays the DOT text out with ``graphviz-pure`` (the pinned PyPI wheel: a
self-contained build of Graphviz's ``dot``, no system Graphviz, no network), so a fresh
machine renders the book's diagrams after installing ``requirements.txt`` and nothing else.
"""

import os
import shutil
import subprocess
import sys
import sysconfig

RENDERER = "graphviz-pure"

# Sizes of a drawing. A wide graph is shrunk to the width of the book's column, and its
# labels with it: the book's site tests want every label at least 10 CSS px as displayed
# (tests/site/test_browser.py, MIN_SVG_TEXT_PX). Labels and edge numbers are 11 pt, nodes
# sit closer than Graphviz's defaults (nodesep 0.25 in, margin 0.11,0.055 in), so that
# char-rnn's 2-layer graph is 672 pt wide instead of 774 pt and its labels show at about
# 11 px in a 684 px column (8.8 px for the edge numbers before).
LABEL_PT = "11"
NODESEP = "0.15"
NODE_MARGIN = "0.06,0.03"


def _quote(value):
    """A DOT double-quoted string (newlines become DOT's centred line breaks)."""
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def _attributes(attrs):
    return "[" + ", ".join(f"{k}={_quote(v)}" for k, v in attrs.items()) + "]"


def _node_attributes(node, number, is_input, is_output):
    attrs = dict(node.annotations.get("graph_attributes", {}))
    if node.select_index is not None and not node.name:
        attrs.setdefault("label", f"[{node.select_index + 1}]")  # item k of a split
    attrs.setdefault("label", node.label(number))
    if node.split_outputs is not None:
        shape = "triangle"
    elif node.select_index is not None:
        shape = "circle"
        attrs.setdefault("margin", "0.02")
    elif is_input:
        shape = "invhouse"
    else:
        shape = "box"
    attrs.setdefault("shape", shape)
    if shape == "box":
        attrs.setdefault("style", "rounded")
    if is_output:
        attrs.setdefault("peripheries", "2")
    attrs.setdefault("tooltip", node.debug_label)
    return attrs


def to_dot(gmodule, title=None, backward=False):
    """DOT text of a :class:`~lstm_ref.graph.gModule`'s graph.

    Args:
        gmodule: the graph.
        title: the graph's name and caption (default: ``"gModule"``).
        backward: draw the backward graph (every edge reversed: gradients flow from the
            outputs to the inputs), as nngraph's ``bg``.

    Returns:
        A ``str`` of DOT: ``digraph "title" { n<k> [label=..., ...]; n<a> -> n<b>; }``
        with ``k`` the node's 1-based place in ``gmodule.forwardnodes``.
    """
    title = "gModule" if title is None else str(title)
    inputs, outputs = set(gmodule.input_nodes), set(gmodule.output_nodes)
    number = {node: k for k, node in enumerate(gmodule.forwardnodes, 1)}  # place in the graph
    lines = [
        f"digraph {_quote(title)} {{",
        "  graph " + _attributes({
            "label": title, "labelloc": "t", "fontname": "Helvetica", "fontsize": "12",
            "rankdir": "BT" if backward else "TB", "nodesep": NODESEP,
        }) + ";",
        f'  node [fontname="Helvetica", fontsize="{LABEL_PT}", margin="{NODE_MARGIN}"];',
        f'  edge [fontname="Helvetica", fontsize="{LABEL_PT}"];',
    ]
    for node in gmodule.forwardnodes:
        attrs = _node_attributes(node, number[node], node in inputs, node in outputs)
        lines.append(f"  n{number[node]} {_attributes(attrs)};")
    for node in gmodule.forwardnodes:
        for k, parent in enumerate(node.parents):
            edge = {"label": str(k + 1)} if len(node.parents) > 1 else {}
            a, b = (node, parent) if backward else (parent, node)
            extra = f" {_attributes(edge)}" if edge else ""
            lines.append(f"  n{number[a]} -> n{number[b]}{extra};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def find_renderer():
    """The path of the ``graphviz-pure`` program, or ``None``.

    Looked up next to the running Python (the virtual environment's ``bin``), in its
    scripts directory, then on ``PATH``.
    """
    exe = RENDERER + (".exe" if os.name == "nt" else "")
    for folder in (os.path.dirname(sys.executable), sysconfig.get_path("scripts")):
        candidate = os.path.join(folder, exe)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which(RENDERER)


def render_svg(dot_text, timeout=60):
    """Lay out DOT text and return the SVG document as a ``str``.

    Args:
        dot_text: DOT source, e.g. from :meth:`~lstm_ref.graph.gModule.to_dot`.
        timeout: seconds allowed to the renderer.

    Raises:
        RuntimeError: if ``graphviz-pure`` is not installed, or it rejects the DOT text
            (its message is included).
    """
    if not isinstance(dot_text, str):
        raise TypeError(f"render_svg needs DOT text (a str), got {type(dot_text).__name__}")
    program = find_renderer()
    if program is None:
        raise RuntimeError(
            "rendering a graph needs the graphviz-pure program, which is not installed: "
            "install the course's requirements (`make setup`, or `pip install "
            "graphviz-pure==0.2.2`); the DOT text itself comes from gModule.to_dot()"
        )
    done = subprocess.run(
        [program, "-Tsvg"], input=dot_text, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0 or "<svg" not in done.stdout:
        raise RuntimeError(f"{RENDERER} could not render the DOT text: {done.stderr.strip()}")
    return done.stdout
