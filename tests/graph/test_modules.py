"""Every module on its own: forward values, backward against finite differences (float64),
one example and a batch, Lua's 1-based numbers, PyTorch where it has the same module, and
clear errors for bad inputs."""

import numpy as np
import pytest
import torch

import lstm_ref.graph as nn
from graph_helpers import check_gradients
from lstm_ref.gradcheck import numeric_gradient, rel_error


def _rng(seed=0):
    return np.random.default_rng(seed)


# --- one array in, one array out ------------------------------------------------------------

ELEMENTWISE = [
    (nn.Sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    (nn.Tanh, np.tanh),
    (nn.ReLU, lambda x: np.maximum(x, 0)),
    (nn.Identity, lambda x: x),
]


@pytest.mark.parametrize("cls, fn", ELEMENTWISE, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("shape", [(5,), (3, 5)])
def test_elementwise(cls, fn, shape):
    x = _rng(1).standard_normal(shape)
    if cls is nn.ReLU:
        x[np.abs(x) < 1e-3] = 0.5  # keep finite differences away from the kink
    m = cls()
    assert np.allclose(m.forward(x), fn(x))
    check_gradients(m, x)


@pytest.mark.parametrize("shape", [(4,), (3, 4)])
def test_linear_matches_torch(shape):
    m = nn.Linear(4, 6, rng=2)
    x = _rng(2).standard_normal(shape)
    g = _rng(3).standard_normal(shape[:-1] + (6,))
    t = torch.nn.Linear(4, 6).double()
    with torch.no_grad():
        t.weight.copy_(torch.from_numpy(m.weight))
        t.bias.copy_(torch.from_numpy(m.bias))
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = t(xt)
    yt.backward(torch.from_numpy(g))
    m.zeroGradParameters()
    y = m.forward(x)
    gx = m.backward(x, g)
    assert rel_error(y, yt.detach().numpy()) < 1e-12
    assert rel_error(gx, xt.grad.numpy()) < 1e-12
    assert rel_error(m.gradWeight, t.weight.grad.numpy()) < 1e-12
    assert rel_error(m.gradBias, t.bias.grad.numpy()) < 1e-12
    check_gradients(m, x)


def test_linear_without_bias():
    m = nn.Linear(3, 2, bias=False, rng=1)
    assert len(m.parameters()[0]) == 1
    check_gradients(m, _rng(4).standard_normal((2, 3)))


@pytest.mark.parametrize("shape", [(7,), (4, 7)])
def test_logsoftmax_matches_torch(shape):
    x = 3 * _rng(5).standard_normal(shape)
    g = _rng(6).standard_normal(shape)
    m = nn.LogSoftMax()
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = torch.log_softmax(xt, dim=-1)
    yt.backward(torch.from_numpy(g))
    assert rel_error(m.forward(x), yt.detach().numpy()) < 1e-12
    assert rel_error(m.backward(x, g), xt.grad.numpy()) < 1e-12
    check_gradients(m, x)
    assert np.isfinite(m.forward(np.array([1000.0, 0.0, -1000.0]))).all()  # no overflow


def test_dropout_training_and_evaluate():
    m = nn.Dropout(0.4, rng=1)
    x = _rng(7).standard_normal((200, 50))
    y = m.forward(x)
    kept = y != 0
    assert 0.55 < kept.mean() < 0.65
    assert np.allclose(y[kept], x[kept] / 0.6)
    g = _rng(8).standard_normal(x.shape)
    assert np.allclose(m.backward(x, g), g * kept / 0.6)
    m.evaluate()
    assert m.forward(x) is x and m.backward(x, g) is g
    assert np.array_equal(nn.Dropout(0.0).forward(x), x)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        nn.Dropout(1.0)


def test_dropout_in_a_graph_follows_training_and_evaluate():
    x = nn.Identity()()
    net = nn.gModule([x], [nn.Dropout(0.5, rng=2)(x)])
    v = np.ones(100)
    assert (net.forward(v) == 0).any()
    net.evaluate()
    assert np.array_equal(net.forward(v), v)
    net.training()
    assert (net.forward(v) == 0).any()


def test_lookup_table_is_zero_based():
    m = nn.LookupTable(5, 3, rng=3)
    idx = np.array([0, 4, 4, 2])
    out = m.forward(idx)
    assert np.array_equal(out, m.weight[idx])
    g = _rng(9).standard_normal((4, 3))
    m.zeroGradParameters()
    assert np.array_equal(m.backward(idx, g), np.zeros(4))
    expected = np.zeros((5, 3))
    for k, i in enumerate(idx):
        expected[i] += g[k]
    assert np.allclose(m.gradWeight, expected)
    with pytest.raises(ValueError, match=r"0-based indices in \[0, 4\]"):
        m.forward(np.array([5]))
    check_gradients(m, idx)


def test_one_hot_is_zero_based():
    m = nn.OneHot(4)
    out = m.forward(np.array([0, 3, 1]))
    assert np.array_equal(out, np.eye(4)[[0, 3, 1]])
    assert np.array_equal(m.forward(np.array(2)), np.eye(4)[2])
    assert np.array_equal(m.forward(np.array([2.0])), np.eye(4)[[2]])  # integral floats are fine
    with pytest.raises(ValueError, match="0-based"):
        m.forward(np.array([4]))
    with pytest.raises(ValueError, match="integer"):
        m.forward(np.array([1.5]))


# --- tables ----------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(4,), (2, 4)])
def test_cadd_cmul_csub(shape):
    rng = _rng(10)
    xs = [rng.standard_normal(shape) for _ in range(3)]
    assert np.allclose(nn.CAddTable().forward(xs), xs[0] + xs[1] + xs[2])
    assert np.allclose(nn.CMulTable().forward(xs), xs[0] * xs[1] * xs[2])
    assert np.allclose(nn.CSubTable().forward(xs[:2]), xs[0] - xs[1])
    for m, inp in ((nn.CAddTable(), xs), (nn.CMulTable(), xs), (nn.CSubTable(), xs[:2])):
        check_gradients(m, inp)


def test_cmul_with_a_zero_input():
    xs = [np.array([0.0, 2.0]), np.array([3.0, 0.0])]
    g = nn.CMulTable()
    g.forward(xs)
    gin = g.backward(xs, np.ones(2))
    assert np.array_equal(gin[0], [3.0, 0.0]) and np.array_equal(gin[1], [0.0, 2.0])


def test_split_and_join_keep_lua_dims():
    x = np.arange(24.0).reshape(2, 3, 4)
    parts = nn.SplitTable(2).forward(x)  # Lua's dim 2 = numpy axis 1
    assert len(parts) == 3 and all(np.array_equal(p, x[:, k]) for k, p in enumerate(parts))
    assert len(nn.SplitTable(-1).forward(x)) == 4  # last axis
    assert len(nn.SplitTable(1).forward(x)) == 2
    # nInputDims: the same module splits one example and a batch along the same axis
    m = nn.SplitTable(1, 2)
    assert len(m.forward(x[0])) == 3 and len(m.forward(x)) == 3
    assert np.array_equal(nn.JoinTable(2).forward(parts[:2]), np.concatenate(parts[:2], axis=1))
    assert nn.JoinTable(-1).forward([x, x]).shape == (2, 3, 8)
    assert nn.JoinTable(1, 1).forward([np.ones((2, 3)), np.ones((2, 4))]).shape == (2, 7)
    check_gradients(nn.SplitTable(2), _rng(11).standard_normal((2, 3, 4)))
    check_gradients(nn.JoinTable(-1), [_rng(12).standard_normal((2, 3)), _rng(13).standard_normal((2, 5))])
    with pytest.raises(ValueError, match=r"dim=4 \(1-based, as in Lua\) is out of range"):
        nn.SplitTable(4).forward(x)


def test_select_table_is_one_based():
    xs = [np.ones(2), 2 * np.ones(3), [np.ones(1), np.ones(4)]]
    assert nn.SelectTable(1).forward(xs) is xs[0]
    assert nn.SelectTable(-1).forward(xs) is xs[2]
    m = nn.SelectTable(2)
    m.forward(xs)
    gin = m.backward(xs, np.full(3, 5.0))
    assert np.array_equal(gin[1], np.full(3, 5.0))
    assert np.array_equal(gin[0], np.zeros(2)) and [g.shape for g in gin[2]] == [(1,), (4,)]
    with pytest.raises(ValueError, match="1-based"):
        nn.SelectTable(0)
    with pytest.raises(ValueError, match="out of range"):
        nn.SelectTable(4).forward(xs)
    x = nn.Identity()()
    net = nn.gModule([x], [nn.SelectTable(-2)(x)])
    check_gradients(net, [_rng(14).standard_normal(3), _rng(15).standard_normal(2)])


# --- shapes ----------------------------------------------------------------------------------

def test_narrow_is_one_based():
    x = np.arange(12.0).reshape(2, 6)
    assert np.array_equal(nn.Narrow(2, 3, 2).forward(x), x[:, 2:4])  # Lua's Narrow(2, 3, 2)
    assert np.array_equal(nn.Narrow(-1, 1, 3).forward(x), x[:, :3])
    assert np.array_equal(nn.Narrow(1, 2).forward(x), x[1:2])
    assert np.array_equal(nn.Narrow(2, 4, -1).forward(x), x[:, 3:])  # negative length: to the end
    assert np.array_equal(nn.Narrow(-1, 2, 3).forward(x[0]), x[0, 1:4])  # one example
    check_gradients(nn.Narrow(2, 2, 3), _rng(16).standard_normal((3, 6)))
    with pytest.raises(ValueError, match=r"needs elements 5..7 \(1-based\)"):
        nn.Narrow(2, 5, 3).forward(x)
    with pytest.raises(ValueError, match="1-based"):
        nn.Narrow(2, 0, 3)


def test_reshape_batch_rule_as_lua():
    m = nn.Reshape(4, 3)
    assert m.forward(np.zeros(12)).shape == (4, 3)  # one example
    assert m.forward(np.zeros((5, 12))).shape == (5, 4, 3)  # a batch
    assert m.forward(np.zeros((1, 12))).shape == (1, 4, 3)  # a batch of one
    assert nn.Reshape(4, 3, batchMode=False).forward(np.zeros((1, 12))).shape == (4, 3)
    check_gradients(m, _rng(17).standard_normal((2, 12)))
    with pytest.raises(ValueError, match="cannot reshape"):
        m.forward(np.zeros(10))


# --- the criterion ---------------------------------------------------------------------------

@pytest.mark.parametrize("size_average", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_class_nll_matches_torch(size_average, weighted):
    rng = _rng(18)
    logp = np.log(rng.dirichlet(np.ones(5), size=4))  # (N, C)
    target = np.array([0, 4, 2, 2])  # 0-based labels
    w = rng.random(5) + 0.5 if weighted else None
    crit = nn.ClassNLLCriterion(weights=w, sizeAverage=size_average)
    xt = torch.from_numpy(logp).requires_grad_(True)
    lt = torch.nn.functional.nll_loss(
        xt, torch.from_numpy(target), weight=None if w is None else torch.from_numpy(w),
        reduction="mean" if size_average else "sum",
    )
    lt.backward()
    assert abs(crit.forward(logp, target) - lt.item()) < 1e-12
    assert rel_error(crit.backward(logp, target), xt.grad.numpy()) < 1e-12
    num = numeric_gradient(lambda x: np.array(crit.forward(x, target)), logp, np.array(1.0))
    assert rel_error(crit.backward(logp, target), num) < 1e-7


def test_class_nll_one_example_and_errors():
    crit = nn.ClassNLLCriterion()
    logp = np.log(np.array([0.2, 0.5, 0.3]))
    assert crit.forward(logp, 1) == pytest.approx(-np.log(0.5))
    with pytest.raises(ValueError, match=r"0-based class labels in \[0, 2\]"):
        crit.forward(logp, 3)
    with pytest.raises(ValueError, match="3 labels"):
        crit.forward(np.zeros((3, 3)), np.array([0, 1]))


def test_criterion_as_a_graph_node():
    pred, target = nn.Identity()(), nn.Identity()()
    loss = nn.ClassNLLCriterion()([nn.LogSoftMax()(nn.Linear(4, 3, rng=1)(pred)), target])
    net = nn.gModule([pred, target], [loss])
    x, t = _rng(19).standard_normal((5, 4)), np.array([0, 1, 2, 1, 0])
    out = net.forward([x, t])
    assert out.shape == (1,)
    check_gradients(net, [x, t])


# --- clear errors ----------------------------------------------------------------------------

def test_module_errors_name_the_module_and_the_shapes():
    with pytest.raises(ValueError, match=r"Linear\(20 -> 10\) expects an input of shape \(20,\) or \(N, 20\), got \(5,\)"):
        nn.Linear(20, 10).forward(np.zeros(5))
    with pytest.raises(TypeError, match="list of arrays"):
        nn.CAddTable().forward(np.zeros(3))
    with pytest.raises(TypeError, match="one array, got a list"):
        nn.Tanh().forward([np.zeros(3)])
    with pytest.raises(ValueError, match="one shape"):
        nn.CMulTable().forward([np.zeros(3), np.zeros(4)])
    with pytest.raises(ValueError, match="list of 2 arrays"):
        nn.CSubTable().forward([np.zeros(3)] * 3)
    with pytest.raises(TypeError, match="float array"):
        nn.Sigmoid().forward(np.arange(3))
    with pytest.raises(ValueError, match="inputSize must be an int"):
        nn.Linear(0, 3)


def test_graph_errors_say_which_node_and_where():
    x = nn.Identity()()
    h = nn.Linear(3, 2)(x)  # the line the error must name
    net = nn.gModule([x], [h])
    with pytest.raises(ValueError, match=r"in the node Linear\(3 -> 2\) made at \[.*test_modules.py\]:\d+ .*got \(4,\)"):
        net.forward(np.zeros(4))
    with pytest.raises(RuntimeError, match="before forward"):
        nn.gModule([x2 := nn.Identity()()], [nn.Tanh()(x2)]).backward(np.zeros(2), np.zeros(2))
    net.forward(np.zeros(3))
    with pytest.raises(ValueError, match=r"gradOutput must have the output's shape array\(2,\), got array\(3,\)"):
        net.backward(np.zeros(3), np.zeros(3))
    two = nn.gModule([a := nn.Identity()(), b := nn.Identity()()], [nn.CAddTable()([a, b])])
    with pytest.raises(TypeError, match="2 inputs: expected a list of 2 values"):
        two.forward(np.zeros(3))
    with pytest.raises(ValueError, match="2 inputs, got a list of 3"):
        two.forward([np.zeros(3)] * 3)


def test_construction_errors():
    x = nn.Identity()()
    with pytest.raises(TypeError, match=r"inputs\[0\] is a module, Tanh\(\).*second pair of parentheses"):
        nn.Sigmoid()(nn.Tanh())
    with pytest.raises(TypeError, match=r"inputs\[1\] should be a graph Node but is a ndarray"):
        nn.CAddTable()([x, np.zeros(3)])
    with pytest.raises(TypeError, match="pass several input nodes as one list"):
        nn.CAddTable()(x, x)
    with pytest.raises(ValueError, match="empty list"):
        nn.CAddTable()([])
    with pytest.raises(TypeError, match=r"outputs\[0\] is a module"):
        nn.gModule([x], [nn.Tanh()])
    y = nn.Tanh()(x)
    with pytest.raises(ValueError, match=r"inputs\[0\], the node Tanh\(\) made at .* has inputs of its own"):
        nn.gModule([y], [nn.Sigmoid()(y)])
    lin, z = nn.Linear(3, 3), nn.Identity()()  # a fresh input: y's Sigmoid above dangles
    with pytest.raises(ValueError, match="used by two nodes"):
        nn.gModule([z], [nn.CAddTable()([lin(z), lin(nn.Tanh()(z))])])
    with pytest.raises(ValueError, match="split\\(n\\) needs an int n >= 1"):
        x.split(0)


def test_nested_gmodule_parameters_and_gradients():
    inner_x = nn.Identity()()
    inner = nn.gModule([inner_x], [nn.Tanh()(nn.Linear(3, 4, rng=1)(inner_x))])
    x = nn.Identity()()
    outer = nn.gModule([x], [nn.Linear(4, 2, rng=2)(inner(nn.Linear(3, 3, rng=3)(x)))])
    shapes = [p.shape for p in outer.parameters()[0]]
    assert shapes == [(3, 3), (3,), (4, 3), (4,), (2, 4), (2,)]  # creation order of the nodes
    check_gradients(outer, _rng(20).standard_normal((2, 3)))
    with pytest.raises(ValueError, match="used by two nodes"):
        nn.gModule([y := nn.Identity()()], [nn.CAddTable()([inner(y), inner(y)])])


def test_errors_of_other_exception_classes_pass_through_unchanged():
    class Picky(ValueError):
        def __init__(self, code, detail):
            super().__init__(f"{code}: {detail}")

    class Raises(nn.Module):
        def updateOutput(self, input):
            raise Picky(7, "no")

    x = nn.Identity()()
    with pytest.raises(Picky, match="7: no"):
        nn.gModule([x], [Raises()(x)]).forward(np.zeros(2))
