"""The LSTM cell three ways equals lstm_ref.numpy's, forward and backward; char-rnn's model,
its forget bias, clones sharing parameters and truncated BPTT through them."""

import numpy as np
import pytest

import lstm_ref.graph as nn
from graph_helpers import check_gradients
from lstm_ref.convert import reorder_gates
from lstm_ref.gradcheck import numeric_gradient
from lstm_ref.numpy import lstm_step_forward

BUILDERS = list(nn.LSTM_GRAPHS.items())
IDS = list(nn.LSTM_GRAPHS)


def _weights(rng, D, H):
    return 0.5 * rng.standard_normal((D, 4 * H)), 0.5 * rng.standard_normal((H, 4 * H)), rng.standard_normal(4 * H)


@pytest.mark.parametrize("name, builder", BUILDERS, ids=IDS)
@pytest.mark.parametrize("N, D, H", [(1, 3, 2), (3, 4, 5), (2, 6, 3)])
def test_equals_numpy_forward_and_backward(name, builder, N, D, H):
    rel = nn.compare_with_numpy(builder, N, D, H, seed=N + D + H)
    absolute = nn.compare_with_numpy(builder, N, D, H, seed=N + D + H, metric="abs")
    assert set(rel) == {"next_c", "next_h", "dx", "dprev_c", "dprev_h", "dWx", "dWh", "db"}
    assert max(absolute.values()) < 1e-13, absolute
    assert max(rel.values()) < 1e-9, rel


@pytest.mark.parametrize("name, builder", BUILDERS, ids=IDS)
def test_one_example_equals_a_row_of_the_batch(name, builder):
    rng = np.random.default_rng(1)
    D, H = 4, 3
    graph = nn.load_lstm_weights(builder(D, H), *_weights(rng, D, H))
    x, c, h = rng.standard_normal((2, D)), rng.standard_normal((2, H)), rng.standard_normal((2, H))
    batch = graph.forward([x, c, h])
    single = graph.forward([x[1], c[1], h[1]])
    assert single[0].shape == (H,)
    assert np.allclose(single[0], batch[0][1]) and np.allclose(single[1], batch[1][1])


@pytest.mark.parametrize("name, builder", BUILDERS, ids=IDS)
def test_gradient_check(name, builder):
    rng = np.random.default_rng(2)
    graph = builder(3, 2, rng=2)
    check_gradients(graph, [rng.standard_normal((2, 3)), rng.standard_normal((2, 2)), rng.standard_normal((2, 2))])


@pytest.mark.parametrize("name, builder", BUILDERS, ids=IDS)
def test_weight_mapping_round_trip_and_gate_order(name, builder):
    rng = np.random.default_rng(3)
    D, H = 3, 2
    Wx, Wh, b = _weights(rng, D, H)
    graph = nn.load_lstm_weights(builder(D, H), Wx, Wh, b)
    back = nn.lstm_weights(graph)
    assert all(np.array_equal(u, v) for u, v in zip(back, (Wx, Wh, b)))
    linears = {n.name: n.module for n in graph.forwardnodes if n.name}
    if name == "four sums":
        assert np.array_equal(linears["i2h_1_o"].bias, b[3 * H :])  # the course's 4th block
        assert np.array_equal(linears["h2h_1_g"].weight, Wh[:, 2 * H : 3 * H].T)
    else:  # char-rnn's order i, f, o, g in the fused Linear
        i2h = linears["i2h_1"]
        assert np.array_equal(i2h.bias[2 * H : 3 * H], b[3 * H :])  # o third
        assert np.array_equal(i2h.bias[3 * H :], b[2 * H : 3 * H])  # g last
        assert np.array_equal(i2h.weight, reorder_gates(Wx, "ifgo", "ifog").T)
        assert not linears["h2h_1"].bias.any()


def test_graph_structures_follow_the_lineage():
    kinds = {name: [type(m).__name__ for m in b(3, 2).modules] for name, b in BUILDERS}
    assert kinds["four sums"].count("Linear") == 8
    assert kinds["narrow"].count("Linear") == 2 and kinds["narrow"].count("Narrow") == 5
    assert "Narrow" not in kinds["reshape + split"] and "Reshape" in kinds["reshape + split"]
    assert "SplitTable" in kinds["reshape + split"]


