"""Importing lstm_ref.graph is cheap: no torch, no matplotlib, nothing printed."""

import subprocess
import sys

import lstm_ref.graph as nn

PUBLIC = [
    "Identity", "Linear", "CAddTable", "CMulTable", "CSubTable", "Sigmoid", "Tanh", "ReLU",
    "Narrow", "Reshape", "SplitTable", "JoinTable", "SelectTable", "Dropout", "LookupTable",
    "OneHot", "LogSoftMax", "ClassNLLCriterion", "gModule", "Module", "Node",
    "clone_many_times", "render_svg", "to_dot",
]


def test_import_does_not_load_torch_or_matplotlib():
    code = (
        "import sys, lstm_ref.graph, lstm_ref.graph.lstm_graphs\n"
        "heavy = sorted(m for m in ('torch', 'matplotlib') if m in sys.modules)\n"
        "sys.stderr.write(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr == ""
    assert done.stdout == ""


def test_public_names():
    for name in PUBLIC:
        assert hasattr(nn, name), name
        assert name in nn.__all__, name
