"""nngraph's own test list (test/test_nngraph.lua), graph by graph, in Python.

Each test builds the same small graph as its Lua namesake and checks what that test checks;
where the Lua test gradient-checks the graph (totem's ``checkGradients``), so does ours, in
float64, with centred finite differences from ``lstm_ref.gradcheck``.
"""

import inspect
import re

import numpy as np
import pytest

import lstm_ref.graph as nn
from graph_helpers import check_gradients


def _line_of(marker):
    """The line number in this file of the first line containing ``marker``."""
    lines = inspect.getsource(inspect.getmodule(_line_of)).splitlines()
    return next(i for i, line in enumerate(lines, 1) if marker in line)


def test_one_output():
    in1 = nn.Identity()()
    out1 = nn.Identity()(in1)
    module = nn.gModule([in1], [out1])
    module.forward(np.array([1.0]))
    assert np.array_equal(module.output, [1.0])
    grad_input = module.backward(np.array([1.0]), np.array([-123.0]))
    assert np.array_equal(grad_input, [-123.0])
    # A second input recomputes everything.
    assert np.array_equal(module.forward(np.array([2.0])), [2.0])
    assert np.array_equal(module.backward(np.array([2.0]), np.array([-2.0])), [-2.0])


def test_two_outputs_sum_the_gradients_of_a_fork():
    in1 = nn.Identity()()
    module = nn.gModule([in1], [nn.Identity()(in1), nn.Identity()(in1)])
    x = np.array([1.0])
    module.forward(x)
    assert np.array_equal(module.backward(x, [np.array([-2.0]), np.array([-3.0])]), [-5.0])
    check_gradients(module, x)


def test_two_grad_outputs():
    in1 = nn.Sigmoid()()
    out1, out2 = nn.SplitTable(1)([in1]).split(2)
    module = nn.gModule([in1], [out1, out2])
    x = np.random.default_rng(1).standard_normal((2, 3))
    output = module.forward(x)
    assert isinstance(output, list) and len(output) == 2
    assert output[0].shape == (3,)
    check_gradients(module, x)


def test_two_inputs_one_of_them_a_table():
    in1 = nn.Identity()()
    in2 = nn.Identity()()
    prev_h, prev_cell = in2.split(2)
    out1 = nn.CMulTable()([in1, prev_h, prev_cell])
    module = nn.gModule([in1, in2], [out1])
    rng = np.random.default_rng(2)
    x = [rng.standard_normal(3), [rng.standard_normal(3), rng.standard_normal(3)]]
    module.forward(x)
    grad_input = module.backward(x, rng.standard_normal(3))
    assert len(grad_input) == 2
    assert isinstance(grad_input[1], list) and len(grad_input[1]) == 2
    assert grad_input[1][0].shape == (3,)
    check_gradients(module, x)


def test_two_inputs_that_are_also_outputs():
    in1, in2 = nn.Sigmoid()(), nn.Sigmoid()()
    module = nn.gModule([in1, in2], [in1, in2, nn.Sigmoid()(in1)])
    rng = np.random.default_rng(3)
    x = [rng.standard_normal(3), rng.standard_normal(3)]
    assert len(module.forward(x)) == 3
    check_gradients(module, x)


def test_split_debug_labels():
    node = nn.Identity()()
    node.debug_label = "node"
    node1, node2 = node.split(2)
    assert node1.debug_label == "node-1"
    assert node2.debug_label == "node-2"
    # The split node itself says where split was called.
    split_line = _line_of("node1, node2 = node.split(2)")
    assert node1.parents[0].debug_label.startswith("node split at [")
    assert node1.parents[0].debug_label.endswith(f"test_nngraph.py]:{split_line}-mnode")


def test_identity():
    in1, in2 = nn.Identity()(), nn.Identity()()
    module = nn.gModule([in1, in2], [in1, in2, nn.Identity()(in1)])
    rng = np.random.default_rng(4)
    x = [rng.standard_normal(3), rng.standard_normal(3)]
    out = module.forward(x)
    g = [rng.standard_normal(3) for _ in range(3)]
    gin = module.backward(x, g)
    assert np.array_equal(out[2], x[0])
    assert np.allclose(gin[0], g[0] + g[2]) and np.array_equal(gin[1], g[1])
    check_gradients(module, x)