def test_mapping_errors():
    graph = nn.lstm_narrow(3, 2)
    with pytest.raises(ValueError, match=r"Wx must have shape \(3, 8\)"):
        nn.load_lstm_weights(graph, np.zeros((4, 8)), np.zeros((2, 8)), np.zeros(8))
    x = nn.Identity()()
    with pytest.raises(ValueError, match="no LSTM layer 1.*i2h_1"):
        nn.load_lstm_weights(nn.gModule([x], [nn.Tanh()(x)]), np.zeros((3, 8)), np.zeros((2, 8)), np.zeros(8))
    with pytest.raises(ValueError, match="no LSTM layer 2"):
        nn.lstm_weights(graph, layer=2)
    with pytest.raises(ValueError, match="rnn_size must be an int >= 1"):
        nn.lstm_reshape_split(3, 0)


# --- char-rnn ----------------------------------------------------------------------------------

def _log_softmax(a):
    a = a - a.max(axis=-1, keepdims=True)
    return a - np.log(np.exp(a).sum(axis=-1, keepdims=True))


def test_charrnn_equals_two_numpy_steps_and_a_decoder():
    V, H, N = 5, 4, 3
    rng = np.random.default_rng(4)
    model = nn.charrnn_lstm(V, H, 2, rng=4)
    assert len(model.input_nodes) == 5 and len(model.output_nodes) == 5
    w1, w2 = _weights(rng, V, H), _weights(rng, H, H)
    nn.load_lstm_weights(model, *w1, layer=1)
    nn.load_lstm_weights(model, *w2, layer=2)
    x = np.array([0, 4, 2])  # 0-based character indices
    states = [rng.standard_normal((N, H)) for _ in range(4)]  # c1, h1, c2, h2
    outs = model.forward([x] + states)
    h1, c1, _ = lstm_step_forward(np.eye(V)[x], states[1], states[0], *w1)
    h2, c2, _ = lstm_step_forward(h1, states[3], states[2], *w2)
    decoder = next(n.module for n in model.forwardnodes if n.name == "decoder")
    logp = _log_softmax(h2 @ decoder.weight.T + decoder.bias)
    for ours, ref in zip(outs, [c1, h1, c2, h2, logp]):
        assert np.max(np.abs(ours - ref)) < 1e-13
    assert np.allclose(np.exp(outs[-1]).sum(axis=1), 1.0)


def test_charrnn_gradients_and_forget_bias():
    model = nn.charrnn_lstm(4, 3, 2, rng=5)
    rng = np.random.default_rng(5)
    check_gradients(model, [np.array([1, 3])] + [rng.standard_normal((2, 3)) for _ in range(4)])
    assert nn.set_forget_bias(model, 1.0) == 2
    for layer in (1, 2):
        i2h = next(n.module for n in model.forwardnodes if n.name == f"i2h_{layer}")
        assert np.all(i2h.bias[3:6] == 1.0) and not np.all(i2h.bias[:3] == 1.0)
    assert nn.set_forget_bias(nn.lstm_four_sums(2, 3)) == 1


def test_charrnn_dropout_between_layers():
    model = nn.charrnn_lstm(4, 3, 3, dropout=0.5, rng=6)
    assert sum(type(m).__name__ == "Dropout" for m in model.modules) == 3  # 2 between + decoder
    plain = nn.charrnn_lstm(4, 3, 3, rng=6)
    for p, q in zip(plain.parameters()[0], model.parameters()[0]):
        p[...] = q
    rng = np.random.default_rng(6)
    inputs = [np.array([0, 1, 2, 3])] + [rng.standard_normal((4, 3)) for _ in range(6)]
    model.evaluate()
    assert all(np.array_equal(a, b) for a, b in zip(model.forward(inputs), plain.forward(inputs)))
    model.training()
    assert not np.array_equal(model.forward(inputs)[-1], plain.forward(inputs)[-1])
    with pytest.raises(ValueError, match="dropout must be in"):
        nn.charrnn_lstm(4, 3, 2, dropout=1.0)


