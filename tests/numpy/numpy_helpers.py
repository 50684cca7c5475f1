"""What the numpy tests share: tolerances, shapes, tensors from arrays, and the comparison of
gradients with torch autograd's (imported as ``from numpy_helpers import ...``).

The reference is always torch in float64: a float32 result of ours is compared with the
float64 result on the same (float32) numbers, at a tolerance relative to the reference's
largest entry. Comparing two float32 computations, or at an absolute tolerance, would test
the rounding of one CPU's kernels instead of our code.
"""

import os

import numpy as np
import torch

REL_TOL = {np.float64: 1e-12, np.float32: 5e-6}
"""Forward values: largest difference / max(1, largest |reference|). Measured over these
tests (1 and 2 threads): at most 3e-7 in float32 (unit roundoff 6e-8) and 9e-16 in float64,
so the tolerances leave a margin of more than ten; a wrong gate or sign gives 1e-2 and
more."""
GRAD_REL_TOL = {np.float64: 1e-12, np.float32: 1e-5}
"""Gradients sum over steps and examples. Measured: at most 4e-7 in float32 and 9e-16 in
float64."""
STEP_SHAPES = [(1, 3, 4), (5, 4, 4), (3, 7, 2)]  # (N, D, H): N=1, D=H, D>H
SEQ_SHAPES = [(1, 1, 2, 3), (1, 4, 3, 5), (6, 1, 4, 3), (5, 3, 7, 4)]  # (T, N, D, H)


def _t(a, grad=False):
    """A float64 tensor of ``a`` (float32 values are exact in float64): the reference's input."""
    return torch.from_numpy(np.asarray(a, dtype=np.float64).copy()).requires_grad_(grad)


def relative_difference(ours, ref):
    """Largest ``|ours - ref|`` over ``max(1, largest |ref|)``, computed in float64."""
    ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
    ref = ref.astype(np.float64)
    kind = np.asarray(ours).dtype
    ours = np.asarray(ours, dtype=np.float64)
    if ours.size == 0:
        return 0.0
    err = float(np.max(np.abs(ours - ref))) / max(1.0, float(np.max(np.abs(ref))))
    if os.environ.get("LSTM_REF_TOL_LOG"):  # the tolerance audit: log every comparison
        with open(os.environ["LSTM_REF_TOL_LOG"], "a") as log:
            log.write(f"{os.environ.get('PYTEST_CURRENT_TEST', '?').split(' ')[0]} "
                      f"{kind} {err:.3g}\n")
    return err


def assert_matches_reference(ours, ref, dtype, what, tol=None):
    """``ours`` has ``dtype`` and the shape of the float64 reference ``ref``, and their
    :func:`relative_difference` is at most ``tol`` (default :data:`REL_TOL`)."""
    tol = REL_TOL[dtype] if tol is None else tol
    assert ours.dtype == dtype, f"{what}: dtype {ours.dtype}, expected {np.dtype(dtype)}"
    assert ours.shape == tuple(ref.shape), f"{what}: shape {ours.shape} != {tuple(ref.shape)}"
    err = relative_difference(ours, ref)
    assert err <= tol, f"{what}: relative difference {err:.3g} > {tol}"


def assert_grads_match(names, grads, refs, dtype):
    """Each of ``grads`` has ``dtype``, the shape of its float64 torch ``ref`` and values
    within :data:`GRAD_REL_TOL` relative to the largest entry of ``ref`` (at least 1)."""
    for name, ours, ref in zip(names, grads, refs):
        assert_matches_reference(ours, ref, dtype, name, GRAD_REL_TOL[dtype])
