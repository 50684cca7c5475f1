r"""Training an LSTM or a tanh RNN on the adding problem (Hochreiter & Schmidhuber, 1997).

The model reads a sequence ``x (L, N, 2)`` of ``(value, marker)`` pairs and predicts the
target from its last hidden state through a linear readout:

.. math::
    \hat y = h_L w + b_{\text{out}}

It is trained with Adam on minibatches of fresh sequences (squared error on the target).
Two stopping rules are tracked side by side:

- the **held-out rule**: every ``eval_every`` minibatches a fixed held-out set is predicted;
  it is met when at least ``target_accuracy`` of it lies within
  :data:`~lstm_ref.data.adding.TOLERANCE` of the target;
- the **paper's rule** (Hochreiter & Schmidhuber 1997, section 5.4): training stopped once
  "the average training error was below 0.01" and "the 2000 most recent sequences were
  processed correctly" (absolute error below 0.04). Here the errors are those of the training
  sequences themselves, each measured in the forward pass of its own minibatch, before the
  update. The paper does not say which error it averaged: if squared, the first condition
  follows from the second (every error below 0.04 gives a mean square below 0.0016), so the
  result records both the window being all correct and, as the stricter reading, the window
  being all correct with a mean *absolute* error below 0.01.

``stop`` says which rule ends the run (``"heldout"``, ``"paper"`` or ``"both"``); the run also
ends after ``max_sequences`` training sequences.

This module imports torch (and tqdm); ``import lstm_ref`` does not import it.
"""

import dataclasses
import time

import numpy as np
import torch
from torch import nn

from ..convert import torch_lstm_to_numpy
from ..data.adding import TOLERANCE, adding_accuracy, make_adding_batch
from ..numpy.lstm import lstm_forward
from ._threads import torch_threads


RNN_INITS = ("torch", "orthogonal", "identity")
STOP_RULES = ("heldout", "paper", "both")
PAPER_MEAN_ERROR = 0.01
"""The paper's bound on the average training error."""


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
        rnn_init: for the tanh RNN, the initial recurrent matrix ``weight_hh_l0``:
            ``"torch"`` (torch's uniform default), ``"orthogonal"`` (a random orthogonal
            matrix) or ``"identity"``; the RNN's biases then start at zero.
        window: the number of most recent training sequences the paper's rule looks at.
        stop: ``"heldout"``, ``"paper"`` or ``"both"``: which rule ends the run.
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
    rnn_init: str = "torch"
    window: int = 2000
    stop: str = "heldout"

    def __post_init__(self):
        if self.cell not in ("lstm", "rnn"):
            raise ValueError(f"cell must be 'lstm' or 'rnn', got {self.cell!r}")
        if self.rnn_init not in RNN_INITS:
            raise ValueError(f"rnn_init must be one of {RNN_INITS}, got {self.rnn_init!r}")
        if self.stop not in STOP_RULES:
            raise ValueError(f"stop must be one of {STOP_RULES}, got {self.stop!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        for name in ("hidden_size", "T", "batch_size", "max_sequences", "eval_every",
                     "eval_size", "eval_batch", "num_threads", "window"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not 0 < self.target_accuracy <= 1:
            raise ValueError(f"target_accuracy must be in (0, 1], got {self.target_accuracy}")

    def lines(self, width=88):
        """The settings as ``name=value`` items packed into lines of at most ``width``
        characters (for printing a configuration without overlong lines)."""
        items = [f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)]
        out, line = [], ""
        for item in items:
            if line and len(line) + 2 + len(item) > width:
                out.append(line + ",")
                line = item
            else:
                line = f"{line}, {item}" if line else item
        out.append(line)
        return "\n".join(out)


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


