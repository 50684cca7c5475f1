r"""The training loop of :mod:`lstm_ref.train.charlm`: truncated BPTT over contiguous
streams, mixed precision, gradient clipping, data-parallel processes, checkpoints.

One step reads one segment of ``bptt`` steps from each of ``batch`` streams (the global
batch; with ``P`` processes each one holds ``batch / P`` of the streams), computes the mean
cross-entropy of the next character, and takes one Adam step:

.. math::
    \mathcal L = -\frac{1}{\text{bptt} \cdot N} \sum_{t, j}
    \log p_\theta(x_{t+1, j} \mid x_{\le t, j}), \qquad
    \text{bits per character} = \mathcal L / \ln 2 .

The learning rate warms up linearly over the first 5% of the steps and then follows a
cosine from ``lr`` down to ``lr / 10`` at the last step.
"""

import dataclasses
import datetime
import glob
import json
import math
import os
import socket
import sys
import tempfile
import time

import torch
from torch.nn import functional as F

from ...data.corpus import DEFAULT_CORPUS, load_corpus
from ..tbptt import LN2, evaluate_bpc, make_streams, segments
from .model import MODELS, CharLM

FORMAT = "lstm_ref.charlm/1"
AMP = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}
DTYPES = {"float32": torch.float32, "float64": torch.float64}
# what a resumed run may change: where it runs, how long, what it reports and where; every
# other setting is the checkpoint's (the model, the data, the optimisation)
RESUMABLE = ("device", "steps", "nproc", "checkpoint", "resume", "force", "eval_every",
             "eval_chars", "sample_len", "temperature", "out", "save_every", "stop_after",
             "threads", "log_every")
CHECKPOINT_KEYS = ("format", "config", "step", "model", "optimizer", "scheduler", "scaler",
                   "rng", "position", "state", "curve", "evals", "vocab")
EVAL_STREAMS = 16


class ConfigError(ValueError):
    """A bad setting or checkpoint; the command line prints its message on one line."""


@dataclasses.dataclass
class Config:
    """The settings of one run (the command line's options, same names).

    Attributes:
        device: ``"auto"`` (CUDA if available), ``"cpu"`` or ``"cuda"``.
        model: ``"cudnn"``, ``"ours"``, ``"ours-compiled"`` or ``"fused"`` (see
            :func:`~lstm_ref.train.charlm.model.make_lstm`).
        layers, hidden: the LSTM stack (the embedding has ``hidden`` features too).
        batch: parallel streams over all processes; bptt: the truncation length.
        steps: optimizer steps of the whole run (the schedule's length).
        lr: Adam's peak learning rate; clip: the gradient's global-norm limit (0: none).
        amp: ``"off"``, ``"bf16"`` or ``"fp16"`` (autocast; fp16 with a gradient scaler).
        nproc: data-parallel processes (DistributedDataParallel; gloo on CPU, NCCL on CUDA).
        checkpoint: a directory for ``checkpoint.pt`` (and the curve); resume: start from it
            (every setting but those in :data:`RESUMABLE` comes from the checkpoint).
        force: overwrite an existing checkpoint (and curve) instead of refusing.
        seed: initialisation and sampling.
        corpus: a bundled corpus name or a text file; its last 10% is held out.
        eval_every: held-out evaluation every this many steps (0: only at the end).
        eval_chars: held-out characters evaluated (from the start of the held-out part).
        sample_len: characters sampled at the end (0: none); temperature: of the sampling.
        out: a directory for the curve (default: ``checkpoint``; None: not written).
        save_every: write the checkpoint every this many steps (0: only at the end).
        stop_after: stop (and save) after this step, as if the run were interrupted.
        threads: torch threads per process (0: the cores divided among the processes).
        dtype: ``"float32"`` or ``"float64"`` parameters.
        log_every: progress lines every this many steps when stdout is not a terminal
            (0: about 20 lines per run).
    """

    device: str = "auto"
    model: str = "cudnn"
    layers: int = 1
    hidden: int = 128
    batch: int = 32
    bptt: int = 50
    steps: int = 200
    lr: float = 3e-3
    clip: float = 1.0
    amp: str = "off"
    nproc: int = 1
    checkpoint: str | None = None
    resume: bool = False
    force: bool = False
    seed: int = 0
    corpus: str = DEFAULT_CORPUS
    eval_every: int = 0
    eval_chars: int = 20000
    sample_len: int = 200
    temperature: float = 0.8
    out: str | None = None
    save_every: int = 0
    stop_after: int | None = None
    threads: int = 0
    dtype: str = "float32"
    log_every: int = 0


