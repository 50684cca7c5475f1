r"""char-rnn's model in torch, for the recorded experiment: the same function, faster.

:func:`lstm_ref.graph.lstm_graphs.charrnn_lstm` builds char-rnn's step graph from numpy
modules; training it for many epochs on one CPU core takes hours. :class:`TorchCharRNN`
computes the same function with ``torch.nn.LSTM``:

.. math::
    x_t = \mathrm{onehot}(k_t), \quad
    (h^{(\ell)}_t, c^{(\ell)}_t) = \mathrm{LSTM}_\ell(h^{(\ell-1)}_t, h^{(\ell)}_{t-1},
    c^{(\ell)}_{t-1}), \quad
    \log p_t = \mathrm{logsoftmax}(h^{(L)}_t W_{dec}^\top + b_{dec})

with dropout between layers and before the decoder when ``dropout > 0``.
:func:`lstm_ref.train.charrnn_weights.from_graph` copies a graph's weights into it (char-rnn's gate order i, f, o, g
becomes torch's i, f, g, o through :func:`lstm_ref.convert.reorder_gates`), and
``tests/train/test_charrnn_torch.py`` shows in float64 that the two give the same
log-probabilities and states on the same weights.

:func:`train` is char-rnn's loop (streams of :func:`lstm_ref.data.corpus.stream_batches`
in order, the state carried from batch to batch and reset at each epoch, the loss the mean
NLL per character, gradients clipped element-wise, Adam or RMSprop) with a learning rate
that decays along a half cosine from ``learning_rate`` to ``final_lr_frac *
learning_rate`` over ``iterations`` batches. :func:`heldout_log2_probs` scores every
character of a held-out range of the text exactly once, the measure the n-gram models of
:mod:`lstm_ref.train.ngram` are given too.

This module imports torch; ``import lstm_ref`` does not import it.
"""

import dataclasses
import math
import numbers
import time

import numpy as np
import torch
import torch.nn.functional as F

from ..data.corpus import stream_batches

__all__ = ["TorchCharRNN", "TrainConfig", "init_like_charrnn", "learning_rate",
           "train", "heldout_log2_probs", "sample"]

LN2 = math.log(2.0)


class TorchCharRNN(torch.nn.Module):
    """char-rnn's model: one-hot input, ``num_layers`` LSTM layers, a softmax decoder.

    Args:
        vocab_size: ``V``.
        rnn_size: ``H``.
        num_layers: ``L``.
        dropout: dropout probability between layers and before the decoder.

    Shapes:
        ``forward(x, state)``: ``x`` integer ``(T, N)``; ``state`` None or ``(h, c)``, each
        ``(L, N, H)``. Returns ``logprobs (T, N, V)`` and the final ``(h, c)``.
    """

    def __init__(self, vocab_size, rnn_size, num_layers, dropout=0.0):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("rnn_size", rnn_size),
                            ("num_layers", num_layers)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.vocab_size = int(vocab_size)
        self.rnn_size = int(rnn_size)
        self.num_layers = int(num_layers)
        self.lstm = torch.nn.LSTM(self.vocab_size, self.rnn_size, self.num_layers,
                                  dropout=dropout if num_layers > 1 else 0.0)
        self.drop = torch.nn.Dropout(dropout)
        self.decoder = torch.nn.Linear(self.rnn_size, self.vocab_size)

    def forward(self, x, state=None):
        if x.dim() != 2:
            raise ValueError(f"x must be character indices of shape (T, N), got {tuple(x.shape)}")
        onehot = F.one_hot(x, self.vocab_size).to(self.decoder.weight.dtype)  # (T, N, V)
        out, state = self.lstm(onehot, state)  # (T, N, H)
        return F.log_softmax(self.decoder(self.drop(out)), dim=-1), state


