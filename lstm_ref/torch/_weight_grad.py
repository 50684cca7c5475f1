r"""The gradient of a recurrent weight in one matrix product instead of one per step.

A layer computes :math:`a_t = (x_t W_{ih}^\top + b) + h_{t-1} W_{hh}^\top` at every step.
Left to autograd, :math:`W_{hh}` receives ``L`` small products
:math:`\bar a_t^\top h_{t-1}` (inner size ``N``), each added into its gradient: most of
the backward's time at ``H = 512``. Their sum is one product over all steps,

.. math::
    \frac{\partial \mathcal L}{\partial W_{hh}} = \sum_t \bar a_t^\top h_{t-1}
    = \bar A^\top H_{prev}, \qquad \bar A\ (L N, G),\ H_{prev}\ (L N, H),

and :math:`\bar a_t` is exactly the gradient that reaches the input projection of step
``t``. So the layer multiplies by a detached :math:`W_{hh}` inside the loop, and passes the
input projections through :class:`RecurrentWeightGrad`, an identity whose backward also
returns that one product. Everything else is still differentiated by autograd.
"""

import torch
from torch.autograd.function import once_differentiable


class RecurrentWeightGrad(torch.autograd.Function):
    """Identity on ``xw (L, N, G)`` whose backward also gives ``w_hh (G, H)`` its gradient.

    ``h_prev`` is a list that the layer fills, after its loop, with the detached
    ``(L, N, H)`` tensor of the states each step multiplied by ``w_hh``. Differentiable
    once (a second-order gradient raises an error rather than being silently wrong).
    """

    @staticmethod
    def forward(ctx, xw, w_hh, h_prev):
        ctx.h_prev = h_prev
        ctx.w_dtype = w_hh.dtype
        return xw.view_as(xw)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (h_prev,) = ctx.h_prev
        G, H = grad.shape[-1], h_prev.shape[-1]
        grad_w = grad.reshape(-1, G).t() @ h_prev.reshape(-1, H).to(grad.dtype)  # (G, H)
        return grad, grad_w.to(ctx.w_dtype), None


def track_recurrent_weight(xw, w_hh):
    """Return ``(xw, w_hh_t, finish)`` for a layer's loop.

    The loop computes ``a_t = xw[t] + h_{t-1} @ w_hh_t`` and then calls
    ``finish(h_prev)`` with the ``(L, N, H)`` states it multiplied. When no gradient is
    needed for ``w_hh``, this is the plain computation and ``finish`` does nothing.
    """
    if not (torch.is_grad_enabled() and w_hh.requires_grad):
        return xw, w_hh.t(), lambda h_prev: None
    holder = []
    xw = RecurrentWeightGrad.apply(xw, w_hh, holder)
    return xw, w_hh.detach().t(), lambda h_prev: holder.append(h_prev.detach())