def _positive_int(config, name, allow_zero=False):
    value = getattr(config, name)
    low = 0 if allow_zero else 1
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        what = "a non-negative" if allow_zero else "a positive"
        raise ConfigError(f"--{name.replace('_', '-')} must be {what} integer, got {value!r}")


def resolve_device(name):
    """``"auto"`` -> ``"cuda"`` if a GPU is visible, else ``"cpu"``; check ``"cuda"``."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available (use --device cpu)")
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"--device must be auto, cpu or cuda, got {name!r}")
    return name


def validate(config):
    """Check every setting; raise :class:`ConfigError` with a one-line message."""
    for name in ("layers", "hidden", "batch", "bptt", "steps", "nproc", "eval_chars"):
        _positive_int(config, name)
    for name in ("eval_every", "sample_len", "save_every", "threads", "log_every", "seed"):
        _positive_int(config, name, allow_zero=True)
    if config.model not in MODELS:
        raise ConfigError(f"--model must be one of {', '.join(MODELS)}, got {config.model!r}")
    if config.amp not in AMP:
        raise ConfigError(f"--amp must be off, bf16 or fp16, got {config.amp!r}")
    if config.dtype not in DTYPES:
        raise ConfigError(f"dtype must be float32 or float64, got {config.dtype!r}")
    if config.amp != "off" and config.dtype != "float32":
        raise ConfigError("--amp needs float32 parameters (autocast lowers the precision)")
    for name in ("lr", "temperature"):
        value = getattr(config, name)
        if not isinstance(value, (int, float)) or not value > 0 or not math.isfinite(value):
            raise ConfigError(f"--{name} must be a positive number, got {value!r}")
    if not isinstance(config.clip, (int, float)) or not config.clip >= 0:
        raise ConfigError(f"--clip must be >= 0 (0: no clipping), got {config.clip!r}")
    if config.batch % config.nproc:
        raise ConfigError(
            f"--batch {config.batch} must be divisible by --nproc {config.nproc} (each "
            "process holds the same number of streams)"
        )
    if config.resume and not config.checkpoint:
        raise ConfigError("--resume needs --checkpoint DIR")
    if config.stop_after is not None and not 1 <= config.stop_after <= config.steps:
        raise ConfigError(f"--stop-after must be in 1..{config.steps}, got {config.stop_after}")
    if config.resume and config.force:
        raise ConfigError("--resume and --force contradict each other: --resume continues the "
                          "checkpoint, --force replaces it")
    check_paths(config)
    device = resolve_device(config.device)
    if config.amp == "fp16" and device == "cpu":
        raise ConfigError("--amp fp16 needs --device cuda (CPU kernels lack fp16 support, "
                          "e.g. the LSTM's); use --amp bf16 on a CPU")
    if device == "cuda" and config.nproc > torch.cuda.device_count():
        raise ConfigError(
            f"--nproc {config.nproc} on CUDA needs {config.nproc} GPUs, "
            f"{torch.cuda.device_count()} visible"
        )
    try:
        train_ids, valid_ids, _ = load_corpus(config.corpus)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--corpus: {exc}") from None
    if len(train_ids) < 2 * config.batch:
        raise ConfigError(f"the corpus's {len(train_ids)} training characters are too few for "
                          f"--batch {config.batch} streams of at least 2 characters")
    stream = len(train_ids) // config.batch
    if config.bptt > stream - 1:
        raise ConfigError(f"--bptt {config.bptt} is longer than the training streams allow: "
                          f"{len(train_ids)} characters in {config.batch} streams of {stream} "
                          f"give segments of at most {stream - 1} steps")
    if min(config.eval_chars, len(valid_ids)) < 2 * EVAL_STREAMS:
        raise ConfigError(f"held-out evaluation needs at least {2 * EVAL_STREAMS} characters "
                          f"(--eval-chars {config.eval_chars}, {len(valid_ids)} held out)")
    return device


def checkpoint_file(directory):
    return os.path.join(directory, "checkpoint.pt")


def _check_directory(flag, path):
    """``path`` must be a directory we can write, or one we can create."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(f"{flag} {path}: a file of that name exists; {flag} names a "
                          "directory")
    probe = path
    while not os.path.exists(probe):
        parent = os.path.dirname(os.path.abspath(probe))
        if parent == os.path.abspath(probe):
            break
        probe = parent
    if not os.path.isdir(probe):
        raise ConfigError(f"{flag} {path}: {probe} is a file, so the directory cannot be "
                          "created")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path}: {probe} is not writable")


