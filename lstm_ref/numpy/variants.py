r"""The LSTM family of Greff et al. (2017), "LSTM: A Search Space Odyssey": one cell with
switches, forward and backward over a sequence.

The *vanilla* LSTM of Greff et al. has input, forget and output gates and peephole
connections (Gers & Schmidhuber, 2000: diagonal weights; the input and forget gates look at
:math:`c_{t-1}`, the output gate at :math:`c_t`):

.. math::
    \begin{aligned}
    i_t &= \sigma(x_t W_{xi} + h_{t-1} W_{hi} + p_i \odot c_{t-1} + b_i)\\
    f_t &= \sigma(x_t W_{xf} + h_{t-1} W_{hf} + p_f \odot c_{t-1} + b_f)\\
    g_t &= \tanh(x_t W_{xg} + h_{t-1} W_{hg} + b_g)\\
    c_t &= f_t \odot c_{t-1} + i_t \odot g_t\\
    o_t &= \sigma(x_t W_{xo} + h_{t-1} W_{ho} + p_o \odot c_t + b_o)\\
    h_t &= o_t \odot \tanh(c_t)
    \end{aligned}

(Greff et al. call :math:`g_t` the block input :math:`z_t` and :math:`h_t` the block output
:math:`y_t`.) Each other variant changes exactly one thing:

========  ===============================================================================
variant   change
========  ===============================================================================
NIG       no input gate: :math:`i_t = 1`
NFG       no forget gate: :math:`f_t = 1` (as in 1997, Hochreiter & Schmidhuber; here with
          peepholes)
NOG       no output gate: :math:`o_t = 1`
NIAF      no input activation function: :math:`g_t = x_t W_{xg} + h_{t-1} W_{hg} + b_g`
NOAF      no output activation function: :math:`h_t = o_t \odot c_t`
NP        no peepholes: :math:`p_i = p_f = p_o = 0`, removed (the chapter 3 cell)
CIFG      coupled input and forget gate: :math:`f_t = 1 - i_t`
FGR       full gate recurrence: each gate also receives the three gate activations of the
          previous step, :math:`[i_{t-1}, f_{t-1}, o_{t-1}]\,W_g` added to the
          pre-activations of :math:`[i_t, f_t, o_t]` (:math:`i_0 = f_0 = o_0 = 0`)
========  ===============================================================================

Design: **one implementation with switches**. :func:`variant_spec` turns a variant name into
the gate blocks that have parameters, the activations and the extra connections; the
forward and backward read those switches, so no variant is a copy of another.

Parameters (numpy layout, weights multiply from the right; dict keys):

- ``Wx (D, K*H)``, ``Wh (H, K*H)``, ``b (K*H,)``: the ``K`` gate blocks that have parameters,
  in the course's order i, f, g, o with the removed ones left out (``K = 4`` except NIG
  (f, g, o), NFG (i, g, o), NOG (i, f, g) and CIFG (i, g, o): ``K = 3``).
- ``p (P, H)``: the peephole weights, one row per sigmoid gate present, in order i, f, o
  (``P = 3`` for vanilla, NIAF, NOAF, FGR; 2 for NIG, NFG, NOG, CIFG); absent for NP.
- ``Wg (3H, 3H)`` (FGR only): rows index the previous gates ``[i_{t-1}, f_{t-1},
  o_{t-1}]``, columns the pre-activations ``[i_t, f_t, o_t]``; Greff et al.'s nine
  recurrent gate-to-gate matrices :math:`R_{\cdot\cdot}` as the blocks of one matrix.

With every part present and ``p = 0`` the vanilla variant computes
:func:`lstm_ref.numpy.lstm_forward` bit for bit (the same operations in the same order), and
NP is that function. Time-major shapes: ``x (T, N, D)``, ``h, c (T, N, H)``.
"""

import numpy as np

from .._validate import check_same_dtype, check_shape

VARIANTS = ("vanilla", "NIG", "NFG", "NOG", "NIAF", "NOAF", "NP", "CIFG", "FGR")
"""The variants of Greff et al. (2017), Table/Section 3, with their names."""