def _init_rnn(rnn, kind):
    """Set a ``torch.nn.RNN``'s recurrent matrix to a random orthogonal matrix or to the
    identity, and its biases to zero."""
    with torch.no_grad():
        if kind == "orthogonal":
            nn.init.orthogonal_(rnn.weight_hh_l0)
        else:
            rnn.weight_hh_l0.copy_(torch.eye(rnn.hidden_size))
        rnn.bias_ih_l0.zero_()
        rnn.bias_hh_l0.zero_()


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
        heldout_at: training sequences seen when the held-out rule was first met (None if
            never).
        paper_at: training sequences seen when the ``window`` most recent training
            sequences were first all within the tolerance (None if never).
        paper_strict_at: the same with, in addition, their mean absolute error below 0.01
            (None if never).
        window_history: a list of ``(sequences_seen, fraction of the window correct, mean
            absolute error of the window)``, one per evaluation once ``window`` training
            sequences have been seen.
        losses: the training loss (mean squared error) of every minibatch, before its
            update, one float per Adam step.
    """

    config: AddingConfig
    model: AddingModel
    n_weights: int
    solved: bool
    sequences_seen: int
    accuracy: float
    history: list
    seconds: float
    heldout_at: int | None = None
    paper_at: int | None = None
    paper_strict_at: int | None = None
    window_history: list = dataclasses.field(default_factory=list)
    losses: list = dataclasses.field(default_factory=list)


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
    elif config.rnn_init != "torch":
        _init_rnn(model.rnn, config.rnn_init)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    heldout = heldout_set(config)
    rng = np.random.default_rng(config.seed)

    seen = 0
    acc, mse = evaluate(model, heldout)
    history = [(0, acc, mse)]
    heldout_at = 0 if acc >= config.target_accuracy else None
    paper_at = paper_strict_at = None
    errors = np.full(config.window, np.inf)  # |error| of the most recent training sequences
    window_history = []
    losses = []
    bar = tqdm(total=config.max_sequences, disable=not progress, unit="seq",
               desc=f"{config.cell} H={config.hidden_size} T={config.T}")
    step = 0

    def done():
        rules = {"heldout": heldout_at, "paper": paper_at,
                 "both": None if heldout_at is None or paper_at is None else paper_at}
        return rules[config.stop] is not None

    while not done() and seen < config.max_sequences:
        model.train()
        x, y = make_adding_batch(config.batch_size, config.T, rng)
        target = torch.from_numpy(y)
        pred = model(torch.from_numpy(x))
        loss = torch.mean((pred - target) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        losses.append(loss.item())
        if config.clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        opt.step()
        # the training errors of this minibatch, measured before its update, enter the window
        err = np.abs(pred.detach().numpy() - y).astype(np.float64)[-config.window :]
        errors = np.roll(errors, -len(err))
        errors[-len(err) :] = err
        seen += config.batch_size
        step += 1
        bar.update(config.batch_size)
        if paper_at is None or paper_strict_at is None:  # (inf until the window is full)
            all_correct = bool(np.all(errors < TOLERANCE))
            if all_correct and paper_at is None:
                paper_at = seen
            if all_correct and paper_strict_at is None and np.mean(errors) < PAPER_MEAN_ERROR:
                paper_strict_at = seen
        if step % config.eval_every == 0 or seen >= config.max_sequences:
            model.eval()
            acc, mse = evaluate(model, heldout)
            history.append((seen, acc, mse))
            if heldout_at is None and acc >= config.target_accuracy:
                heldout_at = seen
            if seen >= config.window:
                window_history.append(
                    (seen, float(np.mean(errors < TOLERANCE)), float(np.mean(errors)))
                )
            bar.set_postfix(acc=f"{acc:.3f}", mse=f"{mse:.2e}")
    bar.close()
    model.eval()
    return AddingResult(
        config=config,
        model=model,
        n_weights=count_weights(model),
        solved=heldout_at is not None,
        sequences_seen=seen,
        accuracy=acc,
        history=history,
        seconds=time.perf_counter() - start,
        heldout_at=heldout_at,
        paper_at=paper_at,
        paper_strict_at=paper_strict_at,
        window_history=window_history,
        losses=losses,
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
