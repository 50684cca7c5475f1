r"""A fused LSTM layer: the work of a step in two kernels, forward and backward.

What a layer over ``T`` steps can batch, and what it cannot:

1. the input projections of **all** steps do not depend on the recurrence: one matrix
   product ``X W_{ih}^\top + b`` of shape ``(T N, 4H)``;
2. per step, one product ``h_{t-1} W_{hh}^\top`` ``(N, 4H)`` (it needs the previous step),
   then **one** element-wise kernel that reads the four pre-activation blocks and
   ``c_{t-1}`` and writes ``h_t``, ``c_t`` and the four activated gates:

.. math::
    \begin{array}{ll}
    a_t = (x_t W_{ih}^\top + b) + h_{t-1} W_{hh}^\top & (N, 4H) \\
    i, f, o = \sigma(a^i_t), \sigma(a^f_t), \sigma(a^o_t), \quad g = \tanh(a^g_t) \\
    c_t = f \odot c_{t-1} + i \odot g, \quad h_t = o \odot \tanh(c_t)
    \end{array}

The backward pass (:class:`FusedLSTMFunction`, written by hand, not by autograd) runs the
steps in reverse with one product ``\bar a_t W_{hh}`` and one element-wise kernel per step,

.. math::
    \begin{array}{ll}
    \bar c = \bar c_t + \bar h_t \odot o \odot (1 - \tanh^2 c_t), & \bar c_{t-1} = \bar c \odot f \\
    \bar a^i = \bar c \odot g \odot i (1 - i), & \bar a^f = \bar c \odot c_{t-1} \odot f (1 - f) \\
    \bar a^g = \bar c \odot i \odot (1 - g^2), & \bar a^o = \bar h_t \odot \tanh c_t \odot o (1 - o) \\
    \bar h_{t-1} = \bar a_t W_{hh} \text{ (+ the gradient from the output at } t-1)
    \end{array}

and then every weight gradient as **one** product over all steps:
``dW_ih = \bar A^\top X``, ``dW_hh = \bar A^\top H_{prev}``, ``db = \sum \bar A``,
``dX = \bar A W_{ih}`` with ``\bar A`` of shape ``(T N, 4H)``.

The element-wise kernels are Triton kernels on a CUDA device when Triton imports, and
plain PyTorch operations otherwise (CPU, or a GPU without Triton). The cell state and the
element-wise arithmetic are float32 even when the products run in bf16/fp16.
"""

import torch

from ._base import _Recurrent

try:  # Triton ships with CUDA builds of torch; never required
    import triton
    import triton.language as tl
except Exception:  # ImportError, or a Triton that cannot find a driver
    triton = None


def triton_available():
    """True when the Triton kernels can run (Triton imports and a CUDA device is visible)."""
    return triton is not None and torch.cuda.is_available()


# --- the element-wise step, in PyTorch ops ------------------------------------------------
#
# Both backends have the same signatures and write into buffers the layer allocated once
# for the whole sequence, so a step is two kernels on a GPU: the product and this one.


def _pointwise_forward_torch(a, c_prev, gates_out, h_out, c_out):
    """From ``a (N, 4H)`` pre-activations (i, f, g, o) and ``c_prev (N, H)``: write the
    activated gates into ``gates_out (N, 4H)``, ``h`` into ``h_out`` and ``c`` into
    ``c_out`` (``c`` and the arithmetic in ``c_prev``'s dtype, float32 or float64)."""
    a = a.to(c_prev.dtype)
    H = c_prev.shape[1]
    i, f, g, o = a.chunk(4, dim=1)
    i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
    torch.addcmul(f * c_prev, i, g, out=c_out)
    h_out.copy_(o * c_out.tanh())
    for k, gate in enumerate((i, f, g, o)):
        gates_out[:, k * H:(k + 1) * H] = gate


