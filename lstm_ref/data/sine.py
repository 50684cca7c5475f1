r"""Sine waves to predict one step ahead: chapter 1's experiment.

Each sequence is a sine of random phase and random frequency, sampled at unit steps:

.. math::
    s_t = \sin(\omega t + \varphi), \qquad x_t = s_t, \qquad y_t = s_{t+1}

The network reads one value per step and predicts the next one. One value alone does not
say whether the wave is rising or falling, nor how fast it moves: a model has to remember
earlier values, which a feed-forward network (no hidden state carried between steps)
cannot.
"""

import numbers

import numpy as np

OMEGA_RANGE = (0.15, 0.45)
"""Angular frequencies (radians per step) are drawn uniformly from this range."""


def make_sine_batch(batch_size, T, rng, dtype=np.float64, omega_range=OMEGA_RANGE):
    r"""A batch of sine sequences and their next values, time-major.

    .. math::
        x_t = \sin(\omega t + \varphi), \qquad y_t = \sin(\omega (t + 1) + \varphi)

    with one ``\omega`` (uniform in ``omega_range``) and one ``\varphi`` (uniform in
    ``[0, 2\pi)``) per sequence.

    Args:
        batch_size: number of sequences ``N``.
        T: number of steps.
        rng: a ``numpy.random.Generator``.
        dtype: dtype of the arrays.
        omega_range: ``(low, high)`` angular frequencies.

    Returns:
        ``(x, y)``: inputs ``(T, N, 1)`` and targets ``(T, N, 1)``.
    """
    for name, value in (("batch_size", batch_size), ("T", T)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    low, high = omega_range
    if not 0 < low <= high:
        raise ValueError(f"omega_range must satisfy 0 < low <= high, got {omega_range}")
    omega = rng.uniform(low, high, size=batch_size)  # (N,)
    phase = rng.uniform(0.0, 2 * np.pi, size=batch_size)  # (N,)
    t = np.arange(T + 1)[:, None]  # (T+1, 1)
    s = np.sin(omega[None, :] * t + phase[None, :])  # (T+1, N)
    x = s[:-1, :, None].astype(dtype)
    y = s[1:, :, None].astype(dtype)
    return x, y
