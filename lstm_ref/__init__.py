"""lstm_ref: the reference implementation of the course *Long Short-Term Memory, from
formulas to GPUs*.

The book imports it to compute its figures, the exercise notebooks import its helpers, and
the hidden tests compare a learner's functions with it.

Subpackages (each imported on demand, so ``import lstm_ref`` stays cheap):

- ``lstm_ref.numpy``: functional forward and backward passes (no torch).
- ``lstm_ref.torch``: ``torch.nn.Module`` versions built from the same equations.
- ``lstm_ref.convert``: weights between the numpy layout and torch's, and gate orders.
- ``lstm_ref.gradcheck``: centred finite differences and ``rel_error``.
- ``lstm_ref.checks``: the small check functions the notebooks' test cells call.
- ``lstm_ref.grading``: the instructor's grading pipeline around nbgrader.

Importing ``lstm_ref`` never imports torch or matplotlib, trains, downloads or prints.
"""

__version__ = "0.1.0"

GATE_ORDER = "ifgo"
"""The order of the four gate blocks in every fused ``4H`` weight of this package
(PyTorch's): input, forget, candidate ("g", the cell input), output."""
