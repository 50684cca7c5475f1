r"""A fused LSTM layer: the work of a step in two kernels (or one), forward and backward.

What a layer over ``T`` steps can batch, and what it cannot:

1. the input projections of **all** steps do not depend on the recurrence: one matrix
   product ``X W_{ih}^\top + b`` of shape ``(T N, 4H)``;
2. per step, one product ``h_{t-1} W_{hh}^\top`` ``(N, 4H)`` (it needs the previous step),
   accumulated in place into that step's slice of the projections, then **one**
   element-wise kernel that reads the four pre-activation blocks and ``c_{t-1}`` and writes
   ``h_t``, ``c_t`` and the four activated gates:

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

Backends (the ``backend`` argument):

- ``"torch"``: the element-wise step as PyTorch operations (any device, any float dtype);
- ``"triton"``: the element-wise steps as Triton kernels, the products in cuBLAS: two
  kernels per step;
- ``"triton-onestep"``: one Triton kernel per step, a matrix product whose epilogue is the
  element-wise step (see :mod:`lstm_ref.torch._triton_kernels`);
- ``"auto"``: ``"triton"`` for float32/bf16/fp16 CUDA tensors when Triton imports,
  ``"torch"`` otherwise (always for float64: the Triton kernels compute in float32).

The Triton kernels run on CUDA tensors, or on CPU tensors under Triton's interpreter
(``TRITON_INTERPRET=1`` set before Triton is imported), which is how the tests check them
without a GPU. The element-wise arithmetic and the cell state *inside the layer* are
float32 (float64 for float64 inputs) even when the products run in bf16/fp16; the returned
``c_n``, like ``h_n`` and the output, is in the input's dtype.

On CUDA, :class:`FusedLSTM` ``(cuda_graphs=True)`` records the step loop of the forward and
of the backward pass as CUDA graphs (one per shape, :class:`StepGraphs`) and replays them:
one launch per loop instead of two or three per step.
"""

import os
import weakref

import torch

from ._base import _Recurrent

try:  # Triton ships with CUDA builds of torch; never required
    import triton

    from . import _triton_kernels as _tk
except Exception:  # ImportError, or a Triton that cannot find a driver
    triton = None
    _tk = None

BACKENDS = ("auto", "torch", "triton", "triton-onestep")


def triton_available():
    """True when the Triton kernels can run on a GPU (Triton imports, a CUDA device is
    visible)."""
    return triton is not None and torch.cuda.is_available()


def triton_interpreting():
    """True when Triton's interpreter is on (``TRITON_INTERPRET=1`` when Triton was
    imported): the Triton kernels then run on CPU tensors."""
    if triton is None:
        return False
    knobs = getattr(triton, "knobs", None)
    if knobs is not None:
        return bool(knobs.runtime.interpret)
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


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


