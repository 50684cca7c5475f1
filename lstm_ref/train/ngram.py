r"""Character n-gram baselines for char-rnn: counts, smoothing, bits per character.

An order-``n`` model predicts a character from the ``n - 1`` characters before it. With
counts :math:`C(\cdot)` taken on the training text, the order-1 (unigram) model is add-one
smoothed and every higher order is interpolated with the order below it by a Dirichlet
prior of strength :math:`\alpha` ("additive smoothing towards the lower order"):

.. math::
    P_1(c) = \frac{C(c) + 1}{C + V}, \qquad
    P_n(c \mid h) = \frac{C(h c) + \alpha\, P_{n-1}(c \mid h')}{C(h) + \alpha},

where :math:`h` is the context of :math:`n - 1` characters and :math:`h'` the same context
without its oldest character. An unseen context (:math:`C(h) = 0`) falls back to
:math:`P_{n-1}` exactly; a context seen often trusts its own counts. Every :math:`P_n` is a
proper distribution over the :math:`V` characters.

The score is the average number of bits per character (BPC) on held-out text,
:math:`-\frac{1}{L}\sum_t \log_2 P(x_t \mid x_{<t})`, the unit char-rnn's cross-entropy is
reported in after dividing by :math:`\ln 2`.
"""

import numbers

import numpy as np

__all__ = ["NGramModel", "bits_per_char", "tune_alpha"]


