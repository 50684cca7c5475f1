"""Elementwise activations used by every cell, written to be overflow-free."""

import numpy as np


def sigmoid(x):
    r"""The logistic sigmoid :math:`\sigma(x) = 1 / (1 + e^{-x})`.

    Computed as :math:`\tfrac12(1 + \tanh(x/2))`, which is the same function but never
    overflows (``np.exp(-x)`` does for ``x < -710`` in float64, ``x < -89`` in float32),
    so it prints no ``RuntimeWarning``, and it keeps the input's dtype.
    """
    return 0.5 * (1.0 + np.tanh(0.5 * x))
