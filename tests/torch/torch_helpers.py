"""Helpers shared by the tests of lstm_ref.torch against torch.nn (imported as
``from torch_helpers import ...``): tolerances, a seeded pair of modules with the same
weights, and a closeness assertion that names what differed."""

import os

import torch

REL_TOL = {torch.float64: 1e-12, torch.float32: 1e-5}
"""Outputs and states of ours in ``dtype`` against torch's module in float64 on the same
numbers: largest difference / max(1, largest |reference|). Measured over these tests (1 and
2 threads): at most 5e-7 in float32 (unit roundoff 6e-8) and 1e-15 in float64."""
GRAD_REL_TOL = {torch.float64: 1e-12, torch.float32: 1e-5}
"""The same for gradients, which sum over steps, examples and layers. Measured: at most
1e-6 in float32."""


def pair_modules(ref_cls, our_cls, *args, dtype=torch.float64, **kw):
    """``(torch's module, ours)`` built with the same arguments, ours loaded with torch's
    weights."""
    torch.manual_seed(0)
    ref = ref_cls(*args, **kw).to(dtype)
    mine = our_cls(*args, **kw).to(dtype)
    mine.load_state_dict(ref.state_dict())
    return ref, mine


def assert_matches_reference(ours, ref, dtype, tol, what):
    """``ours`` has ``dtype`` and the shape of the float64 reference ``ref``; the largest
    difference over max(1, largest |ref|) is at most ``tol``. A float32 result is compared
    with float64, never with another float32 computation: two float32 kernels may round
    differently on another CPU, and the reference must not."""
    assert ref.dtype == torch.float64, f"{what}: the reference must be float64, not {ref.dtype}"
    assert ours.dtype == dtype, f"{what}: dtype {ours.dtype}, expected {dtype}"
    assert ours.shape == ref.shape, f"{what}: shape {tuple(ours.shape)} != {tuple(ref.shape)}"
    if not ours.numel():
        return
    ref = ref.detach()
    err = (ours.detach().double() - ref).abs().max().item() / max(1.0, ref.abs().max().item())
    if os.environ.get("LSTM_REF_TOL_LOG"):  # the tolerance audit: log every comparison
        with open(os.environ["LSTM_REF_TOL_LOG"], "a") as log:
            log.write(f"{os.environ.get('PYTEST_CURRENT_TEST', '?').split(' ')[0]} "
                      f"{dtype} {err:.3g}\n")
    assert err <= tol, f"{what}: relative difference {err:.3g} > {tol}"


def assert_close(a, b, tol, what):
    """Same shape, same dtype, and max absolute difference at most ``tol``."""
    assert a.shape == b.shape, f"{what}: shape {tuple(a.shape)} != {tuple(b.shape)}"
    assert a.dtype == b.dtype, what
    err = (a - b).abs().max().item() if a.numel() else 0.0
    assert err <= tol, f"{what}: max abs difference {err:.3g} > {tol}"
