"""The recorded experiments the book reads: each module defines ``EXPERIMENT`` (see :mod:`lstm_ref.results`)."""