def check_paths(config):
    """Every path the run will write, checked before it trains: ``--checkpoint`` and
    ``--out`` are (or can become) writable directories, and an existing checkpoint or
    curve is never replaced unless ``--resume`` or ``--force`` says so."""
    if config.checkpoint:
        _check_directory("--checkpoint", config.checkpoint)
        if os.path.exists(checkpoint_file(config.checkpoint)) and not (config.resume or
                                                                       config.force):
            raise ConfigError(f"--checkpoint {config.checkpoint} already holds a checkpoint: "
                              "add --resume to continue it or --force to replace it")
    out = config.out or config.checkpoint
    if config.out:
        _check_directory("--out", config.out)
    if out and os.path.exists(os.path.join(out, "curve.json")) and not (
            config.resume or config.force or (config.checkpoint and os.path.exists(
                checkpoint_file(config.checkpoint)))):
        raise ConfigError(f"--out {out} already holds a curve.json: add --force to replace "
                          "it, or choose another directory")


def load_checkpoint(directory):
    """The checkpoint dict in ``directory``; :class:`ConfigError` if missing or corrupt."""
    if not directory:
        raise ConfigError("--resume needs --checkpoint DIR")
    path = checkpoint_file(directory)
    if not os.path.isfile(path):
        raise ConfigError(f"no checkpoint to resume from: {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        raise ConfigError(
            f"checkpoint {path} is corrupt or not a torch checkpoint ({type(exc).__name__})"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ConfigError(f"checkpoint {path} is not a charlm checkpoint ({FORMAT})")
    missing = [k for k in CHECKPOINT_KEYS if k not in ckpt]
    if missing:
        raise ConfigError(f"checkpoint {path} is damaged: it lacks {', '.join(missing)}")
    names = {f.name for f in dataclasses.fields(Config)}
    if not isinstance(ckpt["config"], dict) or set(ckpt["config"]) - names - {"force"}:
        raise ConfigError(f"checkpoint {path} is damaged: its config is not a charlm config")
    if not isinstance(ckpt["step"], int) or not isinstance(ckpt["position"], int):
        raise ConfigError(f"checkpoint {path} is damaged: step and position must be integers")
    return ckpt


def check_checkpoint_fits(config, ckpt):
    """Load the checkpoint into a fresh CPU copy of the model and optimizer of ``config``
    (the merged settings): a hand-edited or damaged entry (a wrong shape, a missing
    parameter, a carried state of the wrong size) raises :class:`ConfigError`, before any
    process starts training."""
    path = checkpoint_file(config.checkpoint)
    try:
        train_ids, _, vocab = load_corpus(config.corpus)
        model = CharLM(len(vocab), config.hidden, config.layers, "cudnn").to(
            DTYPES[config.dtype])
        model.load_state_dict(ckpt["model"])
        opt = torch.optim.Adam(model.parameters(), lr=config.lr)
        opt.load_state_dict(ckpt["optimizer"])
        for k, st in opt.state.items():
            for name, value in st.items():
                if torch.is_tensor(value) and value.dim() and value.shape != k.shape:
                    raise ValueError(f"optimizer state {name} has shape {tuple(value.shape)}, "
                                     f"its parameter {tuple(k.shape)}")
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
        sched.load_state_dict(ckpt["scheduler"])
        if ckpt["state"] is not None:
            expected = (config.layers, config.batch, config.hidden)
            shapes = [tuple(s.shape) for s in ckpt["state"]]
            if len(shapes) != 2 or any(s != expected for s in shapes):
                raise ValueError(f"the carried state has shapes {shapes}, expected two "
                                 f"{expected}")
        if not torch.is_tensor(ckpt["rng"]["torch"]):
            raise ValueError("the random state is not a tensor")
        pieces = -(-(len(train_ids) // config.batch - 1) // config.bptt)
        if not 0 <= ckpt["position"] <= pieces or not 0 <= ckpt["step"] <= config.steps:
            raise ValueError(f"step {ckpt['step']} or position {ckpt['position']} is out of "
                             "range")
    except ConfigError:
        raise
    except Exception as exc:  # any mismatch: one line, not a traceback
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"checkpoint {path} does not fit its own settings (damaged or "
                          f"edited?): {msg[:300]}") from None


def merge_resumed(config, ckpt, explicit=()):
    """The settings of a resumed run: every setting is the checkpoint's, except those of
    :data:`RESUMABLE` given explicitly (names in ``explicit``). An explicit setting outside
    :data:`RESUMABLE` that differs from the checkpoint's, or ``--steps`` not beyond the
    steps already done, raises :class:`ConfigError` naming the flag."""
    saved = ckpt["config"]
    changes = {}
    for field in dataclasses.fields(Config):
        name = field.name
        if name in ("resume", "checkpoint", "force"):
            continue
        if name in explicit:
            if name not in RESUMABLE and getattr(config, name) != saved.get(name, field.default):
                flag = "--" + name.replace("_", "-")
                raise ConfigError(
                    f"{flag} {getattr(config, name)} contradicts the checkpoint, trained with "
                    f"{flag} {saved.get(name, field.default)} (a resumed run keeps the "
                    "model, the data and the optimisation; only "
                    + ", ".join("--" + n.replace("_", "-") for n in RESUMABLE[:3])
                    + ", ... may change)")
            continue
        if name in saved:
            changes[name] = saved[name]
    merged = dataclasses.replace(config, **changes)
    done = ckpt["step"]
    if merged.steps == done:
        raise ConfigError(f"--steps {merged.steps}: the checkpoint has already done its {done} "
                          f"steps; give --steps above {done} to continue it")
    if merged.steps < done:
        raise ConfigError(f"--steps {merged.steps} is fewer than the {done} steps the "
                          "checkpoint has already done")
    if merged.stop_after is not None and merged.stop_after <= done:
        if "stop_after" in explicit:
            raise ConfigError(f"--stop-after {merged.stop_after}: the checkpoint is already "
                              f"at step {done}")
        merged = dataclasses.replace(merged, stop_after=None)  # the saved stop is behind us
    return merged


def lr_factor(step, steps):
    """The schedule: linear warm-up over 5% of ``steps``, then a cosine down to 0.1."""
    warmup = max(1, steps // 20)
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress))


class _Progress:
    """A progress bar on stdout (a line every ``every`` steps when stdout is not a tty)."""

    def __init__(self, total, every, echo):
        self.total, self.every, self.echo = total, every, echo
        self.tty = echo is print and sys.stdout.isatty()

    def update(self, step, loss, tokens_per_s):
        width = 24
        done = int(width * step / self.total)
        line = (f"[{'#' * done}{'.' * (width - done)}] step {step}/{self.total} "
                f"loss {loss:.3f} ({loss / LN2:.2f} bits/char) {tokens_per_s:,.0f} tok/s")
        if self.tty:
            print("\r" + line, end="\n" if step == self.total else "", flush=True)
        elif step % self.every == 0 or step == self.total:
            self.echo(line)


def _gather_state(state, world, batch, hidden, layers, device, dtype):
    """The carried state of every process, concatenated along the batch: ``(h, c)`` each
    ``(layers, batch, H)`` on the CPU, or None at the start of an epoch."""
    if state is None:
        return None
    if world == 1:
        return tuple(s.detach().cpu() for s in state)
    import torch.distributed as dist

    out = []
    for s in state:
        parts = [torch.empty_like(s) for _ in range(world)]
        dist.all_gather(parts, s.contiguous())
        out.append(torch.cat(parts, dim=1).cpu())
    return tuple(out)


def _atomic_write(path, write):
    """Write ``path`` through ``write(file object)`` into a temporary file beside it, flushed
    to the disk (fsync), then renamed over ``path`` (and the directory synced): a run killed
    at any moment leaves either the old file or the new one, never half of one."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def clean_stale_temporaries(directory):
    """Remove the temporary files a killed save left in ``directory``
    (``checkpoint.pt.*.tmp``, ``curve.*.*.tmp``, and ``tmp*.tmp`` of older versions);
    returns their names."""
    if not directory or not os.path.isdir(directory):
        return []
    removed = []
    for pattern in ("checkpoint.pt.*.tmp", "curve.json.*.tmp", "curve.csv.*.tmp",
                    "tmp????????.tmp"):
        for path in glob.glob(os.path.join(glob.escape(directory), pattern)):
            os.remove(path)
            removed.append(os.path.basename(path))
    return sorted(removed)


def _write_curve(directory, curve, evals):
    text = json.dumps({"train": curve, "valid": evals}, indent=1).encode()
    _atomic_write(os.path.join(directory, "curve.json"), lambda fh: fh.write(text))
    lines = ["step,loss,bits_per_char,tokens_per_s,lr\n"] + [
        f"{r['step']},{r['loss']:.6f},{r['loss'] / LN2:.6f},{r['tokens_per_s']:.1f},"
        f"{r['lr']:.6g}\n" for r in curve]
    _atomic_write(os.path.join(directory, "curve.csv"),
                  lambda fh: fh.write("".join(lines).encode()))


def _save(path, payload):
    """Write atomically and durably: a killed run never leaves a half-written checkpoint."""
    _atomic_write(path, lambda fh: torch.save(payload, fh))


def run_worker(config, rank=0, world=1, echo=print):
    """Train on this process (rank ``rank`` of ``world``, the process group already set
    up when ``world > 1``); return the results (on rank 0; others return None)."""
    device_type = resolve_device(config.device)
    device = torch.device("cuda", rank % torch.cuda.device_count()) if device_type == "cuda" \
        else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    threads = config.threads or max(1, (os.cpu_count() or 1) // world)
    torch.set_num_threads(threads)
    dtype = DTYPES[config.dtype]
    lead = rank == 0
    say = echo if lead else (lambda *a, **k: None)

    ckpt = load_checkpoint(config.checkpoint) if config.resume else None
    train_ids, valid_ids, vocab = load_corpus(config.corpus)
    V = len(vocab)
    torch.manual_seed(config.seed)
    model = CharLM(V, config.hidden, config.layers, config.model).to(device=device, dtype=dtype)
    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.index is not None
                                      else None)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, config.steps))
    amp_dtype = AMP[config.amp]
    scaler = torch.amp.GradScaler(device.type, enabled=config.amp == "fp16")

    share = config.batch // world
    streams = make_streams(torch.as_tensor(train_ids), config.batch)
    local = streams[:, rank * share:(rank + 1) * share].contiguous().to(device)
    pieces = segments(local, config.bptt)
    eval_streams = make_streams(torch.as_tensor(valid_ids[: config.eval_chars]),
                                EVAL_STREAMS).to(device)

    step, pos, state, curve, evals = 0, 0, None, [], []
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        if device.type == "cuda" and ckpt["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(ckpt["rng"]["cuda"], device)
        step, pos = ckpt["step"], ckpt["position"]
        curve, evals = ckpt["curve"], ckpt["evals"]
        if ckpt["state"] is not None:
            state = tuple(s[:, rank * share:(rank + 1) * share].to(device=device, dtype=dtype)
                          .contiguous() for s in ckpt["state"])
        say(f"resumed from {checkpoint_file(config.checkpoint)} at step {step}")

    def save():
        full = _gather_state(state, world, config.batch, config.hidden, config.layers,
                             device, dtype)
        if not lead or not config.checkpoint:
            return
        cuda_rng = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
        _save(checkpoint_file(config.checkpoint), {
            "format": FORMAT, "config": dataclasses.asdict(config), "step": step,
            "model": model.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(), "scaler": scaler.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "cuda": cuda_rng},
            "position": pos, "state": full, "curve": curve, "evals": evals,
            "vocab": "".join(vocab.chars),
        })

    def evaluate():
        with torch.no_grad():  # no graph: the carried state would chain one across segments
            bpc = evaluate_bpc(model, eval_streams, config.bptt)
        evals.append({"step": step, "bits_per_char": bpc})
        say(f"step {step}: held-out {bpc:.3f} bits/char")
        return bpc

    every = config.log_every or max(1, config.steps // 20)
    progress = _Progress(config.steps, every, say)
    last = config.stop_after or config.steps
    run_tokens = 0  # a resumed run counts only its own tokens in its tokens/s
    started = time.perf_counter()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    while step < last:
        if pos == len(pieces):  # a new pass over the text: the streams start again
            pos, state = 0, None
        x, y = pieces[pos]
        pos += 1
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32,
                            enabled=amp_dtype is not None):
            logits, state = net(x, state)
        loss = F.cross_entropy(logits.float().reshape(-1, V), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if config.clip > 0:
            scaler.unscale_(opt)  # clip the true gradient, not the scaled one
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        scaler.step(opt)
        scaler.update()
        sched.step()
        # truncate: the next backward stops here; carried in the parameters' dtype (autocast
        # may have returned it in 16 bits)
        state = tuple(s.detach().to(dtype) for s in state)
        step += 1
        value = loss.detach()
        if world > 1:
            import torch.distributed as dist

            dist.all_reduce(value)
            value /= world
        sync()
        tokens = config.batch * x.shape[0]  # every process's streams; a last piece is shorter
        run_tokens += tokens
        rate = tokens / max(time.perf_counter() - t0, 1e-9)
        curve.append({"step": step, "loss": float(value), "tokens_per_s": rate,
                      "lr": sched.get_last_lr()[0]})
        progress.update(step, curve[-1]["loss"], rate)
        if lead and config.eval_every and step % config.eval_every == 0 and step < last:
            evaluate()
        if config.save_every and step % config.save_every == 0 and step < last:
            save()
    seconds = time.perf_counter() - started
    bpc = evaluate() if lead else None
    save()
    result = None
    if lead:
        out = config.out or config.checkpoint
        if out:
            _write_curve(out, curve, evals)
        sample = ""
        if config.sample_len and step == config.steps:
            gen = torch.Generator().manual_seed(config.seed)
            prime = vocab.encode("\n")
            sample = vocab.decode(model.sample(list(prime), config.sample_len,
                                               config.temperature, gen))
            say("--- sample ---\n" + sample + "\n--------------")
        result = {
            "step": step, "loss": curve[-1]["loss"] if curve else None,
            "valid_bits_per_char": bpc, "sample": sample, "seconds": seconds,
            "tokens_per_s": run_tokens / seconds if seconds > 0 and run_tokens else None,
            "run_tokens": run_tokens,
            "curve": curve, "evals": evals, "device": str(device), "nproc": world,
        }
    return result


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(fn, args, nprocs, timeout=None):
    """``torch.multiprocessing.spawn(fn, args, nprocs)`` that gives up after ``timeout``
    seconds (None: never): the processes are terminated and ``TimeoutError`` raised, so a
    hung collective cannot block the caller forever. A worker's exception is re-raised."""
    import torch.multiprocessing as mp

    context = mp.spawn(fn, args=args, nprocs=nprocs, join=False)
    deadline = None if timeout is None else time.monotonic() + timeout
    while not context.join(timeout=1.0):
        if deadline is not None and time.monotonic() > deadline:
            for process in context.processes:
                if process.is_alive():
                    process.terminate()
            for process in context.processes:
                process.join(5)
            raise TimeoutError(f"{nprocs} processes did not finish within {timeout} s")


def _spawned(rank, world, config, port, result_path):
    import torch.distributed as dist

    backend = "nccl" if resolve_device(config.device) == "cuda" else "gloo"
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world, timeout=datetime.timedelta(seconds=120))
    try:
        result = run_worker(config, rank, world)
        if rank == 0:
            with open(result_path, "w") as fh:
                json.dump(result, fh)
    finally:
        dist.destroy_process_group()


