"""What the numpy tests share: tolerances, shapes, tensors from arrays, and the comparison of
gradients with torch autograd's (imported as ``from numpy_helpers import ...``)."""

import numpy as np
import torch

TOL = {np.float64: 1e-12, np.float32: 1e-5}
STEP_SHAPES = [(1, 3, 4), (5, 4, 4), (3, 7, 2)]  # (N, D, H): N=1, D=H, D>H
SEQ_SHAPES = [(1, 1, 2, 3), (1, 4, 3, 5), (6, 1, 4, 3), (5, 3, 7, 4)]  # (T, N, D, H)


def _t(a, grad=False):
    return torch.from_numpy(a.copy()).requires_grad_(grad)


def assert_grads_match(names, grads, refs, dtype):
    """Each of ``grads`` has ``dtype``, the shape of its torch ``ref`` and its values within a
    tolerance scaled by the largest entry of ``ref`` (at least 1)."""
    tol = 1e-10 if dtype == np.float64 else 1e-4
    for name, ours, ref in zip(names, grads, refs):
        assert ours.dtype == dtype, name
        assert ours.shape == tuple(ref.shape), name
        scale = max(1.0, float(np.max(np.abs(ref.numpy()))))
        assert np.max(np.abs(ours - ref.numpy())) <= tol * scale, name