def init_like_charrnn(model, generator, init_range=0.08, forget_bias=1.0):
    """char-rnn's initialisation: every parameter uniform in ``[-init_range, init_range]``,
    then the forget-gate block of each layer's input bias (``bias_ih_l<k>[H:2H]``, the
    ``i2h`` bias of the graph) set to ``forget_bias``. Draws from ``generator``."""
    H = model.rnn_size
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.rand(p.shape, generator=generator, dtype=p.dtype) * 2 * init_range
                    - init_range)
        for k in range(model.num_layers):
            getattr(model.lstm, f"bias_ih_l{k}")[H : 2 * H] = forget_bias
    return model


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`train`.

    Attributes:
        rnn_size, num_layers, seq_length, batch_size, dropout: ``H``, ``L``, ``T``, ``N``,
            dropout, as in :class:`lstm_ref.train.charrnn.CharRNNConfig`.
        optimizer: ``"adam"`` or ``"rmsprop"`` (torch's, ``alpha = 0.95`` as char-rnn).
        learning_rate: the rate of the first batch.
        final_lr_frac: the rate of the last batch, as a fraction of ``learning_rate``; the
            rate follows a half cosine between them over ``iterations`` batches.
        grad_clip: element-wise gradient clip (char-rnn: 5).
        init_range: parameters start uniform in ``[-init_range, init_range]``.
        iterations: the length of the run, in batches (it fixes the schedule).
        eval_every: validation every this many batches (and after the last).
        stop_after: stop after this many batches (the schedule stays that of
            ``iterations``), or None to run them all; a test's cheap slice of a run.
        eval_streams, eval_warmup: how :func:`heldout_log2_probs` scores held-out text.
        dtype: ``"float32"`` or ``"float64"``.
    """

    rnn_size: int = 256
    num_layers: int = 1
    seq_length: int = 100
    batch_size: int = 32
    dropout: float = 0.0
    optimizer: str = "adam"
    learning_rate: float = 3e-3
    final_lr_frac: float = 0.1
    grad_clip: float = 5.0
    init_range: float = 0.08
    iterations: int = 1000
    eval_every: int = 200
    stop_after: int | None = None
    eval_streams: int = 64
    eval_warmup: int = 256
    dtype: str = "float32"

    def __post_init__(self):
        for name in ("rnn_size", "num_layers", "seq_length", "batch_size", "iterations",
                     "eval_every", "eval_streams"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.stop_after is not None and (not isinstance(self.stop_after, numbers.Integral)
                                            or not 1 <= self.stop_after <= self.iterations):
            raise ValueError(f"stop_after must be None or an int in [1, iterations], "
                             f"got {self.stop_after!r}")
        if self.optimizer not in ("adam", "rmsprop"):
            raise ValueError(f"optimizer must be 'adam' or 'rmsprop', got {self.optimizer!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if not 0 < self.final_lr_frac <= 1:
            raise ValueError(f"final_lr_frac must be in (0, 1], got {self.final_lr_frac!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if isinstance(self.eval_warmup, bool) or not isinstance(self.eval_warmup, numbers.Integral) \
                or self.eval_warmup < 0:
            raise ValueError(f"eval_warmup must be an int >= 0, got {self.eval_warmup!r}")


def learning_rate(config, it):
    """The rate of batch ``it`` (0-based): a half cosine from ``learning_rate`` at ``it = 0``
    to ``final_lr_frac * learning_rate`` at ``it = iterations - 1``. Depends on
    ``iterations``, never on ``stop_after``."""
    frac = it / max(config.iterations - 1, 1)
    low = config.final_lr_frac
    return config.learning_rate * (low + (1 - low) * 0.5 * (1 + math.cos(math.pi * frac)))


def heldout_log2_probs(model, ids, start, stop, streams=64, warmup=256):
    """``log2 p(ids[q] | ids[:q])`` for every ``q`` in ``range(start, stop)``, each once.

    The range is cut into ``streams`` contiguous pieces (``numpy.array_split``) run side by
    side as one batch. The piece that starts at ``q0`` starts from a zero state
    ``warmup`` characters earlier (at ``max(0, q0 - 1 - warmup)``), so its first scored
    character already has ``warmup`` characters of context; the pieces are padded at
    their end, and the padding is never scored. ``streams=1, warmup=start`` runs the model
    over the whole text before the range, from its first character.

    Args:
        model: a :class:`TorchCharRNN`.
        ids: the whole text's character indices, ``(L,)``.
        start, stop: the range scored, ``1 <= start < stop <= L``.

    Returns:
        ``float64`` array of shape ``(stop - start,)``.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"ids must be a 1-D integer array, got shape {ids.shape} of {ids.dtype}")
    if not (isinstance(start, numbers.Integral) and isinstance(stop, numbers.Integral)
            and 1 <= start < stop <= len(ids)):
        raise ValueError(f"need 1 <= start < stop <= len(ids) = {len(ids)}, got {start}, {stop}")
    streams = max(1, min(int(streams), stop - start))
    pieces = np.array_split(np.arange(start, stop), streams)
    firsts = [max(0, int(p[0]) - 1 - warmup) for p in pieces]  # first input position
    lengths = [int(p[-1]) - a for p, a in zip(pieces, firsts)]  # inputs a .. last-1
    Tmax = max(lengths)
    x = np.zeros((Tmax, streams), np.int64)
    y = np.zeros((Tmax, streams), np.int64)
    scored = np.zeros((Tmax, streams), bool)
    for j, (p, a, n) in enumerate(zip(pieces, firsts, lengths)):
        x[:n, j] = ids[a : a + n]
        y[:n, j] = ids[a + 1 : a + n + 1]
        scored[:n, j] = np.arange(a + 1, a + n + 1) >= p[0]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logp, _ = model(torch.from_numpy(x))
        picked = logp.gather(2, torch.from_numpy(y)[..., None])[..., 0].double().numpy()
    model.train(was_training)
    out = picked.T[scored.T]  # stream by stream, in text order
    return out / LN2


