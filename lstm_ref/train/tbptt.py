r"""Truncated backpropagation through time on a long text, as it is done in practice.

A corpus of ``L`` characters is cut into ``N`` contiguous streams, one per column of a
time-major ``(S, N)`` array with ``S = L // N`` (the last ``L mod N`` characters are
dropped). Training reads the streams ``bptt`` steps at a time: segment ``k`` has inputs
``streams[k*bptt : (k+1)*bptt]`` and targets one step later. The state ``(h, c)`` at the end
of a segment is the initial state of the next one (column ``j`` continues stream ``j``), and
it is **detached**: gradients stop at the segment boundary, so each backward pass costs
``bptt`` steps, whatever the length of the text,

.. math::
    \frac{\partial \mathcal L_k}{\partial \theta} \approx
    \sum_{t = k\,\mathrm{bptt}}^{(k+1)\mathrm{bptt} - 1}
    \frac{\partial \mathcal L_k}{\partial a_t} \frac{\partial a_t}{\partial \theta},

while the forward pass still carries information across segments through the state.

This module holds the pieces the chapter's graded notebook asks for (:func:`make_streams`,
:func:`segments`, :func:`train_tbptt`, :func:`clip_global_norm`; the book imports them, it
never shows them), a small functional character model the notebook trains
(:func:`init_lm_params`, :func:`lm_loss`), and the two experiments of the page on truncated
BPTT (:func:`no_detach_demo`, :func:`carried_vs_reset`). It imports torch.
"""

import math
import time

import torch
from torch.nn import functional as F

from ._threads import torch_threads

LN2 = math.log(2.0)


def _check_tensor(name, value, dim, integer=None):
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if value.dim() != dim:
        raise ValueError(f"{name} must have {dim} dimension(s), got shape {tuple(value.shape)}")
    if integer is True and value.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"{name} must hold integer ids (int64), got {value.dtype}")
    if integer is False and not value.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {value.dtype}")


def _check_positive(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def make_streams(data, batch):
    """Cut a 1-D sequence of ids into ``batch`` contiguous streams, time-major.

    Args:
        data: ``(L,)`` integer tensor.
        batch: the number of streams ``N``; ``L >= 2 * N``.

    Returns:
        ``(S, N)`` tensor, ``S = L // N``: column ``j`` is ``data[j*S : (j+1)*S]``.
    """
    _check_tensor("data", data, 1)
    _check_positive("batch", batch)
    S = data.shape[0] // batch
    if S < 2:
        raise ValueError(
            f"data of length {data.shape[0]} is too short for {batch} streams of at least 2 "
            "characters"
        )
    return data[: S * batch].reshape(batch, S).t().contiguous()


def segments(streams, bptt):
    """The ``(inputs, targets)`` segments of truncated BPTT over ``streams``.

    Segment ``k`` starts at step ``i = k * bptt``; its inputs are ``streams[i : i + n]`` and
    its targets ``streams[i + 1 : i + 1 + n]`` with ``n = min(bptt, S - 1 - i)`` (the last
    segment may be shorter; every step but the last is an input once).

    Args:
        streams: ``(S, N)`` from :func:`make_streams`.
        bptt: the truncation length.

    Returns:
        a list of ``(x, y)`` pairs, each ``(n, N)``.
    """
    _check_tensor("streams", streams, 2)
    _check_positive("bptt", bptt)
    S = streams.shape[0]
    out = []
    for i in range(0, S - 1, bptt):
        n = min(bptt, S - 1 - i)
        out.append((streams[i : i + n], streams[i + 1 : i + 1 + n]))
    return out


def clip_global_norm(grads, max_norm):
    r"""Scale a list of gradients so that their global norm is at most ``max_norm``.

    .. math::
        \lVert g \rVert = \sqrt{\textstyle\sum_k \lVert g_k \rVert_2^2}, \qquad
        g_k \leftarrow g_k \cdot \min\left(1, \frac{\text{max\_norm}}{\lVert g \rVert}\right)

    Args:
        grads: a list of tensors (any shapes); left unchanged.
        max_norm: a positive number.

    Returns:
        ``(clipped, total_norm)``: new tensors of the shapes of ``grads`` and the global norm
        before clipping (a Python float).
    """
    if not isinstance(grads, (list, tuple)) or not grads:
        raise ValueError("grads must be a non-empty list of tensors")
    for k, g in enumerate(grads):
        if not isinstance(g, torch.Tensor):
            raise TypeError(f"grads[{k}] must be a torch.Tensor, got {type(g).__name__}")
    if not isinstance(max_norm, (int, float)) or isinstance(max_norm, bool) or max_norm <= 0:
        raise ValueError(f"max_norm must be a positive number, got {max_norm!r}")
    total = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads))
    scale = min(1.0, max_norm / total) if total > 0 else 1.0
    return [g * scale for g in grads], total


# --- a small functional character model ------------------------------------------------


