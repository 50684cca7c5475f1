"""Finite-difference gradient checks.

``numeric_gradient`` estimates ``sum(df * d f(x) / dx)`` with centred differences, i.e. the
gradient of the scalar ``sum(f(x) * df)`` with respect to ``x``; comparing it with an analytic
backward pass is the check every gradient in this course passes.
"""

import numpy as np


def numeric_gradient(f, x, df, h=1e-5):
    r"""Centred-difference estimate of the gradient of ``sum(f(x) * df)`` w.r.t. ``x``.

    .. math::
        \frac{\partial}{\partial x_j} \sum_k f_k(x)\, df_k
        \approx \sum_k \frac{f_k(x + h e_j) - f_k(x - h e_j)}{2h}\, df_k

    Args:
        f: a function called as ``f(x)``; ``x`` is perturbed in place (and restored), so
            ``f`` may also ignore its argument and read the same array through a closure.
            It returns an array of the shape of ``df``.
        x: the array to differentiate with respect to (modified temporarily, restored).
        df: the upstream gradient, same shape as ``f()``'s output.
        h: the step; ``1e-5`` suits float64.

    Returns:
        An array of the shape of ``x``.
    """
    x = np.asarray(x)
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        pos = np.array(f(x), dtype=np.float64, copy=True)
        x[ix] = old - h
        neg = np.array(f(x), dtype=np.float64, copy=True)
        x[ix] = old
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad.astype(x.dtype, copy=False)


def rel_error(a, b):
    """The largest element-wise relative error ``|a-b| / max(1e-8, |a|+|b|)``."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error needs arrays of one shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))
