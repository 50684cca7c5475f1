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
# the settings a checkpoint fixes: a resumed run must not change them
FIXED_BY_CHECKPOINT = ("layers", "hidden", "batch", "bptt", "corpus", "dtype", "lr", "seed")
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
        checkpoint: a directory for ``checkpoint.pt`` (and the curve); resume: start from it.
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
    if min(config.eval_chars, len(valid_ids)) < 2 * EVAL_STREAMS:
        raise ConfigError(f"held-out evaluation needs at least {2 * EVAL_STREAMS} characters "
                          f"(--eval-chars {config.eval_chars}, {len(valid_ids)} held out)")
    return device


def checkpoint_file(directory):
    return os.path.join(directory, "checkpoint.pt")


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
    return ckpt


def merge_resumed(config, ckpt, explicit=()):
    """The settings of a resumed run: those the checkpoint fixes come from it; an explicit
    setting that contradicts it raises :class:`ConfigError`."""
    saved = ckpt["config"]
    changes = {}
    for name in FIXED_BY_CHECKPOINT:
        if name in explicit and getattr(config, name) != saved[name]:
            raise ConfigError(
                f"--{name} {getattr(config, name)} contradicts the checkpoint, trained with "
                f"--{name} {saved[name]}"
            )
        changes[name] = saved[name]
    return dataclasses.replace(config, **changes)


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


def _write_curve(directory, curve, evals):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "curve.json"), "w") as fh:
        json.dump({"train": curve, "valid": evals}, fh, indent=1)
    with open(os.path.join(directory, "curve.csv"), "w") as fh:
        fh.write("step,loss,bits_per_char,tokens_per_s,lr\n")
        for r in curve:
            fh.write(f"{r['step']},{r['loss']:.6f},{r['loss'] / LN2:.6f},"
                     f"{r['tokens_per_s']:.1f},{r['lr']:.6g}\n")


def _save(path, payload):
    """Write atomically: a killed run never leaves a half-written checkpoint."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    os.close(fd)
    torch.save(payload, tmp)
    os.replace(tmp, path)


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
        bpc = evaluate_bpc(model, eval_streams, config.bptt)
        evals.append({"step": step, "bits_per_char": bpc})
        say(f"step {step}: held-out {bpc:.3f} bits/char")
        return bpc

    every = config.log_every or max(1, config.steps // 20)
    progress = _Progress(config.steps, every, say)
    last = config.stop_after or config.steps
    tokens = config.batch * config.bptt
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
            "tokens_per_s": tokens * len(curve) / seconds if seconds > 0 else None,
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
    if config.resume:
        load_checkpoint(config.checkpoint)  # a one-line error before any process starts
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
