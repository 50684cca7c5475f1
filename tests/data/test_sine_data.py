"""lstm_ref.data.sine: chapter 1's sine sequences."""

import numpy as np
import pytest

from lstm_ref.data.sine import make_sine_batch


def test_shapes_targets_and_seed():
    x, y = make_sine_batch(5, 12, np.random.default_rng(0))
    assert x.shape == y.shape == (12, 5, 1) and x.dtype == np.float64
    np.testing.assert_array_equal(x[1:], y[:-1])  # the target is the next input
    x2, _ = make_sine_batch(5, 12, np.random.default_rng(0))
    np.testing.assert_array_equal(x, x2)
    assert np.all(np.abs(x) <= 1)


def test_each_sequence_is_a_sine():
    x, _ = make_sine_batch(3, 30, np.random.default_rng(1))
    s = x[:, :, 0]
    # sin(w(t+1)+p) + sin(w(t-1)+p) = 2 cos(w) sin(wt+p): a fixed ratio per sequence
    ratio = (s[2:] + s[:-2]) / (2 * s[1:-1])
    mask = np.abs(s[1:-1]) > 0.2
    for n in range(3):
        r = ratio[mask[:, n], n]
        assert np.ptp(r) < 1e-9 and np.cos(0.45) - 1e-9 <= r[0] <= np.cos(0.15) + 1e-9


@pytest.mark.parametrize("kwargs", [dict(batch_size=0, T=3), dict(batch_size=2, T=1.5),
                                    dict(batch_size=2, T=3, omega_range=(0, 1))])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        make_sine_batch(rng=np.random.default_rng(0), **kwargs)
