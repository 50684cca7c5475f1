"""Training loops and the experiments the book runs at build time.

- ``lstm_ref.train.adding``: an LSTM or a tanh RNN on the adding problem (chapter 3); needs
  torch. Its names (``AddingConfig``, ``train_adding``, ...) are also available here, loaded
  on first use, so ``import lstm_ref.train`` does not import torch.
"""

_ADDING = (
    "AddingConfig",
    "AddingModel",
    "AddingResult",
    "count_weights",
    "evaluate",
    "heldout_set",
    "lstm_gate_activations",
    "train_adding",
)


def __getattr__(name):
    if name in _ADDING:
        from . import adding

        return getattr(adding, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_ADDING))
