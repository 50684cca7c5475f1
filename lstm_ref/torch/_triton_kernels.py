r"""The Triton kernels of :mod:`lstm_ref.torch.fused`, and their launch functions.

Two designs of one LSTM step, both in float32 arithmetic whatever the storage dtype:

- **two kernels per step** (``backend="triton"``): the recurrent product runs in cuBLAS
  (``torch.addmm_``), then :func:`lstm_forward_pointwise` reads the pre-activations
  ``a_t (N, 4H)`` and ``c_{t-1}`` and writes ``h_t``, ``c_t`` and the four gates;
  :func:`lstm_backward_pointwise` is its derivative.
- **one kernel per step** (``backend="triton-onestep"``): :func:`lstm_forward_step` is a
  matrix product whose epilogue is the element-wise step. A program computes a tile of
  ``BN`` rows and ``BH`` hidden units; for that it needs the four gate columns of the same
  units, so :func:`interleave_gates` reorders the rows of ``W_hh (4H, H)`` as
  ``i_0, f_0, g_0, o_0, i_1, \dots`` and one ``(BK, 4 BH)`` tile of the product holds the four
  gates of ``BH`` units. :func:`lstm_backward_step` does the same for the backward pass:
  its product ``\bar a_{t+1} W_{hh}`` gives ``\bar h_t`` for a tile of units, and its
  epilogue writes ``\bar a_t`` and ``\bar c_{t-1}`` for them.

Every launch function checks the shapes, dtypes, devices and strides of its arguments and
raises ``ValueError`` naming the argument: the kernels index memory as contiguous row-major
arrays and would read the wrong numbers from a strided view.

On a CPU, the kernels run under Triton's interpreter when ``TRITON_INTERPRET=1`` was set
before Triton was imported (the tests do this in a separate process); the interpreter is
slow and exists to check the kernels without a GPU.
"""

import torch

import triton
import triton.language as tl

# --- element-wise kernels (two kernels per step) ------------------------------------------


@triton.jit
def _sigmoid(x):
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def _tanh(x):  # tanh from exp, stable for large |x|: 2 sigmoid(2x) - 1
    return 2.0 / (1.0 + tl.exp(-2.0 * x)) - 1.0


@triton.jit
def _lstm_fwd_kernel(A, C_prev, H_out, C_out, G_out, n_elements, H, BLOCK: tl.constexpr):
    # one program per BLOCK elements of the (N, H) state; A and G_out are (N, 4H),
    # every tensor contiguous (checked by the launch function)
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


# --- one kernel per step: a product with the element-wise step as its epilogue -------------


@triton.jit
def _lstm_step_fwd_kernel(Hp, W, XW, C_prev, H_out, C_out, G_out, N, H,
                          BN: tl.constexpr, BH: tl.constexpr, BK: tl.constexpr,
                          TF32: tl.constexpr, UPCAST: tl.constexpr):
    # Hp (N, H) = h_{t-1}; W (4H, H) = W_hh with interleaved rows (4u + gate);
    # XW (N, 4H) = x_t W_ih^T + b in the standard layout (gate * H + u), as G_out.
    # Program (pid_n, pid_u): rows pid_n*BN.., units pid_u*BH..; its product tile is
    # (BN, 4 BH): columns 4 u + gate of the interleaved weight.
    pid_n = tl.program_id(0)
    pid_u = tl.program_id(1)
    rows = pid_n * BN + tl.arange(0, BN)
    cols = pid_u * (4 * BH) + tl.arange(0, 4 * BH)  # rows of the interleaved W
    acc = tl.zeros((BN, 4 * BH), dtype=tl.float32)
    for k0 in range(0, H, BK):
        ks = k0 + tl.arange(0, BK)
        hp = tl.load(Hp + rows[:, None] * H + ks[None, :],
                     mask=(rows[:, None] < N) & (ks[None, :] < H), other=0.0)
        w = tl.load(W + cols[None, :] * H + ks[:, None],
                    mask=(cols[None, :] < 4 * H) & (ks[:, None] < H), other=0.0)  # (BK, 4BH)
        if UPCAST:  # see _upcast
            hp = hp.to(tl.float32)
            w = w.to(tl.float32)
        if TF32:
            acc += tl.dot(hp, w, input_precision="tf32")
        else:
            acc += tl.dot(hp, w, input_precision="ieee")
    # (BN, 4 BH) -> (BN, BH, 2, 2): column 4u + 2a + b; split b, then a
    ig, fo = tl.split(tl.reshape(acc, (BN, BH, 2, 2)))
    ai, ag = tl.split(ig)
    af, ao = tl.split(fo)
    units = pid_u * BH + tl.arange(0, BH)
    mask = (rows[:, None] < N) & (units[None, :] < H)
    state = rows[:, None] * H + units[None, :]
    base = rows[:, None] * (4 * H) + units[None, :]
    ai += tl.load(XW + base, mask=mask, other=0.0).to(tl.float32)
    af += tl.load(XW + base + H, mask=mask, other=0.0).to(tl.float32)
    ag += tl.load(XW + base + 2 * H, mask=mask, other=0.0).to(tl.float32)
    ao += tl.load(XW + base + 3 * H, mask=mask, other=0.0).to(tl.float32)
    cp = tl.load(C_prev + state, mask=mask, other=0.0).to(tl.float32)
    i = _sigmoid(ai)
    f = _sigmoid(af)
    g = _tanh(ag)
    o = _sigmoid(ao)
    c = f * cp + i * g
    h = o * _tanh(c)
    tl.store(C_out + state, c.to(C_out.dtype.element_ty), mask=mask)
    tl.store(H_out + state, h.to(H_out.dtype.element_ty), mask=mask)
    ty = G_out.dtype.element_ty
    tl.store(G_out + base, i.to(ty), mask=mask)
    tl.store(G_out + base + H, f.to(ty), mask=mask)
    tl.store(G_out + base + 2 * H, g.to(ty), mask=mask)
    tl.store(G_out + base + 3 * H, o.to(ty), mask=mask)


