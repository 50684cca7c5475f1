r"""The ablation study of chapter 4: LSTM variants (Greff et al., 2017) trained on tasks that
separate them, one change at a time against the control (``"vanilla"``), over several seeds.

Two tasks, both next-symbol prediction with a multi-hot target (the set of symbols the
grammar allows next) and a sigmoid readout trained with binary cross-entropy:

- the continual embedded Reber grammar (:mod:`lstm_ref.data.reber`; Gers, Schmidhuber &
  Cummins, 2000): ``batch_size`` endless streams, cut into chunks of ``chunk`` steps, the
  state carried from one chunk to the next and never reset (truncated backpropagation
  through time: the gradient stops at a chunk's start). Evaluated on a long held-out stream,
  read from a zero state once and never reset;
- counting :math:`a^n b^n c^n` (:mod:`lstm_ref.data.counting`; Gers & Schmidhuber, 2001):
  minibatches of strings with ``n`` drawn from the training range, each string from a zero
  state; evaluated by the fraction of strings accepted (every prediction right), for every
  ``n`` of the training range and a few beyond it.

Every model is :class:`lstm_ref.torch.VariantLSTM` with a linear readout, trained with Adam
and gradient-norm clipping, on one CPU thread. The budget is fixed (``updates`` Adam steps);
nothing stops early, so every variant sees the same data.

This module imports torch; ``import lstm_ref`` does not import it.
"""

import dataclasses
import itertools
import time

import numpy as np
import torch
from torch import nn

from ..data.counting import accepted as _counting_accepted
from ..data.counting import make_counting_batch
from ..data.reber import SYMBOLS as REBER_SYMBOLS
from ..data.reber import continual_embedded_reber
from ._threads import torch_threads


def _variant_lstm(input_size, hidden_size, variant, forget_bias):
    from ..torch import VariantLSTM  # imported here: the torch variants live in lstm_ref.torch

    return VariantLSTM(input_size, hidden_size, variant=variant, forget_bias=forget_bias)


class SymbolPredictor(nn.Module):
    """A :class:`~lstm_ref.torch.VariantLSTM` with a linear readout of every hidden state:
    one logit per symbol.

    Args:
        n_symbols: the input (one-hot) and output size.
        hidden_size: ``H``.
        variant: one of ``lstm_ref.numpy.variants.VARIANTS``.
        forget_bias: the forget-gate bias at initialisation.

    Shapes:
        input ``(T, N, n_symbols)`` and an optional state ``(h, c)``, each ``(N, H)``;
        output: logits ``(T, N, n_symbols)`` and the last state.
    """

    def __init__(self, n_symbols, hidden_size, variant="vanilla", forget_bias=1.0):
        super().__init__()
        self.rnn = _variant_lstm(n_symbols, hidden_size, variant, forget_bias)
        self.readout = nn.Linear(hidden_size, n_symbols)

    def forward(self, x, state=None):
        out, state = self.rnn(x, state)  # (T, N, H)
        return self.readout(out), state


