r"""Karpathy's char-rnn, trained from a graph built with :mod:`lstm_ref.graph`.

The model is the graph of :func:`lstm_ref.graph.lstm_graphs.charrnn_lstm`, one time step of
an ``L``-layer LSTM with inputs ``{x, prev_c[1], prev_h[1], ..., prev_c[L], prev_h[L]}`` and
outputs ``{next_c[1], next_h[1], ..., next_c[L], next_h[L], logprobs}``. Training follows
char-rnn's ``train.lua`` step for step:

- parameters drawn uniformly from ``[-0.08, 0.08]``, then the forget-gate bias of every layer
  set to 1 by finding the graph node annotated ``i2h_<layer>`` (char-rnn's gate order is
  i, f, o, g: the forget gate is the second block of ``H`` entries of that Linear's bias);
- truncated backpropagation through time over ``seq_length`` clones of the step graph that
  share the parameters, the final state of a batch carried into the next one;
- the loss :math:`\frac{1}{T}\sum_t \mathrm{NLL}_t` (each ``ClassNLLCriterion`` averages
  over the batch), the gradients summed over the steps (char-rnn does not divide them by
  ``T``: RMSprop is insensitive to that scale) and clipped element-wise to
  ``[-grad_clip, grad_clip]``;
- RMSprop as Torch's ``optim.rmsprop``:
  :math:`m \leftarrow \rho m + (1 - \rho) g^2`,
  :math:`\theta \leftarrow \theta - \eta\, g / (\sqrt{m} + \epsilon)`; Adam is offered too.

Bits per character (BPC) are the mean negative log-likelihood in nats divided by
:math:`\ln 2`. Sampling divides the log-probabilities by a temperature ``tau`` before the
softmax, as char-rnn's ``sample.lua``: ``tau < 1`` sharpens, ``tau > 1`` flattens.
"""

import contextlib
import ctypes
import dataclasses
import math
import numbers
import sys
import time

import numpy as np

from ..data.corpus import stream_batches

__all__ = [
    "CharRNNConfig",
    "CharRNNResult",
    "build_model",
    "train_charrnn",
    "evaluate_bpc",
    "sample",
    "RMSprop",
    "Adam",
    "one_blas_thread",
]

LN2 = math.log(2.0)