def test_grad_input_type():
    x = nn.Identity()()
    prev_rnn_state = nn.Identity()()
    prev_h, prev_cell = prev_rnn_state.split(2)
    cell_out = nn.CAddTable()([nn.CMulTable()([x, prev_h]), nn.CMulTable()([prev_h, prev_cell])])
    module = nn.gModule([x, prev_rnn_state], [cell_out])
    rng = np.random.default_rng(5)
    h, c = rng.standard_normal(3), rng.standard_normal(3)
    inp = [rng.standard_normal(3), [h, c]]
    module.forward(inp)
    grad_x, grad_prev_state = module.backward(inp, rng.standard_normal(3))
    grad_prev_h, grad_prev_cell = grad_prev_state
    assert isinstance(grad_prev_h, np.ndarray) and grad_prev_h.shape == h.shape
    check_gradients(module, inp)


def test_tabular_input():
    in1 = nn.SplitTable(1)()
    out1 = nn.CAddTable()(in1)
    module = nn.gModule([in1], [out1])
    x = np.random.default_rng(6).standard_normal((2, 3))
    assert np.allclose(module.forward(x), x.sum(axis=0))
    check_gradients(module, x)


def test_extra_table():
    in1 = nn.Identity()()
    module = nn.gModule([in1], [nn.Identity()(in1)])
    x = np.array([123.0])
    assert module.forward(x) is x  # one input, one output: the value itself
    out = module.forward([x])  # a table input passes through as a table
    assert isinstance(out, list) and out[0] is x


def test_acc_grad_parameters():
    x = np.random.default_rng(7).standard_normal(10)
    in1 = nn.Linear(10, 10, rng=7)()
    module = nn.gModule([in1], [nn.Identity()(in1), nn.Identity()(in1)])
    module.forward(x)
    module.zeroGradParameters()
    g1, g2 = np.ones(10), 2 * np.ones(10)
    module.backward(x, [g1, g2])
    _, grads = module.parameters()
    assert np.allclose(grads[0], np.outer(g1 + g2, x))  # fan-out summed before accumulating
    assert np.allclose(grads[1], g1 + g2)
    module.backward(x, [g1, g2])  # a second backward accumulates
    assert np.allclose(grads[1], 2 * (g1 + g2))
    check_gradients(module, x)


def test_example1_mlp_with_a_linear_input_node():
    x1 = nn.Linear(20, 10, rng=1)()
    mout = nn.Linear(10, 1, rng=2)(nn.Tanh()(nn.Linear(10, 10, rng=3)(nn.Tanh()(x1))))
    mlp = nn.gModule([x1], [mout])
    check_gradients(mlp, np.random.default_rng(8).random(20))


def test_example2_two_inputs_two_outputs():
    x1, x2 = nn.Linear(20, 20, rng=1)(), nn.Linear(10, 10, rng=2)()
    m0 = nn.Linear(20, 1, rng=3)(nn.Tanh()(x1))
    m1 = nn.Linear(10, 1, rng=4)(nn.Tanh()(x2))
    madd = nn.CAddTable()([m0, m1])
    gmod = nn.gModule([x1, x2], [nn.Sigmoid()(madd), nn.Tanh()(madd)])
    rng = np.random.default_rng(9)
    check_gradients(gmod, [rng.random(20), rng.random(10)])


def test_example3_nested_gmodule_then_split_and_join():
    # Lua used Sequential + ParallelTable; a nested gModule does the same job.
    inner_in = nn.SplitTable(1)()
    a, b = inner_in.split(2)
    inner = nn.gModule([inner_in], [nn.Linear(10, 20, rng=1)(a), nn.Linear(10, 30, rng=2)(b)])
    inp = nn.Identity()()
    input1, input2 = inner(inp).split(2)
    g = nn.gModule([inp], [nn.JoinTable(1)([input1, input2])])
    x = np.random.default_rng(10).random((2, 10))
    assert g.forward(x).shape == (50,)
    check_gradients(g, x)