def train(train_ids, vocab_size, config, seed, evaluate=None, progress=False):
    """Train a :class:`TorchCharRNN` with char-rnn's loop (see the module docstring).

    Deterministic for a given ``seed`` on a given machine: the initialisation and the
    dropout masks come from torch generators seeded with ``seed``, and the run uses one
    thread and ``torch.use_deterministic_algorithms(True)`` (both restored afterwards).

    Args:
        train_ids: training characters, ``(L_train,)``.
        vocab_size: ``V``.
        config: a :class:`TrainConfig`.
        seed: an int.
        evaluate: ``evaluate(model) -> float`` (validation bits per character), called every
            ``eval_every`` batches and after the last, or None.
        progress: show a tqdm bar (on stderr).

    Returns:
        dict with ``model``, ``train_loss`` (mean NLL in nats of each batch, before its
        update, ``(batches,)`` float64), ``lr`` (the rate of each batch), ``eval_iterations``,
        ``val_bpc``, ``seconds`` (training only), ``n_params``.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # dropout masks
            return _train(train_ids, vocab_size, config, seed, evaluate, progress)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _train(train_ids, vocab_size, config, seed, evaluate, progress):
    dtype = getattr(torch, config.dtype)
    T, N = config.seq_length, config.batch_size
    batches = stream_batches(np.asarray(train_ids), N, T)
    model = TorchCharRNN(vocab_size, config.rnn_size, config.num_layers, config.dropout).to(dtype)
    init_like_charrnn(model, torch.Generator().manual_seed(seed), config.init_range)
    params = list(model.parameters())
    if config.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=config.learning_rate)
    else:
        opt = torch.optim.RMSprop(params, lr=config.learning_rate, alpha=0.95, eps=1e-8)
    total = config.stop_after or config.iterations
    losses, rates, eval_its, val_bpc = np.empty(total), np.empty(total), [], []
    seconds, state = 0.0, None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="char-rnn (torch)", unit="batch")
    model.train()
    for it in range(total):
        t0 = time.perf_counter()
        k = it % len(batches)
        if k == 0:
            state = None  # each epoch starts from a zero state
        x, y = (torch.from_numpy(a) for a in batches[k])
        rates[it] = learning_rate(config, it)
        for group in opt.param_groups:
            group["lr"] = rates[it]
        logp, state = model(x, state)
        state = tuple(s.detach() for s in state)
        loss = F.nll_loss(logp.reshape(-1, vocab_size), y.reshape(-1))
        opt.zero_grad(set_to_none=False)
        loss.backward()
        torch.nn.utils.clip_grad_value_(params, config.grad_clip)
        opt.step()
        losses[it] = float(loss.detach())
        seconds += time.perf_counter() - t0
        if evaluate is not None and ((it + 1) % config.eval_every == 0 or it + 1 == config.iterations):
            eval_its.append(it + 1)
            val_bpc.append(float(evaluate(model)))
        if bar is not None:
            bar.update(1)
            bar.set_postfix(bpc=f"{losses[it] / LN2:.3f}")
    if bar is not None:
        bar.close()
    return {"model": model, "train_loss": losses, "lr": rates, "eval_iterations": eval_its,
            "val_bpc": val_bpc, "seconds": seconds,
            "n_params": int(sum(p.numel() for p in params))}


def sample(model, vocab, length, temperature=1.0, prime="\n", seed=0):
    """Generate ``length`` characters, as char-rnn's ``sample.lua`` (and
    :func:`lstm_ref.train.charrnn.sample`): log-probabilities divided by ``temperature``
    before the softmax, draws from a numpy generator seeded with ``seed``."""
    if not isinstance(temperature, numbers.Real) or not temperature > 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    if isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 1:
        raise ValueError(f"length must be a positive int, got {length!r}")
    if not isinstance(prime, str) or not prime:
        raise ValueError(f"prime must be a non-empty str, got {prime!r}")
    rng = np.random.default_rng(seed)
    was_training = model.training
    model.eval()
    chars = []
    with torch.no_grad():
        logp, state = model(torch.from_numpy(vocab.encode(prime))[:, None])
        z = logp[-1, 0].double().numpy()
        for _ in range(length):
            z = z / temperature
            p = np.exp(z - z.max())
            k = int(rng.choice(len(p), p=p / p.sum()))
            chars.append(k)
            logp, state = model(torch.tensor([[k]]), state)
            z = logp[-1, 0].double().numpy()
    model.train(was_training)
    return vocab.decode(np.array(chars, dtype=np.int64))