def init_lm_params(vocab_size, hidden_size, seed=0, dtype=torch.float64):
    """The parameters of :func:`lm_loss`, drawn from ``seed`` (torch's global RNG untouched).

    Returns:
        a dict of tensors: ``w_ih (4H, V)``, ``w_hh (4H, H)``, ``b (4H,)`` (gate blocks
        i, f, g, o), ``w_out (V, H)``, ``b_out (V,)``.
    """
    _check_positive("vocab_size", vocab_size)
    _check_positive("hidden_size", hidden_size)
    gen = torch.Generator().manual_seed(seed)
    V, H = vocab_size, hidden_size
    k = 1.0 / math.sqrt(H)

    def u(*shape):
        return (torch.rand(*shape, generator=gen, dtype=torch.float64) * 2 - 1).mul_(k).to(dtype)

    return {"w_ih": u(4 * H, V), "w_hh": u(4 * H, H), "b": u(4 * H), "w_out": u(V, H),
            "b_out": u(V)}


def lm_loss(params, x, y, state):
    r"""One LSTM layer on one-hot characters and a linear readout; the mean cross-entropy.

    .. math::
        a_t = W_{ih}[:, x_t] + W_{hh} h_{t-1} + b, \quad
        (h_t, c_t) = \text{LSTM}(a_t, c_{t-1}), \quad
        \mathcal L = -\frac{1}{n N}\sum_{t, j} \log \operatorname{softmax}
        (W_{out} h_t + b_{out})_{y_{t j}}

    Args:
        params: the dict of :func:`init_lm_params`.
        x, y: ``(n, N)`` integer tensors (inputs and next characters).
        state: ``(h, c)``, each ``(N, H)``.

    Returns:
        ``(loss, (h, c))``: the scalar loss (natural log) and the state after the last step.
    """
    w_ih, w_hh, b = params["w_ih"], params["w_hh"], params["b"]
    H = w_hh.shape[1]
    h, c = state
    xw = w_ih.t()[x] + b  # (n, N, 4H): a one-hot input selects a column of w_ih
    outputs = []
    for t in range(x.shape[0]):
        a = xw[t] + h @ w_hh.t()
        i, f, g, o = a.split(H, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outputs.append(h)
    logits = torch.stack(outputs) @ params["w_out"].t() + params["b_out"]  # (n, N, V)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    return loss, (h, c)


def train_tbptt(params, streams, bptt, lr, n_segments):
    """Train :func:`lm_loss` by truncated BPTT with plain SGD, state carried and detached.

    Segment ``k`` (``k < n_segments``) is segment ``k`` of :func:`segments`; the state starts
    at zeros and each segment starts from the (detached) state the previous one ended with.
    After each segment's backward pass every parameter takes one step ``p -= lr * p.grad``
    (gradients of one segment only).

    Args:
        params: the dict of :func:`init_lm_params` (left unchanged).
        streams: ``(S, N)`` integer tensor, ``S > n_segments * bptt``.
        bptt: the truncation length; lr: the learning rate; n_segments: how many segments.

    Returns:
        ``(losses, params)``: the list of the ``n_segments`` losses (floats, before each
        update) and a dict of the final parameters (new tensors, no gradient).
    """
    _check_tensor("streams", streams, 2, integer=True)
    _check_positive("bptt", bptt)
    _check_positive("n_segments", n_segments)
    if n_segments * bptt >= streams.shape[0]:
        raise ValueError(
            f"{n_segments} segments of {bptt} steps need more than {n_segments * bptt} steps, "
            f"streams has {streams.shape[0]}"
        )
    return _sgd_segments(params, streams, bptt, lr, n_segments)


def _sgd_segments(params, streams, bptt, lr, n_segments, reset_state=False, zero_grad=True):
    """The loop of :func:`train_tbptt` (inputs already checked). ``reset_state=True`` starts
    every segment from zeros and ``zero_grad=False`` lets gradients add up across segments:
    the two typical mistakes :mod:`lstm_ref.checks.ch06` recognises by running them."""
    p = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    N, H = streams.shape[1], p["w_hh"].shape[1]
    zeros = p["w_hh"].new_zeros(N, H)
    state = (zeros, zeros)
    losses = []
    for x, y in segments(streams, bptt)[:n_segments]:
        if reset_state:
            state = (zeros, zeros)
        loss, state = lm_loss(p, x, y, state)
        if zero_grad:
            for v in p.values():
                v.grad = None
        loss.backward()
        with torch.no_grad():
            for v in p.values():
                v -= lr * v.grad
        state = tuple(s.detach() for s in state)
        losses.append(loss.item())
    return losses, {k: v.detach() for k, v in p.items()}


# --- the page's experiments -------------------------------------------------------------


def _graph_size(tensor):
    """The number of autograd nodes reachable from ``tensor.grad_fn``."""
    seen, todo = set(), [tensor.grad_fn]
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        todo.extend(fn for fn, _ in node.next_functions)
    return len(seen)


def no_detach_demo(text_ids, vocab_size, hidden_size=32, batch=8, bptt=20, n_segments=8,
                   seed=0):
    """What happens when the carried state is not detached, against the detached control.

    Three runs of :func:`lm_loss` with SGD on the same streams:

    - ``"detach"``: the state is detached after every segment (the control);
    - ``"no_detach"``: the state is carried with its graph; the second backward pass reaches
      the first segment's graph, whose saved tensors the first backward freed;
    - ``"retain_graph"``: the same with ``backward(retain_graph=True)`` and parameter
      updates that bypass autograd's version check, so it runs: every backward pass then
      goes back to the start of the text.

    Returns:
        a dict: ``"error"`` (the message torch raised in the ``no_detach`` run, or None) and,
        for ``"detach"`` and ``"retain_graph"``, lists over segments of the number of autograd
        nodes behind the loss (``"nodes"``) and the backward's wall time in ms (``"ms"``).
    """
    streams = make_streams(torch.as_tensor(text_ids), batch)
    pieces = segments(streams, bptt)[:n_segments]
    out = {}
    for mode in ("detach", "no_detach", "retain_graph"):
        p = {k: v.requires_grad_(True) for k, v in
             init_lm_params(vocab_size, hidden_size, seed, torch.float32).items()}
        zeros = torch.zeros(batch, hidden_size)
        state = (zeros, zeros)
        nodes, ms, error = [], [], None
        for x, y in pieces:
            loss, state = lm_loss(p, x, y, state)
            nodes.append(_graph_size(loss))
            for v in p.values():
                v.grad = None
            start = time.perf_counter()
            try:
                loss.backward(retain_graph=mode == "retain_graph")
            except RuntimeError as exc:
                error = str(exc).split("\n")[0]
                break
            ms.append(1e3 * (time.perf_counter() - start))
            for v in p.values():  # .data: an update autograd does not see
                v.data -= 0.5 * v.grad
            if mode == "detach":
                state = tuple(s.detach() for s in state)
        out[mode] = {"nodes": nodes, "ms": ms, "error": error}
    return {"error": out["no_detach"]["error"], "detach": out["detach"],
            "retain_graph": out["retain_graph"]}


def carried_vs_reset(train_ids, valid_ids, vocab_size, hidden_size=64, batch=32, bptt=10,
                     steps=200, lr=1e-2, seeds=(0, 1, 2), eval_chars=8000, num_threads=None):
    """Held-out bits per character of a model trained with the state carried across segments
    against the same model with the state reset to zeros at every segment.

    Everything else is equal (``torch.nn.LSTM`` one layer, Adam, the same streams and
    seeds). Each model is evaluated on the first ``eval_chars`` held-out characters the way
    it was trained (one stream, state carried or reset every ``bptt`` steps); one run is
    :func:`carry_run`.

    Returns:
        ``{"carried": [bpc per seed], "reset": [bpc per seed], "seconds": float}``.
    """
    start = time.perf_counter()
    results = {"carried": [], "reset": []}
    for mode in results:
        for seed in seeds:
            _, bpc = carry_run(train_ids, valid_ids, vocab_size, mode, seed,
                               hidden_size=hidden_size, batch=batch, bptt=bptt, steps=steps,
                               lr=lr, eval_chars=eval_chars, num_threads=num_threads)
            results[mode].append(bpc)
    results["seconds"] = time.perf_counter() - start
    return results


def carry_run(train_ids, valid_ids, vocab_size, mode, seed, hidden_size=64, batch=32, bptt=10,
              steps=200, lr=1e-2, eval_chars=8000, num_threads=None):
    """One run of :func:`carried_vs_reset`: ``mode`` is ``"carried"`` or ``"reset"``.

    Returns:
        ``(losses, bpc)``: the training loss (natural log, a float per Adam step, before
        the step) and the held-out bits per character at the end.
    """
    from .charlm.model import CharLM

    if mode not in ("carried", "reset"):
        raise ValueError(f"mode must be 'carried' or 'reset', got {mode!r}")
    with torch_threads(num_threads):
        streams = make_streams(torch.as_tensor(train_ids), batch)
        pieces = segments(streams, bptt)
        valid = torch.as_tensor(valid_ids[:eval_chars]).reshape(-1, 1)
        torch.manual_seed(seed)
        model = CharLM(vocab_size, hidden_size, layers=1, model="cudnn")
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        state, losses = None, []
        for k in range(steps):
            x, y = pieces[k % len(pieces)]
            if k % len(pieces) == 0 or mode == "reset":
                state = None
            logits, state = model(x, state)
            loss = F.cross_entropy(logits.reshape(-1, vocab_size), y.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            state = tuple(s.detach() for s in state)
            losses.append(loss.item())
        return losses, evaluate_bpc(model, valid, bptt, carry=mode == "carried")


@torch.no_grad()
def evaluate_bpc(model, streams, bptt, carry=True):
    """Bits per character of ``model`` (a :class:`~lstm_ref.train.charlm.model.CharLM`) on
    ``streams (S, N)``, read ``bptt`` steps at a time, the state carried (or reset when
    ``carry`` is False) between segments."""
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    for x, y in segments(streams, bptt):
        logits, state = model(x, state if carry else None)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1),
                                 reduction="sum").item()
        count += y.numel()
    model.train(was_training)
    return total / count / LN2