class VariantSpec:
    """The switches of one variant (see :func:`variant_spec`)."""

    __slots__ = ("name", "blocks", "sig", "coupled", "g_tanh", "h_tanh", "peep", "fgr")

    def __init__(self, name):
        self.name = name
        removed = {"NIG": "i", "NFG": "f", "NOG": "o", "CIFG": "f"}.get(name, "")
        self.blocks = tuple(k for k in "ifgo" if k != removed)  # blocks with parameters
        self.sig = tuple(k for k in "ifo" if k != removed)  # sigmoid gates with parameters
        self.coupled = name == "CIFG"  # f = 1 - i
        self.g_tanh = name != "NIAF"
        self.h_tanh = name != "NOAF"
        self.peep = name != "NP"
        self.fgr = name == "FGR"

    def __repr__(self):
        return (
            f"VariantSpec({self.name!r}, blocks={''.join(self.blocks)}, "
            f"peepholes={''.join(self.sig) if self.peep else '-'}, "
            f"g={'tanh' if self.g_tanh else 'identity'}, "
            f"h={'tanh' if self.h_tanh else 'identity'}, coupled={self.coupled}, "
            f"fgr={self.fgr})"
        )


def variant_spec(variant):
    """The switches of ``variant``: a :class:`VariantSpec` with

    - ``blocks``: the gate blocks that have weights, in order (e.g. ``('i', 'g', 'o')``);
    - ``sig``: the sigmoid gates among them (rows of ``p``, in order);
    - ``coupled`` (CIFG), ``g_tanh`` (False for NIAF), ``h_tanh`` (False for NOAF),
      ``peep`` (False for NP), ``fgr`` (FGR).

    Raises:
        ValueError: if ``variant`` is not one of :data:`VARIANTS`.
    """
    if not isinstance(variant, str) or variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    return VariantSpec(variant)


def variant_param_shapes(D, H, variant="vanilla"):
    """The shapes of the parameters of ``variant``: a dict ``name -> shape`` (see the module
    docstring), in the order ``Wx, Wh, b[, p][, Wg]``."""
    spec = variant_spec(variant)
    K = len(spec.blocks)
    shapes = {"Wx": (D, K * H), "Wh": (H, K * H), "b": (K * H,)}
    if spec.peep:
        shapes["p"] = (len(spec.sig), H)
    if spec.fgr:
        shapes["Wg"] = (3 * H, 3 * H)
    return shapes


def count_variant_params(D, H, variant="vanilla"):
    r"""The number of trainable parameters of one layer of ``variant``.

    :math:`K H (D + H + 1) + P H\ (+ 9H^2` for FGR), with ``K`` gate blocks and ``P`` peephole
    rows as in the module docstring.
    """
    for name, value in (("D", D), ("H", H)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(sum(np.prod(s) for s in variant_param_shapes(D, H, variant).values()))


def init_variant_params(D, H, variant="vanilla", rng=None, forget_bias=1.0, dtype=np.float64):
    r"""Random parameters for ``variant``: every entry from :math:`\mathcal U(-k, k)`,
    :math:`k = 1/\sqrt H` (torch's default for recurrent layers), then the forget gate's bias
    set to ``forget_bias``.

    For CIFG, whose forget gate is :math:`1 - i = \sigma(-a_i)`, the input gate's bias is
    set to ``-forget_bias`` instead (the same initial forget activation); NFG has no forget
    gate and ignores ``forget_bias``.

    Args:
        D, H: input and hidden sizes.
        variant: one of :data:`VARIANTS`.
        rng: a ``numpy.random.Generator``, an int seed, or None (fresh entropy).
        forget_bias: the initial bias of the forget gate (Gers et al., 2000; Jozefowicz et
            al., 2015), or None to leave it random.
        dtype: ``np.float64`` (default) or ``np.float32``.

    Returns:
        A dict with the keys of :func:`variant_param_shapes` (parameters the variant does not
        use are absent).
    """
    shapes = variant_param_shapes(D, H, variant)
    spec = variant_spec(variant)
    if rng is None or isinstance(rng, (int, np.integer)):
        rng = np.random.default_rng(rng)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy Generator, an int seed or None, got {type(rng).__name__}"
        )
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
    k = 1.0 / np.sqrt(H)
    params = {name: rng.uniform(-k, k, size=shape).astype(dtype) for name, shape in shapes.items()}
    if forget_bias is not None:
        if "f" in spec.blocks:
            j = spec.blocks.index("f")
            params["b"][j * H : (j + 1) * H] = forget_bias
        elif spec.coupled:
            params["b"][:H] = -forget_bias
    return params


