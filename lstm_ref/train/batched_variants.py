r"""Many small LSTM variants trained at once: ``M`` independent models in one set of tensor ops.

The book's replications train hundreds of tiny networks (``H`` of 8 to 32). One such network
is a few dozen microsecond-sized operations per step, so a loop over models is dominated by
Python and dispatch. Here model ``m`` of a batch has its own parameters (a leading axis
``M`` on every tensor), its own switches (which variant of Greff et al., 2017, it is) and its
own learning rate; every step runs all models with batched matrix products (``torch.bmm``).
The models never interact: each one's loss, gradient, clipping and Adam update are its own,
so a model trains exactly as it would alone (up to float rounding; a test compares one with
:class:`lstm_ref.torch.VariantLSTM`).

The cell of model ``m`` is the vanilla LSTM with peepholes (see
:mod:`lstm_ref.numpy.variants`), with switches:

.. math::
    \begin{array}{ll}
    i_t = \sigma(x_t W_{xi} + h_{t-1} W_{hi} + p_i \odot c_{t-1} + r_i + b_i)
        & \text{or } 1 \text{ (NIG)} \\
    f_t = \sigma(x_t W_{xf} + h_{t-1} W_{hf} + p_f \odot c_{t-1} + r_f + b_f)
        & \text{or } 1 \text{ (NFG), or } 1 - i_t \text{ (CIFG)} \\
    g_t = \tanh(x_t W_{xg} + h_{t-1} W_{hg} + b_g) & \text{or linear (NIAF)} \\
    c_t = f_t \odot c_{t-1} + i_t \odot g_t \\
    o_t = \sigma(x_t W_{xo} + h_{t-1} W_{ho} + p_o \odot c_t + r_o + b_o)
        & \text{or } 1 \text{ (NOG)} \\
    h_t = o_t \odot \tanh(c_t) & \text{or } o_t \odot c_t \text{ (NOAF)}
    \end{array}

with the peepholes ``p`` multiplied by 0 when the model has none (NP) and the gate
recurrence :math:`[r_i, r_f, r_o] = [i_{t-1}, f_{t-1}, o_{t-1}] W_g` only for FGR. Switched-off
parts keep their (unused) parameters; their gradient is exactly zero, so Adam never moves
them. A readout ``y_t = h_t W_y + b_y`` gives one logit per symbol.

Switches are a :class:`Cell`, so combinations that are not one of Greff's variants are
possible too (Gers et al., 2000, used cells *without* peepholes, with and without a forget
gate).
"""

import dataclasses
import math

import numpy as np
import torch

from ..numpy.variants import VARIANTS


@dataclasses.dataclass(frozen=True)
class Cell:
    """The switches of one cell (all True/default: the vanilla LSTM with peepholes).

    Attributes:
        input_gate, output_gate, peepholes, input_tanh, output_tanh, gate_recurrence:
            whether the part is present.
        forget: ``"gate"``, ``"none"`` (:math:`f_t = 1`) or ``"coupled"`` (:math:`1 - i_t`).
    """

    input_gate: bool = True
    forget: str = "gate"
    output_gate: bool = True
    peepholes: bool = True
    input_tanh: bool = True
    output_tanh: bool = True
    gate_recurrence: bool = False

    def __post_init__(self):
        if self.forget not in ("gate", "none", "coupled"):
            raise ValueError(f"forget must be 'gate', 'none' or 'coupled', got {self.forget!r}")
        if self.forget == "coupled" and not self.input_gate:
            raise ValueError("a coupled forget gate (f = 1 - i) needs the input gate")


