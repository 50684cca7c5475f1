"""char-rnn from lstm_ref.graph: initialisation, optimisers, the TBPTT gradient, learning,
evaluation and sampling (tiny sizes)."""

import numpy as np
import pytest

from lstm_ref.data.corpus import Vocabulary, stream_batches
from lstm_ref.train.charrnn import (
    Adam,
    CharRNNConfig,
    RMSprop,
    build_model,
    evaluate_bpc,
    one_blas_thread,
    sample,
    train_charrnn,
)

TEXT = "abcab cabca bcabc " * 40  # periodic: a small LSTM learns it quickly


def _data():
    vocab = Vocabulary.from_text(TEXT)
    ids = vocab.encode(TEXT)
    return vocab, ids[:600], ids[600:]


def test_config_defaults_are_char_rnn_s_and_bad_values_are_refused():
    c = CharRNNConfig()
    assert (c.rnn_size, c.num_layers, c.seq_length, c.batch_size) == (128, 2, 50, 50)
    assert (c.learning_rate, c.decay_rate, c.grad_clip, c.dropout, c.init_range) == (2e-3, 0.95, 5.0, 0.0, 0.08)
    with pytest.raises(ValueError, match="rnn_size"):
        CharRNNConfig(rnn_size=0)
    with pytest.raises(ValueError, match="optimizer"):
        CharRNNConfig(optimizer="sgd")
    with pytest.raises(ValueError, match="dropout"):
        CharRNNConfig(dropout=1.0)


def test_build_model_initialises_as_train_lua():
    config = CharRNNConfig(rnn_size=6, num_layers=2, seed=3)
    model = build_model(5, config)
    params, grads = model.parameters()
    H = 6
    forget_biases = []
    for node in model.forwardnodes:
        if node.name in ("i2h_1", "i2h_2"):
            forget_biases.append(node.module.bias[H : 2 * H].copy())
            others = np.concatenate([node.module.bias[:H], node.module.bias[2 * H :]])
            assert np.all(np.abs(others) <= 0.08)
    assert len(forget_biases) == 2
    np.testing.assert_array_equal(np.concatenate(forget_biases), 1.0)
    flat = np.concatenate([p.ravel() for p in params])
    assert np.sum(np.abs(flat) <= 0.08) == flat.size - 2 * H
    with pytest.raises(ValueError, match="vocab_size"):
        build_model(1, config)


def test_rmsprop_matches_torch_optim_formula():
    p = np.array([1.0, -2.0])
    g = np.array([0.5, 0.1])
    opt = RMSprop([p], lr=0.1, alpha=0.9, eps=1e-8)
    opt.step([g])
    m = 0.1 * g * g
    np.testing.assert_allclose(p, np.array([1.0, -2.0]) - 0.1 * g / (np.sqrt(m) + 1e-8))


def test_adam_first_step_moves_by_lr():
    p = np.array([1.0, -2.0])
    Adam([p], lr=0.01).step([np.array([3.0, -0.2])])
    np.testing.assert_allclose(p, [0.99, -1.99], atol=1e-6)


def test_tbptt_gradient_matches_finite_differences():
    """The trainer's gradient (clones, state carried, summed over steps) is the gradient of
    its loss: compare one parameter entry per array with centred differences."""
    from lstm_ref.graph import ClassNLLCriterion, clone_many_times

    vocab, train, _ = _data()
    config = CharRNNConfig(rnn_size=4, num_layers=2, seq_length=5, batch_size=2, seed=0)
    model = build_model(vocab.size, config)
    x, y = stream_batches(train, 2, 5)[0]
    crit = ClassNLLCriterion()
    n_state = 4

    def loss_and_grads():
        clones = clone_many_times(model, 5)
        model.zeroGradParameters()
        state = [np.zeros((2, 4)) for _ in range(n_state)]
        ins, preds, loss = [], [], 0.0
        for t in range(5):
            inp = [x[t]] + state
            out = clones[t].forward(inp)
            ins.append(inp)
            state = [s.copy() for s in out[:n_state]]
            preds.append(out[n_state])
            loss += crit.forward(out[n_state], y[t])
        d = [np.zeros((2, 4)) for _ in range(n_state)]
        for t in reversed(range(5)):
            gin = clones[t].backward(ins[t], d + [crit.backward(preds[t], y[t]).copy()])
            d = [g.copy() for g in gin[1:]]
        return loss, [g.copy() for g in model.parameters()[1]]

    _, grads = loss_and_grads()
    params = model.parameters()[0]
    rng = np.random.default_rng(0)
    for p, g in zip(params, grads):
        idx = tuple(rng.integers(0, s) for s in p.shape)
        old = p[idx]
        p[idx] = old + 1e-5
        lp, _ = loss_and_grads()
        p[idx] = old - 1e-5
        lm, _ = loss_and_grads()
        p[idx] = old
        assert g[idx] == pytest.approx((lp - lm) / 2e-5, rel=1e-5, abs=1e-8)