def _check_params(D, H, params, spec, dtype):
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of numpy arrays, got {type(params).__name__}")
    shapes = variant_param_shapes(D, H, spec.name)
    missing = [k for k in shapes if k not in params]
    extra = [k for k in params if k not in shapes]
    if missing or extra:
        problem = []
        if missing:
            problem.append(f"missing {missing}")
        if extra:
            problem.append(f"has {extra}, which it does not use")
        raise ValueError(
            f"params for variant {spec.name!r} must have exactly the keys {list(shapes)}; "
            f"it is " + " and ".join(problem)
        )
    for name, shape in shapes.items():
        check_shape(f"params['{name}']", params[name], shape)
    check_same_dtype(**{"x": np.empty(0, dtype)}, **{f"params['{k}']": params[k] for k in shapes})


def _check_inputs(x, h0, c0, params, variant):
    spec = variant_spec(variant)
    check_shape("x", x, ("T", "N", "D"))
    T, N, D = x.shape
    if not isinstance(params, dict) or "Wh" not in params:
        _check_params(D, 1, params, spec, x.dtype)  # raises with the expected keys
    check_shape("params['Wh']", params["Wh"], ("H", f"{len(spec.blocks)}H"))
    H = params["Wh"].shape[0]
    _check_params(D, H, params, spec, x.dtype)
    check_shape("h0", h0, (N, H))
    check_shape("c0", c0, (N, H))
    check_same_dtype(x=x, h0=h0, c0=c0)
    return spec, T, N, D, H


def variant_lstm_forward(x, h0, c0, params, variant="vanilla"):
    r"""One layer of an LSTM variant over a whole sequence.

    The equations are in the module docstring. As in :func:`~lstm_ref.numpy.lstm_forward`,
    each step is one matrix product :math:`[x_t, h_{t-1}]\,[W_x; W_h]` and the sigmoids are
    computed as :math:`\tfrac12(1 + \tanh(a/2))` with the sigmoid columns halved (exact in
    floating point), so the vanilla variant with zero peepholes and NP equal
    ``lstm_forward`` bit for bit.

    Args:
        x: inputs, ``(T, N, D)``.
        h0, c0: initial states, ``(N, H)``.
        params: a dict as returned by :func:`init_variant_params` for this variant.
        variant: one of :data:`VARIANTS`.

    Returns:
        ``(h, cache)``: every hidden state ``h (T, N, H)`` (``h0`` excluded) and
        ``cache = (x, h0, c0, params, variant, gates, c, act_c, h)`` where ``gates (T, N,
        K*H)`` holds the activations of the ``K`` blocks with parameters (i, f, g, o order),
        ``c (T, N, H)`` the cell states and ``act_c`` is ``tanh(c)`` (``c`` itself for NOAF).
    """
    spec, T, N, D, H = _check_inputs(x, h0, c0, params, variant)
    dtype = x.dtype
    blocks = spec.blocks
    K = len(blocks)
    col = {k: slice(j * H, (j + 1) * H) for j, k in enumerate(blocks)}
    sig_blocks = [k for k in blocks if k != "g"]
    half = np.ones(K * H, dtype=dtype)
    for k in sig_blocks:
        half[col[k]] = 0.5
    Wx, Wh, b = params["Wx"], params["Wh"], params["b"]
    W_T = np.ascontiguousarray(np.concatenate([Wx * half, Wh * half]).T)  # (KH, D+H)
    b_col = (b * half)[:, None]
    if spec.peep:
        p_half = {k: (0.5 * params["p"][j])[:, None] for j, k in enumerate(spec.sig)}
    if spec.fgr:
        Wg_T = np.ascontiguousarray((0.5 * params["Wg"]).T)  # (3H, 3H), pre-activations i, f, o
        g_prev_T = np.zeros((3 * H, N), dtype=dtype)  # [i, f, o] of the previous step
    gates = np.empty((T, N, K * H), dtype=dtype)
    h = np.empty((T, N, H), dtype=dtype)
    c = np.empty((T, N, H), dtype=dtype)
    act_c = np.empty((T, N, H), dtype=dtype) if spec.h_tanh else c
    a_T = np.empty((K * H, N), dtype=dtype)
    xh = np.empty((N, D + H), dtype=dtype)
    ig = np.empty((N, H), dtype=dtype)
    rows = {k: a_T[col[k]] for k in blocks}  # views of a_T, (H, N) each
    h_prev, c_prev = h0, c0
    for t in range(T):
        xh[:, :D] = x[t]
        xh[:, D:] = h_prev
        np.matmul(W_T, xh.T, out=a_T)
        a_T += b_col
        if spec.fgr:
            a_fgr = Wg_T @ g_prev_T  # (3H, N)
            for j, k in enumerate("ifo"):
                rows[k] += a_fgr[j * H : (j + 1) * H]
        if spec.peep:
            c_prev_T = c_prev.T
            for k in ("i", "f"):
                if k in p_half:
                    rows[k] += p_half[k] * c_prev_T
        # i, f, g first (o may look at c_t)
        for k in blocks:
            if k != "o" and (k != "g" or spec.g_tanh):
                np.tanh(rows[k], out=rows[k])
        for k in ("i", "f"):
            if k in rows:
                rows[k] *= 0.5
                rows[k] += 0.5
        a = gates[t]  # (N, KH)
        a[...] = a_T.T
        i = a[:, col["i"]] if "i" in col else None
        g = a[:, col["g"]]
        if spec.coupled:
            f = 1.0 - i
        else:
            f = a[:, col["f"]] if "f" in col else None
        if f is None:
            np.copyto(c[t], c_prev)
        else:
            np.multiply(f, c_prev, out=c[t])
        if i is None:
            c[t] += g
        else:
            c[t] += np.multiply(i, g, out=ig)
        if "o" in col:
            if spec.peep and "o" in p_half:
                rows["o"] += p_half["o"] * c[t].T
            np.tanh(rows["o"], out=rows["o"])
            rows["o"] *= 0.5
            rows["o"] += 0.5
            a[:, col["o"]] = rows["o"].T
        if spec.h_tanh:
            np.tanh(c[t], out=act_c[t])
        if "o" in col:
            np.multiply(a[:, col["o"]], act_c[t], out=h[t])
        else:
            h[t] = act_c[t]
        if spec.fgr:
            g_prev_T[: 2 * H] = a_T[: 2 * H]  # i, f
            g_prev_T[2 * H :] = rows["o"]
        h_prev, c_prev = h[t], c[t]
    return h, (x, h0, c0, params, variant, gates, c, act_c, h)


