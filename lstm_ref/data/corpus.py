r"""A character corpus that ships with the package, its vocabulary, splits and batches.

The corpus is Jane Austen's *Pride and Prejudice* (public domain; where the copy comes from
is in ``lstm_ref/data/corpora/SOURCE.md``). Nothing is downloaded. Chapters 5 and 6 both
read it through this module: :func:`load_text` gives the text, :class:`Vocabulary` its
characters as sorted integer ids (the same on every machine), :func:`split_text` cuts it
into contiguous parts, and :func:`load_corpus` does all three at once for the language
models of chapter 6.

As in char-rnn's ``CharSplitLMMinibatchLoader``, the text is one long stream of character
indices; a language model reads ``x = text[s : s + T]`` and predicts
``y = text[s + 1 : s + T + 1]``. :func:`stream_batches` cuts the training stream into ``N``
parallel streams so that batch ``k + 1`` continues, column by column, where batch ``k``
stopped: a model may carry its hidden state from one batch to the next (char-rnn does).
Arrays are time-major, as everywhere in the course: ``x`` and ``y`` have shape ``(T, N)``.
(Chapter 6's torch versions of the streams, with a shorter last segment instead of a
dropped tail, are :func:`lstm_ref.train.tbptt.make_streams` and
:func:`~lstm_ref.train.tbptt.segments`, which its graded notebook asks learners to write.)
"""

import numbers
import os
from dataclasses import dataclass

import numpy as np

CORPORA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpora")
CORPORA = ("pride_and_prejudice",)
"""The bundled corpora (files ``CORPORA_DIR/<name>.txt``)."""
DEFAULT_CORPUS = CORPORA[0]


def corpus_path(name=DEFAULT_CORPUS):
    """The path of a bundled corpus (one of :data:`CORPORA`) or of an existing text file.

    Raises:
        ValueError: ``name`` is neither, with the bundled names in the message.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"corpus must be a bundled corpus name or a file path, got {name!r}")
    if name in CORPORA:
        return os.path.join(CORPORA_DIR, name + ".txt")
    if os.path.isfile(name):
        return name
    raise ValueError(
        f"no corpus {name!r}: expected a text file or one of the bundled corpora "
        f"{list(CORPORA)}"
    )


def load_text(name=DEFAULT_CORPUS, max_chars=None):
    """The text of a corpus, as one ``str``.

    Args:
        name: one of :data:`CORPORA`, or the path of a UTF-8 text file.
        max_chars: keep only the first ``max_chars`` characters (a positive int), or None.

    Returns:
        The text (``\\n`` line ends), at least 2 characters long.
    """
    if max_chars is not None and (
        isinstance(max_chars, bool) or not isinstance(max_chars, numbers.Integral) or max_chars <= 0
    ):
        raise ValueError(f"max_chars must be a positive int or None, got {max_chars!r}")
    with open(corpus_path(name), encoding="utf-8") as fh:
        text = fh.read()
    if max_chars is not None:
        text = text[:max_chars]
    if len(text) < 2:
        raise ValueError(f"corpus {name!r} holds fewer than 2 characters")
    return text


@dataclass(frozen=True)
class Vocabulary:
    """The characters of a text, sorted, and the maps between them and indices ``0..V-1``.

    Attributes:
        chars: the sorted distinct characters, a ``str`` of length ``V``.
    """

    chars: str

    @classmethod
    def from_text(cls, text):
        """The vocabulary of every character that occurs in ``text``."""
        if not isinstance(text, str) or not text:
            raise ValueError(f"text must be a non-empty str, got {_describe(text)}")
        return cls("".join(sorted(set(text))))

    @property
    def size(self):
        """``V``, the number of distinct characters."""
        return len(self.chars)

    def __len__(self):
        return len(self.chars)

    def encode(self, text):
        """Character indices of ``text``, an ``int64`` array of shape ``(len(text),)``."""
        if not isinstance(text, str):
            raise ValueError(f"encode expects a str, got {_describe(text)}")
        index = {ch: k for k, ch in enumerate(self.chars)}
        unknown = sorted(set(text) - index.keys())
        if unknown:
            raise ValueError(
                f"text has characters outside the vocabulary of {self.size}: {unknown[:10]!r}"
            )
        return np.fromiter((index[ch] for ch in text), dtype=np.int64, count=len(text))

    def decode(self, indices):
        """The string of the indices ``indices`` (any integer array or sequence)."""
        idx = np.asarray(indices)
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            raise ValueError(
                f"decode expects a 1-D sequence of ints, got shape {idx.shape} of {idx.dtype}"
            )
        if idx.size and (idx.min() < 0 or idx.max() >= self.size):
            raise ValueError(f"indices must lie in [0, {self.size}), got [{idx.min()}, {idx.max()}]")
        return "".join(self.chars[k] for k in idx)


def split_text(text, val_frac=0.05, test_frac=0.05):
    """Cut ``text`` into contiguous train, validation and test parts, in this order.

    Each part is one contiguous piece of the text: the first ``1 - val_frac - test_frac``
    for training, then ``val_frac`` for validation, then the last ``test_frac`` for the
    test, so no held-out sentence is seen in training and the test part is never used to
    choose anything.

    char-rnn's loader (``CharSplitLMMinibatchLoader``) splits differently, and its
    ``train_frac 0.95``, ``val_frac 0.05`` do not mean "the first 95 %": it first
    reshapes the whole text into ``batch_size`` rows, one contiguous stream each, cuts the
    rows into batches of ``seq_length`` columns, and keeps the last 5 % of the *batches*
    for validation. Its validation text is therefore the tail of each of the
    ``batch_size`` streams: ``batch_size`` pieces spread through the novel, each preceded
    in the same row by training text. This function does not do that.

    Args:
        text: the corpus.
        val_frac: fraction of characters for validation, in ``[0, 1)``.
        test_frac: fraction of characters for the test part, in ``[0, 1)``.

    Returns:
        ``(train, val, test)``, three strings whose concatenation is ``text``.
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {_describe(text)}")
    for name, frac in (("val_frac", val_frac), ("test_frac", test_frac)):
        if not isinstance(frac, numbers.Real) or not 0 <= frac < 1:
            raise ValueError(f"{name} must be a number in [0, 1), got {frac!r}")
    if val_frac + test_frac >= 1:
        raise ValueError(f"val_frac + test_frac must be below 1, got {val_frac + test_frac}")
    n = len(text)
    n_test = int(round(n * test_frac))
    n_val = int(round(n * val_frac))
    n_train = n - n_val - n_test
    return text[:n_train], text[n_train : n_train + n_val], text[n_train + n_val :]


