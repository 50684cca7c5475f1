"""The a^n b^n (c^n) generator (Gers & Schmidhuber, 2001)."""

import numpy as np
import pytest

from lstm_ref.data.counting import SYMBOLS, accepted, counting_string, make_counting_batch


def test_strings():
    assert counting_string(1) == "SabcT"
    assert counting_string(3, with_c=False) == "SaaabbbT"


@pytest.mark.parametrize("with_c", [True, False])
def test_batch_targets(with_c):
    ns = [1, 4, 2]
    x, allowed, mask = make_counting_batch(ns, with_c=with_c)
    k = 3 if with_c else 2
    assert x.shape == (k * 4 + 1, 3, 5) and allowed.shape == x.shape and mask.shape == (13 if with_c else 9, 3)
    for j, n in enumerate(ns):
        s = counting_string(n, with_c)
        assert mask[:, j].sum() == len(s) - 1
        assert "".join(SYMBOLS[i] for i in x[mask[:, j], j].argmax(axis=1)) == s[:-1]
        for t in range(len(s) - 1):
            want = {"a", "b"} if s[t] == "a" else {s[t + 1]}
            got = {SYMBOLS[i] for i in np.flatnonzero(allowed[t, j])}
            assert got == want
        assert not x[~mask[:, j], j].any() and not allowed[~mask[:, j], j].any()


def test_accepted():
    x, allowed, mask = make_counting_batch([2, 3])
    assert accepted(allowed * 0.9 + 0.05, allowed, mask).tolist() == [True, True]
    wrong = allowed.copy()
    wrong[5, 1] = 0.0  # one step of the second string predicts nothing
    assert accepted(wrong, allowed, mask).tolist() == [True, False]
    noisy = allowed.copy()
    noisy[~mask] = 1.0  # padding never counts
    assert accepted(noisy, allowed, mask).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="n must be"):
        counting_string(0)
    with pytest.raises(ValueError, match="with_c"):
        counting_string(2, with_c="yes")
    with pytest.raises(ValueError, match="at least one"):
        make_counting_batch([])
    with pytest.raises(ValueError, match="same shape"):
        accepted(np.zeros((3, 2, 5)), np.zeros((3, 2, 4)), np.zeros((3, 2)))