def variant_cell(variant):
    """The :class:`Cell` of one of Greff et al.'s variants (:data:`VARIANTS`)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    return {
        "vanilla": Cell(),
        "NIG": Cell(input_gate=False),
        "NFG": Cell(forget="none"),
        "NOG": Cell(output_gate=False),
        "NIAF": Cell(input_tanh=False),
        "NOAF": Cell(output_tanh=False),
        "NP": Cell(peepholes=False),
        "CIFG": Cell(forget="coupled"),
        "FGR": Cell(gate_recurrence=True),
    }[variant]


class BatchedCells:
    r"""``M`` independent LSTM cells with readouts, each with its own switches.

    Args:
        cells: a sequence of ``M`` :class:`Cell`.
        input_size: ``D``; hidden_size: ``H``; output_size: ``O``.
        generator: a ``torch.Generator`` for the initialisation.
        forget_bias: the forget gate's initial bias (CIFG: the input gate's is minus it).
        dtype: torch dtype of every tensor.
        resets: ``M`` bools: which models :meth:`forward` resets where its ``reset`` says
            (default none).

    Parameters (leading axis ``M``): ``Wx (M, D, 4H)``, ``Wh (M, H, 4H)``, ``b (M, 1, 4H)``
    in blocks i, f, g, o; ``p (M, 3, H)`` (rows i, f, o); ``Wg (M, 3H, 3H)``;
    ``Wy (M, H, O)``, ``by (M, 1, O)``. All start from :math:`\mathcal U(-1/\sqrt H,
    1/\sqrt H)` (torch's rule for recurrent layers and ``nn.Linear(H, O)``), then the
    forget bias is set.
    """

    NAMES = ("Wx", "Wh", "b", "p", "Wg", "Wy", "by")

    def __init__(self, cells, input_size, hidden_size, output_size, generator,
                 forget_bias=1.0, dtype=torch.float64, resets=None):
        cells = list(cells)
        resets = [False] * len(cells) if resets is None else [bool(r) for r in resets]
        if len(resets) != len(cells):
            raise ValueError(f"resets must have one value per cell ({len(cells)}), got {len(resets)}")
        self.resets = torch.tensor(resets, dtype=dtype).view(-1, 1, 1)
        self.any_reset = any(resets)
        if not cells or not all(isinstance(c, Cell) for c in cells):
            raise ValueError("cells must be a non-empty sequence of Cell")
        M, D, H, O = len(cells), input_size, hidden_size, output_size
        self.cells, self.H = cells, H
        k = 1.0 / math.sqrt(H)
        shapes = {"Wx": (M, D, 4 * H), "Wh": (M, H, 4 * H), "b": (M, 1, 4 * H),
                  "p": (M, 3, H), "Wg": (M, 3 * H, 3 * H), "Wy": (M, H, O), "by": (M, 1, O)}
        self.params = {}
        for name in self.NAMES:
            u = torch.rand(shapes[name], generator=generator, dtype=dtype)
            self.params[name] = (u * 2 * k - k).requires_grad_()
        with torch.no_grad():
            for m, c in enumerate(cells):
                if c.forget == "gate":
                    self.params["b"][m, 0, H:2 * H] = forget_bias
                elif c.forget == "coupled":
                    self.params["b"][m, 0, :H] = -forget_bias

        def flag(fn):
            return torch.tensor([bool(fn(c)) for c in cells]).view(M, 1, 1)

        self.no_i = flag(lambda c: not c.input_gate)
        self.no_f = flag(lambda c: c.forget == "none")
        self.coupled = flag(lambda c: c.forget == "coupled")
        self.no_o = flag(lambda c: not c.output_gate)
        self.lin_g = flag(lambda c: not c.input_tanh)
        self.lin_h = flag(lambda c: not c.output_tanh)
        self.peep = flag(lambda c: c.peepholes).to(dtype)
        self.fgr = flag(lambda c: c.gate_recurrence).to(dtype)
        self.any_fgr = any(c.gate_recurrence for c in cells)
        self.any_switch = {name: bool(getattr(self, name).any())
                           for name in ("no_i", "no_f", "coupled", "no_o", "lin_g", "lin_h")}

    @property
    def M(self):
        return len(self.cells)

    def zero_state(self, N):
        z = self.params["Wh"].new_zeros(self.M, N, self.H)
        return z, z

    def forward(self, x, state=None, reset=None):
        """Run every model over ``x``.

        Args:
            x: ``(T, N, D)`` (the same input for every model) or ``(M, T, N, D)``.
            state: ``(h, c)``, each ``(M, N, H)``; zeros if None.
            reset: optional ``(T, N)`` bool: where true, the state of the models built with
                ``resets`` True is set to zero *before* step ``t`` reads its input (an
                external reset at a string's start).

        Returns:
            ``(logits (M, T, N, O), (h, c), cells)`` with ``cells`` the mean ``|c_t|`` of
            each model at each step, ``(M, T)``, detached.
        """
        P, H, M = self.params, self.H, self.M
        if x.dim() == 3:
            x = x.unsqueeze(0).expand(M, *x.shape)
        _, T, N, D = x.shape
        h, c = self.zero_state(N) if state is None else state
        xw = torch.baddbmm(P["b"], x.reshape(M, T * N, D), P["Wx"]).view(M, T, N, 4 * H)
        steps = xw.unbind(1)  # one backward for all steps (indexing xw[:, t] costs T^2)
        peep = P["p"] * self.peep  # (M, 3, H)
        p_i, p_f, p_o = peep[:, 0:1], peep[:, 1:2], peep[:, 2:3]  # (M, 1, H)
        if self.any_fgr:
            Wg = P["Wg"] * self.fgr
            zero = Wg.new_zeros(M, 3 * H, H)
            Wg_full = torch.cat([Wg[:, :, :2 * H], zero, Wg[:, :, 2 * H:]], dim=2)  # (M,3H,4H)
            prev = xw.new_zeros(M, N, 3 * H)
        one = xw.new_ones(())
        keep = None
        if reset is not None and self.any_reset:  # (T, M, N, 1): 0 where a model resets
            keep = 1.0 - self.resets.unsqueeze(0) * reset.to(xw.dtype).view(T, 1, N, 1)
        hs, cabs = [], []
        for t in range(T):
            if keep is not None:
                h, c = h * keep[t], c * keep[t]
            a = torch.baddbmm(steps[t], h, P["Wh"])  # (M, N, 4H)
            if self.any_fgr:
                a = torch.baddbmm(a, prev, Wg_full)
            ai, af, ag, ao = a.split(H, dim=2)
            i = torch.sigmoid(ai + p_i * c)
            if self.any_switch["no_i"]:
                i = torch.where(self.no_i, one, i)
            f = torch.sigmoid(af + p_f * c)
            if self.any_switch["no_f"]:
                f = torch.where(self.no_f, one, f)
            if self.any_switch["coupled"]:
                f = torch.where(self.coupled, 1.0 - i, f)
            g = torch.tanh(ag)
            if self.any_switch["lin_g"]:
                g = torch.where(self.lin_g, ag, g)
            c = f * c + i * g
            o = torch.sigmoid(ao + p_o * c)
            if self.any_switch["no_o"]:
                o = torch.where(self.no_o, one, o)
            act = torch.tanh(c)
            if self.any_switch["lin_h"]:
                act = torch.where(self.lin_h, c, act)
            h = o * act
            if self.any_fgr:
                prev = torch.cat([i, f, o], dim=2)
            hs.append(h)
            cabs.append(c.detach().abs().mean(dim=(1, 2)))
        out = torch.stack(hs, dim=1)  # (M, T, N, H)
        logits = torch.baddbmm(P["by"], out.reshape(M, T * N, H), P["Wy"])
        return logits.view(M, T, N, -1), (h, c), torch.stack(cabs, dim=1)


class BatchedAdam:
    """Adam (Kingma & Ba, 2015) with a learning rate per model, after clipping each model's
    gradient to global norm ``clip`` (as ``torch.nn.utils.clip_grad_norm_`` does for one
    model: scale by ``clip / (norm + 1e-6)`` when that is below 1).

    Args:
        params: dict of tensors with leading axis ``M``.
        lr: ``(M,)`` learning rates.
        clip: the norm, or None for no clipping.
    """

    def __init__(self, params, lr, clip=1.0, betas=(0.9, 0.999), eps=1e-8):
        self.params = params
        first = next(iter(params.values()))
        self.lr = torch.as_tensor(lr, dtype=first.dtype).view(-1)
        if self.lr.numel() != first.shape[0]:
            raise ValueError(f"lr must have one value per model ({first.shape[0]}), "
                             f"got {self.lr.numel()}")
        self.clip, self.betas, self.eps, self.t = clip, betas, eps, 0
        self.m = {k: torch.zeros_like(p) for k, p in params.items()}
        self.v = {k: torch.zeros_like(p) for k, p in params.items()}

    @torch.no_grad()
    def step(self):
        self.t += 1
        b1, b2 = self.betas
        grads = {k: torch.zeros_like(p) if p.grad is None else p.grad
                 for k, p in self.params.items()}
        M = self.lr.numel()
        if self.clip is not None:
            sq = sum(g.reshape(M, -1).pow(2).sum(dim=1) for g in grads.values())
            scale = (self.clip / (sq.sqrt() + 1e-6)).clamp(max=1.0)
        for k, p in self.params.items():
            g = grads[k]
            shape = (M,) + (1,) * (g.dim() - 1)
            if self.clip is not None:
                g = g * scale.view(shape)
            self.m[k].mul_(b1).add_(g, alpha=1 - b1)
            self.v[k].mul_(b2).addcmul_(g, g, value=1 - b2)
            mhat = self.m[k] / (1 - b1 ** self.t)
            vhat = self.v[k] / (1 - b2 ** self.t)
            p.sub_(self.lr.view(shape) * mhat / (vhat.sqrt() + self.eps))
            p.grad = None


def per_model_bce(logits, target):
    """Binary cross-entropy with logits, averaged over everything but the model axis:
    ``logits (M, T, N, O)``, ``target (T, N, O)`` -> ``(M,)``."""
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, target.expand_as(logits), reduction="none")
    return loss.mean(dim=(1, 2, 3))


__all__ = ["Cell", "variant_cell", "BatchedCells", "BatchedAdam", "per_model_bce"]
