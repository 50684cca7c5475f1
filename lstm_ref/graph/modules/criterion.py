r"""Criteria (losses): Lua's ``nn.Criterion`` contract and ``ClassNLLCriterion``.

A criterion maps a prediction and a target to a number:
``loss = criterion.forward(input, target)``, ``gradInput = criterion.backward(input,
target)``. Calling a criterion on two nodes, ``ClassNLLCriterion()([pred, target])``, makes
a node (nngraph's ``ModuleFromCriterion``) whose output is the loss as an array of shape
``(1,)``, so a loss can sit inside a graph.

Class labels are data: **0-based** (Lua's were 1-based), as numpy and PyTorch index.
"""

import numpy as np

from ..module import Module, check_array, check_table


class Criterion:
    """Base class of the criteria: ``updateOutput(input, target)`` returns the loss,
    ``updateGradInput(input, target)`` its gradient on ``input``."""

    def __init__(self):
        self.output = 0.0
        self.gradInput = None

    def updateOutput(self, input, target):
        raise NotImplementedError(f"{type(self).__name__} does not define updateOutput")

    def updateGradInput(self, input, target):
        raise NotImplementedError(f"{type(self).__name__} does not define updateGradInput")

    def forward(self, input, target):
        """The loss (a Python float)."""
        return self.updateOutput(input, target)

    def backward(self, input, target):
        """The gradient of the loss on ``input``."""
        return self.updateGradInput(input, target)

    def __call__(self, *args):
        """A graph node computing the loss of ``[prediction_node, target_node]``."""
        return ModuleFromCriterion(self)(*args)

    def __repr__(self):
        return f"{type(self).__name__}()"


class ClassNLLCriterion(Criterion):
    r"""The negative log-likelihood of the target classes, given log-probabilities.

    .. math::
        \ell = -\frac{\sum_n w_{t_n}\, x_{n, t_n}}{\sum_n w_{t_n}} \ \text{(sizeAverage)},
        \qquad \ell = -\textstyle\sum_n w_{t_n}\, x_{n, t_n} \ \text{(otherwise)}

    with :math:`w = 1` unless ``weights`` are given; the gradient is
    :math:`-w_{t_n}` (divided by :math:`\sum_n w_{t_n}` when averaging) at :math:`(n, t_n)`
    and zero elsewhere. This is ``torch.nn.functional.nll_loss`` with ``reduction='mean'``
    (``'sum'`` when ``sizeAverage=False``).

    Args:
        weights: optional class weights ``(C,)``.
        sizeAverage: average over the batch (by the summed weights) instead of summing.

    Shapes: input ``(C,)`` with an int target, or ``(N, C)`` with targets ``(N,)``; labels
    0-based in ``[0, C)``.
    """

    def __init__(self, weights=None, sizeAverage=True):
        super().__init__()
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        self.sizeAverage = bool(sizeAverage)

    def _prepare(self, input, target):
        check_array(self, input)
        if input.ndim not in (1, 2):
            raise ValueError(
                f"{self!r} expects log-probabilities (C,) or (N, C), got {input.shape}"
            )
        x2 = input.reshape(-1, input.shape[-1])  # (N, C)
        t = np.asarray(target)
        if t.dtype == bool or not np.issubdtype(t.dtype, np.number):
            raise TypeError(f"{self!r} expects integer class labels, got dtype {t.dtype}")
        t = t.reshape(-1)
        if t.shape[0] != x2.shape[0] or (input.ndim == 1 and np.ndim(target) > 1):
            n = x2.shape[0]
            want = "one label" if input.ndim == 1 else f"{n} labels, shape ({n},)"
            raise ValueError(
                f"{self!r} expects {want} for an input of shape {input.shape}, "
                f"got shape {np.shape(target)}"
            )
        ti = t.astype(np.int64)
        if np.any(ti != t) or ti.min() < 0 or ti.max() >= x2.shape[1]:
            raise ValueError(
                f"{self!r} expects 0-based class labels in [0, {x2.shape[1] - 1}], got {t.tolist()}"
            )
        if self.weights is not None and self.weights.shape != (x2.shape[1],):
            raise ValueError(
                f"{self!r}: weights must have shape ({x2.shape[1]},), got {self.weights.shape}"
            )
        w = np.ones(len(ti)) if self.weights is None else self.weights[ti]
        return x2, ti, w

    def updateOutput(self, input, target):
        x2, t, w = self._prepare(input, target)
        total = -np.sum(w * x2[np.arange(len(t)), t])
        self.output = float(total / w.sum() if self.sizeAverage else total)
        return self.output

    def updateGradInput(self, input, target):
        x2, t, w = self._prepare(input, target)
        grad = np.zeros_like(x2)
        grad[np.arange(len(t)), t] = -w / (w.sum() if self.sizeAverage else 1.0)
        self.gradInput = grad.reshape(input.shape)
        return self.gradInput


class ModuleFromCriterion(Module):
    r"""A criterion as a module on ``[prediction, target]`` (nngraph's
    ``ModuleFromCriterion``): output ``[loss]`` of shape ``(1,)``; gradients ``[g \cdot
    \partial\ell/\partial x, 0]`` (none flows into the target)."""

    def __init__(self, criterion):
        super().__init__()
        if not isinstance(criterion, Criterion):
            raise TypeError(
                f"ModuleFromCriterion needs a Criterion, got {type(criterion).__name__}"
            )
        self.criterion = criterion

    def updateOutput(self, input):
        pred, target = check_table(self, input, n=2)
        loss = self.criterion.updateOutput(pred, target)
        self.output = np.array([loss], dtype=np.asarray(pred).dtype)
        return self.output

    def updateGradInput(self, input, gradOutput):
        pred, target = input
        grad = self.criterion.updateGradInput(pred, target) * np.asarray(gradOutput).reshape(-1)[0]
        self.gradInput = [grad, np.zeros(np.shape(target), dtype=grad.dtype)]
        return self.gradInput

    def __repr__(self):
        return f"ModuleFromCriterion({self.criterion!r})"
