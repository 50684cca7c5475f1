"""The one split of the novel that char-rnn and its n-gram baselines are scored on.

Both recorded experiments (:mod:`.charrnn_ngram`, :mod:`.charrnn`) call :func:`heldout`,
so the held-out characters they score are the same positions of the same text.
"""

from ..data.corpus import Vocabulary, load_text, split_text


def heldout(corpus="pride_and_prejudice", val_frac=0.05, test_frac=0.05):
    """The encoded text and its three contiguous parts.

    Returns:
        dict with ``ids`` (the whole text's character indices, ``(L,)``), ``vocab``, and the
        ranges ``train = (0, a)``, ``val = (a, b)``, ``test = (b, L)`` of
        :func:`lstm_ref.data.corpus.split_text`: every character of ``val`` (``test``) is
        scored once, given all the text before it.
    """
    text = load_text(corpus)
    vocab = Vocabulary.from_text(text)
    train, val, test = split_text(text, val_frac=val_frac, test_frac=test_frac)
    a, b = len(train), len(train) + len(val)
    return {"ids": vocab.encode(text), "vocab": vocab, "train": (0, a), "val": (a, b),
            "test": (b, len(text))}
