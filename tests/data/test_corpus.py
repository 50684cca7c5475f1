"""The bundled corpus, its vocabulary, splits and stream batches."""

import numpy as np
import pytest

import lstm_ref.data
from lstm_ref.data.corpus import (
    CORPORA,
    Vocabulary,
    corpus_path,
    load_corpus,
    load_text,
    split_text,
    stream_batches,
)


def test_corpus_is_bundled_and_is_the_novel():
    text = load_text("pride_and_prejudice")
    assert text.startswith("PRIDE AND PREJUDICE")
    assert "It is a truth universally acknowledged" in text[:400]
    assert 600_000 < len(text) < 1_000_000
    assert text.isascii()


def test_unknown_corpus_names_the_known_ones():
    with pytest.raises(ValueError, match="pride_and_prejudice"):
        load_text("tinyshakespeare")
    assert CORPORA == ("pride_and_prejudice",)


def test_vocabulary_round_trip_and_order():
    vocab = Vocabulary.from_text("hello world")
    assert vocab.chars == " dehlorw"
    ids = vocab.encode("world hello")
    assert ids.dtype == np.int64 and ids.shape == (11,)
    assert vocab.decode(ids) == "world hello"
    assert vocab.size == 8


def test_vocabulary_errors_are_clear():
    vocab = Vocabulary.from_text("abc")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        vocab.encode("abz")
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        vocab.decode([0, 3])
    with pytest.raises(ValueError, match="str"):
        vocab.encode(b"abc")
    with pytest.raises(ValueError, match="non-empty str"):
        Vocabulary.from_text("")


def test_split_is_contiguous_and_complete():
    text = "".join(chr(97 + k % 26) for k in range(1000))
    train, val, test = split_text(text, val_frac=0.1, test_frac=0.05)
    assert train + val + test == text
    assert (len(train), len(val), len(test)) == (850, 100, 50)
    with pytest.raises(ValueError, match="below 1"):
        split_text(text, 0.6, 0.5)
    with pytest.raises(ValueError, match="val_frac"):
        split_text(text, -0.1)


def test_stream_batches_continue_each_stream_and_shift_targets():
    data = np.arange(103)
    batches = stream_batches(data, N=2, T=5)  # K = 102 // 10 = 10 batches, streams of 50
    assert len(batches) == 10
    x0, y0 = batches[0]
    x1, _ = batches[1]
    assert x0.shape == (5, 2) and x0.dtype == np.int64
    np.testing.assert_array_equal(x0[:, 0], [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(x0[:, 1], [50, 51, 52, 53, 54])
    np.testing.assert_array_equal(x1[:, 0], [5, 6, 7, 8, 9])  # continues stream 0
    for x, y in batches:
        np.testing.assert_array_equal(y, x + 1)


def test_stream_batches_errors():
    with pytest.raises(ValueError, match="too short"):
        stream_batches(np.arange(10), N=2, T=5)
    with pytest.raises(ValueError, match="positive int"):
        stream_batches(np.arange(100), N=0, T=5)
    with pytest.raises(ValueError, match="1-D integer"):
        stream_batches(np.zeros((4, 4)), N=1, T=2)


def test_load_text_reads_a_file_and_cuts_it(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("abcabcab", encoding="utf-8")
    assert corpus_path(str(path)) == str(path)
    assert load_text(str(path)) == "abcabcab"
    assert load_text(str(path), max_chars=3) == "abc"
    assert load_text(max_chars=19) == "PRIDE AND PREJUDICE"
    for bad in (0, -5, 2.5, True):
        with pytest.raises(ValueError, match="max_chars"):
            load_text(max_chars=bad)
    with pytest.raises(ValueError, match="fewer than 2"):
        load_text(str(path), max_chars=1)


def test_load_corpus_holds_out_the_tail_with_the_whole_text_vocabulary():
    train, valid, vocab = load_corpus(max_chars=20_000, valid_fraction=0.1)
    text = load_text(max_chars=20_000)
    assert isinstance(vocab, Vocabulary) and len(vocab) == vocab.size == len(set(text))
    assert train.dtype == valid.dtype == np.int64
    assert (len(train), len(valid)) == (18_000, 2_000)
    assert vocab.decode(np.concatenate([train, valid])) == text
    for bad in (0, 1, -0.1, "0.1"):
        with pytest.raises(ValueError, match="valid_fraction"):
            load_corpus(max_chars=1000, valid_fraction=bad)


def test_package_exports_the_one_corpus_module():
    assert lstm_ref.data.load_corpus is load_corpus
    assert lstm_ref.data.load_text is load_text
    assert lstm_ref.data.Vocabulary is Vocabulary


def test_validation_is_one_contiguous_piece_unlike_char_rnn_s_last_batches():
    """split_text's validation part is one block right after the training part. char-rnn
    takes the last 5 % of the batches of the (batch_size, -1) streams instead: that is the
    tail of every stream, batch_size separate pieces of the text (what the docstring says)."""
    text = "".join(chr(0x4E00 + k) for k in range(2000))  # every character distinct
    train, val, test = split_text(text, val_frac=0.05, test_frac=0.0)
    assert len(val) == 100 and val == text[1900:] and text.index(val) == len(train)
    positions = np.arange(len(text))
    N, T = 10, 10
    batches = stream_batches(positions, N, T)  # x holds each character's position
    n_val = len(batches) - int(len(batches) * 0.95)
    char_rnn_val = np.sort(np.concatenate([x.ravel() for x, _ in batches[-n_val:]]))
    pieces = np.split(char_rnn_val, np.nonzero(np.diff(char_rnn_val) > 1)[0] + 1)
    assert len(pieces) == N  # one piece at the end of each stream
    assert char_rnn_val.min() < len(text) // N  # the first stream's tail is near the start
