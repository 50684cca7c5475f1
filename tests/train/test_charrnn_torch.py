"""char-rnn in torch: the same function as the chapter's graph, char-rnn's initialisation,
a schedule that a slice shares, deterministic training, and held-out scoring that visits
every character once."""

import dataclasses

import numpy as np
import pytest
import torch

from lstm_ref.data.corpus import Vocabulary
from lstm_ref.train.charrnn import CharRNNConfig, build_model
from lstm_ref.train.charrnn_weights import from_graph
from lstm_ref.train.charrnn_torch import (
    TorchCharRNN,
    TrainConfig,
    heldout_log2_probs,
    init_like_charrnn,
    learning_rate,
    sample,
    train,
)

TEXT = "abcab cabca bcabc " * 40


@pytest.mark.parametrize("layers", [1, 2])
def test_torch_model_computes_the_graph_s_function_on_the_same_weights(layers):
    """float64: the nngraph char-rnn step, run T times with its state carried, and
    TorchCharRNN on the copied weights give the same log-probabilities and final states."""
    V, H, T, N = 7, 5, 6, 3
    graph = build_model(V, CharRNNConfig(rnn_size=H, num_layers=layers, seed=4))
    rng = np.random.default_rng(0)
    params, _ = graph.parameters()
    for p in params:  # not only char-rnn's init: every entry matters, biases of h2h too
        p[...] = rng.uniform(-0.5, 0.5, size=p.shape)
    model = from_graph(graph)
    x = rng.integers(0, V, size=(T, N))
    state = [rng.standard_normal((N, H)) for _ in range(2 * layers)]  # c1, h1, c2, h2...
    h0 = torch.tensor(np.stack(state[1::2]))
    c0 = torch.tensor(np.stack(state[0::2]))
    with torch.no_grad():
        logp, (hT, cT) = model(torch.from_numpy(x), (h0, c0))
    graph.evaluate()
    for t in range(T):
        out = graph.forward([x[t]] + state)
        state = [np.array(s, copy=True) for s in out[: 2 * layers]]
        np.testing.assert_allclose(logp[t].numpy(), out[-1], rtol=0, atol=1e-12,
                                   err_msg=f"log-probabilities differ at step {t}")
    np.testing.assert_allclose(cT.numpy(), np.stack(state[0::2]), rtol=0, atol=1e-12)
    np.testing.assert_allclose(hT.numpy(), np.stack(state[1::2]), rtol=0, atol=1e-12)


def test_a_wrong_gate_order_would_be_caught():
    """The comparison above can fail: swapping g and o in one weight changes the output."""
    V, H = 6, 4
    graph = build_model(V, CharRNNConfig(rnn_size=H, num_layers=1, seed=1))
    model = from_graph(graph)
    x = torch.tensor([[1], [2], [3]])
    with torch.no_grad():
        good, _ = model(x)
        w = model.lstm.weight_hh_l0
        w.copy_(torch.cat([w[: 2 * H], w[3 * H :], w[2 * H : 3 * H]]))
        bad, _ = model(x)
    assert (good - bad).abs().max() > 1e-4


def test_init_is_char_rnn_s():
    model = TorchCharRNN(9, 6, 2).double()
    init_like_charrnn(model, torch.Generator().manual_seed(0))
    for k in range(2):
        b = getattr(model.lstm, f"bias_ih_l{k}")
        assert torch.all(b[6:12] == 1.0)
        assert torch.all(b[:6].abs() <= 0.08) and torch.all(b[12:].abs() <= 0.08)
    assert all(torch.all(p.abs() <= 1.0) for p in model.parameters())


def test_schedule_depends_on_iterations_not_on_stop_after():
    full = TrainConfig(iterations=100, learning_rate=1e-2, final_lr_frac=0.1)
    cut = dataclasses.replace(full, stop_after=5)
    assert [learning_rate(full, i) for i in range(5)] == [learning_rate(cut, i) for i in range(5)]
    assert learning_rate(full, 0) == pytest.approx(1e-2)
    assert learning_rate(full, 99) == pytest.approx(1e-3)
    assert learning_rate(full, 50) < learning_rate(full, 10)
    with pytest.raises(ValueError, match="stop_after"):
        TrainConfig(iterations=10, stop_after=11)


def _data():
    vocab = Vocabulary.from_text(TEXT)
    return vocab, vocab.encode(TEXT)


def test_training_is_deterministic_and_a_slice_is_a_prefix():
    vocab, ids = _data()
    config = TrainConfig(rnn_size=8, seq_length=10, batch_size=4, iterations=12, eval_every=6,
                         dropout=0.0, learning_rate=1e-2)
    a = train(ids[:600], vocab.size, config, seed=3)
    b = train(ids[:600], vocab.size, config, seed=3)
    np.testing.assert_array_equal(a["train_loss"], b["train_loss"])
    cut = train(ids[:600], vocab.size, dataclasses.replace(config, stop_after=4), seed=3)
    np.testing.assert_array_equal(cut["train_loss"], a["train_loss"][:4])
    other = train(ids[:600], vocab.size, config, seed=4)
    assert not np.array_equal(other["train_loss"], a["train_loss"])


def test_training_learns_a_periodic_text():
    vocab, ids = _data()
    config = TrainConfig(rnn_size=16, seq_length=10, batch_size=4, iterations=150,
                         eval_every=50, learning_rate=1e-2)
    res = train(ids[:600], vocab.size, config, seed=0,
                evaluate=lambda m: float(-heldout_log2_probs(m, ids, 600, len(ids), 4, 20).mean()))
    assert res["eval_iterations"] == [50, 100, 150]
    assert res["val_bpc"][-1] < 0.5 < np.log2(vocab.size)
    text = sample(res["model"], vocab, 40, temperature=0.1, prime="abc", seed=0)
    assert "cab" in "abc" + text


def test_heldout_scoring_visits_every_position_once():
    """Any number of streams scores exactly the characters start..stop-1; one stream that
    starts at the beginning of the text equals running the model over the whole text."""
    vocab, ids = _data()
    torch.manual_seed(0)
    model = TorchCharRNN(vocab.size, 6, 1).double()
    start, stop = 200, 337
    with torch.no_grad():
        logp, _ = model(torch.from_numpy(ids[: stop - 1])[:, None])
    whole = logp[start - 1 :, 0].gather(1, torch.from_numpy(ids[start:stop])[:, None])[:, 0]
    whole = whole.numpy() / np.log(2)
    once = heldout_log2_probs(model, ids, start, stop, streams=1, warmup=start)
    np.testing.assert_allclose(once, whole, rtol=0, atol=1e-12)
    for streams, warmup in ((5, 50), (137, 0), (500, 10)):
        got = heldout_log2_probs(model, ids, start, stop, streams=streams, warmup=warmup)
        assert got.shape == (stop - start,)
        assert np.all(got < 0)
    # with enough warm-up the state forgets its zero start: close to the whole-text score
    got = heldout_log2_probs(model, ids, start, stop, streams=7, warmup=150)
    np.testing.assert_allclose(got, whole, atol=1e-6)
    with pytest.raises(ValueError, match="start"):
        heldout_log2_probs(model, ids, 0, 10)
