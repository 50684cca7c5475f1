"""One helper for the torch experiments: run a block on a given number of torch threads."""

import contextlib


@contextlib.contextmanager
def torch_threads(num_threads):
    """Run the block with ``torch.set_num_threads(num_threads)``, then restore the count.

    The book's experiments train small models; on a 2-core machine shared with other work,
    one thread is both faster and steadier than torch's default pool. ``num_threads`` None
    or 0 leaves the count as it is.
    """
    import torch

    before = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
