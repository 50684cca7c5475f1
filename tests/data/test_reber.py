"""The embedded Reber generators follow the grammar (Gers, Schmidhuber & Cummins, 2000)."""

import re

import numpy as np
import pytest

from lstm_ref.data.reber import (
    SYMBOLS,
    continual_embedded_reber,
    decode,
    embedded_reber_string,
    is_embedded_reber,
    reber_string,
)

# The grammar written once more, independently, as a regular expression: s3 -X-> s2 -T*V->
# s4 -P-> s3 is the loop (XT*VP)*.
_LOOP = "(XT*VP)*(S|XT*VV)"
REBER = re.compile(f"^B(TS*X{_LOOP}|PT*V(V|P{_LOOP}))E$")


def test_reber_strings_are_walks_of_the_grammar():
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(500):
        s = reber_string(rng)
        seen.add(s)
        assert REBER.match(s), s
    assert {"BTXSE", "BPVVE"} <= seen  # the two shortest strings both occur


def test_embedded_strings_repeat_their_choice():
    rng = np.random.default_rng(1)
    firsts = []
    for _ in range(400):
        s = embedded_reber_string(rng)
        assert is_embedded_reber(s)
        assert REBER.match(s[2:-2]), s
        assert s[1] == s[-2] and s[1] in "TP"
        firsts.append(s[1])
    assert 0.4 < firsts.count("T") / len(firsts) < 0.6


@pytest.mark.parametrize("bad", ["BTBTXSETE", "BTBTXSEPE", "BTBTSE TE", "BTBPVVEPEX", "BTXSE"])
def test_is_embedded_reber_rejects(bad):
    assert bad == "BTBTXSETE" or not is_embedded_reber(bad)
    if bad == "BTBTXSETE":
        assert is_embedded_reber(bad)


def test_continual_stream_is_strings_without_resets():
    rng = np.random.default_rng(2)
    x, allowed, critical = continual_embedded_reber(400, 3, rng)
    assert x.shape == (400, 3, 7) and allowed.shape == (400, 3, 7) and critical.shape == (400, 3)
    assert x.dtype == np.float32 and critical.dtype == bool
    assert np.all(x.sum(axis=2) == 1)
    for n in range(3):
        stream = decode(x[:, n])
        # every complete string in the stream is an embedded Reber string, back to back
        pieces = stream.split("EB")
        strings = [("B" if k else "") + p + "E" for k, p in enumerate(pieces)]
        # re-split on the outer strings: an outer string ends with (T|P)E
        outer, buf = [], ""
        for ch_idx, ch in enumerate(stream):
            buf += ch
            if ch == "E" and len(buf) >= 2 and buf[-2] in "TP" and buf.count("E") == 2:
                outer.append(buf)
                buf = ""
        assert len(outer) >= 10 and all(is_embedded_reber(s) for s in outer)
        assert strings  # the stream did split
        # the target at t is the set containing the symbol that actually comes at t + 1
        nxt = x[1:, n]
        assert np.all((allowed[:-1, n] * nxt).sum(axis=1) == 1)
        # critical steps: the input is E and the next symbol is the remembered T or P
        for t in np.flatnonzero(critical[:, n]):
            assert stream[t] == "E"
            if t + 1 < len(stream):
                assert stream[t + 1] in "TP"
            assert allowed[t, n].sum() == 1
        # an outer E is followed by B
        for t in range(len(stream) - 1):
            if stream[t] == "E" and not critical[t, n]:
                assert stream[t + 1] in "BTP"
        assert critical[:, n].sum() == len(outer) + (buf.count("E") >= 1)


def test_continual_stream_is_seeded():
    a = continual_embedded_reber(50, 2, np.random.default_rng(5))
    b = continual_embedded_reber(50, 2, np.random.default_rng(5))
    c = continual_embedded_reber(50, 2, np.random.default_rng(6))
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="n_steps"):
        continual_embedded_reber(0, 2, rng)
    with pytest.raises(ValueError, match="batch_size"):
        continual_embedded_reber(5, 2.0, rng)
    with pytest.raises(ValueError, match="Generator"):
        continual_embedded_reber(5, 2, 3)
    with pytest.raises(ValueError, match="dtype"):
        continual_embedded_reber(5, 2, rng, dtype=np.int64)
    with pytest.raises(ValueError, match="shape"):
        decode(np.zeros((3, 5)))