def variant_lstm_backward(dh, cache, dc_last=None):
    r"""Backpropagation through time for :func:`variant_lstm_forward`.

    Along the cell path :math:`\partial c_t/\partial c_{t-1} = \operatorname{diag}(f_t + \dots)`:
    :math:`f_t` (1 for NFG, :math:`1 - i_t` for CIFG), plus the peephole paths
    :math:`\bar a^i_t p_i + \bar a^f_t p_f` through the gates, plus the output peephole
    :math:`p_o` from :math:`o_t` to :math:`c_t`.

    Args:
        dh: upstream gradients on every hidden state, ``(T, N, H)``.
        cache: from the forward.
        dc_last: optional upstream gradient on the final cell state ``c_T``, ``(N, H)``.

    Returns:
        ``(dx, dh0, dc0, grads)``: ``dx (T, N, D)``, ``dh0``, ``dc0 (N, H)`` and ``grads``, a
        dict keyed like ``params`` with arrays of the parameters' shapes.
    """
    x, h0, c0, params, variant, gates, c, act_c, h = cache
    check_shape("dh", dh, h.shape)
    check_same_dtype(**{"dh": dh, "the forward's h": h})
    spec = variant_spec(variant)
    T, N, D = x.shape
    H = h.shape[2]
    dtype = h.dtype
    blocks = spec.blocks
    K = len(blocks)
    col = {k: slice(j * H, (j + 1) * H) for j, k in enumerate(blocks)}
    Wh = params["Wh"]
    p = {k: params["p"][j] for j, k in enumerate(spec.sig)} if spec.peep else {}
    dc_carry = np.zeros((N, H), dtype=dtype)
    if dc_last is not None:
        check_shape("dc_last", dc_last, (N, H))
        check_same_dtype(**{"dc_last": dc_last, "the forward's h": h})
        dc_carry[...] = dc_last
    dh_carry = np.zeros((N, H), dtype=dtype)
    dg_carry = np.zeros((N, 3 * H), dtype=dtype)  # FGR: gradient on [i, f, o] from t+1
    da = np.empty((T, N, K * H), dtype=dtype)
    dp = {k: np.zeros(H, dtype=dtype) for k in p}
    if spec.fgr:
        Wg = params["Wg"]
        dWg = np.zeros((3 * H, 3 * H), dtype=dtype)
    for t in range(T - 1, -1, -1):
        a = gates[t]
        c_prev = c[t - 1] if t > 0 else c0
        i = a[:, col["i"]] if "i" in col else None
        g = a[:, col["g"]]
        o = a[:, col["o"]] if "o" in col else None
        f = (1.0 - i) if spec.coupled else (a[:, col["f"]] if "f" in col else None)
        dh_t = dh[t] + dh_carry
        d = da[t]
        dc = dc_carry + (dh_t if o is None else dh_t * o) * (
            1.0 - act_c[t] * act_c[t] if spec.h_tanh else 1.0
        )
        if o is not None:
            do = dh_t * act_c[t]
            if spec.fgr:
                do += dg_carry[:, 2 * H :]
            np.multiply(do, o * (1.0 - o), out=d[:, col["o"]])
            if "o" in p:
                dc += d[:, col["o"]] * p["o"]
                dp["o"] += np.sum(d[:, col["o"]] * c[t], axis=0)
        # c_t = f c_{t-1} + i g
        if i is not None:
            di = dc * g
            if spec.coupled:
                di -= dc * c_prev
            if spec.fgr:
                di += dg_carry[:, :H]
            np.multiply(di, i * (1.0 - i), out=d[:, col["i"]])
        dg = dc if i is None else dc * i
        np.multiply(dg, (1.0 - g * g) if spec.g_tanh else 1.0, out=d[:, col["g"]])
        if "f" in col:
            df = dc * c_prev
            if spec.fgr:
                df += dg_carry[:, H : 2 * H]
            np.multiply(df, f * (1.0 - f), out=d[:, col["f"]])
        dc_carry = dc if f is None else dc * f
        for k in ("i", "f"):
            if k in p:
                dc_carry += d[:, col[k]] * p[k]
                dp[k] += np.sum(d[:, col[k]] * c_prev, axis=0)
        if spec.fgr:
            d_ifo = np.concatenate([d[:, col["i"]], d[:, col["f"]], d[:, col["o"]]], axis=1)
            dg_carry = d_ifo @ Wg.T
            if t > 0:
                prev = gates[t - 1]
                g_prev = np.concatenate(
                    [prev[:, col["i"]], prev[:, col["f"]], prev[:, col["o"]]], axis=1
                )
                dWg += g_prev.T @ d_ifo
        dh_carry = d @ Wh.T
    h_prev = np.concatenate([h0[None], h[:-1]], axis=0)  # (T, N, H)
    da2 = da.reshape(T * N, K * H)
    dx = (da2 @ params["Wx"].T).reshape(T, N, D)
    grads = {
        "Wx": x.reshape(T * N, D).T @ da2,
        "Wh": h_prev.reshape(T * N, H).T @ da2,
        "b": da2.sum(axis=0),
    }
    if spec.peep:
        grads["p"] = np.stack([dp[k] for k in spec.sig])
    if spec.fgr:
        grads["Wg"] = dWg
    return dx, dh_carry, dc_carry, grads


def variant_lstm_step_forward(x, h_prev, c_prev, params, variant="vanilla"):
    r"""One step of an LSTM variant: :func:`variant_lstm_forward` over a sequence of one step.

    The equations are in the module docstring (for example, with peepholes,
    :math:`i = \sigma(x W_{xi} + h W_{hi} + p_i \odot c + b_i)`, and for CIFG
    :math:`f = 1 - i`).

    Args:
        x: input, ``(N, D)``.
        h_prev, c_prev: previous states, ``(N, H)``.
        params: a dict as returned by :func:`init_variant_params` for this variant.
        variant: one of :data:`VARIANTS` except ``"FGR"``, whose step also needs the previous
            step's gate activations (run :func:`variant_lstm_forward` on the sequence).

    Returns:
        ``(h_next, c_next)``, each ``(N, H)``.
    """
    if variant == "FGR":
        raise ValueError(
            "variant 'FGR' needs the previous step's gates [i, f, o]; run "
            "variant_lstm_forward on the whole sequence instead of one step"
        )
    check_shape("x", x, ("N", "D"))
    h, cache = variant_lstm_forward(x[None], h_prev, c_prev, params, variant)
    return h[0], cache[6][0]
