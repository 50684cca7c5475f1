"""A small character corpus for the language-model experiments of chapter 6, read offline.

The text (public domain, see ``lstm_ref/data/corpora/SOURCE.md``) ships inside the package;
nothing is downloaded. Characters become integer ids through a :class:`Vocab` built from
the text itself, sorted, so the ids are the same on every machine.
"""

import os

import numpy as np

CORPORA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpora")
DEFAULT_CORPUS = "pride_and_prejudice"


class Vocab:
    """The characters of a text, sorted, and the maps between characters and ids.

    Args:
        chars: the characters (duplicates are ignored).
    """

    def __init__(self, chars):
        self.chars = sorted(set(chars))
        if not self.chars:
            raise ValueError("a vocabulary needs at least one character, got none")
        self.index = {ch: k for k, ch in enumerate(self.chars)}

    def __len__(self):
        return len(self.chars)

    def encode(self, text):
        """``text`` -> ``int64`` array of ids; unknown characters raise ``ValueError``."""
        try:
            return np.fromiter((self.index[ch] for ch in text), dtype=np.int64, count=len(text))
        except KeyError as exc:
            raise ValueError(f"character {exc.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids):
        """An iterable of ids -> the string."""
        return "".join(self.chars[int(k)] for k in ids)


def corpus_path(name=DEFAULT_CORPUS):
    """The path of a bundled corpus (``name`` without ``.txt``) or of a text file."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"corpus must be a bundled corpus name or a file path, got {name!r}")
    if os.path.isfile(name):
        return name
    path = os.path.join(CORPORA_DIR, name + ".txt")
    if not os.path.isfile(path):
        bundled = sorted(f[:-4] for f in os.listdir(CORPORA_DIR) if f.endswith(".txt"))
        raise ValueError(f"no corpus {name!r}: expected a text file or one of {bundled}")
    return path


def load_text(name=DEFAULT_CORPUS, max_chars=None):
    """The text of a corpus (the first ``max_chars`` characters if given)."""
    with open(corpus_path(name), encoding="utf-8") as fh:
        text = fh.read()
    if max_chars is not None:
        if not isinstance(max_chars, int) or max_chars <= 0:
            raise ValueError(f"max_chars must be a positive int, got {max_chars!r}")
        text = text[:max_chars]
    if len(text) < 2:
        raise ValueError(f"corpus {name!r} holds fewer than 2 characters")
    return text


def load_corpus(name=DEFAULT_CORPUS, valid_fraction=0.1, max_chars=None):
    """``(train_ids, valid_ids, vocab)``: the text encoded, its last ``valid_fraction``
    held out (a contiguous tail, so no held-out sentence is seen in training).

    Returns:
        ``train_ids (L_train,)`` and ``valid_ids (L_valid,)`` int64 arrays, and the
        :class:`Vocab` of the whole text.
    """
    if not 0 < valid_fraction < 1:
        raise ValueError(f"valid_fraction must be in (0, 1), got {valid_fraction!r}")
    text = load_text(name, max_chars)
    vocab = Vocab(text)
    ids = vocab.encode(text)
    split = int(round(len(ids) * (1 - valid_fraction)))
    return ids[:split], ids[split:], vocab
