r"""Training an LSTM or a tanh RNN on the adding problem (Hochreiter & Schmidhuber, 1997).

The model reads a sequence ``x (L, N, 2)`` of ``(value, marker)`` pairs and predicts the
target from its last hidden state through a linear readout:

.. math::
    \hat y = h_L w + b_{\text{out}}

It is trained with Adam on minibatches of fresh sequences (squared error on the target) and
evaluated every few minibatches on a fixed held-out set; training stops as soon as the
fraction of held-out sequences predicted within :data:`~lstm_ref.data.adding.TOLERANCE`
reaches ``target_accuracy``, or when ``max_sequences`` training sequences have been seen.

This module imports torch (and tqdm); ``import lstm_ref`` does not import it.
"""

import dataclasses
import time

import numpy as np
import torch
from torch import nn

from ..convert import torch_lstm_to_numpy
from ..data.adding import adding_accuracy, make_adding_batch
from ..numpy.lstm import lstm_forward
from ._threads import torch_threads


@dataclasses.dataclass
class AddingConfig:
    """The settings of one training run.

    Attributes:
        cell: ``"lstm"`` (``torch.nn.LSTM``) or ``"rnn"`` (``torch.nn.RNN``, tanh).
        hidden_size: ``H``.
        T: the minimal sequence length (sequences have ``T`` to ``T + T//10`` pairs).
        batch_size: sequences per minibatch (one Adam step per minibatch).
        lr: Adam's learning rate.
        forget_bias: for the LSTM, the value of the summed forget-gate bias at
            initialisation (``bias_ih + bias_hh``); None keeps torch's initialisation.
        input_bias: the same for the input gate (negative: the cell starts closed to its
            input, as in Hochreiter & Schmidhuber's experiments); None keeps torch's.
        max_sequences: stop after this many training sequences.
        target_accuracy: stop once this fraction of the held-out set is correct.
        eval_every: evaluate every this many minibatches.
        eval_size: the number of held-out sequences (drawn once, from ``eval_seed``).
        eval_batch: held-out sequences per length draw (each held-out batch has one length).
        seed: seeds torch's initialisation and the training data.
        eval_seed: seeds the held-out set (the same for every model compared).
        clip: clip the gradient's global norm to this value (None: no clipping).
        num_threads: torch threads during the run (restored afterwards).
    """

    cell: str = "lstm"
    hidden_size: int = 4
    T: int = 100
    batch_size: int = 32
    lr: float = 1e-2
    forget_bias: float | None = 5.0
    input_bias: float | None = -3.0
    max_sequences: int = 100_000
    target_accuracy: float = 0.99
    eval_every: int = 25
    eval_size: int = 2000
    eval_batch: int = 250
    seed: int = 0
    eval_seed: int = 12345
    clip: float | None = 1.0
    num_threads: int = 1

    def __post_init__(self):
        if self.cell not in ("lstm", "rnn"):
            raise ValueError(f"cell must be 'lstm' or 'rnn', got {self.cell!r}")
        for name in ("hidden_size", "T", "batch_size", "max_sequences", "eval_every",
                     "eval_size", "eval_batch", "num_threads"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not 0 < self.target_accuracy <= 1:
            raise ValueError(f"target_accuracy must be in (0, 1], got {self.target_accuracy}")


class AddingModel(nn.Module):
    """A one-layer recurrent network with a linear readout of its last hidden state.

    Args:
        cell: ``"lstm"`` or ``"rnn"`` (tanh).
        hidden_size: ``H``.

    Shapes:
        input ``(L, N, 2)`` time-major; output ``(N,)``.
    """

    def __init__(self, cell="lstm", hidden_size=4):
        super().__init__()
        if cell not in ("lstm", "rnn"):
            raise ValueError(f"cell must be 'lstm' or 'rnn', got {cell!r}")
        self.cell = cell
        rnn_cls = nn.LSTM if cell == "lstm" else nn.RNN
        self.rnn = rnn_cls(2, hidden_size)
        self.readout = nn.Linear(hidden_size, 1)

    def forward(self, x):
        out, _ = self.rnn(x)  # (L, N, H)
        return self.readout(out[-1])[:, 0]  # (N,)


def count_weights(model):
    """The number of free weights: parameters, with torch's two recurrent biases counted once.

    ``bias_ih`` and ``bias_hh`` only ever appear summed, so together they are one bias
    vector; this is the count that compares with a paper's "number of weights".
    """
    total = sum(p.numel() for p in model.parameters())
    for name, p in model.named_parameters():
        if name.endswith("bias_hh_l0"):
            total -= p.numel()
    return total


def _set_gate_bias(lstm, gate, value):
    """Summed bias of one gate block (``gate`` in ``"ifgo"``) = ``value``: put it in
    ``bias_ih``, zero the block in ``bias_hh`` (torch adds the two)."""
    H = lstm.hidden_size
    k = "ifgo".index(gate)
    with torch.no_grad():
        lstm.bias_ih_l0[k * H : (k + 1) * H] = value
        lstm.bias_hh_l0[k * H : (k + 1) * H] = 0.0


def heldout_set(config):
    """The held-out sequences, a list of ``(x, y)`` tensors (one length per batch)."""
    rng = np.random.default_rng(config.eval_seed)
    batches = []
    remaining = config.eval_size
    while remaining > 0:
        n = min(config.eval_batch, remaining)
        x, y = make_adding_batch(n, config.T, rng)
        batches.append((torch.from_numpy(x), torch.from_numpy(y)))
        remaining -= n
    return batches


@torch.no_grad()
def evaluate(model, batches):
    """``(accuracy, mean squared error)`` of ``model`` on held-out ``batches``."""
    preds, targets = [], []
    for x, y in batches:
        preds.append(model(x).numpy())
        targets.append(y.numpy())
    pred, y = np.concatenate(preds), np.concatenate(targets)
    return adding_accuracy(pred, y), float(np.mean((pred - y) ** 2))


@dataclasses.dataclass
class AddingResult:
    """What :func:`train_adding` returns.

    Attributes:
        config: the settings.
        model: the trained :class:`AddingModel` (in eval mode).
        n_weights: :func:`count_weights` of the model.
        solved: whether the held-out accuracy reached ``target_accuracy``.
        sequences_seen: training sequences seen when training stopped.
        accuracy: the held-out accuracy at the end.
        history: a list of ``(sequences_seen, held-out accuracy, held-out MSE)``, one per
            evaluation (the first at 0 sequences).
        seconds: wall-clock time of the run.
    """

    config: AddingConfig
    model: AddingModel
    n_weights: int
    solved: bool
    sequences_seen: int
    accuracy: float
    history: list
    seconds: float


def train_adding(config=None, progress=True, **overrides):
    """Train one model on the adding problem until it is solved or the budget is spent.

    Args:
        config: an :class:`AddingConfig` (default settings if None).
        progress: show a ``tqdm`` progress bar (counting training sequences).
        **overrides: fields of :class:`AddingConfig` to change, e.g. ``cell="rnn"``.

    Returns:
        An :class:`AddingResult`.
    """
    config = dataclasses.replace(config or AddingConfig(), **overrides)
    with torch_threads(config.num_threads):
        return _train(config, progress)


def _train(config, progress):
    from tqdm import tqdm

    start = time.perf_counter()
    torch.manual_seed(config.seed)
    model = AddingModel(config.cell, config.hidden_size)
    if config.cell == "lstm":
        for gate, value in (("f", config.forget_bias), ("i", config.input_bias)):
            if value is not None:
                _set_gate_bias(model.rnn, gate, value)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    heldout = heldout_set(config)
    rng = np.random.default_rng(config.seed)

    seen = 0
    acc, mse = evaluate(model, heldout)
    history = [(0, acc, mse)]
    bar = tqdm(total=config.max_sequences, disable=not progress, unit="seq",
               desc=f"{config.cell} H={config.hidden_size} T={config.T}")
    step = 0
    while acc < config.target_accuracy and seen < config.max_sequences:
        model.train()
        x, y = make_adding_batch(config.batch_size, config.T, rng)
        loss = torch.mean((model(torch.from_numpy(x)) - torch.from_numpy(y)) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if config.clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        opt.step()
        seen += config.batch_size
        step += 1
        bar.update(config.batch_size)
        if step % config.eval_every == 0 or seen >= config.max_sequences:
            model.eval()
            acc, mse = evaluate(model, heldout)
            history.append((seen, acc, mse))
            bar.set_postfix(acc=f"{acc:.3f}", mse=f"{mse:.2e}")
    bar.close()
    model.eval()
    return AddingResult(
        config=config,
        model=model,
        n_weights=count_weights(model),
        solved=acc >= config.target_accuracy,
        sequences_seen=seen,
        accuracy=acc,
        history=history,
        seconds=time.perf_counter() - start,
    )


def lstm_gate_activations(model, x):
    """The gate activations and states of an LSTM on one sequence, step by step.

    Computed by :func:`lstm_ref.numpy.lstm_forward` in float64, from zero initial states.

    Args:
        model: an :class:`AddingModel` with ``cell="lstm"`` (its weights are read with
            :func:`lstm_ref.convert.torch_lstm_to_numpy`), or numpy weights
            ``(Wx (D, 4H), Wh (H, 4H), b (4H,))``, gate blocks in order i, f, g, o.
        x: one sequence, ``(L, D)`` (numpy or tensor).

    Returns:
        A dict of numpy arrays, each ``(L, H)``: ``"i"``, ``"f"``, ``"g"``, ``"o"`` (the
        gates), ``"c"`` (cell state) and ``"h"`` (hidden state).
    """
    if isinstance(model, tuple) and len(model) == 3:
        Wx, Wh, b = (np.asarray(w, dtype=np.float64) for w in model)
    elif getattr(model, "cell", None) == "lstm":
        Wx, Wh, b = (w.astype(np.float64) for w in torch_lstm_to_numpy(model.rnn))
    else:
        raise ValueError(
            "model must be an AddingModel with cell='lstm' or a tuple (Wx, Wh, b)"
        )
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != Wx.shape[0]:
        raise ValueError(f"x must have shape (L, {Wx.shape[0]}), got {x.shape}")
    H = Wh.shape[0]
    zeros = np.zeros((1, H))
    h, c, cache = lstm_forward(x[:, None, :], zeros, zeros, Wx, Wh, b)
    gates = cache[5][:, 0, :]  # (L, 4H): the reference cache keeps the activations i, f, g, o
    out = {name: gates[:, k * H : (k + 1) * H] for k, name in enumerate("ifgo")}
    out["c"] = c[:, 0, :]
    out["h"] = h[:, 0, :]
    return out