@triton.jit
def _lstm_step_bwd_kernel(DA_next, W, DH_last, D_out, DC, G, C_prev, C, DA, DC_prev, N, H,
                          FIRST: tl.constexpr, BN: tl.constexpr, BH: tl.constexpr,
                          BK: tl.constexpr, TF32: tl.constexpr, UPCAST: tl.constexpr):
    # dh_t = DA_next (N, 4H) @ W (4H, H) for a tile of units (FIRST: dh_T = DH_last), plus
    # the gradient from the output D_out; then the element-wise backward of step t.
    pid_n = tl.program_id(0)
    pid_u = tl.program_id(1)
    rows = pid_n * BN + tl.arange(0, BN)
    units = pid_u * BH + tl.arange(0, BH)
    mask = (rows[:, None] < N) & (units[None, :] < H)
    state = rows[:, None] * H + units[None, :]
    base = rows[:, None] * (4 * H) + units[None, :]
    if FIRST:
        dh = tl.load(DH_last + state, mask=mask, other=0.0).to(tl.float32)
    else:
        dh = tl.zeros((BN, BH), dtype=tl.float32)
        for k0 in range(0, 4 * H, BK):
            ks = k0 + tl.arange(0, BK)
            da = tl.load(DA_next + rows[:, None] * (4 * H) + ks[None, :],
                         mask=(rows[:, None] < N) & (ks[None, :] < 4 * H), other=0.0)
            w = tl.load(W + ks[:, None] * H + units[None, :],
                        mask=(ks[:, None] < 4 * H) & (units[None, :] < H), other=0.0)
            if UPCAST:
                da = da.to(tl.float32)
                w = w.to(tl.float32)
            if TF32:
                dh += tl.dot(da, w, input_precision="tf32")
            else:
                dh += tl.dot(da, w, input_precision="ieee")
    dh += tl.load(D_out + state, mask=mask, other=0.0).to(tl.float32)
    i = tl.load(G + base, mask=mask, other=0.0).to(tl.float32)
    f = tl.load(G + base + H, mask=mask, other=0.0).to(tl.float32)
    g = tl.load(G + base + 2 * H, mask=mask, other=0.0).to(tl.float32)
    o = tl.load(G + base + 3 * H, mask=mask, other=0.0).to(tl.float32)
    dc = tl.load(DC + state, mask=mask, other=0.0).to(tl.float32)
    cp = tl.load(C_prev + state, mask=mask, other=0.0).to(tl.float32)
    c = tl.load(C + state, mask=mask, other=0.0).to(tl.float32)
    tc = _tanh(c)
    dc = dc + dh * o * (1.0 - tc * tc)
    ty = DA.dtype.element_ty
    tl.store(DA + base, (dc * g * i * (1.0 - i)).to(ty), mask=mask)
    tl.store(DA + base + H, (dc * cp * f * (1.0 - f)).to(ty), mask=mask)
    tl.store(DA + base + 2 * H, (dc * i * (1.0 - g * g)).to(ty), mask=mask)
    tl.store(DA + base + 3 * H, (dh * tc * o * (1.0 - o)).to(ty), mask=mask)
    tl.store(DC_prev + state, (dc * f).to(DC_prev.dtype.element_ty), mask=mask)