def test_training_learns_a_periodic_text_and_reports_bpc(capsys):
    vocab, train, val = _data()
    config = CharRNNConfig(rnn_size=16, num_layers=1, seq_length=10, batch_size=4,
                           learning_rate=1e-2, iterations=120, eval_every=40, seed=1)
    result = train_charrnn(train, val, vocab.size, config)
    assert result.train_loss.shape == (120,)
    assert result.eval_iterations == [40, 80, 120]
    uniform = np.log2(vocab.size)
    assert result.val_bpc[0] < uniform
    assert result.val_bpc[-1] < 0.5  # the text is almost deterministic
    assert result.train_loss[-10:].mean() < result.train_loss[:10].mean() / 3
    bpc = evaluate_bpc(result.model, stream_batches(val, 4, 10), config)
    assert bpc == pytest.approx(result.val_bpc[-1])
    assert capsys.readouterr().out == ""  # no progress bar unless asked


def test_progress_bar_goes_to_stdout(capsys):
    vocab, train, val = _data()
    config = CharRNNConfig(rnn_size=4, num_layers=1, seq_length=5, batch_size=2,
                           iterations=3, eval_every=3)
    train_charrnn(train, val, vocab.size, config, progress=True)
    out, err = capsys.readouterr()
    assert "char-rnn" in out and err == ""


def test_adam_option_trains_too():
    vocab, train, val = _data()
    config = CharRNNConfig(rnn_size=8, num_layers=1, seq_length=10, batch_size=4,
                           optimizer="adam", learning_rate=1e-2, iterations=60, eval_every=60)
    result = train_charrnn(train, val, vocab.size, config)
    assert result.val_bpc[-1] < np.log2(vocab.size) - 0.5


def test_sampling_temperature_and_errors():
    vocab, train, val = _data()
    config = CharRNNConfig(rnn_size=16, num_layers=1, seq_length=10, batch_size=4,
                           learning_rate=1e-2, iterations=120, eval_every=120, seed=1)
    result = train_charrnn(train, val, vocab.size, config)
    cold = sample(result.model, vocab, config, 60, temperature=0.1, prime="abc", seed=0)
    assert len(cold) == 60 and set(cold) <= set(vocab.chars)
    assert "abcab cabca bcabc"[:6] in "abc" + cold  # the learned cycle
    again = sample(result.model, vocab, config, 60, temperature=0.1, prime="abc", seed=0)
    assert again == cold
    with pytest.raises(ValueError, match="temperature"):
        sample(result.model, vocab, config, 10, temperature=0)
    with pytest.raises(ValueError, match="length"):
        sample(result.model, vocab, config, 0)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        sample(result.model, vocab, config, 5, prime="xyz")


def test_one_blas_thread_restores_and_does_not_change_results():
    a = np.random.default_rng(0).standard_normal((64, 64))
    before = a @ a
    with one_blas_thread():
        inside = a @ a
    np.testing.assert_allclose(inside, before, rtol=1e-12)


def test_bad_config_type_is_refused():
    vocab, train, val = _data()
    with pytest.raises(ValueError, match="CharRNNConfig"):
        train_charrnn(train, val, vocab.size, config={"rnn_size": 4})


@pytest.mark.parametrize(
    "module",
    ["lstm_ref.train.charrnn", "lstm_ref.train.ngram", "lstm_ref.data.corpus", "lstm_ref.checks.ch05"],
)
def test_importing_chapter5_modules_is_light(module):
    import subprocess
    import sys

    code = (
        f"import sys, {module}\n"
        "heavy = sorted(m for m in ('torch', 'matplotlib', 'tqdm') if m in sys.modules)\n"
        "sys.stderr.write(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr == "" and done.stdout == ""


def test_command_line_samples_at_every_temperature_asked(capsys):
    """``python -m lstm_ref.train.charrnn --temperature 0.2 3`` (exercise ex-ch05-temperature)
    prints one sample per temperature, of the length asked, starting with the prime."""
    from lstm_ref.train.charrnn import main

    main(["--rnn_size", "4", "--num_layers", "1", "--iterations", "2", "--eval_every", "2",
          "--temperature", "0.2", "3", "--sample_length", "25", "--prime", "Eliza"])
    out = capsys.readouterr().out
    assert "validation bits per character" in out
    lines = out.splitlines()
    for tau in ("0.2", "3"):
        header = lines.index(f"--- temperature {tau} ---")
        assert lines[header + 1].startswith("Eliza")
    assert "--- temperature 0.8 ---" not in out  # the default is replaced, not added


@pytest.mark.parametrize("bad", ["0", "-1", "hot"])
def test_command_line_refuses_a_bad_temperature(bad, capsys):
    from lstm_ref.train.charrnn import main

    with pytest.raises(SystemExit):
        main(["--iterations", "1", "--temperature", bad])
    assert "temperature" in capsys.readouterr().err