def resolve_backend(device_type, dtype, backend):
    """The backend that runs for a tensor of ``dtype`` on ``device_type`` (``"cpu"``,
    ``"cuda"``): ``"auto"`` resolved, the others checked (``RuntimeError`` if they cannot
    run, ``ValueError`` for an unknown name)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, "
                         f"got {backend!r}")
    if backend == "auto":
        ok = device_type == "cuda" and triton is not None and dtype in (
            torch.float32, torch.bfloat16, torch.float16)
        return "triton" if ok else "torch"
    if backend == "torch":
        return backend
    if triton is None:
        raise RuntimeError(f"backend={backend!r} needs Triton, which does not import here")
    if device_type != "cuda" and not triton_interpreting():
        raise RuntimeError(f"backend={backend!r}: the Triton kernels need a CUDA tensor (or "
                           "TRITON_INTERPRET=1, set before Triton is imported, to run them "
                           f"on CPU tensors), got a {device_type} tensor")
    if dtype not in (torch.float32, torch.bfloat16, torch.float16):
        raise RuntimeError(f"backend={backend!r}: the Triton kernels compute in float32 and "
                           f"store float32, bf16 or fp16, got {dtype}; use backend='torch' "
                           "(backend='auto' picks it for float64)")
    return backend


# --- the step loops: what a CUDA graph records ----------------------------------------------


def _forward_loop(backend, xw, hs, cs, gates, w):
    """The sequential part of the forward pass, in place in the buffers.

    ``xw (T, N, 4H)`` holds ``x_t W_ih^T + b`` and becomes ``a_t`` (two-kernel
    backends, the product accumulated into it: no copy); ``hs (T+1, N, H)`` and
    ``cs`` hold ``h_0, c_0`` in row 0 and receive the rest; ``gates (T, N, 4H)``
    receives the activated gates; ``w`` is ``W_hh^T (H, 4H)`` (or the interleaved
    ``W_hh`` for ``"triton-onestep"``)."""
    T = xw.shape[0]
    if backend == "triton-onestep":
        for t in range(T):  # one kernel per step
            _tk.lstm_forward_step(hs[t], w, xw[t], cs[t], gates[t],
                                  hs[t + 1], cs[t + 1])
        return
    pointwise = (_tk.lstm_forward_pointwise if backend == "triton"
                 else _pointwise_forward_torch)
    for t in range(T):  # two kernels per step: the product, the element-wise update
        xw[t].addmm_(hs[t], w)  # a_t = (x_t W_ih^T + b) + h_{t-1} W_hh^T, (N, 4H)
        pointwise(xw[t], cs[t], gates[t], hs[t + 1], cs[t + 1])


def _backward_loop(backend, w_hh, dh, dc, dc_other, d_out, gates, cs, dA):
    """The sequential part of the backward pass, in place in the buffers.

    ``dh (N, H)`` holds the gradient on ``h_T`` and receives the one on ``h_0``; ``dc`` and
    ``dc_other`` (both ``(N, H)``, float32 or float64) are used in turn, ``dc`` holding the
    gradient on ``c_T``; ``dA (T, N, 4H)`` receives the gradients on the pre-activations.
    Returns the buffer that holds the gradient on ``c_0``."""
    T = dA.shape[0]
    if backend == "triton-onestep":
        for t in range(T - 1, -1, -1):  # one kernel per step
            _tk.lstm_backward_step(None if t == T - 1 else dA[t + 1], w_hh, dh, d_out[t], dc,
                                   gates[t], cs[t], cs[t + 1], dA[t], dc_other)
            dc, dc_other = dc_other, dc
        torch.mm(dA[0], w_hh, out=dh)
        return dc
    pointwise = _tk.lstm_backward_pointwise if backend == "triton" else \
        _pointwise_backward_torch
    for t in range(T - 1, -1, -1):  # two kernels per step, as forward
        pointwise(dh, d_out[t], dc, gates[t], cs[t], cs[t + 1], dA[t], dc_other)
        dc, dc_other = dc_other, dc
        torch.mm(dA[t], w_hh, out=dh)  # (N, H): the gradient reaching h_{t-1}
    return dc


class _Buffers:
    """Every tensor one call of the layer writes: allocated per call, or kept by a
    :class:`StepGraphs` entry whose graphs read and write these addresses."""

    def __init__(self, T, N, D, H, dtype, cdtype, device, backend):
        kw = {"device": device}
        self.xw = torch.empty(T, N, 4 * H, dtype=dtype, **kw)  # becomes a_t
        self.hs = torch.empty(T + 1, N, H, dtype=dtype, **kw)  # h_0 .. h_T
        self.cs = torch.empty(T + 1, N, H, dtype=cdtype, **kw)  # c_0 .. c_T
        self.gates = torch.empty(T, N, 4 * H, dtype=dtype, **kw)
        self.w = torch.empty(4 * H, H, dtype=dtype, **kw) if backend == "triton-onestep" \
            else None  # the interleaved W_hh
        self.w_hh = None  # W_hh as the loops read it (a graph: a copy at a fixed address)
        self.dA = None  # the backward's buffers: allocated by its first use
        self.graphs = {}  # "forward"/"backward" -> a recorded graph
        self.pending = None  # weakref to the autograd node whose backward needs these

    def for_backward(self):
        """Allocate the backward pass's buffers (once)."""
        if self.dA is None:
            T, N, H4 = self.gates.shape
            H, dt, ct, dev = H4 // 4, self.gates.dtype, self.cs.dtype, self.gates.device
            self.dA = torch.empty(T, N, H4, dtype=dt, device=dev)
            self.dh = torch.empty(N, H, dtype=dt, device=dev)
            self.dc = torch.empty(N, H, dtype=ct, device=dev)
            self.dc_other = torch.empty(N, H, dtype=ct, device=dev)
            self.d_out = torch.empty(T, N, H, dtype=dt, device=dev)
        return self


class _CudaGraphRecorder:
    """Records a function as a CUDA graph: runs it once on a side stream (the warm-up,
    whose results are this call's results), then captures it."""

    def record(self, fn):
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            fn()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        # thread-local: the backward pass records from autograd's own thread
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            fn()
        return graph

    def replay(self, graph):
        graph.replay()