@dataclasses.dataclass(frozen=True)
class CharRNNConfig:
    """Hyper-parameters; the defaults are char-rnn's (``train.lua``) except ``iterations``.

    Attributes:
        rnn_size: ``H``, hidden units per layer (char-rnn: 128).
        num_layers: ``L``, stacked LSTM layers (char-rnn: 2).
        seq_length: ``T``, steps of truncated BPTT (char-rnn: 50).
        batch_size: ``N``, parallel streams (char-rnn: 50).
        dropout: dropout between layers (char-rnn: 0).
        learning_rate: step size (char-rnn: 2e-3).
        decay_rate: RMSprop's averaging constant (char-rnn: 0.95).
        grad_clip: element-wise gradient clip (char-rnn: 5).
        init_range: parameters start uniform in ``[-init_range, init_range]`` (0.08).
        optimizer: ``"rmsprop"`` (char-rnn) or ``"adam"``.
        iterations: number of batches to train on.
        eval_every: evaluate validation BPC every this many iterations (and at the end).
        seed: seeds the initialisation (and dropout).
    """

    rnn_size: int = 128
    num_layers: int = 2
    seq_length: int = 50
    batch_size: int = 50
    dropout: float = 0.0
    learning_rate: float = 2e-3
    decay_rate: float = 0.95
    grad_clip: float = 5.0
    init_range: float = 0.08
    optimizer: str = "rmsprop"
    iterations: int = 500
    eval_every: int = 100
    seed: int = 123

    def __post_init__(self):
        for name in ("rnn_size", "num_layers", "seq_length", "batch_size", "iterations",
                     "eval_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name in ("learning_rate", "grad_clip", "init_range"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or not value > 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not 0 < self.decay_rate < 1:
            raise ValueError(f"decay_rate must be in (0, 1), got {self.decay_rate!r}")
        if self.optimizer not in ("rmsprop", "adam"):
            raise ValueError(f"optimizer must be 'rmsprop' or 'adam', got {self.optimizer!r}")


@dataclasses.dataclass
class CharRNNResult:
    """What :func:`train_charrnn` returns.

    Attributes:
        model: the trained step graph (a ``gModule``).
        config: the configuration it was trained with.
        vocab_size: ``V``.
        train_loss: mean NLL per character (nats) of each training batch, shape ``(iterations,)``.
        eval_iterations: the iterations after which validation BPC was measured.
        val_bpc: validation bits per character at those iterations.
        seconds: wall-clock training time (evaluations excluded).
        n_params: number of trainable numbers.
    """

    model: object
    config: CharRNNConfig
    vocab_size: int
    train_loss: np.ndarray
    eval_iterations: list
    val_bpc: list
    seconds: float
    n_params: int


class RMSprop:
    """Torch's ``optim.rmsprop``: ``m = a*m + (1-a)*g**2; p -= lr * g / (sqrt(m) + eps)``."""

    def __init__(self, params, lr, alpha=0.95, eps=1e-8):
        self.params, self.lr, self.alpha, self.eps = params, lr, alpha, eps
        self.m = [np.zeros_like(p) for p in params]

    def step(self, grads):
        """Update every parameter in place from ``grads`` (same shapes, same order)."""
        for p, g, m in zip(self.params, grads, self.m):
            m *= self.alpha
            m += (1.0 - self.alpha) * g * g
            p -= self.lr * g / (np.sqrt(m) + self.eps)


class Adam:
    """Adam (Kingma & Ba, 2015) with bias correction, updating parameters in place."""

    def __init__(self, params, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        self.params, self.lr, self.b1, self.b2, self.eps = params, lr, beta1, beta2, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        """Update every parameter in place from ``grads`` (same shapes, same order)."""
        self.t += 1
        c1, c2 = 1.0 - self.b1**self.t, 1.0 - self.b2**self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= self.b1
            m += (1.0 - self.b1) * g
            v *= self.b2
            v += (1.0 - self.b2) * g * g
            p -= self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)


def build_model(vocab_size, config):
    """The step graph of char-rnn, initialised as ``train.lua`` does.

    Args:
        vocab_size: ``V``, the input (one-hot) and output size.
        config: a :class:`CharRNNConfig`.

    Returns:
        The ``gModule`` of :func:`lstm_ref.graph.lstm_graphs.charrnn_lstm` with parameters
        uniform in ``[-init_range, init_range]`` and every layer's forget-gate bias set to 1
        by :func:`lstm_ref.graph.lstm_graphs.set_forget_bias` (which finds the nodes
        annotated ``i2h_<layer>``).
    """
    from ..graph.lstm_graphs import charrnn_lstm, set_forget_bias

    if isinstance(vocab_size, bool) or not isinstance(vocab_size, numbers.Integral) or vocab_size < 2:
        raise ValueError(f"vocab_size must be an int >= 2, got {vocab_size!r}")
    rng = np.random.default_rng(config.seed)
    model = charrnn_lstm(int(vocab_size), config.rnn_size, config.num_layers, config.dropout,
                         rng=rng)
    params, _ = model.parameters()
    for p in params:  # char-rnn: params:uniform(-0.08, 0.08)
        p[...] = rng.uniform(-config.init_range, config.init_range, size=p.shape)
    layers = set_forget_bias(model, 1.0)
    if layers != config.num_layers:  # pragma: no cover - charrnn_lstm annotates every layer
        raise RuntimeError(f"set the forget bias of {layers} layers, expected {config.num_layers}")
    return model


def _zero_state(config, N):
    return [np.zeros((N, config.rnn_size)) for _ in range(2 * config.num_layers)]


def train_charrnn(train_data, val_data, vocab_size, config=CharRNNConfig(), progress=False):
    """Train char-rnn on character indices with truncated BPTT.

    Args:
        train_data: training characters, integer array ``(L_train,)`` of indices ``< V``.
        val_data: validation characters, integer array ``(L_val,)``.
        vocab_size: ``V``.
        config: a :class:`CharRNNConfig`.
        progress: show a tqdm progress bar on stdout (for runs by hand).

    Returns:
        A :class:`CharRNNResult`.
    """
    with one_blas_thread():
        return _train(train_data, val_data, vocab_size, config, progress)


def _train(train_data, val_data, vocab_size, config, progress):
    from ..graph import ClassNLLCriterion, clone_many_times

    if not isinstance(config, CharRNNConfig):
        raise ValueError(f"config must be a CharRNNConfig, got {type(config).__name__}")
    T, N = config.seq_length, config.batch_size
    batches = stream_batches(train_data, N, T)
    val_batches = stream_batches(val_data, N, T)
    proto = build_model(vocab_size, config)
    clones = clone_many_times(proto, T)
    criterion = ClassNLLCriterion()
    params, grads = proto.parameters()
    n_params = int(sum(p.size for p in params))
    opt_cls = RMSprop if config.optimizer == "rmsprop" else Adam
    opt = (RMSprop(params, config.learning_rate, alpha=config.decay_rate)
           if opt_cls is RMSprop else Adam(params, config.learning_rate))
    n_state = 2 * config.num_layers
    state = _zero_state(config, N)
    losses = np.empty(config.iterations)
    eval_its, val_bpc = [], []
    seconds = 0.0
    bar = _progress(config.iterations, progress)
    for it in range(config.iterations):
        t0 = time.perf_counter()
        x, y = batches[it % len(batches)]
        if it % len(batches) == 0:
            state = _zero_state(config, N)
        proto.zeroGradParameters()
        inputs, preds, loss = [], [], 0.0
        for t in range(T):  # forward through the clones
            clones[t].training()
            inp = [x[t]] + state
            out = clones[t].forward(inp)
            inputs.append(inp)
            state = [np.array(s, copy=True) for s in out[:n_state]]
            preds.append(out[n_state])
            loss += float(criterion.forward(out[n_state], y[t]))
        losses[it] = loss / T
        dstate = [np.zeros((N, config.rnn_size)) for _ in range(n_state)]
        for t in reversed(range(T)):  # backward, the state gradient flowing right to left
            dout = np.array(criterion.backward(preds[t], y[t]), copy=True)
            gin = clones[t].backward(inputs[t], dstate + [dout])
            dstate = [np.array(g, copy=True) for g in gin[1:]]
        for g in grads:
            np.clip(g, -config.grad_clip, config.grad_clip, out=g)
        opt.step(grads)
        seconds += time.perf_counter() - t0
        if (it + 1) % config.eval_every == 0 or it + 1 == config.iterations:
            eval_its.append(it + 1)
            val_bpc.append(evaluate_bpc(proto, val_batches, config))
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{losses[it]:.3f}")
    if bar is not None:
        bar.close()
    return CharRNNResult(proto, config, int(vocab_size), losses, eval_its, val_bpc, seconds,
                         n_params)


def evaluate_bpc(model, batches, config):
    """Bits per character of ``model`` on ``batches`` (from :func:`stream_batches`).

    The state starts at zero and is carried from batch to batch, as in char-rnn's
    ``eval_split``; every character of every batch is scored.
    """
    from ..graph import ClassNLLCriterion

    criterion = ClassNLLCriterion()
    model.evaluate()  # Dropout passes its input through
    n_state = 2 * config.num_layers
    N = batches[0][0].shape[1]
    state = _zero_state(config, N)
    total, count = 0.0, 0
    for x, y in batches:
        for t in range(x.shape[0]):
            out = model.forward([x[t]] + state)
            state = [np.array(s, copy=True) for s in out[:n_state]]
            total += float(criterion.forward(out[n_state], y[t])) * N
            count += N
    model.training()
    return total / count / LN2


def sample(model, vocab, config, length, temperature=1.0, prime="\n", seed=0):
    """Generate ``length`` characters from ``model``, as char-rnn's ``sample.lua``.

    Args:
        model: a trained step graph.
        vocab: the :class:`~lstm_ref.data.corpus.Vocabulary` it was trained with.
        config: its :class:`CharRNNConfig`.
        length: number of characters to generate.
        temperature: ``tau > 0``; log-probabilities are divided by it before the softmax.
        prime: text fed to the model first (its state after the last character starts the
            sample).
        seed: seeds the draws.

    Returns:
        The generated text (without the prime).
    """
    if not isinstance(temperature, numbers.Real) or not temperature > 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    if isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 1:
        raise ValueError(f"length must be a positive int, got {length!r}")
    if not isinstance(prime, str) or not prime:
        raise ValueError(f"prime must be a non-empty str, got {prime!r}")
    with one_blas_thread():
        return _sample(model, vocab, config, length, temperature, prime, seed)


def _sample(model, vocab, config, length, temperature, prime, seed):
    model.evaluate()
    rng = np.random.default_rng(seed)
    n_state = 2 * config.num_layers
    state = _zero_state(config, 1)
    logp = None
    for k in vocab.encode(prime):
        out = model.forward([np.array([k])] + state)
        state = [np.array(s, copy=True) for s in out[:n_state]]
        logp = np.array(out[n_state][0], copy=True)
    chars = []
    for _ in range(length):
        z = logp / temperature
        p = np.exp(z - z.max())
        p /= p.sum()
        k = int(rng.choice(len(p), p=p))
        chars.append(k)
        out = model.forward([np.array([k])] + state)
        state = [np.array(s, copy=True) for s in out[:n_state]]
        logp = np.array(out[n_state][0], copy=True)
    model.training()
    return vocab.decode(np.array(chars, dtype=np.int64))


@contextlib.contextmanager
def one_blas_thread():
    """Run the block with numpy's OpenBLAS limited to one thread, then restore its count.

    The matrices of a char-rnn step are small (``(N, H) @ (H, 4H)`` with ``N = 50``); on
    them a multi-threaded BLAS mostly spends its time waking threads, and on a machine whose
    cores are busy it is many times slower than one thread. Does nothing when numpy's BLAS
    is not an OpenBLAS that exposes its thread setters.
    """
    setter = getter = None
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
        for path in sorted(paths):
            lib = ctypes.CDLL(path)
            for prefix in ("scipy_openblas_", "openblas_"):
                for suffix in ("64_", ""):
                    set_name, get_name = f"{prefix}set_num_threads{suffix}", f"{prefix}get_num_threads{suffix}"
                    if hasattr(lib, set_name) and hasattr(lib, get_name):
                        setter, getter = getattr(lib, set_name), getattr(lib, get_name)
                        break
                if setter is not None:
                    break
            if setter is not None:
                break
    except OSError:
        setter = None
    if setter is None:
        yield
        return
    before = int(getter())
    setter(1)
    try:
        yield
    finally:
        setter(before)


def _progress(total, show):
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, file=sys.stdout, desc="char-rnn", unit="batch")