# --- launch functions, with their checks --------------------------------------------------

_BLOCK = 512
_STORAGE = (torch.float32, torch.bfloat16, torch.float16)


def _check(fn, args, N, H):
    """``args`` maps a name to ``(tensor, columns, dtypes)``: each must be a contiguous
    ``(N, columns)`` tensor (``columns`` ``"H"`` or ``"4H"``) of one of ``dtypes``, on the
    device of the first."""
    device = None
    for name, (t, cols, dtypes) in args.items():
        width = H if cols == "H" else 4 * H
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{fn}: {name} must be a tensor, got {type(t).__name__}")
        if tuple(t.shape) != (N, width):
            raise ValueError(f"{fn}: {name} must have shape (N, {cols}) = ({N}, {width}), "
                             f"got {tuple(t.shape)}")
        if t.dtype not in dtypes:
            names = ", ".join(str(d).replace("torch.", "") for d in dtypes)
            raise ValueError(f"{fn}: {name} must be {names}, got "
                             f"{str(t.dtype).replace('torch.', '')}")
        if not t.is_contiguous():
            raise ValueError(f"{fn}: {name} must be contiguous (row-major strides "
                             f"({width}, 1)), got strides {t.stride()}")
        device = device or t.device
        if t.device != device:
            raise ValueError(f"{fn}: {name} is on {t.device}, the others on {device}")


def _check_weight(fn, w, H, dtype, device):
    if tuple(w.shape) != (4 * H, H) or not w.is_contiguous():
        raise ValueError(f"{fn}: the recurrent weight must be a contiguous (4H, H) = "
                         f"({4 * H}, {H}) tensor, got shape {tuple(w.shape)} strides "
                         f"{w.stride()}")
    if w.dtype != dtype or w.device != device:
        raise ValueError(f"{fn}: the recurrent weight must be {dtype} on {device} like h, "
                         f"got {w.dtype} on {w.device}")


def lstm_forward_pointwise(a, c_prev, gates_out, h_out, c_out):
    """The element-wise forward of one step (Triton).

    Args:
        a: ``(N, 4H)`` pre-activations, gate blocks i, f, g, o.
        c_prev: ``(N, H)`` float32 cell state ``c_{t-1}``.
        gates_out: ``(N, 4H)`` receives the activated gates (dtype of ``a``).
        h_out: ``(N, H)`` receives ``h_t``; c_out: ``(N, H)`` float32 receives ``c_t``.
    """
    N, H = c_prev.shape
    _check("lstm_forward_pointwise", {
        "a": (a, "4H", _STORAGE), "c_prev": (c_prev, "H", (torch.float32,)),
        "gates_out": (gates_out, "4H", (a.dtype,)), "h_out": (h_out, "H", (a.dtype,)),
        "c_out": (c_out, "H", (torch.float32,))}, N, H)
    n = N * H
    _lstm_fwd_kernel[(triton.cdiv(n, _BLOCK),)](a, c_prev, h_out, c_out, gates_out, n, H,
                                                BLOCK=_BLOCK)


def lstm_backward_pointwise(dh_next, d_out, dc, gates, c_prev, c, da_out, dc_prev_out):
    """The element-wise backward of one step (Triton); see
    :func:`lstm_ref.torch.fused._pointwise_backward_torch` for the arguments (all
    ``(N, H)`` but ``gates`` and ``da_out``, ``(N, 4H)``; cell states float32)."""
    N, H = c.shape
    st = _STORAGE
    _check("lstm_backward_pointwise", {
        "dh_next": (dh_next, "H", st), "d_out": (d_out, "H", st), "dc": (dc, "H", st),
        "gates": (gates, "4H", st), "c_prev": (c_prev, "H", (torch.float32,)),
        "c": (c, "H", (torch.float32,)), "da_out": (da_out, "4H", (gates.dtype,)),
        "dc_prev_out": (dc_prev_out, "H", (torch.float32,))}, N, H)
    n = N * H
    _lstm_bwd_kernel[(triton.cdiv(n, _BLOCK),)](dh_next, d_out, dc, gates, c_prev, c, da_out,
                                                dc_prev_out, n, H, BLOCK=_BLOCK)


def interleave_gates(w_hh):
    """``W_hh (4H, H)`` with its rows reordered as ``4u + gate``
    (``i_0, f_0, g_0, o_0, i_1, ...``), contiguous: the layout
    :func:`lstm_forward_step` reads."""
    H = w_hh.shape[1]
    return w_hh.reshape(4, H, H).transpose(0, 1).reshape(4 * H, H).contiguous()