class StepGraphs:
    """The step loops of a layer recorded once per shape and replayed (CUDA graphs).

    A graph reads and writes fixed addresses, so each entry owns a :class:`_Buffers`: the
    input projections are computed into its ``xw``, ``h_0, c_0`` copied into its first
    rows, and after a replay the layer returns a copy of the output. An entry is busy from
    its forward until that forward's autograd node is freed (so a second backward with
    ``retain_graph`` still finds its buffers); a forward meanwhile takes another entry, up to ``per_shape`` entries per shape,
    and beyond that runs without graphs.

    Args:
        recorder: records and replays a function (``record(fn) -> graph``, ``replay(graph)``);
            default the CUDA one. Tests pass a stand-in, since CUDA graphs need a GPU.
        per_shape: entries kept per shape and weight.
    """

    def __init__(self, recorder=None, per_shape=2):
        self.recorder = recorder or _CudaGraphRecorder()
        self.per_shape = per_shape
        self.entries = {}  # key -> list of _Buffers
        self.recorded = 0  # graphs recorded (for the tests and the benchmark)
        self.replayed = 0

    def acquire(self, key, make):
        """A free entry for ``key`` (made with ``make()`` if there is room), or None."""
        entries = self.entries.setdefault(key, [])
        for entry in entries:
            if entry.pending is None or entry.pending() is None:
                return entry
        if len(entries) < self.per_shape:
            entries.append(make())
            return entries[-1]
        return None

    def run(self, entry, name, fn):
        """Replay ``entry``'s graph ``name``, or record it (recording runs ``fn``)."""
        if name in entry.graphs:
            self.recorder.replay(entry.graphs[name])
            self.replayed += 1
        else:
            entry.graphs[name] = self.recorder.record(fn)
            self.recorded += 1


class FusedLSTMFunction(torch.autograd.Function):
    r"""One LSTM layer, forward and hand-written backward; see the module docstring.

    Args (of ``apply``):
        x: ``(T, N, D)``; h0, c0: ``(N, H)``; w_ih: ``(4H, D)``; w_hh: ``(4H, H)``;
        bias: ``(4H,)`` (``b_ih + b_hh``); backend: see :data:`BACKENDS`;
        graphs: a :class:`StepGraphs` to record and replay the step loops, or None.

    Returns:
        ``(output (T, N, H), h_n (N, H), c_n (N, H))``, all in ``x``'s dtype.
        Products run in ``x``'s dtype; the cell state and the element-wise
        arithmetic in float32 (float64 for float64 inputs). Differentiable once.
    """

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, bias, backend="auto", graphs=None):
        T, N, D = x.shape
        H = w_hh.shape[1]
        backend = resolve_backend(x.device.type, x.dtype, backend)
        cdt = torch.float64 if x.dtype == torch.float64 else torch.float32

        def make():
            return _Buffers(T, N, D, H, x.dtype, cdt, x.device, backend)

        key = (T, N, D, H, x.dtype, x.device, backend)
        buf = graphs.acquire(key, make) if graphs is not None else None
        graphed = buf is not None
        buf = buf or make()
        torch.addmm(bias, x.reshape(T * N, D), w_ih.t(),
                    out=buf.xw.view(T * N, 4 * H))
        buf.hs[0].copy_(h0)
        buf.cs[0].copy_(c0)
        if graphed:
            # a graph reads fixed addresses: W_hh (maybe cast by autocast) copied
            if buf.w_hh is None:
                buf.w_hh = torch.empty_like(
                    w_hh, memory_format=torch.contiguous_format)
            buf.w_hh.copy_(w_hh)
        else:
            buf.w_hh = w_hh
        if backend == "triton-onestep":
            buf.w.copy_(_tk.interleave_gates(buf.w_hh))
            w = buf.w
        else:
            w = buf.w_hh.t()  # (H, 4H), a view

        def loop():
            _forward_loop(backend, buf.xw, buf.hs, buf.cs, buf.gates, w)

        if graphed:
            graphs.run(buf, "forward", loop)
            buf.pending = weakref.ref(ctx)
        else:
            loop()
        ctx.backend, ctx.buf, ctx.graphs = (backend, buf,
                                            graphs if graphed else None)
        ctx.save_for_backward(x, w_ih, w_hh)
        # the next replay overwrites a graph's buffers: the caller gets copies
        out = buf.hs[1:].clone() if graphed else buf.hs[1:]
        return out, buf.hs[T].clone(), buf.cs[T].to(x.dtype, copy=True)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_out, d_hn, d_cn):
        x, w_ih, w_hh = ctx.saved_tensors
        buf, backend, graphs = ctx.buf.for_backward(), ctx.backend, ctx.graphs
        T, N, D = x.shape
        H = w_hh.shape[1]
        if d_hn is None:
            buf.dh.zero_()
        else:
            buf.dh.copy_(d_hn)
        if d_cn is None:
            buf.dc.zero_()
        else:
            buf.dc.copy_(d_cn)
        if d_out is None:
            buf.d_out.zero_()
        else:
            buf.d_out.copy_(d_out)
        result = {}

        def loop():
            result["dc"] = _backward_loop(
                backend, buf.w_hh, buf.dh, buf.dc, buf.dc_other,
                buf.d_out, buf.gates, buf.cs, buf.dA)

        if graphs is not None:
            graphs.run(buf, "backward", loop)
            # dc and dc_other swap at every step: T's parity says which holds it
            result["dc"] = buf.dc if T % 2 == 0 else buf.dc_other
        else:
            loop()
        dA2 = buf.dA.view(T * N, 4 * H)
        d_w_ih = dA2.t() @ x.reshape(T * N, D)  # (4H, D): one product, all steps
        d_w_hh = dA2.t() @ buf.hs[:-1].reshape(T * N, H)  # (4H, H)
        d_bias = dA2.sum(0)
        dx = (dA2 @ w_ih).view(T, N, D)
        dh0, dc0 = buf.dh.clone(), result["dc"].to(x.dtype, copy=True)
        return dx, dh0, dc0, d_w_ih, d_w_hh, d_bias, None, None