def stream_batches(data, N, T):
    """Consecutive ``(x, y)`` batches from ``N`` parallel streams of ``data``.

    The data (length ``L``) is trimmed to ``N * T * K + 1`` characters with
    ``K = (L - 1) // (N * T)`` and column ``n`` reads the ``n``-th of ``N`` equal pieces,
    so ``x[:, n]`` of batch ``k + 1`` starts where ``x[:, n]`` of batch ``k`` ended.

    Args:
        data: character indices, an integer array of shape ``(L,)``.
        N: number of streams (batch size).
        T: steps per batch (char-rnn's ``seq_length``).

    Returns:
        A list of ``K`` pairs ``(x, y)``, each ``int64`` of shape ``(T, N)``, with
        ``y[t, n]`` the character that follows ``x[t, n]``.
    """
    data = np.asarray(data)
    if data.ndim != 1 or not np.issubdtype(data.dtype, np.integer):
        raise ValueError(f"data must be a 1-D integer array, got shape {data.shape} of {data.dtype}")
    for name, value in (("N", N), ("T", T)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    K = (len(data) - 1) // (N * T)
    if K < 1:
        raise ValueError(
            f"data of length {len(data)} is too short for one batch of N={N} streams of "
            f"T={T} steps (needs at least {N * T + 1})"
        )
    span = K * T
    x = data[: N * span].reshape(N, span).T.astype(np.int64)  # (K*T, N)
    y = data[1 : N * span + 1].reshape(N, span).T.astype(np.int64)
    return [(x[k * T : (k + 1) * T], y[k * T : (k + 1) * T]) for k in range(K)]


def load_corpus(name=DEFAULT_CORPUS, valid_fraction=0.1, max_chars=None):
    """A corpus encoded and split for a language model: ``(train_ids, valid_ids, vocab)``.

    The text of :func:`load_text` is encoded with the :class:`Vocabulary` of the whole text
    and its last ``valid_fraction`` is held out (a contiguous tail, so no held-out sentence
    is seen in training).

    Args:
        name: one of :data:`CORPORA`, or the path of a text file.
        valid_fraction: fraction of characters held out, in ``(0, 1)``.
        max_chars: read only the first ``max_chars`` characters, or None for all.

    Returns:
        ``train_ids (L_train,)`` and ``valid_ids (L_valid,)``, ``int64`` arrays, and the
        :class:`Vocabulary`.
    """
    if isinstance(valid_fraction, bool) or not isinstance(valid_fraction, numbers.Real) or not (
        0 < valid_fraction < 1
    ):
        raise ValueError(f"valid_fraction must be a number in (0, 1), got {valid_fraction!r}")
    text = load_text(name, max_chars)
    vocab = Vocabulary.from_text(text)
    train, valid, _ = split_text(text, val_frac=valid_fraction, test_frac=0)
    return vocab.encode(train), vocab.encode(valid), vocab


def _describe(value):
    if isinstance(value, str):
        return "an empty str"
    return f"a {type(value).__name__}"