def _tiles(N, H, interpreting):
    """Block sizes ``(BN, BH, BK)``: small under the interpreter (its cost is per element of
    a tile), larger on a GPU. ``tl.dot`` needs every dimension at least 16."""
    if interpreting:
        return 16, 16, 16
    bn = 16 if N <= 16 else 32 if N <= 32 else 64
    return bn, 32, 32


def _interpreting(t):
    return t.device.type != "cuda"


def _tf32(dtype):
    """The ``TF32`` switch of the one-step kernels: for float32 tiles, TF32 exactly when
    torch's own matmuls use it (``torch.backends.cuda.matmul.allow_tf32``), else full
    float32 ("ieee"); bf16 and fp16 tiles take Triton's default ("tf32", which means
    nothing for them: their products are exact in the float32 accumulator)."""
    return dtype != torch.float32 or torch.backends.cuda.matmul.allow_tf32


def _upcast(t):
    """Under the interpreter, ``tl.dot`` of two bf16 tiles returns garbage (numpy has no
    bf16), so there the operands go to float32 first. That is exact for bf16 and fp16
    operands (a product of two 8- or 11-bit significands fits in float32's 24) and leaves
    only the summation order to differ; on a GPU the tensor cores take them as they are."""
    return _interpreting(t) and t.dtype != torch.float32


def lstm_forward_step(h_prev, w_interleaved, xw, c_prev, gates_out, h_out, c_out):
    """One whole forward step in one kernel: ``a = xw + h_prev W_hh^T`` and the element-wise
    step as the product's epilogue.

    Args:
        h_prev: ``(N, H)``; w_interleaved: ``(4H, H)`` from :func:`interleave_gates`.
        xw: ``(N, 4H)`` ``x_t W_ih^T + b`` (standard gate layout); c_prev: ``(N, H)`` float32.
        gates_out ``(N, 4H)``, h_out ``(N, H)``, c_out ``(N, H)`` float32: written.
    """
    N, H = c_prev.shape
    dt = h_prev.dtype
    _check("lstm_forward_step", {
        "h_prev": (h_prev, "H", _STORAGE), "xw": (xw, "4H", (dt,)),
        "c_prev": (c_prev, "H", (torch.float32,)), "gates_out": (gates_out, "4H", (dt,)),
        "h_out": (h_out, "H", (dt,)), "c_out": (c_out, "H", (torch.float32,))}, N, H)
    _check_weight("lstm_forward_step", w_interleaved, H, dt, h_prev.device)
    bn, bh, bk = _tiles(N, H, _interpreting(h_prev))
    grid = (triton.cdiv(N, bn), triton.cdiv(H, bh))
    _lstm_step_fwd_kernel[grid](h_prev, w_interleaved, xw, c_prev, h_out, c_out, gates_out,
                                N, H, BN=bn, BH=bh, BK=bk, TF32=_tf32(dt),
                                UPCAST=_upcast(h_prev))


def lstm_backward_step(da_next, w_hh, dh_last, d_out, dc, gates, c_prev, c, da_out,
                       dc_prev_out):
    """One whole backward step in one kernel: ``dh_t = da_{t+1} W_hh`` (or ``dh_last`` when
    ``da_next`` is None, at the last step) plus ``d_out``, and the element-wise backward as
    the product's epilogue, writing ``da_out (N, 4H)`` and ``dc_prev_out (N, H)``."""
    N, H = c.shape
    dt = gates.dtype
    first = da_next is None
    args = {"d_out": (d_out, "H", (dt,)), "dc": (dc, "H", (torch.float32,)),
            "gates": (gates, "4H", _STORAGE), "c_prev": (c_prev, "H", (torch.float32,)),
            "c": (c, "H", (torch.float32,)), "da_out": (da_out, "4H", (dt,)),
            "dc_prev_out": (dc_prev_out, "H", (torch.float32,))}
    args["dh_last" if first else "da_next"] = (dh_last, "H", (dt,)) if first else \
        (da_next, "4H", (dt,))
    _check("lstm_backward_step", args, N, H)
    _check_weight("lstm_backward_step", w_hh, H, dt, c.device)
    bn, bh, bk = _tiles(N, H, _interpreting(c))
    grid = (triton.cdiv(N, bn), triton.cdiv(H, bh))
    other = dh_last if first else da_next
    _lstm_step_bwd_kernel[grid](other, w_hh, other, d_out, dc, gates, c_prev, c, da_out,
                                dc_prev_out, N, H, FIRST=first, BN=bn, BH=bh, BK=bk,
                                TF32=_tf32(dt), UPCAST=_upcast(gates))
