"""The seed's example, z = x1 + x2 * linear(x3), with the seed's own check, and the graph
semantics it relies on (fan-in, fan-out, parameters in creation order)."""

import numpy as np
import pytest

import lstm_ref.graph as nn
from graph_helpers import check_gradients


def seed_graph(rng=0):
    x1, x2, x3 = nn.Identity()(), nn.Identity()(), nn.Identity()()
    z = nn.CAddTable()([x1, nn.CMulTable()([x2, nn.Linear(20, 10, rng=rng)(x3)])])
    return nn.gModule([x1, x2, x3], [z])


def test_seed_check_by_hand():
    mlp = seed_graph()
    h1 = np.arange(1.0, 11.0)  # 1..10
    h2 = np.ones(10)
    h3 = 2.0 * np.ones(20)
    b = mlp.forward([h1, h2, h3])
    params, grads = mlp.parameters()
    assert [p.shape for p in params] == [(10, 20), (10,)]
    weight, bias = params
    result = h2 * (weight @ h3 + bias) + h1
    assert b.shape == (10,)
    assert np.max(np.abs(b - result)) < 1e-12


def test_seed_gradients_by_hand_and_by_finite_differences():
    mlp = seed_graph(rng=3)
    rng = np.random.default_rng(1)
    h1, h2, h3 = rng.standard_normal(10), rng.standard_normal(10), rng.standard_normal(20)
    mlp.forward([h1, h2, h3])
    g = rng.standard_normal(10)
    mlp.zeroGradParameters()
    d1, d2, d3 = mlp.backward([h1, h2, h3], g)
    (W, b), (dW, db) = mlp.parameters()
    assert np.allclose(d1, g)
    assert np.allclose(d2, g * (W @ h3 + b))
    assert np.allclose(d3, W.T @ (g * h2))
    assert np.allclose(dW, np.outer(g * h2, h3)) and np.allclose(db, g * h2)
    check_gradients(mlp, [h1, h2, h3])


@pytest.mark.parametrize("N", [1, 4])
def test_seed_batched(N):
    mlp = seed_graph(rng=4)
    rng = np.random.default_rng(N)
    hs = [rng.standard_normal((N, 10)), rng.standard_normal((N, 10)), rng.standard_normal((N, 20))]
    out = mlp.forward(hs)
    W, b = mlp.parameters()[0]
    assert out.shape == (N, 10)
    assert np.allclose(out, hs[0] + hs[1] * (hs[2] @ W.T + b))
    check_gradients(mlp, hs)


def test_fan_out_accumulates_and_parameters_in_creation_order():
    x = nn.Identity()()
    lin_a = nn.Linear(3, 3, rng=1)
    a = lin_a(x)
    lin_b = nn.Linear(3, 3, rng=2)
    shared = nn.Tanh()(a)  # used three times below
    out = nn.CAddTable()([nn.CMulTable()([shared, shared]), lin_b(shared)])
    net = nn.gModule([x], [out])
    params, _ = net.parameters()
    assert params[0] is lin_a.weight and params[1] is lin_a.bias
    assert params[2] is lin_b.weight and params[3] is lin_b.bias
    check_gradients(net, np.random.default_rng(5).standard_normal((2, 3)))


def test_same_node_twice_in_one_table_sums_both_gradients():
    x = nn.Identity()()
    net = nn.gModule([x], [nn.CMulTable()([x, x])])  # x * x
    v = np.array([1.0, -2.0, 3.0])
    net.forward(v)
    assert np.allclose(net.backward(v, np.ones(3)), 2 * v)


def test_zero_grad_parameters_and_scale():
    mlp = seed_graph(rng=5)
    hs = [np.ones(10), np.ones(10), np.ones(20)]
    mlp.forward(hs)
    mlp.backward(hs, np.ones(10))
    first = [g.copy() for g in mlp.parameters()[1]]
    mlp.zeroGradParameters()
    assert all(not g.any() for g in mlp.parameters()[1])
    mlp.backward(hs, np.ones(10), 0.5)
    assert all(np.allclose(g, 0.5 * f) for g, f in zip(mlp.parameters()[1], first))


def test_linear_init_is_uniform_within_lua_bound_and_seeded():
    a, b = nn.Linear(50, 40, rng=7), nn.Linear(50, 40, rng=7)
    assert np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)
    bound = 1 / np.sqrt(50)
    assert np.abs(a.weight).max() <= bound and np.abs(a.weight).max() > 0.9 * bound
    assert a.weight.dtype == np.float64
    assert not np.array_equal(a.weight, nn.Linear(50, 40, rng=8).weight)


def test_an_output_listed_twice_gets_both_gradients():
    x = nn.Identity()()
    y = nn.Tanh()(x)
    net = nn.gModule([x], [y, y])
    v = np.array([0.3, -0.2])
    out = net.forward(v)
    assert out[0] is out[1]
    g1, g2 = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    assert np.allclose(net.backward(v, [g1, g2]), (g1 + g2) * (1 - np.tanh(v) ** 2))


def test_update_grad_input_and_acc_grad_parameters_separately():
    mlp = seed_graph(rng=6)
    rng = np.random.default_rng(6)
    hs = [rng.standard_normal(10), rng.standard_normal(10), rng.standard_normal(20)]
    g = rng.standard_normal(10)
    mlp.forward(hs)
    mlp.zeroGradParameters()
    gin = mlp.updateGradInput(hs, g)
    assert not any(p.any() for p in mlp.parameters()[1])  # no parameter gradient yet
    mlp.accGradParameters(hs, g, 2.0)
    dW = mlp.parameters()[1][0].copy()
    mlp.zeroGradParameters()
    gin2 = mlp.backward(hs, g)
    assert np.allclose(dW, 2 * mlp.parameters()[1][0])
    assert all(np.array_equal(a, b) for a, b in zip(gin, gin2))