def test_example4_joins_of_a_node_with_its_descendants():
    inp = nn.Identity()()
    L1 = nn.Tanh()(nn.Linear(1, 2, rng=1)(inp))
    L2 = nn.Tanh()(nn.Linear(3, 6, rng=2)(nn.JoinTable(1)([inp, L1])))
    L3 = nn.Tanh()(nn.Linear(8, 16, rng=3)(nn.JoinTable(1)([L1, L2])))
    g = nn.gModule([inp], [L3])
    check_gradients(g, np.random.default_rng(11).random(1))


def test_nested_grad_input():
    def sequential_join_then(module):
        x = nn.Identity()()
        return nn.gModule([x], [module(nn.JoinTable(2)(x))])

    x = nn.Identity()()
    h1 = sequential_join_then(nn.Tanh())
    h2 = sequential_join_then(nn.Identity())
    model = nn.gModule([x], [nn.CAddTable()([h1(x), h2(x)])])
    rng = np.random.default_rng(12)
    for rows in (3, 2):
        check_gradients(model, [rng.standard_normal((rows, 3)) for _ in range(3)])


def test_unused_input():
    x, h = nn.Identity()(), nn.Identity()()
    with pytest.raises(ValueError, match=r"inputs\[1\].*test_nngraph.py.*is unused"):
        nn.gModule([x, h], [x])


def test_unused_child():
    prev_state = nn.Identity()()
    h, cell = prev_state.split(2)
    with pytest.raises(ValueError, match=r"1 of split\(2\) outputs from the node made at .*test_nngraph.py.* are unused"):
        nn.gModule([prev_state], [h])


def test_nil_input():
    with pytest.raises(ValueError, match=r"inputs\[0\] is None"):
        nn.Sigmoid()(None)
    x = nn.Identity()()
    with pytest.raises(ValueError, match=r"inputs\[1\] is None"):
        nn.CAddTable()([x, None])


def test_unused_node():
    in1, in2 = nn.Identity()(), nn.Identity()()
    middle_result = nn.Sigmoid()(in2)  # dangling: made from a graph node, reaches no output
    line = _line_of("middle_result = nn.Sigmoid()(in2)")
    out1 = nn.Sigmoid()(in1)
    with pytest.raises(ValueError) as err:
        nn.gModule([in1, in2], [out1])
    # in2 reaches no output either; once it does, the dangling node is what is reported
    assert "inputs[1]" in str(err.value)
    out2 = nn.CAddTable()([out1, nn.Tanh()(in2)])
    with pytest.raises(ValueError, match=rf"Sigmoid\(\) made at \[.*test_nngraph.py\]:{line} .*does not connect"):
        nn.gModule([in1, in2], [out2])
    assert middle_result.parents == [in2]


def test_usage_after_split():
    prev_state = nn.Identity()()
    h, cell = prev_state.split(2)
    next_state = nn.Identity()(prev_state)
    transformed = nn.Sigmoid()(cell)
    model = nn.gModule([prev_state], [h, next_state, transformed])
    rng = np.random.default_rng(13)
    check_gradients(model, [rng.standard_normal(10), rng.standard_normal(10)])


def test_resize_nested_as():
    in1 = nn.Identity()()
    net = nn.gModule([in1], [nn.Identity()(in1), nn.Identity()(in1)])
    rng = np.random.default_rng(14)
    for sizes in ((3, 4), (3, 4, 5), (3, 4)):
        x = [rng.standard_normal(10), [rng.standard_normal(s) for s in sizes]]
        net.forward(x)
        gin = net.backward(x, net.output)
        assert len(gin[1]) == len(sizes)
        assert np.allclose(gin[1][0], 2 * x[1][0])
        check_gradients(net, x)


