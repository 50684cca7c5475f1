r"""The embedded Reber grammar, and its continual version (Gers, Schmidhuber & Cummins, 2000).

The Reber grammar is a small finite automaton over the seven symbols ``B T S X P V E``. From
its start state each state emits one of two symbols with probability 1/2 and moves on::

    after B   T -> s1    P -> s2
    s1        S -> s1    X -> s3
    s2        T -> s2    V -> s4
    s3        X -> s2    S -> end
    s4        P -> s3    V -> end
    end       E

A Reber string is ``B``, the symbols of a walk from the start state to ``end``, and ``E``
(for example ``BTXSE`` or ``BPVVE``). An *embedded* Reber string wraps one in a choice that
must be remembered:

.. math::
    \texttt{B}\; a\; (\text{Reber string})\; a\; \texttt{E}, \qquad a \in \{\texttt{T},
    \texttt{P}\}.

Predicting the next symbol is easy except at one step: after the inner string's ``E`` the
next symbol is the ``a`` chosen at the start of the string, many steps earlier. In the
*continual* version the strings follow each other in one stream, without any marker or reset
between them: a network must keep its state useful over an unbounded stream, which the 1997
LSTM (no forget gate) cannot, as its cell states only accumulate.

The task, as in Gers et al. (2000): at every step the network reads the current symbol
(one-hot) and predicts the *set* of symbols the grammar allows next (a multi-hot target of
seven bits). The *critical* steps are the ones whose next symbol is the remembered ``a``.
"""

import numbers

import numpy as np

SYMBOLS = "BTSXPVE"
"""The seven symbols; a symbol's index in this string is its one-hot position."""

_INDEX = {s: k for k, s in enumerate(SYMBOLS)}

# state -> ((symbol, next state), (symbol, next state)); "end" emits E.
_GRAPH = {
    "start": (("T", "s1"), ("P", "s2")),
    "s1": (("S", "s1"), ("X", "s3")),
    "s2": (("T", "s2"), ("V", "s4")),
    "s3": (("X", "s2"), ("S", "end")),
    "s4": (("P", "s3"), ("V", "end")),
}


def _check_rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            "rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


def _reber_walk(rng):
    """A Reber string and, for each of its symbols, the set of symbols allowed next (the
    last one, after ``E``, is left to the caller)."""
    symbols, allowed = ["B"], [{"T", "P"}]
    state = "start"
    while state != "end":
        symbol, state = _GRAPH[state][int(rng.integers(2))]
        symbols.append(symbol)
        allowed.append({"E"} if state == "end" else {s for s, _ in _GRAPH[state]})
    symbols.append("E")
    allowed.append(None)
    return symbols, allowed


def reber_string(rng):
    """One string of the Reber grammar, such as ``"BTXSE"``.

    Args:
        rng: a ``numpy.random.Generator``.

    Returns:
        A ``str`` that starts with ``B`` and ends with ``E``.
    """
    _check_rng(rng)
    return "".join(_reber_walk(rng)[0])


def _embedded(rng):
    """An embedded Reber string, the allowed-next sets of its symbols (``None`` after the
    final ``E``), and the index of its critical symbol (the inner string's ``E``)."""
    a = "T" if rng.integers(2) == 0 else "P"
    inner, inner_allowed = _reber_walk(rng)
    inner_allowed[-1] = {a}  # after the inner E comes the remembered choice
    symbols = ["B", a, *inner, a, "E"]
    allowed = [{"T", "P"}, {"B"}, *inner_allowed, {"E"}, None]
    return symbols, allowed, 2 + len(inner) - 1


def embedded_reber_string(rng):
    """One embedded Reber string, such as ``"BTBPVVETE"``: its second and second-to-last
    symbols are equal.

    Args:
        rng: a ``numpy.random.Generator``.

    Returns:
        A ``str``.
    """
    _check_rng(rng)
    return "".join(_embedded(rng)[0])


def is_embedded_reber(string):
    """Whether ``string`` belongs to the embedded Reber grammar.

    Args:
        string: a ``str`` over :data:`SYMBOLS`.

    Returns:
        ``bool``.
    """
    if not isinstance(string, str) or len(string) < 9:
        return False
    if string[0] != "B" or string[-1] != "E" or string[1] not in "TP" or string[-2] != string[1]:
        return False
    inner = string[2:-2]
    if inner[0] != "B" or inner[-1] != "E":
        return False
    state = "start"
    for symbol in inner[1:-1]:
        if state == "end":
            return False
        moves = dict(_GRAPH[state])
        if symbol not in moves:
            return False
        state = moves[symbol]
    return state == "end"


def continual_embedded_reber(n_steps, batch_size, rng, dtype=np.float32):
    r"""``batch_size`` independent streams of embedded Reber strings, one after another with
    no reset and no separator, cut to ``n_steps`` symbols; time-major.

    At step ``t`` the input is the one-hot symbol ``s_t`` and the target is the multi-hot
    set of symbols the grammar allows at ``t + 1`` (after a string's final ``E`` it is
    ``{B}``, the next string's start). A stream starts at the beginning of a string.

    Args:
        n_steps: the length ``L`` of each stream.
        batch_size: the number of streams ``N``.
        rng: a ``numpy.random.Generator``; the same seed gives the same streams.
        dtype: ``np.float32`` (default) or ``np.float64``.

    Returns:
        ``(x, allowed, critical)``: the inputs ``x (L, N, 7)`` and targets
        ``allowed (L, N, 7)`` of ``dtype`` (columns in the order of :data:`SYMBOLS`), and
        ``critical (L, N)`` (bool), true at the steps whose next symbol is the remembered
        ``T`` or ``P`` of the current string.
    """
    L = _positive_int("n_steps", n_steps)
    N = _positive_int("batch_size", batch_size)
    _check_rng(rng)
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
    x = np.zeros((L, N, len(SYMBOLS)), dtype=dtype)
    allowed = np.zeros((L, N, len(SYMBOLS)), dtype=dtype)
    critical = np.zeros((L, N), dtype=bool)
    for n in range(N):
        t = 0
        while t < L:
            symbols, nexts, crit = _embedded(rng)
            nexts[-1] = {"B"}
            for k, (s, nxt) in enumerate(zip(symbols, nexts)):
                if t + k >= L:
                    break
                x[t + k, n, _INDEX[s]] = 1.0
                allowed[t + k, n, [_INDEX[a] for a in nxt]] = 1.0
                critical[t + k, n] = k == crit
            t += len(symbols)
    return x, allowed, critical


def decode(onehot):
    """The symbols of one-hot rows ``(..., 7)`` as a string (of the last axis' argmax),
    for one stream ``(L, 7)``.

    Args:
        onehot: an array ``(L, 7)``.

    Returns:
        A ``str`` of length ``L``.
    """
    onehot = np.asarray(onehot)
    if onehot.ndim != 2 or onehot.shape[1] != len(SYMBOLS):
        raise ValueError(f"onehot must have shape (L, {len(SYMBOLS)}), got {onehot.shape}")
    return "".join(SYMBOLS[k] for k in onehot.argmax(axis=1))
