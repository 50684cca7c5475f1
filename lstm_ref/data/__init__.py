"""Tasks the course trains on, generated from a seed (nothing is downloaded)."""

from .text import Vocab, load_corpus, load_text  # noqa: E402,F401  (chapter 6; numpy only)
