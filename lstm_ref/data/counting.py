r"""Counting languages: :math:`a^n b^n` and :math:`a^n b^n c^n` as next-symbol prediction
(Gers & Schmidhuber, 2001).

A string is ``S``, ``n`` times ``a``, ``n`` times ``b`` (and, for the context-sensitive
language, ``n`` times ``c``), then ``T``; here ``n >= 1``. At every step the network reads one
symbol (one-hot over :data:`SYMBOLS`) and predicts the set of symbols that may come next:

- after ``S``: ``{a}``; after an ``a``: ``{a, b}`` (the only step whose answer is not
  determined: the string may go on or turn);
- after the ``k``-th ``b``: ``{b}`` while ``k < n``, then ``{c}`` (or ``{T}`` without ``c``);
- after the ``k``-th ``c``: ``{c}`` while ``k < n``, then ``{T}``.

Every prediction after the first ``b`` requires counting the ``a``\ s. A string is accepted
when every one of its predictions, thresholded at 0.5, equals the allowed set. The final
``T`` is never read: a string of ``n`` gives ``2n + 1`` (or ``3n + 1``) steps.
"""

import numbers

import numpy as np

SYMBOLS = "SabcT"
"""The five symbols; a symbol's index in this string is its one-hot position."""

_INDEX = {s: k for k, s in enumerate(SYMBOLS)}


def _check_with_c(with_c):
    if not isinstance(with_c, bool):
        raise ValueError(f"with_c must be True or False, got {with_c!r}")


def counting_string(n, with_c=True):
    """The string ``S a^n b^n (c^n) T``.

    Args:
        n: an int ``>= 1``.
        with_c: ``True`` for :math:`a^n b^n c^n`, ``False`` for :math:`a^n b^n`.

    Returns:
        A ``str``, e.g. ``"SaabbccT"`` for ``n = 2``.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    _check_with_c(with_c)
    return "S" + "a" * n + "b" * n + ("c" * n if with_c else "") + "T"


def _allowed_after(string):
    """For each symbol but the final ``T``, the set of symbols allowed next."""
    out = []
    for k, s in enumerate(string[:-1]):
        nxt = string[k + 1]
        out.append({"a", "b"} if s == "a" else {nxt})
    return out


def make_counting_batch(ns, with_c=True, dtype=np.float32):
    r"""A batch of counting strings, one per ``n`` in ``ns``, padded to the longest;
    time-major.

    Args:
        ns: a sequence of ints ``>= 1`` (``N`` strings).
        with_c: ``True`` for :math:`a^n b^n c^n`, ``False`` for :math:`a^n b^n`.
        dtype: ``np.float32`` (default) or ``np.float64``.

    Returns:
        ``(x, allowed, mask)``: inputs ``x (L, N, 5)``, multi-hot targets
        ``allowed (L, N, 5)`` (columns in the order of :data:`SYMBOLS`), and
        ``mask (L, N)`` (bool), true on the real steps of each string (padding is false and
        all zeros), with ``L = k max(ns) + 1``, ``k = 3`` with ``c`` and 2 without.
    """
    ns = list(ns) if not isinstance(ns, np.ndarray) else ns.tolist()
    if not ns:
        raise ValueError("ns must hold at least one n")
    strings = [counting_string(n, with_c) for n in ns]
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
    L = max(len(s) for s in strings) - 1
    N = len(strings)
    x = np.zeros((L, N, len(SYMBOLS)), dtype=dtype)
    allowed = np.zeros((L, N, len(SYMBOLS)), dtype=dtype)
    mask = np.zeros((L, N), dtype=bool)
    for n, s in enumerate(strings):
        for t, (sym, nxt) in enumerate(zip(s[:-1], _allowed_after(s))):
            x[t, n, _INDEX[sym]] = 1.0
            allowed[t, n, [_INDEX[a] for a in nxt]] = 1.0
            mask[t, n] = True
    return x, allowed, mask


def accepted(prob, allowed, mask, threshold=0.5):
    """Which strings are predicted without a single error.

    Args:
        prob: predicted probabilities ``(L, N, 5)`` (numpy, or a CPU tensor without grad).
        allowed: the targets of :func:`make_counting_batch`, ``(L, N, 5)``.
        mask: its mask, ``(L, N)``.
        threshold: a symbol is predicted when its probability exceeds this.

    Returns:
        A bool array ``(N,)``.
    """
    prob = np.asarray(prob, dtype=np.float64)
    allowed = np.asarray(allowed)
    mask = np.asarray(mask, dtype=bool)
    if prob.shape != allowed.shape or prob.ndim != 3 or mask.shape != prob.shape[:2]:
        raise ValueError(
            "prob and allowed must have the same shape (L, N, 5) and mask (L, N), got "
            f"{prob.shape}, {allowed.shape} and {mask.shape}"
        )
    wrong = ((prob > threshold) != (allowed > 0.5)).any(axis=2) & mask  # (L, N)
    return ~wrong.any(axis=0)