def train(config, echo=print, timeout=None):
    """Run ``config`` (validated first): in this process, or in ``config.nproc`` spawned
    processes (given up after ``timeout`` seconds if set), or as one rank of a ``torchrun``
    launch (``WORLD_SIZE`` set). Returns the results dict of rank 0 (None on other torchrun
    ranks)."""
    validate(config)
    if config.resume:  # a one-line error before any process starts
        check_checkpoint_fits(config, load_checkpoint(config.checkpoint))
    for directory in {config.checkpoint, config.out} - {None}:
        clean_stale_temporaries(directory)
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        import torch.distributed as dist

        world, rank = int(os.environ["WORLD_SIZE"]), int(os.environ["RANK"])
        config = dataclasses.replace(config, nproc=world)
        validate(config)
        dist.init_process_group("nccl" if resolve_device(config.device) == "cuda" else "gloo")
        try:
            return run_worker(config, rank, world, echo)
        finally:
            dist.destroy_process_group()
    if config.nproc == 1:
        return run_worker(config, echo=echo)
    with tempfile.TemporaryDirectory() as tmp:
        result_path = os.path.join(tmp, "result.json")
        spawn(_spawned, (config.nproc, config, _free_port(), result_path), config.nproc,
              timeout)
        with open(result_path) as fh:
            return json.load(fh)
