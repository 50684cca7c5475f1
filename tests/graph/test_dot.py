"""DOT text of graphs and its rendering to SVG with the pinned graphviz-pure."""

import re

import pytest

import lstm_ref.graph as nn
from lstm_ref.graph import dot as dot_module


def _graph():
    x = nn.Identity()().annotate(name="x")
    state = nn.Identity()().annotate(name="state", description='say "hi"')
    h, c = state.split(2)
    out = nn.CSubTable()([nn.Linear(3, 3, rng=1)(x).annotate(name="i2h"), h])
    return nn.gModule([x, state], [out, c]), x, state, out


def _n(net, node):
    """The DOT name of a node: n<its 1-based place in the forward order>."""
    return f"n{net.forwardnodes.index(node) + 1}"


def _node_lines(dot):
    return {m.group(1): line for line in dot.splitlines() if (m := re.match(r"\s*(n\d+) \[", line))}


def test_dot_text_has_every_node_edge_and_shape():
    net, x, state, out = _graph()
    dot = net.to_dot(title="two inputs")
    assert dot.startswith('digraph "two inputs" {') and dot.rstrip().endswith("}")
    lines = _node_lines(dot)
    assert set(lines) == {f"n{k}" for k in range(1, len(net.forwardnodes) + 1)}
    assert 'shape="invhouse"' in lines[_n(net, x)]  # inputs
    assert 'peripheries="2"' in lines[_n(net, out)]  # outputs
    assert 'label="i2h (' in dot and "Linear(3 -> 3)" in dot
    assert 'shape="triangle"' in dot and 'label="Node' in dot and "split(2)" in dot
    assert re.search(r'label="\[1\]".*shape="circle"', dot)  # the items of the split
    assert r'desc = say \"hi\"' in lines[_n(net, state)]  # quotes escaped
    # one edge per (parent, child), numbered when a node has several inputs
    edges = re.findall(r"(n\d+) -> (n\d+)", dot)
    assert len(edges) == sum(len(n.parents) for n in net.forwardnodes)
    assert f"{_n(net, x)} -> {_n(net, x.children[0])};" in dot
    assert re.search(rf'-> {_n(net, out)} \[label="1"\]', dot) and re.search(rf'-> {_n(net, out)} \[label="2"\]', dot)


def test_dot_does_not_depend_on_nodes_made_before():
    first = _graph()[0].to_dot()
    for _ in range(3):
        nn.Identity()()
    strip = lambda d: re.sub(r'tooltip="[^"]*"', "", d)
    assert strip(_graph()[0].to_dot()) == strip(first)


def test_backward_dot_reverses_the_edges():
    net, *_ = _graph()
    fwd = set(re.findall(r"(n\d+) -> (n\d+)", net.to_dot()))
    bwd = set(re.findall(r"(n\d+) -> (n\d+)", net.to_dot(backward=True)))
    assert bwd == {(b, a) for a, b in fwd}


def test_render_svg_lays_out_the_graph():
    net, *_ = _graph()
    svg = nn.render_svg(net.to_dot(title="two inputs"))
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    assert svg.count('class="node"') == len(net.forwardnodes)
    assert "i2h (" in svg and "Linear(3 &#45;&gt; 3)" in svg


def test_render_svg_errors(monkeypatch):
    with pytest.raises(RuntimeError, match="could not render"):
        nn.render_svg("digraph { a -> }")
    with pytest.raises(TypeError, match="DOT text"):
        nn.render_svg(None)
    monkeypatch.setattr(dot_module, "find_renderer", lambda: None)
    with pytest.raises(RuntimeError, match=r"needs the graphviz-pure program.*graphviz-pure==0.2.2"):
        nn.render_svg("digraph { a }")
