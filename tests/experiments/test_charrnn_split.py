"""char-rnn and its n-gram baselines are scored on the same held-out characters."""

import dataclasses

from lstm_ref.data.corpus import load_text, split_text
from lstm_ref.experiments import charrnn, charrnn_ngram
from lstm_ref.experiments.charrnn_split import heldout


def test_both_experiments_use_one_split_and_it_is_split_text_s():
    a, b = charrnn.EXPERIMENT.config, charrnn_ngram.EXPERIMENT.config
    assert (a.corpus, a.val_frac, a.test_frac) == (b.corpus, b.val_frac, b.test_frac)
    data = heldout(a.corpus, a.val_frac, a.test_frac)
    train, val, test = split_text(load_text(a.corpus), a.val_frac, a.test_frac)
    assert data["train"] == (0, len(train))
    assert data["val"] == (len(train), len(train) + len(val))
    assert data["test"] == (len(train) + len(val), len(data["ids"]))
    assert data["vocab"].decode(data["ids"][slice(*data["val"])]) == val
    assert data["vocab"].decode(data["ids"][slice(*data["test"])]) == test


def test_the_slices_keep_the_full_runs_schedule():
    """The cheap slice of the char-rnn record changes only where training stops."""
    full = charrnn.EXPERIMENT.config
    cut = charrnn.EXPERIMENT.slice_config(full)
    assert cut.train.stop_after is not None and full.train.stop_after is None
    assert dataclasses.replace(cut.train, stop_after=None) == full.train
    assert dataclasses.replace(cut, train=full.train) == full