def main(argv=None):
    """``python -m lstm_ref.train.charrnn [--iterations K] [--temperature 0.2 1 3] ...``:
    train on the bundled corpus with a progress bar, print the validation BPC and one
    sample per temperature."""
    import argparse

    from ..data.corpus import Vocabulary, load_text, split_text

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = CharRNNConfig()
    for field in dataclasses.fields(CharRNNConfig):
        parser.add_argument(f"--{field.name}", type=type(getattr(defaults, field.name)),
                            default=getattr(defaults, field.name))
    parser.add_argument("--temperature", type=_positive_float, nargs="+", default=[0.8],
                        metavar="TAU",
                        help="sampling temperature(s); one sample per value (default 0.8)")
    parser.add_argument("--sample_length", type=int, default=300,
                        help="characters per sample (default 300)")
    parser.add_argument("--prime", default="\n", help="text the samples start from")
    args = vars(parser.parse_args(argv))
    temperatures = args.pop("temperature")
    length, prime = args.pop("sample_length"), args.pop("prime")
    if length < 1:
        parser.error(f"--sample_length must be a positive int, got {length}")
    config = CharRNNConfig(**args)
    text = load_text()
    vocab = Vocabulary.from_text(text)
    if set(prime) - set(vocab.chars):
        parser.error(f"--prime has characters outside the corpus: {sorted(set(prime) - set(vocab.chars))}")
    train, val, _ = split_text(text)
    result = train_charrnn(vocab.encode(train), vocab.encode(val), vocab.size, config,
                           progress=True)
    print(f"validation bits per character: {result.val_bpc[-1]:.3f}")
    for tau in temperatures:
        print(f"--- temperature {tau:g} ---")
        print(prime + sample(result.model, vocab, config, length, temperature=tau, prime=prime,
                             seed=config.seed))


def _positive_float(text):
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"a temperature must be a positive number, got {text}")
    return value


if __name__ == "__main__":
    main()