def test_annotate_graph():
    inp = nn.Identity()().annotate(name="Input", description="DescA", graph_attributes={"color": "red"})
    hidden_a = nn.Linear(10, 10, rng=1)(inp).annotate(
        {"name": "Hidden A", "description": "DescB",
         "graphAttributes": {"color": "blue", "fontcolor": "green", "tooltip": "I am green"}}
    )
    hidden_b = nn.Sigmoid()(hidden_a)
    net = nn.gModule([inp], [nn.Linear(10, 10, rng=2)(hidden_b)])
    assert "DescB" in hidden_a.label()
    for backward in (False, True):
        dot = net.to_dot(title="Test", backward=backward)
        lines = {line.split()[0]: line for line in dot.splitlines() if re.match(r"\s*n\d+ \[", line)}
        a = lines[f"n{net.forwardnodes.index(inp) + 1}"]
        assert 'color="red"' in a and 'label="Input' in a and "DescA" in a
        b = lines[f"n{net.forwardnodes.index(hidden_a) + 1}"]
        assert 'fontcolor="green"' in b and 'color="blue"' in b
        assert 'label="Hidden A' in b and "DescB" in b and 'tooltip="I am green"' in b
        # nodes without a tooltip get where they were made
        assert "test_nngraph.py]" in lines[f"n{net.forwardnodes.index(hidden_b) + 1}"]


def test_split_more():
    in1 = nn.Identity()()
    out1, out2 = nn.SplitTable(2)(in1).split(2)
    model = nn.gModule([in1], [out1, out2])
    with pytest.raises(ValueError, match=r"split\(2\) cannot split 3 outputs"):
        model.forward(np.random.default_rng(15).standard_normal((10, 3)))


def test_split_less():
    in1 = nn.Identity()()
    out1, out2, out3 = nn.SplitTable(2)(in1).split(3)
    model = nn.gModule([in1], [out1, out2, out3])
    with pytest.raises(ValueError, match=r"split\(3\) cannot split 2 outputs"):
        model.forward(np.random.default_rng(16).standard_normal((10, 2)))


def test_zero_gradient_from_one_branch():
    # nngraph's gradOutputZeroOptim: branches whose gradInput is all zeros still sum right.
    class Constant(nn.Module):
        def updateOutput(self, input):
            self.output = np.full(input.shape, 0.5)
            return self.output

        def updateGradInput(self, input, gradOutput):
            self.gradInput = np.zeros_like(input)
            return self.gradInput

    inp = np.random.default_rng(17).random((1, 2, 3))
    for second in (nn.Identity, Constant):
        x = nn.Identity()()
        mod = nn.gModule([x], [nn.CAddTable()([Constant()(x), second()(x)])])
        mod.forward(inp)
        expected = 1.0 if second is nn.Identity else 0.0
        assert np.array_equal(mod.backward(inp, np.ones((1, 2, 3))), np.full((1, 2, 3), expected))


def test_annotate_nodes_names_nodes_after_local_variables():
    def build(given):
        hidden = nn.Tanh()(given)
        kept = nn.Sigmoid()(hidden).annotate(name="explicit")
        count = nn.annotate_nodes(skip=("given",))
        return hidden, kept, count

    x = nn.Identity()()
    hidden, kept, count = build(x)
    assert (hidden.name, kept.name, x.name, count) == ("hidden", "explicit", None, 1)
    assert nn.annotate_nodes() == 1 and x.name == "x"  # here: x; hidden and kept are named


def test_lstm_graphs_name_their_nodes_for_diagrams():
    for builder in nn.LSTM_GRAPHS.values():
        graph = builder(3, 2)
        unnamed = [n for n in graph.forwardnodes if not n.name]
        assert all(n.split_outputs is not None for n in unnamed), unnamed
        names = {n.name for n in graph.forwardnodes}
        assert {"x", "prev_c", "prev_h", "in_gate", "forget_gate", "next_c", "next_h"} <= names
    assert "pre_sigmoid_chunk" in {n.name for n in nn.lstm_narrow(3, 2).forwardnodes}


def test_minus_chaining_sugar():
    inp = -nn.Identity()  # nngraph's README: h1 = - nn.Linear(20, 10)
    assert isinstance(inp, nn.Node) and inp.parents == []
    out = inp - nn.Linear(3, 4, rng=1) - nn.Tanh()
    net = nn.gModule([inp], [out])
    v = np.random.default_rng(18).standard_normal(3)
    W, b = net.parameters()[0]
    assert np.allclose(net.forward(v), np.tanh(W @ v + b))
    with pytest.raises(TypeError):
        inp - 3
