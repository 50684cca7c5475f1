"""Tasks the course trains on, generated from a seed (nothing is downloaded)."""
#
# Character corpora (chapter 5): ``lstm_ref.data.corpus`` holds ``load_corpus``, ``Vocabulary``,
# ``split_text`` and ``stream_batches``; the bundled text and its source are in
# ``lstm_ref/data/corpora/``.

from .text import Vocab, load_corpus, load_text  # noqa: E402,F401  (chapter 6; numpy only)