def fused_lstm_layer(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False,
                     backend="auto", graphs=None):
    """One LSTM layer through :class:`FusedLSTMFunction`; the arguments and result of
    :func:`lstm_ref.torch.lstm_layer` (``x (T, N, D)``, ``h, c (N, H)``; returns
    ``(output (T, N, H), (h_n, c_n))``). Under ``torch.autocast`` it runs in the autocast
    dtype (bf16/fp16 products, float32 cell state inside the layer)."""
    if torch.is_autocast_enabled(x.device.type):
        dtype = torch.get_autocast_dtype(x.device.type)
        x, h, w_ih, w_hh = (v.to(dtype) for v in (x, h, w_ih, w_hh))
        b_ih = None if b_ih is None else b_ih.to(dtype)
        b_hh = None if b_hh is None else b_hh.to(dtype)
    bias = x.new_zeros(w_ih.shape[0]) if b_ih is None else b_ih + b_hh
    if reverse:
        x = x.flip(0)
    with torch.autocast(x.device.type, enabled=False):
        out, h_n, c_n = FusedLSTMFunction.apply(x.contiguous(), h, c, w_ih.contiguous(),
                                                w_hh.contiguous(), bias, backend, graphs)
    if reverse:
        out = out.flip(0)
    return out, (h_n, c_n)


class FusedLSTM(_Recurrent):
    r"""``torch.nn.LSTM`` computed by :class:`FusedLSTMFunction`, layer by layer.

    The same parameters (names, shapes, initialisation), inputs and outputs as
    :class:`lstm_ref.torch.LSTM` and ``torch.nn.LSTM`` (state dicts move between the
    three), the same equations (see :class:`lstm_ref.torch.LSTM`); only the computation
    differs: per step one recurrent product and one element-wise kernel (or one kernel for
    both), in both passes.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional:
            as ``torch.nn.LSTM``.
        backend: one of :data:`BACKENDS` (default ``"auto"``: Triton on a CUDA device when
            Triton is installed, PyTorch operations otherwise and for float64).
        cuda_graphs: on CUDA tensors, record the step loops as CUDA graphs per shape and
            replay them (:class:`StepGraphs`); ignored on a CPU.

    Shapes: those of ``torch.nn.LSTM`` (``(L, N, D)`` in, ``(L, N, Dir*H)`` out).
    """

    _gates = 4
    _states = ("h", "c")
    mode = "LSTM"

    def __init__(self, *args, backend="auto", cuda_graphs=False, **kwargs):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, "
                             f"got {backend!r}")
        super().__init__(*args, **kwargs)
        self.backend = backend
        self.cuda_graphs = cuda_graphs
        self._graphs = None  # one StepGraphs per layer and direction (on CUDA, cuda_graphs)

    def _step_graphs(self, x, weight_hh):
        """The :class:`StepGraphs` of the layer and direction whose recurrent weight is
        ``weight_hh`` (one each), or None: CUDA graphs only on CUDA tensors."""
        if not (self.cuda_graphs and x.device.type == "cuda"):
            return None
        if self._graphs is None:
            self._graphs = {}
        return self._graphs.setdefault(id(weight_hh), StepGraphs())

    def _layer(self, x, states, weights, reverse):
        return fused_lstm_layer(x, *states, *weights, reverse=reverse, backend=self.backend,
                                graphs=self._step_graphs(x, weights[1]))

    def forward(self, input, hx=None):
        """Returns ``(output, (h_n, c_n))``; see ``torch.nn.LSTM`` for the shapes."""
        return self._run(input, hx)
