"""Importing lstm_ref and its numpy parts is cheap: no torch, no matplotlib, no output."""

import subprocess
import sys

import pytest

LIGHT = ["lstm_ref", "lstm_ref.numpy", "lstm_ref.gradcheck", "lstm_ref.convert"]


@pytest.mark.parametrize("module", LIGHT)
def test_import_does_not_load_torch_or_matplotlib(module):
    code = (
        f"import sys, {module}\n"
        "heavy = sorted(m for m in ('torch', 'matplotlib') if m in sys.modules)\n"
        "sys.stderr.write(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr == "", f"importing {module} loaded {done.stderr}"
    assert done.stdout == "", f"importing {module} printed {done.stdout!r}"


def test_public_names():
    import lstm_ref.numpy as np_ref
    import lstm_ref.torch as torch_ref

    for name in (
        "rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward",
        "lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward",
    ):
        assert callable(getattr(np_ref, name)), name
    for name in ("RNNCell", "RNN", "LSTMCell", "LSTM"):
        assert isinstance(getattr(torch_ref, name), type), name
