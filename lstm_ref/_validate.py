"""Argument checks shared by the public entry points.

Every public function checks what it is given before computing anything, so a wrong shape
gives one clear ``ValueError`` that names the argument, the expected and the actual shape,
instead of a broadcasting error from deep inside numpy.
"""

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


def as_float_array(name, value):
    """Return ``value`` as a numpy array, refusing anything that is not float32/float64."""
    if not isinstance(value, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy array, got {type(value).__name__}"
        )
    if value.dtype not in FLOAT_DTYPES:
        raise ValueError(
            f"{name} must have dtype float32 or float64, got {value.dtype}"
        )
    return value


def check_shape(name, value, expected):
    """Check ``value.shape`` against ``expected``, a tuple of ints or symbolic names.

    Symbolic names such as ``"N"`` are only documentation here: they match any size.
    Concrete ints must match exactly.
    """
    as_float_array(name, value)
    shown = "(" + ", ".join(str(e) for e in expected) + ("," if len(expected) == 1 else "") + ")"
    if value.ndim != len(expected) or any(
        isinstance(e, int) and e != s for e, s in zip(expected, value.shape)
    ):
        raise ValueError(
            f"{name} must have shape {shown}, got {tuple(value.shape)}"
        )
    return value


def check_same_dtype(**arrays):
    """All arrays must share one dtype: mixing float32 and float64 silently upcasts."""
    dtypes = {name: a.dtype for name, a in arrays.items()}
    if len(set(dtypes.values())) > 1:
        listing = ", ".join(f"{n}: {d}" for n, d in dtypes.items())
        raise ValueError(f"all arrays must have the same dtype, got {listing}")
    return next(iter(dtypes.values()))


def gate_hidden_size(name, W, rows, gates):
    """Check an input-to-gates weight ``W (rows, gates*H)`` that stacks ``gates`` blocks of
    ``H`` columns (4 for an LSTM, 3 for a GRU, 1 for an RNN) and return ``H``."""
    blocks = "H" if gates == 1 else f"{gates}H"
    check_shape(name, W, (rows, blocks))
    if W.shape[1] % gates:
        raise ValueError(
            f"{name} must have shape (D, {blocks}) with {blocks} a multiple of {gates}, "
            f"got {tuple(W.shape)}"
        )
    return W.shape[1] // gates
