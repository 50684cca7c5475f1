"""The book's recorded experiments, one module per experiment, each defining ``EXPERIMENT``
(an :class:`lstm_ref.results.Experiment`) from the training code of :mod:`lstm_ref.train`.

They are registered by name in :mod:`lstm_ref.results.registry` and run by
``make experiments NAME=<name>``. Importing this package imports none of them.
"""
