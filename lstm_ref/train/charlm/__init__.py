"""A character-level LSTM language model trainer: ``python -m lstm_ref.train.charlm``.

Truncated BPTT over contiguous streams of a bundled text (:mod:`lstm_ref.data.corpus`), on a
CPU or a GPU (``--device``), with one of four implementations of the same LSTM
(``--model cudnn|ours|ours-compiled|fused``), mixed precision (``--amp bf16|fp16``),
global-norm clipping, data-parallel processes (``--nproc``, or ``torchrun``) and
checkpoints that resume bit for bit (``--checkpoint DIR --resume``). Run
``python -m lstm_ref.train.charlm --help`` for the options.

- :mod:`.model`: :class:`~.model.CharLM`, the model.
- :mod:`.train`: :class:`~.train.Config`, :func:`~.train.train` and the loop.
- :mod:`.ddp`: the check that data-parallel gradients equal single-process ones.
- :mod:`.cli`: the command line.

This package imports torch; ``import lstm_ref`` does not import it.
"""

from .model import CharLM, make_lstm
from .train import Config, ConfigError, train

__all__ = ["CharLM", "make_lstm", "Config", "ConfigError", "train"]