@dataclasses.dataclass
class StudyConfig:
    """The settings of one training run (one variant, one seed, one task).

    Attributes:
        task: ``"reber"`` (continual embedded Reber) or ``"counting"`` (a^n b^n c^n).
        variant: the LSTM variant (``"vanilla"`` is the control).
        hidden_size: ``H``.
        updates: Adam steps (the fixed budget).
        batch_size: streams (Reber) or strings (counting) per update.
        chunk: Reber: steps per chunk (truncated BPTT length).
        lr: Adam's learning rate.
        clip: the gradient's global norm is clipped to this value.
        forget_bias: the forget-gate bias at initialisation (ignored by the variants
            without a forget gate).
        n_train: counting: the largest ``n`` trained on (``n`` uniform in ``1..n_train``).
        n_test: counting: the largest ``n`` evaluated.
        eval_steps: Reber: the length of the held-out stream.
        eval_streams: Reber: the number of held-out streams.
        seed: seeds the initialisation and the training data.
        eval_seed: seeds the held-out data (the same for every run).
        num_threads: torch threads during the run (restored afterwards).
    """

    task: str = "reber"
    variant: str = "vanilla"
    hidden_size: int = 8
    updates: int = 300
    batch_size: int = 16
    chunk: int = 20
    lr: float = 1e-2
    clip: float = 1.0
    forget_bias: float = 1.0
    n_train: int = 8
    n_test: int = 12
    eval_steps: int = 3000
    eval_streams: int = 8
    seed: int = 0
    eval_seed: int = 12345
    num_threads: int = 1

    def __post_init__(self):
        if self.task not in ("reber", "counting"):
            raise ValueError(f"task must be 'reber' or 'counting', got {self.task!r}")
        for name in ("hidden_size", "updates", "batch_size", "chunk", "n_train", "n_test",
                     "eval_steps", "eval_streams", "num_threads"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.n_test < self.n_train:
            raise ValueError(f"n_test ({self.n_test}) must be at least n_train ({self.n_train})")


@dataclasses.dataclass
class StudyResult:
    """What :func:`train_variant` returns.

    Attributes:
        config: the settings.
        score: the task's headline number, higher is better: Reber, the held-out
            ``"step_accuracy"`` (see :func:`evaluate_reber`); counting, the fraction of held-out strings with ``n`` in ``1..n_train``
            accepted.
        metrics: more numbers, by name (see :func:`evaluate_reber`,
            :func:`evaluate_counting`).
        losses: the training loss after each update.
        curves: per-position numbers on the held-out data (Reber: ``"critical_error"``
            and ``"cell_abs"`` by window of the stream; counting: ``"accepted_by_n"``).
        seconds: wall-clock time of training and evaluation.
    """

    config: StudyConfig
    score: float
    metrics: dict
    losses: list
    curves: dict
    seconds: float


def _reber_correct(logits, allowed):
    """Per step, whether the thresholded prediction equals the allowed set: ``(L, N)``."""
    return ((logits > 0) == (allowed > 0.5)).all(dim=2)


@torch.no_grad()
def evaluate_reber(model, config, windows=10):
    """Run ``model`` over the held-out continual stream from a zero state, never resetting.

    Returns:
        ``(metrics, curves)``: ``metrics`` holds ``"step_accuracy"`` (the fraction of all
        steps whose predicted set, thresholded at 0.5, is exactly the allowed set),
        ``"critical_accuracy"`` (the same over the critical steps only),
        ``"critical_choice"`` (the fraction of critical steps where the remembered symbol
        gets a larger output than the other of ``T``/``P``: 0.5 is chance) and
        ``"max_abs_cell"`` (the stream is read in 100-step chunks; at the *last step* of
        each chunk the mean ``|c|`` over units and streams is taken, and this is the
        largest of those values); ``curves``
        holds ``"step_error"``, ``"critical_error"`` and ``"cell_abs"`` (the mean ``|c|`` at
        the chunks' last steps within each window), one value per window of the stream, and ``"window_steps"``, the step at each window's
        end.
    """
    rng = np.random.default_rng(config.eval_seed)
    x, allowed, critical = continual_embedded_reber(config.eval_steps, config.eval_streams, rng)
    x, allowed, critical = torch.from_numpy(x), torch.from_numpy(allowed), torch.from_numpy(critical)
    state, chunks, cells = None, [], []
    for start in range(0, config.eval_steps, 100):
        logits, state = model(x[start:start + 100], state)
        chunks.append(logits)
        cells.append(state[1].abs().mean().item())
    logits = torch.cat(chunks)
    ok = _reber_correct(logits, allowed)  # (L, N)
    edges = np.linspace(0, config.eval_steps, windows + 1).astype(int)
    crit_err, cell_abs, step_err = [], [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        step_err.append(float(1.0 - ok[lo:hi].float().mean()))
        crit = critical[lo:hi]
        crit_err.append(float(1.0 - ok[lo:hi][crit].float().mean()) if crit.any() else np.nan)
        cell_abs.append(float(np.mean(cells[lo // 100:max(hi // 100, lo // 100 + 1)])))
    # At a critical step exactly one of T and P is allowed: is it the likelier of the two?
    t, p = REBER_SYMBOLS.index("T"), REBER_SYMBOLS.index("P")
    picks_t = logits[..., t] > logits[..., p]
    choice_ok = picks_t == (allowed[..., t] > 0.5)
    metrics = {
        "critical_accuracy": float(ok[critical].float().mean()),
        "critical_choice": float(choice_ok[critical].float().mean()),
        "step_accuracy": float(ok.float().mean()),
        "max_abs_cell": float(max(cells)),
    }
    curves = {"step_error": step_err, "critical_error": crit_err, "cell_abs": cell_abs,
              "window_steps": edges[1:].tolist()}
    return metrics, curves


@torch.no_grad()
def evaluate_counting(model, config):
    """The fraction of strings accepted for each ``n`` in ``1..n_test`` (one string per
    ``n``: the task is deterministic given ``n``).

    Returns:
        ``(metrics, curves)``: ``metrics`` holds ``"train_accepted"`` (over ``1..n_train``)
        and ``"test_accepted"`` (over ``n_train+1..n_test``); ``curves`` holds
        ``"accepted_by_n"`` (a list of 0/1, index ``n - 1``).
    """
    ns = list(range(1, config.n_test + 1))
    x, allowed, mask = make_counting_batch(ns)
    logits, _ = model(torch.from_numpy(x))
    ok = _counting_accepted(torch.sigmoid(logits).numpy(), allowed, mask).astype(float)
    beyond = ok[config.n_train:]
    metrics = {
        "train_accepted": float(ok[:config.n_train].mean()),
        "test_accepted": float(beyond.mean()) if beyond.size else float("nan"),
    }
    return metrics, {"accepted_by_n": ok.tolist()}


def _train_reber(model, config, rng, opt, loss_fn):
    losses = []
    stream_len = config.updates * config.chunk
    x, allowed, _ = continual_embedded_reber(stream_len, config.batch_size, rng)
    x, allowed = torch.from_numpy(x), torch.from_numpy(allowed)
    state = None
    for k in range(config.updates):
        sl = slice(k * config.chunk, (k + 1) * config.chunk)
        logits, state = model(x[sl], state)
        loss = loss_fn(logits, allowed[sl])
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        opt.step()
        state = tuple(s.detach() for s in state)  # carried on, never reset
        losses.append(loss.item())
    return losses


def _train_counting(model, config, rng, opt, loss_fn):
    losses = []
    for _ in range(config.updates):
        ns = rng.integers(1, config.n_train, size=config.batch_size, endpoint=True)
        x, allowed, mask = make_counting_batch(ns)
        x, allowed, mask = torch.from_numpy(x), torch.from_numpy(allowed), torch.from_numpy(mask)
        logits, _ = model(x)
        per_step = nn.functional.binary_cross_entropy_with_logits(
            logits, allowed, reduction="none").mean(dim=2)
        loss = (per_step * mask).sum() / mask.sum()
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        opt.step()
        losses.append(loss.item())
    return losses


def train_variant(config=None, **overrides):
    """Train one variant on one task with one seed, for the fixed budget, and evaluate it.

    Args:
        config: a :class:`StudyConfig` (default settings if None).
        **overrides: fields of :class:`StudyConfig` to change, e.g. ``variant="NFG"``.

    Returns:
        A :class:`StudyResult`.
    """
    config = dataclasses.replace(config or StudyConfig(), **overrides)
    start = time.perf_counter()
    with torch_threads(config.num_threads):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            rng = np.random.default_rng(config.seed)
            n_symbols = len(REBER_SYMBOLS) if config.task == "reber" else 5
            model = SymbolPredictor(n_symbols, config.hidden_size, config.variant,
                                    config.forget_bias)
            opt = torch.optim.Adam(model.parameters(), lr=config.lr)
            loss_fn = nn.BCEWithLogitsLoss()
            if config.task == "reber":
                losses = _train_reber(model, config, rng, opt, loss_fn)
                metrics, curves = evaluate_reber(model.eval(), config)
                score = metrics["step_accuracy"]
            else:
                losses = _train_counting(model, config, rng, opt, loss_fn)
                metrics, curves = evaluate_counting(model.eval(), config)
                score = metrics["train_accepted"]
    return StudyResult(config, score, metrics, losses, curves, time.perf_counter() - start)


def run_study(variants, seeds, config=None, **overrides):
    """Train every variant with every seed (same data for the same seed).

    Args:
        variants: names of variants; the first is the control.
        seeds: the seeds, e.g. ``(0, 1, 2)``.
        config: the shared :class:`StudyConfig`; ``**overrides`` change its fields.

    Returns:
        ``{variant: [StudyResult, one per seed]}``, in the order of ``variants``.
    """
    variants, seeds = list(variants), list(seeds)
    if not variants or not seeds:
        raise ValueError("run_study needs at least one variant and one seed")
    base = dataclasses.replace(config or StudyConfig(), **overrides)
    return {v: [train_variant(base, variant=v, seed=s) for s in seeds] for v in variants}


def summarise(study, key="score"):
    """Mean, standard deviation (over seeds, ``ddof=1`` when there are several), min, max and
    the per-seed values of ``key`` (``"score"`` or a name in the results' ``metrics``) for
    each variant, the mean's difference with the control (the first variant) and the
    :func:`permutation_p` of that difference.

    Returns:
        ``{variant: {"mean", "std", "min", "max", "values", "delta", "p"}}``.
    """
    def value(result):
        return result.score if key == "score" else result.metrics[key]

    out = {}
    first = next(iter(study))
    controls = np.array([value(r) for r in study[first]], dtype=float)
    control = float(controls.mean())
    for variant, results in study.items():
        vals = np.array([value(r) for r in results], dtype=float)
        mean = float(vals.mean())
        out[variant] = {
            "mean": mean,
            "std": float(vals.std(ddof=1)) if vals.size > 1 else 0.0,
            "min": float(vals.min()),
            "max": float(vals.max()),
            "values": vals.tolist(),
            "delta": mean - control,
            "p": permutation_p(vals, controls) if variant != first else 1.0,
        }
    return out


def permutation_p(a, b):
    """The exact two-sided permutation test of a difference of means between samples ``a``
    and ``b``: the fraction of all ways to split the pooled values into groups of their
    sizes whose difference of means is at least as large (in absolute value) as observed.

    With three values against three the smallest possible result is ``2/20 = 0.1``: three
    seeds cannot show a difference at the 5% level, whatever the numbers.

    Returns:
        A float in ``(0, 1]``.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 1 or b.ndim != 1 or not a.size or not b.size:
        raise ValueError(f"a and b must be non-empty 1-D samples, got shapes {a.shape}, {b.shape}")
    pooled = np.concatenate([a, b])
    observed = abs(a.mean() - b.mean())
    total = pooled.sum()
    hits = count = 0
    for idx in itertools.combinations(range(pooled.size), a.size):
        sa = pooled[list(idx)].sum()
        diff = abs(sa / a.size - (total - sa) / b.size)
        hits += diff >= observed - 1e-12
        count += 1
    return hits / count


# --------------------------------------------------------------------------------------
# Many models at once: the recorded replications (lstm_ref.experiments.reber_forget and
# lstm_ref.experiments.ablation) train every cell and learning rate of one seed together.


@dataclasses.dataclass(frozen=True)
class ContinualReberConfig:
    """The settings of one seed's batch of models on the continual embedded Reber grammar.

    Attributes:
        hidden_size: ``H``.
        updates: Adam steps (the fixed budget; nothing stops early).
        batch_size: training streams per update, each carried on without reset.
        chunk: steps per update (truncated BPTT: the gradient stops at a chunk's start).
        clip: each model's gradient is clipped to this global norm.
        forget_bias: the forget gate's initial bias (CIFG: minus the input gate's).
        eval_steps: the length of each held-out stream.
        eval_streams: the number of held-out streams (read from a zero state, no reset).
        windows: the held-out streams are cut into this many windows for the curves.
        head: the training loss of each of the first ``head`` updates is recorded.
        block: after that, the mean training loss of every ``block`` updates.
        decay: ``"none"`` (constant learning rate) or ``"linear"`` (from the model's rate
            at the first update down to 0 after the last).
        stop_after: train only the first ``stop_after`` updates of the schedule (None: all
            of them); a slice of a run, whose losses are a prefix of the whole run's.
    """

    hidden_size: int = 16
    updates: int = 1000
    batch_size: int = 16
    chunk: int = 40
    clip: float = 1.0
    forget_bias: float = 1.0
    eval_steps: int = 10_000
    eval_streams: int = 10
    windows: int = 10
    head: int = 100
    block: int = 100
    decay: str = "none"
    stop_after: int | None = None

    def __post_init__(self):
        if self.stop_after is not None and not (
                isinstance(self.stop_after, int) and 1 <= self.stop_after <= self.updates):
            raise ValueError(f"stop_after must be None or an int in 1..updates, got {self.stop_after!r}")
        if self.decay not in ("none", "linear"):
            raise ValueError(f"decay must be 'none' or 'linear', got {self.decay!r}")
        for name in ("hidden_size", "updates", "batch_size", "chunk", "eval_steps",
                     "eval_streams", "windows", "head", "block"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")


def reber_streams(n_steps, seeds, dtype=np.float64):
    """Continual embedded Reber streams, stream ``n`` from ``default_rng(seeds[n])``: a
    longer stream starts with the shorter one (each stream has its own generator), so a
    shorter run sees a prefix of a longer run's data.

    Returns:
        ``(x, allowed, critical, starts)``, the first three as
        :func:`~lstm_ref.data.reber.continual_embedded_reber`, ``starts (L, N)`` true at
        the first symbol of each embedded string (where an external reset would act).
    """
    parts = [continual_embedded_reber(n_steps, 1, np.random.default_rng(s), dtype=dtype)
             for s in seeds]
    x, allowed, critical = (np.concatenate(p, axis=1) for p in zip(*parts))
    b, e = REBER_SYMBOLS.index("B"), REBER_SYMBOLS.index("E")
    starts = np.zeros(x.shape[:2], dtype=bool)
    starts[0] = True
    starts[1:] = (x[1:, :, b] == 1) & (x[:-1, :, e] == 1)
    return x, allowed, critical, starts


def scored_steps(starts):
    """The steps that count in an evaluation: ``starts (L, N)`` -> ``(L, N)`` bool, true
    from the start of each stream's second string on (the first string, read from the zero
    state, is a warm-up)."""
    starts = np.asarray(starts, dtype=bool)
    return np.cumsum(starts, axis=0) >= 2


def stream_errors(logits, allowed):
    """Per model and step, whether the thresholded prediction (output above 0.5, i.e.
    logit above 0) differs from the allowed set: ``(M, L, N)`` bool."""
    return ((logits > 0) != (allowed > 0.5)).any(dim=-1)


def steps_to_first_error(errors):
    """The number of steps processed without error from each stream's start:
    ``errors (..., L, N)`` -> ``(..., N)`` (``L`` where a stream has no error)."""
    errors = np.asarray(errors, dtype=bool)
    L = errors.shape[-2]
    first = np.where(errors.any(axis=-2), errors.argmax(axis=-2), L)
    return first


@torch.no_grad()
def evaluate_batch(model, data, config, piece=500):
    """Run every model of ``model`` (:class:`~lstm_ref.train.batched_variants.BatchedCells`)
    over held-out streams from a zero state, without reset (except for the models built
    with ``resets``: their state is zeroed at every string's start).

    Args:
        data: ``(x, allowed, critical, starts)`` from :func:`reber_streams`.

    Returns:
        A dict of numpy arrays, one value (or row) per model: ``"step_accuracy"`` (steps
        whose predicted set is exactly the allowed set), ``"critical_accuracy"`` (the same
        at critical steps), ``"critical_choice"`` (critical steps where the remembered
        symbol's output is above the other of T/P; 0.5 is chance), ``"errors"`` (wrong
        steps in all streams), ``"solved"`` (1.0 when no step of any held-out stream is
        wrong), ``"first_error"`` (mean over streams of the scored steps processed before
        the first error), ``"step_error"`` and ``"cell_abs"`` ``(M, windows)``: the fraction
        of wrong steps and the mean of ``|c_t|`` over every step, unit and stream in each
        window.
    """
    x, allowed, critical, starts = (torch.from_numpy(a) for a in data)
    L = x.shape[0]
    # The first string of each stream is read from the zero state, a state training meets
    # once: it is run but not scored (see scored_steps).
    scored = torch.from_numpy(scored_steps(data[3]))
    state, errs, cabs, choice = None, [], [], []
    t_idx, p_idx = REBER_SYMBOLS.index("T"), REBER_SYMBOLS.index("P")
    for lo in range(0, L, piece):
        sl = slice(lo, lo + piece)
        logits, state, cells = model.forward(x[sl], state, starts[sl])
        errs.append(stream_errors(logits, allowed[sl]))
        cabs.append(cells)
        picks_t = logits[..., t_idx] > logits[..., p_idx]
        choice.append(picks_t == (allowed[sl][..., t_idx] > 0.5))
    errors = (torch.cat(errs, dim=1) & scored).numpy()  # (M, L, N)
    cell_abs = torch.cat(cabs, dim=1).numpy()  # (M, L)
    choice = torch.cat(choice, dim=1).numpy()
    crit = critical.numpy() & scored.numpy()
    edges = np.linspace(0, L, config.windows + 1).astype(int)
    return {
        "step_accuracy": 1.0 - errors.sum(axis=(1, 2)) / scored.sum().item(),
        "critical_accuracy": 1.0 - errors[:, crit].mean(axis=1),
        "critical_choice": choice[:, crit].mean(axis=1),
        "errors": errors.sum(axis=(1, 2)).astype(float),
        "solved": (~errors.any(axis=(1, 2))).astype(float),
        "first_error": (steps_to_first_error(errors)
                        - scored.numpy().argmax(axis=0)).mean(axis=-1).astype(float),
        "step_error": np.stack([errors[:, lo:hi].sum(axis=(1, 2))
                                / max(1, int(scored[lo:hi].sum()))
                                for lo, hi in zip(edges[:-1], edges[1:])], axis=1),
        "cell_abs": np.stack([cell_abs[:, lo:hi].mean(axis=1)
                              for lo, hi in zip(edges[:-1], edges[1:])], axis=1),
    }


def train_reber_batch(cells, lrs, config, seed, resets=None, eval_seeds=()):
    """Train ``M`` models (one per cell and learning rate) on the same continual embedded
    Reber streams of ``seed``, then evaluate each on held-out streams.

    Deterministic: float64, one torch thread, deterministic algorithms, the initialisation
    from ``torch.Generator().manual_seed(seed)``, training stream ``n`` from
    ``default_rng([seed, n])``.

    Args:
        cells: ``M`` :class:`~lstm_ref.train.batched_variants.Cell`.
        lrs: ``M`` learning rates.
        config: a :class:`ContinualReberConfig`.
        seed: an int.
        resets: ``M`` bools, True for a model whose state is reset at every string's start
            (in training and evaluation); default none.
        eval_seeds: seeds of held-out sets; for each, ``eval_streams`` streams, stream
            ``n`` from ``default_rng([eval_seed, n])``.

    Returns:
        A dict: ``"loss_head" (head, M)``, the training loss of each of the first updates;
        ``"loss_blocks" (updates // block, M)``, block means; and for each ``eval_seeds[k]``
        the arrays of :func:`evaluate_batch` under the prefix ``"e{k}_"``.
    """
    from .batched_variants import BatchedAdam, BatchedCells, per_model_bce

    cells, M = list(cells), len(cells)
    lrs = [float(v) for v in lrs]
    resets = [False] * M if resets is None else [bool(r) for r in resets]
    if len(lrs) != M or len(resets) != M:
        raise ValueError(f"cells, lrs and resets must have the same length, got "
                         f"{M}, {len(lrs)}, {len(resets)}")
    C, U = config.chunk, config.updates
    run = U if config.stop_after is None else config.stop_after
    x, allowed, _, starts = reber_streams(run * C, [[seed, n] for n in range(config.batch_size)])
    x, allowed, starts = torch.from_numpy(x), torch.from_numpy(allowed), torch.from_numpy(starts)
    deterministic = torch.are_deterministic_algorithms_enabled()
    out = {}
    with torch_threads(1):
        torch.use_deterministic_algorithms(True)
        try:
            gen = torch.Generator().manual_seed(int(seed))
            model = BatchedCells(cells, len(REBER_SYMBOLS), config.hidden_size,
                                 len(REBER_SYMBOLS), gen, config.forget_bias, resets=resets)
            opt = BatchedAdam(model.params, lrs, config.clip)
            losses = np.empty((run, M))
            state = None
            base_lr = opt.lr.clone()
            for k in range(run):
                if config.decay == "linear":
                    opt.lr = base_lr * (1.0 - k / U)
                sl = slice(k * C, (k + 1) * C)
                logits, state, _ = model.forward(x[sl], state, starts[sl])
                loss = per_model_bce(logits, allowed[sl])  # (M,)
                loss.sum().backward()
                opt.step()
                state = tuple(s.detach() for s in state)  # carried on, never reset
                losses[k] = loss.detach().numpy()
            n_blocks = run // config.block
            out["loss_head"] = losses[: config.head].copy()
            out["loss_blocks"] = losses[: n_blocks * config.block].reshape(
                n_blocks, config.block, M).mean(axis=1)
            for j, es in enumerate(eval_seeds):
                data = reber_streams(config.eval_steps,
                                     [[es, n] for n in range(config.eval_streams)])
                for key, v in evaluate_batch(model, data, config).items():
                    out[f"e{j}_{key}"] = v
        finally:
            torch.use_deterministic_algorithms(deterministic)
    return out


# -------------------------------------------------------------------------- statistics


def mann_whitney_p(a, b):
    """The exact two-sided Mann–Whitney (Wilcoxon rank-sum) test: the probability, over all
    ways to split the pooled values into groups of the sizes of ``a`` and ``b``, of a rank
    sum of the first group at least as far from its mean as observed. Ties get mid-ranks
    and the exact distribution is computed with them (by counting subsets, no
    approximation).

    With 10 values against 10 the smallest possible result is ``2 / C(20, 10)``, about
    ``1.1e-5`` (with 3 against 3 it is ``0.1``).

    Returns:
        A float in ``(0, 1]``.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 1 or b.ndim != 1 or not a.size or not b.size:
        raise ValueError(f"a and b must be non-empty 1-D samples, got shapes {a.shape}, {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("a and b must be finite")
    pooled = np.concatenate([a, b])
    n, k = pooled.size, a.size
    # twice the mid-ranks are integers
    order = np.argsort(pooled, kind="mergesort")
    ranks2 = np.empty(n, dtype=np.int64)
    sorted_vals = pooled[order]
    i = 0
    while i < n:
        j = i
        while j + 1 < n and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        ranks2[order[i:j + 1]] = (i + 1) + (j + 1)  # 2 * mean rank of positions i..j
        i = j + 1
    total = int(ranks2.sum())
    # counts[s][r] = number of subsets of size s with sum r of doubled ranks
    counts = np.zeros((k + 1, total + 1), dtype=object)
    counts[0, 0] = 1
    for r in ranks2:
        counts[1:, r:] = counts[1:, r:] + counts[:-1, : total + 1 - r]
    dist = counts[k]
    sums = np.arange(total + 1)
    observed = int(ranks2[:k].sum())
    centre2 = k * total  # n_all * E[sum] scaled: E[sum] = k * total / n
    dev = np.abs(n * sums - centre2)
    obs_dev = abs(n * observed - centre2)
    hits = dist[dev >= obs_dev].sum()
    return float(hits / dist.sum())


def holm(pvalues):
    """Holm–Bonferroni adjusted p-values (step-down): sorted ascending, the ``j``-th
    smallest is multiplied by ``m - j`` (``j`` from 0), made monotone and capped at 1.
    A hypothesis is rejected at level ``alpha`` when its adjusted p is at most ``alpha``;
    the family-wise error rate is then at most ``alpha``.

    Args:
        pvalues: a sequence of ``m`` p-values.

    Returns:
        A numpy array of the adjusted p-values, in the input's order.
    """
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1 or not p.size or ((p < 0) | (p > 1)).any() or not np.isfinite(p).all():
        raise ValueError(f"pvalues must be a non-empty 1-D sequence in [0, 1], got {pvalues!r}")
    m = p.size
    order = np.argsort(p, kind="mergesort")
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out = np.empty(m)
    out[order] = adjusted
    return out
