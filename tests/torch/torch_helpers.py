"""Helpers shared by the tests of lstm_ref.torch against torch.nn (imported as
``from torch_helpers import ...``): tolerances, a seeded pair of modules with the same
weights, and a closeness assertion that names what differed."""

import torch

TOL = {torch.float64: 1e-12, torch.float32: 1e-5}
# grads in float32 accumulate over steps and layers: a little more room
GRAD_TOL = {torch.float64: 1e-11, torch.float32: 5e-5}


def pair_modules(ref_cls, our_cls, *args, dtype=torch.float64, **kw):
    """``(torch's module, ours)`` built with the same arguments, ours loaded with torch's
    weights."""
    torch.manual_seed(0)
    ref = ref_cls(*args, **kw).to(dtype)
    mine = our_cls(*args, **kw).to(dtype)
    mine.load_state_dict(ref.state_dict())
    return ref, mine


def assert_close(a, b, tol, what):
    """Same shape, same dtype, and max absolute difference at most ``tol``."""
    assert a.shape == b.shape, f"{what}: shape {tuple(a.shape)} != {tuple(b.shape)}"
    assert a.dtype == b.dtype, what
    err = (a - b).abs().max().item() if a.numel() else 0.0
    assert err <= tol, f"{what}: max abs difference {err:.3g} > {tol}"
