r"""Data-parallel training computes the single-process gradient: a check.

With ``P`` processes each holding ``N / P`` of the ``N`` streams of the global batch, each
computes the gradient of the mean loss over its own streams; ``DistributedDataParallel``
sums these across processes (all-reduce) and divides by ``P``. With equal shares the
average of the ``P`` means is the mean over the global batch,

.. math::
    \frac{1}{P} \sum_{r=1}^{P} \nabla \frac{1}{T N / P} \sum_{(t, j) \in r} \ell_{t j}
    = \nabla \frac{1}{T N} \sum_{t, j} \ell_{t j},

so in exact arithmetic the averaged gradient *is* the single-process gradient, and in
float64 the two agree to rounding.
"""

import os
import tempfile

import torch
from torch.nn import functional as F

from .model import CharLM
from .train import _free_port, spawn


def _batch(seed, vocab, T, N):
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(vocab, (T + 1, N), generator=gen)
    return ids[:-1], ids[1:]


def _model(seed, vocab, hidden, layers, model):
    torch.manual_seed(seed)
    return CharLM(vocab, hidden, layers, model).double()


def _grads(module):
    return {k: p.grad.detach().clone() for k, p in module.named_parameters()}


def _rank(rank, world, port, path, seed, vocab, hidden, layers, T, N, model):
    import datetime

    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world, timeout=datetime.timedelta(seconds=60))
    try:
        net = DistributedDataParallel(_model(seed, vocab, hidden, layers, model))
        x, y = _batch(seed + 1, vocab, T, N)
        share = N // world
        cols = slice(rank * share, (rank + 1) * share)
        logits, _ = net(x[:, cols])
        F.cross_entropy(logits.reshape(-1, vocab), y[:, cols].reshape(-1)).backward()
        if rank == 0:
            torch.save(_grads(net.module), path)
    finally:
        dist.destroy_process_group()


def ddp_gradient_check(nproc=2, seed=0, vocab=11, hidden=8, layers=2, T=7, N=4,
                       model="cudnn", timeout=120):
    """The largest absolute difference between the gradient ``DistributedDataParallel``
    gives rank 0 (``nproc`` CPU processes, gloo, each ``N / nproc`` streams) and the
    gradient of one process on the whole batch; float64 throughout.

    The processes are given up after ``timeout`` seconds (``TimeoutError``).

    Returns:
        ``(max_abs_diff, max_abs_grad)``: the largest difference over every parameter and
        the largest gradient entry (for scale).
    """
    if N % nproc:
        raise ValueError(f"N={N} must be divisible by nproc={nproc}")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "grads.pt")
        spawn(_rank, (nproc, _free_port(), path, seed, vocab, hidden, layers, T, N, model),
              nproc, timeout)
        got = torch.load(path, weights_only=True)
    single = _model(seed, vocab, hidden, layers, model)
    x, y = _batch(seed + 1, vocab, T, N)
    logits, _ = single(x)
    F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1)).backward()
    expected = _grads(single)
    diff = max(float((got[k] - expected[k]).abs().max()) for k in expected)
    scale = max(float(g.abs().max()) for g in expected.values())
    return diff, scale
