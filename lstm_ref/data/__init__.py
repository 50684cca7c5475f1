"""Tasks the course trains on, generated from a seed (nothing is downloaded)."""
#
# Character corpora (chapter 5): ``lstm_ref.data.corpus`` holds ``load_corpus``, ``Vocabulary``,
# ``split_text`` and ``stream_batches``; the bundled text and its source are in
# ``lstm_ref/data/corpora/``.