def test_clones_share_parameters_and_gradients():
    proto = nn.charrnn_lstm(4, 3, 1, dropout=0.3, rng=7)
    clones = nn.clone_many_times(proto, 3)
    pp, pg = proto.parameters()
    for clone in clones:
        cp, cg = clone.parameters()
        assert all(a is b for a, b in zip(cp, pp)) and all(a is b for a, b in zip(cg, pg))
        assert clone.modules[0] is not proto.modules[0]  # own buffers
    drops = [next(m for m in c.modules if isinstance(m, nn.Dropout)) for c in clones]
    assert drops[0].rng is drops[1].rng  # one stream of masks, not three copies of one
    rng = np.random.default_rng(7)
    inputs = [np.array([0, 2])] + [rng.standard_normal((2, 3)) for _ in range(2)]

    def backward_through(nets):
        proto.zeroGradParameters()
        for net in nets:
            net.evaluate()
            out = net.forward(inputs)
            net.backward(inputs, [np.ones_like(o) for o in out])
        return [g.copy() for g in pg]

    once = backward_through(clones[:1])
    twice = backward_through(clones[:2])
    assert any(g.any() for g in once)
    assert all(np.allclose(b, 2 * a) for a, b in zip(once, twice))  # accumulated, shared
    pp[0] += 1.0  # an update of the prototype is seen by every clone
    assert clones[2].parameters()[0][0] is pp[0]
    with pytest.raises(ValueError, match="T >= 1"):
        nn.clone_many_times(proto, 0)


def _tbptt_loss_and_grads(clones, crit, xs, ys, init_state):
    """char-rnn's feval: forward T clones, then backward from T to 1 carrying the state
    gradients; returns the summed loss and the gradients on the initial state."""
    T, n_state = len(clones), len(init_state)
    states, preds, loss = [list(init_state)], [], 0.0
    for t in range(T):
        outs = clones[t].forward([xs[t]] + states[t])
        states.append(outs[:n_state])
        preds.append(outs[-1])
        loss += crit.forward(preds[t], ys[t])
    dstate = [np.zeros_like(s) for s in init_state]
    for t in reversed(range(T)):
        dpred = crit.backward(preds[t], ys[t])
        grads = clones[t].backward([xs[t]] + states[t], dstate + [dpred])
        dstate = grads[1:]  # grads[0] is the (zero) gradient on the indices
    return loss, dstate


def test_truncated_bptt_through_clones_matches_finite_differences():
    V, H, L, T, N = 4, 3, 2, 3, 2
    proto = nn.charrnn_lstm(V, H, L, rng=8)
    clones = nn.clone_many_times(proto, T)
    crit = nn.ClassNLLCriterion()
    rng = np.random.default_rng(8)
    xs = [rng.integers(0, V, N) for _ in range(T)]
    ys = [rng.integers(0, V, N) for _ in range(T)]
    init_state = [0.5 * rng.standard_normal((N, H)) for _ in range(2 * L)]
    params, grads = proto.parameters()
    proto.zeroGradParameters()
    _, dinit = _tbptt_loss_and_grads(clones, crit, xs, ys, init_state)

    def total_loss(_):
        states, loss = list(init_state), 0.0
        for t in range(T):
            outs = clones[t].forward([xs[t]] + states)
            states = outs[: 2 * L]
            loss += crit.forward(outs[-1], ys[t])
        return np.array(loss)

    def close(analytic, numeric):
        # relative to the largest entry: some entries are ~1e-6, where the differences'
        # rounding (~1e-11) alone exceeds an element-wise relative tolerance
        return np.max(np.abs(analytic - numeric)) <= 1e-7 * np.max(np.abs(numeric))

    one = np.array(1.0)
    for p, g in zip(params, grads):
        assert close(g, numeric_gradient(total_loss, p, one))
    for s, ds in zip(init_state, dinit):
        assert close(ds, numeric_gradient(total_loss, s, one))
    assert any(np.abs(ds).max() > 1e-3 for ds in dinit)  # the state gradient is not trivial


def test_clones_of_a_deep_graph_and_independent_copies():
    proto = nn.charrnn_lstm(3, 2, 16, rng=9)  # 340 nodes: a recursive deepcopy overflows
    twin = nn.clone_many_times(proto, 1)[0]
    inputs = [np.array([0, 2])] + [np.full((2, 2), 0.1)] * 32
    assert np.array_equal(twin.forward(inputs)[-1], proto.forward(inputs)[-1])
    assert all(a is not b for a, b in zip(twin.forwardnodes, proto.forwardnodes))
    assert [n.name for n in twin.forwardnodes] == [n.name for n in proto.forwardnodes]
    copy = proto.clone()  # a plain copy owns its parameters
    copy.parameters()[0][0][...] = 0.0
    assert proto.parameters()[0][0].any()
