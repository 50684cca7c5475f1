"""The book's recorded experiments, one module each, registered in :mod:`lstm_ref.results.registry`."""