class NGramModel:
    """Interpolated character n-gram model (see the module docstring for the formula).

    Args:
        order: ``n``, the number of characters in an n-gram (1 = unigram).
        vocab_size: ``V``, the number of distinct characters (indices ``0..V-1``).
        alpha: strength of the interpolation with the lower order, ``> 0``.
    """

    def __init__(self, order, vocab_size, alpha=1.0):
        _check_int("order", order, 1)
        _check_int("vocab_size", vocab_size, 1)
        if not isinstance(alpha, numbers.Real) or not alpha > 0:
            raise ValueError(f"alpha must be a positive number, got {alpha!r}")
        self.order = int(order)
        self.V = int(vocab_size)
        self.alpha = float(alpha)
        self._tables = None

    def fit(self, data):
        """Count the n-grams of every order ``1..n`` in ``data`` (indices, shape ``(L,)``).

        A ``k``-gram is keyed by ``(index of its first k - 1 characters among the training
        (k-1)-grams) * V + its last character``, so keys stay exact for any order (no
        ``V**n`` overflow) and its context's key is ``key // V``.

        Returns:
            ``self``.
        """
        data = self._check_data("data", data)
        tables = []
        ids = None  # ids[s]: index of the (k-1)-gram starting at s among the sorted keys
        for k in range(1, self.order + 1):
            L = len(data) - k + 1
            if L < 1:
                tables.append((np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64), np.empty(0)))
                ids = np.empty(0, np.int64)
                continue
            grams = data[k - 1 :] if k == 1 else ids[:L] * self.V + data[k - 1 :]  # (L,)
            g_keys, inverse, g_counts = np.unique(grams, return_inverse=True, return_counts=True)
            c_keys, c_counts = np.unique(grams // self.V, return_counts=True)
            tables.append((g_keys, g_counts.astype(np.float64), c_keys, c_counts.astype(np.float64)))
            ids = inverse.reshape(-1).astype(np.int64)
        self._tables = tables
        return self

    def log2_probs(self, data, context=None):
        """``log2 P(data[t] | preceding characters)`` for every ``t``.

        Args:
            data: the characters to score, indices of shape ``(L,)``.
            context: characters that precede ``data`` (for example the end of the training
                text), indices of shape ``(M,)``, or ``None``. Early positions with fewer than
                ``n - 1`` preceding characters use the longest context available.

        Returns:
            ``float64`` array of shape ``(L,)``.
        """
        if self._tables is None:
            raise RuntimeError("call fit(train_data) before scoring")
        data = self._check_data("data", data)
        ctx = np.empty(0, np.int64) if context is None else self._check_data("context", context)
        ctx = ctx[len(ctx) - min(len(ctx), self.order - 1) :]
        full = np.concatenate([ctx, data])
        start = len(ctx)
        L = len(data)
        pos = np.arange(start, start + L)  # index in `full` of each scored character
        g_keys, g_counts, _, c_total = self._tables[0]
        total = c_total.sum() if c_total.size else 0.0
        p = (_lookup(g_keys, g_counts, full[pos]) + 1.0) / (total + self.V)
        ids = _index(self._tables[0][0], full)  # (len(full),) unigram index or -1
        for k in range(2, self.order + 1):
            g_keys, g_counts, c_keys, c_counts = self._tables[k - 1]
            ok = pos >= k - 1  # positions with a full context of k-1 characters
            # ids[s]: index of the (k-1)-gram starting at s among the training ones (-1: unseen)
            ctx = ids[: len(full) - k + 1]  # (k-1)-grams starting at s, followed by full[s+k-1]
            seen = ctx >= 0
            gram_ids = _index(g_keys, np.where(seen, ctx * self.V + full[k - 1 :], -1))
            if np.any(ok):
                s = np.maximum(pos - (k - 1), 0)  # start of the k-gram ending at each position
                n_gram = np.where(seen[s], _lookup(g_keys, g_counts, ctx[s] * self.V + full[pos]), 0.0)
                n_ctx = np.where(seen[s], _lookup(c_keys, c_counts, ctx[s]), 0.0)
                p = np.where(ok, (n_gram + self.alpha * p) / (n_ctx + self.alpha), p)
            ids = gram_ids
        return np.log2(p)

    def bits_per_char(self, data, context=None):
        """Average of ``-log2 P`` over ``data`` (see :meth:`log2_probs`)."""
        return float(-np.mean(self.log2_probs(data, context)))

    def _check_data(self, name, data):
        arr = np.asarray(data)
        if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f"{name} must be a 1-D array of character indices, got shape "
                             f"{arr.shape} of {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= self.V):
            raise ValueError(f"{name} has indices outside [0, {self.V}): [{arr.min()}, {arr.max()}]")
        return arr.astype(np.int64)


def bits_per_char(order, train, heldout, vocab_size, alpha=1.0):
    """Bits per character on ``heldout`` of an order-``order`` model fit on ``train``.

    The held-out text is scored as the continuation of the training text (its first
    characters see the end of ``train`` as context).
    """
    model = NGramModel(order, vocab_size, alpha).fit(train)
    return model.bits_per_char(heldout, context=train)


def tune_alpha(order, train, val, vocab_size, grid=(0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)):
    """The ``alpha`` of ``grid`` with the lowest validation BPC, and that BPC.

    Returns:
        ``(alpha, bpc)``.
    """
    if len(grid) == 0:
        raise ValueError("grid must hold at least one alpha")
    model = NGramModel(order, vocab_size, grid[0]).fit(train)
    best = None
    for alpha in grid:
        if not isinstance(alpha, numbers.Real) or not alpha > 0:
            raise ValueError(f"every alpha must be a positive number, got {alpha!r}")
        model.alpha = float(alpha)
        bpc = model.bits_per_char(val, context=train)
        if best is None or bpc < best[1]:
            best = (float(alpha), bpc)
    return best


def _index(keys, query):
    """The position of each ``query`` key in the sorted ``keys``, or -1 where absent."""
    if keys.size == 0:
        return np.full(len(query), -1, np.int64)
    idx = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where((keys[idx] == query) & (query >= 0), idx, -1).astype(np.int64)


def _lookup(keys, counts, query):
    """``counts`` of each ``query`` key in the sorted ``keys`` (0 where absent)."""
    if keys.size == 0:
        return np.zeros(len(query))
    idx = np.searchsorted(keys, query)
    idx_c = np.minimum(idx, len(keys) - 1)
    return np.where(keys[idx_c] == query, counts[idx_c], 0.0)


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