def _pointwise_backward_torch(dh_next, d_out, dc, gates, c_prev, c, da_out, dc_prev_out):
    """The gradient of one step. ``dh_next`` (from step ``t+1``) plus ``d_out`` (from the
    output at ``t``) is the gradient on ``h_t``, ``dc`` the one on ``c_t``; write the
    gradient on the pre-activations into ``da_out (N, 4H)`` and the one on ``c_{t-1}`` into
    ``dc_prev_out (N, H)``."""
    H = c.shape[1]
    i, f, g, o = gates.to(c.dtype).chunk(4, dim=1)
    dh = (dh_next + d_out).to(c.dtype)
    tc = c.tanh()
    dc = dc.to(c.dtype) + dh * o * (1 - tc * tc)
    for k, grad in enumerate((dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                              dc * i * (1 - g * g), dh * tc * o * (1 - o))):
        da_out[:, k * H:(k + 1) * H] = grad
    torch.mul(dc, f, out=dc_prev_out)


# --- the element-wise step, in Triton -----------------------------------------------------

if triton is not None:

    @triton.jit
    def _sigmoid(x):
        return 1.0 / (1.0 + tl.exp(-x))

    @triton.jit
    def _tanh(x):  # tanh from exp, stable for large |x|: 2 sigmoid(2x) - 1
        return 2.0 / (1.0 + tl.exp(-2.0 * x)) - 1.0

    @triton.jit
    def _lstm_fwd_kernel(A, C_prev, H_out, C_out, G_out, n_elements, H, BLOCK: tl.constexpr):
        # one program per BLOCK elements of the (N, H) state; A and G_out are (N, 4H),
        # every tensor contiguous
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n_elements
        row = offs // H
        col = offs - row * H
        base = row * (4 * H) + col
        ai = tl.load(A + base, mask=mask, other=0.0).to(tl.float32)
        af = tl.load(A + base + H, mask=mask, other=0.0).to(tl.float32)
        ag = tl.load(A + base + 2 * H, mask=mask, other=0.0).to(tl.float32)
        ao = tl.load(A + base + 3 * H, mask=mask, other=0.0).to(tl.float32)
        cp = tl.load(C_prev + offs, mask=mask, other=0.0).to(tl.float32)
        i = _sigmoid(ai)
        f = _sigmoid(af)
        g = _tanh(ag)
        o = _sigmoid(ao)
        c = f * cp + i * g
        h = o * _tanh(c)
        tl.store(C_out + offs, c.to(C_out.dtype.element_ty), mask=mask)
        tl.store(H_out + offs, h.to(H_out.dtype.element_ty), mask=mask)
        ty = G_out.dtype.element_ty
        tl.store(G_out + base, i.to(ty), mask=mask)
        tl.store(G_out + base + H, f.to(ty), mask=mask)
        tl.store(G_out + base + 2 * H, g.to(ty), mask=mask)
        tl.store(G_out + base + 3 * H, o.to(ty), mask=mask)

    @triton.jit
    def _lstm_bwd_kernel(DH_next, D_out, DC, G, C_prev, C, DA, DC_prev, n_elements, H,
                         BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n_elements
        row = offs // H
        col = offs - row * H
        base = row * (4 * H) + col
        i = tl.load(G + base, mask=mask, other=0.0).to(tl.float32)
        f = tl.load(G + base + H, mask=mask, other=0.0).to(tl.float32)
        g = tl.load(G + base + 2 * H, mask=mask, other=0.0).to(tl.float32)
        o = tl.load(G + base + 3 * H, mask=mask, other=0.0).to(tl.float32)
        dh = tl.load(DH_next + offs, mask=mask, other=0.0).to(tl.float32)
        dh += tl.load(D_out + offs, mask=mask, other=0.0).to(tl.float32)
        dc = tl.load(DC + offs, mask=mask, other=0.0).to(tl.float32)
        cp = tl.load(C_prev + offs, mask=mask, other=0.0).to(tl.float32)
        c = tl.load(C + offs, mask=mask, other=0.0).to(tl.float32)
        tc = _tanh(c)
        dc = dc + dh * o * (1.0 - tc * tc)
        ty = DA.dtype.element_ty
        tl.store(DA + base, (dc * g * i * (1.0 - i)).to(ty), mask=mask)
        tl.store(DA + base + H, (dc * cp * f * (1.0 - f)).to(ty), mask=mask)
        tl.store(DA + base + 2 * H, (dc * i * (1.0 - g * g)).to(ty), mask=mask)
        tl.store(DA + base + 3 * H, (dh * tc * o * (1.0 - o)).to(ty), mask=mask)
        tl.store(DC_prev + offs, (dc * f).to(DC_prev.dtype.element_ty), mask=mask)

_BLOCK = 512


def _grid(n):
    return ((n + _BLOCK - 1) // _BLOCK,)


def _pointwise_forward_triton(a, c_prev, gates_out, h_out, c_out):
    n = c_prev.numel()
    _lstm_fwd_kernel[_grid(n)](a, c_prev, h_out, c_out, gates_out, n, c_prev.shape[1],
                               BLOCK=_BLOCK)


def _pointwise_backward_triton(dh_next, d_out, dc, gates, c_prev, c, da_out, dc_prev_out):
    n = c.numel()
    _lstm_bwd_kernel[_grid(n)](dh_next, d_out, dc, gates, c_prev, c, da_out, dc_prev_out, n,
                               c.shape[1], BLOCK=_BLOCK)


def _kernels(device, backend):
    """The element-wise pair for ``backend`` ``"auto"`` (Triton on CUDA when available),
    ``"triton"`` or ``"torch"``."""
    if backend not in ("auto", "triton", "torch"):
        raise ValueError(f"backend must be 'auto', 'triton' or 'torch', got {backend!r}")
    use_triton = backend == "triton" or (
        backend == "auto" and device.type == "cuda" and triton is not None
    )
    if use_triton:
        if triton is None or device.type != "cuda":
            raise RuntimeError("the Triton kernels need Triton and a CUDA tensor")
        return _pointwise_forward_triton, _pointwise_backward_triton
    return _pointwise_forward_torch, _pointwise_backward_torch


class FusedLSTMFunction(torch.autograd.Function):
    """One LSTM layer, forward and hand-written backward (see the module docstring).

    ``forward(x (T, N, D), h0 (N, H), c0 (N, H), w_ih (4H, D), w_hh (4H, H), bias (4H,),
    backend)`` returns ``(output (T, N, H), h_n (N, H), c_n (N, H))``. Products run in
    ``x``'s dtype; ``c`` and the element-wise arithmetic in float32 (or float64 for float64
    inputs). Differentiable once.
    """

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, bias, backend="auto"):
        T, N, D = x.shape
        H = w_hh.shape[1]
        fwd, _ = _kernels(x.device, backend)
        cdt = torch.float64 if x.dtype == torch.float64 else torch.float32
        xw = torch.addmm(bias, x.reshape(T * N, D), w_ih.t()).view(T, N, 4 * H)  # (T, N, 4H)
        w_hh_t = w_hh.t()
        hs = x.new_empty(T + 1, N, H)  # h_0 .. h_T
        cs = torch.empty(T + 1, N, H, device=x.device, dtype=cdt)
        gates = x.new_empty(T, N, 4 * H)
        hs[0] = h0
        cs[0] = c0
        a = x.new_empty(N, 4 * H)
        for t in range(T):  # two kernels per step: the product, the element-wise update
            torch.addmm(xw[t], hs[t], w_hh_t, out=a)  # (N, 4H)
            fwd(a, cs[t], gates[t], hs[t + 1], cs[t + 1])
        ctx.backend = backend
        ctx.save_for_backward(x, w_ih, w_hh, hs, cs, gates)
        return hs[1:], hs[T].clone(), cs[T].to(x.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_out, d_hn, d_cn):
        x, w_ih, w_hh, hs, cs, gates = ctx.saved_tensors
        T, N, D = x.shape
        H = w_hh.shape[1]
        _, bwd = _kernels(x.device, ctx.backend)
        cdt = cs.dtype
        dA = x.new_empty(T, N, 4 * H)
        dh = (d_hn if d_hn is not None else x.new_zeros(N, H)).contiguous()
        dc = (d_cn if d_cn is not None else x.new_zeros(N, H)).to(cdt, copy=True)
        d_out = x.new_zeros(T, N, H) if d_out is None else d_out.contiguous()
        dc_prev = torch.empty_like(dc)
        for t in range(T - 1, -1, -1):  # two kernels per step, as forward
            bwd(dh, d_out[t], dc, gates[t], cs[t], cs[t + 1], dA[t], dc_prev)
            dc, dc_prev = dc_prev, dc
            dh = torch.mm(dA[t], w_hh)  # (N, H): the gradient reaching h_{t-1}
        dA2 = dA.view(T * N, 4 * H)
        d_w_ih = dA2.t() @ x.reshape(T * N, D)  # (4H, D): one product over all steps
        d_w_hh = dA2.t() @ hs[:-1].reshape(T * N, H)  # (4H, H)
        d_bias = dA2.sum(0)
        dx = (dA2 @ w_ih).view(T, N, D)
        return dx, dh, dc.to(x.dtype), d_w_ih, d_w_hh, d_bias, None


def fused_lstm_layer(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False,
                     backend="auto"):
    """One LSTM layer through :class:`FusedLSTMFunction`; the arguments and result of
    :func:`lstm_ref.torch.lstm_layer`. Under ``torch.autocast`` it runs in the autocast
    dtype (bf16/fp16 products, float32 cell state)."""
    if torch.is_autocast_enabled(x.device.type):
        dtype = torch.get_autocast_dtype(x.device.type)
        x, h, w_ih, w_hh = (v.to(dtype) for v in (x, h, w_ih, w_hh))
        b_ih = None if b_ih is None else b_ih.to(dtype)
        b_hh = None if b_hh is None else b_hh.to(dtype)
    bias = x.new_zeros(w_ih.shape[0]) if b_ih is None else b_ih + b_hh
    if reverse:
        x = x.flip(0)
    with torch.autocast(x.device.type, enabled=False):
        out, h_n, c_n = FusedLSTMFunction.apply(x, h, c, w_ih, w_hh, bias, backend)
    if reverse:
        out = out.flip(0)
    return out, (h_n, c_n)


class FusedLSTM(_Recurrent):
    r"""``torch.nn.LSTM`` computed by :class:`FusedLSTMFunction`, layer by layer.

    The same parameters (names, shapes, initialisation), inputs and outputs as
    :class:`lstm_ref.torch.LSTM` and ``torch.nn.LSTM`` (state dicts move between the
    three), the same equations (see :class:`lstm_ref.torch.LSTM`); only the computation
    differs: per step one recurrent product and one element-wise kernel, in both passes.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional:
            as ``torch.nn.LSTM``.
        backend: the element-wise kernels, ``"auto"`` (Triton on a CUDA device when
            Triton is installed, else PyTorch operations), ``"triton"`` or ``"torch"``.

    Shapes: those of ``torch.nn.LSTM`` (``(L, N, D)`` in, ``(L, N, Dir*H)`` out).
    """

    _gates = 4
    _states = ("h", "c")
    mode = "LSTM"

    def __init__(self, *args, backend="auto", **kwargs):
        _kernels(torch.device("cpu"), "torch" if backend == "triton" else backend)
        super().__init__(*args, **kwargs)
        self.backend = backend

    def _layer(self, x, states, weights, reverse):
        return fused_lstm_layer(x, *states, *weights, reverse=reverse, backend=self.backend)

    def forward(self, input, hx=None):
        """Returns ``(output, (h_n, c_n))``; see ``torch.nn.LSTM`` for the shapes."""
        return self._run(input, hx)
