"""The adding-problem generator follows the rules of Hochreiter & Schmidhuber (1997), exp. 4."""

import numpy as np
import pytest

from lstm_ref.data.adding import TOLERANCE, adding_accuracy, make_adding_batch


def _marks(x):
    """Positions of the two marked pairs of every sequence, ``(N, 2)``."""
    markers = x[:, :, 1]  # (L, N)
    pos = [np.flatnonzero(markers[:, n] == 1.0) for n in range(markers.shape[1])]
    assert all(len(p) == 2 for p in pos), "every sequence has exactly two marked pairs"
    return np.array(pos)


@pytest.mark.parametrize("T", [11, 20, 100, 101])
def test_shapes_lengths_and_marks(T):
    rng = np.random.default_rng(T)
    lengths = set()
    for _ in range(60):
        x, y = make_adding_batch(64, T, rng)
        L = x.shape[0]
        lengths.add(L)
        assert T <= L <= T + T // 10
        assert x.shape == (L, 64, 2) and y.shape == (64,)
        assert x.dtype == np.float32 and y.dtype == np.float32
        assert np.all(np.abs(x[:, :, 0]) <= 1.0)
        marks = _marks(x)
        first, second = marks.min(axis=1), marks.max(axis=1)
        assert np.all(first < 10)
        # one mark among the first 10 pairs, the other among the first T/2
        assert np.all(second <= max(9, T // 2 - 1))
        if T >= 20:
            assert np.all((L - 1) - second >= T // 2)  # the minimal time lag T/2
        # first and last pairs carry the marker -1 unless the first one is marked
        assert np.all(x[L - 1, :, 1] == -1.0)
        assert np.all(np.isin(x[0, :, 1], (-1.0, 1.0)))
        others = np.ones(x.shape[:2], dtype=bool)
        others[[0, L - 1]] = False
        others[marks[:, 0], np.arange(64)] = False
        others[marks[:, 1], np.arange(64)] = False
        assert np.all(x[:, :, 1][others] == 0.0)
        cols = np.arange(64)
        expected = 0.5 + (x[first, cols, 0] + x[second, cols, 0]) / 4
        np.testing.assert_allclose(y, expected, atol=1e-6)
    if T >= 20:
        assert len(lengths) > 1, "the length varies between batches"


def test_second_mark_window_and_first_pair_rule():
    rng = np.random.default_rng(0)
    T = 40
    seconds, firsts = [], []
    for _ in range(200):
        x, y = make_adding_batch(50, T, rng, dtype=np.float64)
        marks = _marks(x)
        firsts.append(marks.min(axis=1))
        seconds.append(marks.max(axis=1))
        hit = marks.min(axis=1) == 0
        assert np.all(x[0, hit, 0] == 0.0), "X1 is zero when the first pair is marked"
    firsts, seconds = np.concatenate(firsts), np.concatenate(seconds)
    assert set(firsts) == set(range(10))
    assert seconds.max() == T // 2 - 1 and seconds.min() == 1
    assert y.dtype == np.float64


def test_same_seed_same_batches():
    a = make_adding_batch(8, 30, np.random.default_rng(5))
    b = make_adding_batch(8, 30, np.random.default_rng(5))
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def test_targets_in_range():
    _, y = make_adding_batch(2000, 50, np.random.default_rng(1), dtype=np.float64)
    assert np.all((y >= 0.0) & (y <= 1.0))


@pytest.mark.parametrize(
    "kwargs",
    [dict(batch_size=0, T=20), dict(batch_size=4, T=10), dict(batch_size=2.0, T=20),
     dict(batch_size=4, T=20, rng=0), dict(batch_size=4, T=20, dtype=np.int64)],
)
def test_rejects_bad_arguments(kwargs):
    kwargs.setdefault("rng", np.random.default_rng(0))
    with pytest.raises(ValueError):
        make_adding_batch(**kwargs)


def test_accuracy():
    y = np.array([0.5, 0.2, 0.9, 0.0])
    pred = y + np.array([0.0, TOLERANCE * 0.99, -TOLERANCE * 1.01, 0.5])
    assert adding_accuracy(pred, y) == 0.5
    assert adding_accuracy(pred[:, None], y) == 0.5
    assert adding_accuracy(pred, y, tol=1.0) == 1.0
    with pytest.raises(ValueError):
        adding_accuracy(pred[:3], y)
    with pytest.raises(ValueError):
        adding_accuracy(pred, y, tol=0)
