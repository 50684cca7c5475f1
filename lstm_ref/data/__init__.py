"""Tasks the course trains on, generated from a seed (nothing is downloaded)."""
#
# Character corpora (chapters 5 and 6): ``lstm_ref.data.corpus`` holds ``load_text``,
# ``Vocabulary``, ``split_text``, ``load_corpus`` and ``stream_batches``; the bundled text
# and its source are in ``lstm_ref/data/corpora/``. The names below are the same objects.

from .corpus import Vocabulary, load_corpus, load_text  # noqa: E402,F401  (numpy only)
