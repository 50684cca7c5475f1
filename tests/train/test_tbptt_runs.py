"""lstm_ref.train.tbptt's page experiment, one run at a time (carry_run), as the recorded
experiment ``tbptt`` uses it."""

import pytest

torch = pytest.importorskip("torch")

from lstm_ref.data.corpus import load_corpus  # noqa: E402
from lstm_ref.train import tbptt  # noqa: E402

KW = dict(hidden_size=16, batch=8, bptt=5, steps=12, eval_chars=500, num_threads=1)


@pytest.fixture(scope="module")
def corpus():
    train_ids, valid_ids, vocab = load_corpus(max_chars=20_000)
    return train_ids, valid_ids, len(vocab)


def test_carry_run_is_one_run_of_carried_vs_reset(corpus):
    train_ids, valid_ids, V = corpus
    res = tbptt.carried_vs_reset(train_ids, valid_ids, V, seeds=(3,), **KW)
    for mode in ("carried", "reset"):
        losses, bpc = tbptt.carry_run(train_ids, valid_ids, V, mode, 3, **KW)
        assert len(losses) == KW["steps"] and all(isinstance(v, float) for v in losses)
        assert bpc == res[mode][0]


def test_carry_run_repeats_and_a_shorter_run_is_a_prefix(corpus):
    train_ids, valid_ids, V = corpus
    a, _ = tbptt.carry_run(train_ids, valid_ids, V, "carried", 0, **KW)
    b, _ = tbptt.carry_run(train_ids, valid_ids, V, "carried", 0, **dict(KW, steps=5))
    c, _ = tbptt.carry_run(train_ids, valid_ids, V, "reset", 0, **KW)
    assert b == a[:5]
    assert a[0] == c[0] and a[1:] != c[1:]  # the first segment starts from zeros in both


def test_carry_run_refuses_an_unknown_mode(corpus):
    train_ids, valid_ids, V = corpus
    with pytest.raises(ValueError, match="mode must be 'carried' or 'reset'"):
        tbptt.carry_run(train_ids, valid_ids, V, "detached", 0, **KW)
