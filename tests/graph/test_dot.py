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


def _node_lines(dot):
    return {m.group(1): line for line in dot.splitlines() if (m := re.match(r"\s*(n\d+) \[", line))}


def test_dot_text_has_every_node_edge_and_shape():
    net, x, state, out = _graph()
    dot = net.to_dot(title="two inputs")
    assert dot.startswith('digraph "two inputs" {') and dot.rstrip().endswith("}")
    lines = _node_lines(dot)
    assert set(lines) == {f"n{n.id}" for n in net.forwardnodes}
    assert 'shape="invhouse"' in lines[f"n{x.id}"]  # inputs
    assert 'peripheries="2"' in lines[f"n{out.id}"]  # outputs
    assert 'label="i2h (' in dot and "Linear(3 -> 3)" in dot
    assert 'shape="triangle"' in dot and 'label="Node' in dot and "split(2)" in dot
    assert r'desc = say \"hi\"' in lines[f"n{state.id}"]  # quotes escaped
    # one edge per (parent, child), numbered when a node has several inputs
    edges = re.findall(r"(n\d+) -> (n\d+)", dot)
    assert len(edges) == sum(len(n.parents) for n in net.forwardnodes)
    assert f"n{x.id} -> n{x.children[0].id};" in dot
    assert re.search(rf'-> n{out.id} \[label="1"\]', dot) and re.search(rf'-> n{out.id} \[label="2"\]', dot)


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
