r"""The adding problem of Hochreiter & Schmidhuber (1997), experiment 4.

Each sequence is a list of pairs ``(value, marker)``. The values are drawn uniformly from
``[-1, 1]``; exactly two pairs are marked with ``1.0``; the network must output, at the last
step, the sum of the two marked values scaled to ``[0, 1]``:

.. math::
    y = 0.5 + \frac{X_1 + X_2}{4}

The rules, as in section 5.4 of the paper (page 1760 of *Neural Computation* 9(8)):

- a batch's length ``L`` is drawn uniformly from ``T, ..., T + T//10`` (the paper: "random
  lengths between the minimal sequence length T and T + T/10"). One ``L`` serves the whole
  batch so that it stacks into one time-major array; the paper trained online, one sequence
  at a time, so it never needed to share a length;
- the first mark (value ``X_1``) is on one of the first 10 pairs, uniformly;
- the second mark (value ``X_2``) is on one of "the first T/2 - 1 still unmarked pairs",
  uniformly: the paper's words count the unmarked pairs, so the window is the first
  ``T//2`` positions less the first mark (``T//2 - 1`` candidates, the last at position
  ``T//2 - 1``, counted from 0). Its distance to the last pair, at ``L - 1 >= T - 1``, is
  then at least ``T/2``: the paper's "minimal time lag T/2" (Table 7);
- the marker of every other pair is ``0.0``, except the first and the last pair, whose
  marker is ``-1.0``;
- "in the rare case where the first pair of the sequence gets marked", the paper sets
  ``X_1`` to zero. Here the value of that pair is set to ``0.0`` in the input, whichever of
  the two marks lands on it, so the target is still computed from what the network sees;
  its marker is ``1.0`` (a marked pair).
  The last pair is never marked (the second mark lies in the first half).

A prediction is correct when its absolute error is below ``0.04`` (the paper's criterion).
"""

import numbers

import numpy as np

FIRST_MARK_WINDOW = 10
"""The first mark is on one of the first this-many pairs."""

TOLERANCE = 0.04
"""A prediction is correct when ``|prediction - target| < TOLERANCE``."""

MIN_T = FIRST_MARK_WINDOW + 1
"""The smallest minimal length: the first mark must never land on the last pair."""


def _positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def make_adding_batch(batch_size, T, rng, dtype=np.float32):
    r"""A batch of adding-problem sequences, time-major.

    .. math::
        y_n = 0.5 + \frac{X_{1,n} + X_{2,n}}{4}

    Args:
        batch_size: the number of sequences ``N``.
        T: the minimal length; the batch's length ``L`` is uniform in
            ``T, ..., T + T//10``. At least 11, so the first mark (on one of the first 10
            pairs) never falls on the last pair.
        rng: a ``numpy.random.Generator``; everything random is drawn from it, so one seed
            gives the same batches.
        dtype: ``np.float32`` (default) or ``np.float64``.

    Returns:
        ``(x, y)``: ``x (L, N, 2)`` with the values in channel 0 and the markers in channel 1,
        and the targets ``y (N,)``, both of ``dtype``.
    """
    N = _positive_int("batch_size", batch_size)
    T = _positive_int("T", T, minimum=MIN_T)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            "rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")

    L = int(rng.integers(T, T + T // 10, endpoint=True))
    values = rng.uniform(-1.0, 1.0, size=(L, N))  # (L, N)
    first = rng.integers(0, FIRST_MARK_WINDOW, size=N)  # (N,)
    # The k-th still-unmarked pair (counting from 0) is at k, or k + 1 once past the first mark.
    k = rng.integers(0, T // 2 - 1, size=N)  # (N,)
    second = k + (k >= first)

    cols = np.arange(N)
    markers = np.zeros((L, N))
    markers[0] = -1.0
    markers[L - 1] = -1.0
    markers[first, cols] = 1.0
    markers[second, cols] = 1.0
    values[0, (first == 0) | (second == 0)] = 0.0  # a marked first pair counts as 0

    y = 0.5 + (values[first, cols] + values[second, cols]) / 4.0
    x = np.stack([values, markers], axis=-1)  # (L, N, 2)
    return x.astype(dtype, copy=False), y.astype(dtype, copy=False)


def adding_accuracy(pred, y, tol=TOLERANCE):
    """The fraction of sequences whose prediction is within ``tol`` of the target.

    Args:
        pred: predictions, ``(N,)`` or ``(N, 1)`` (a numpy array or anything
            ``np.asarray`` takes, such as a CPU tensor without grad).
        y: targets, ``(N,)`` or ``(N, 1)``.
        tol: a prediction is correct when ``|pred - y| < tol``; the paper's ``0.04`` by
            default.

    Returns:
        A float in ``[0, 1]``.
    """
    pred = np.asarray(pred, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if pred.ndim == 2 and pred.shape[1] == 1:
        pred = pred[:, 0]
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if pred.ndim != 1 or y.ndim != 1 or pred.shape != y.shape or pred.size == 0:
        raise ValueError(
            f"pred and y must both have shape (N,) or (N, 1) with N >= 1, got "
            f"{np.shape(pred)} and {np.shape(y)}"
        )
    if not (isinstance(tol, numbers.Real) and tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    return float(np.mean(np.abs(pred - y) < tol))
