"""The command line of :mod:`lstm_ref.train.charlm`.

Every bad option, and a missing or corrupt checkpoint, ends with one line
``error: ...`` on stderr and exit status 2, never a traceback.
"""

import argparse
import dataclasses
import sys

from .train import Config, ConfigError, load_checkpoint, merge_resumed, train

HELP = {
    "device": "auto (CUDA if available), cpu or cuda",
    "model": "cudnn (torch.nn.LSTM), ours (lstm_ref.torch.LSTM), ours-compiled "
    "(ours under torch.compile) or fused (lstm_ref.torch.fused.FusedLSTM)",
    "layers": "stacked LSTM layers",
    "hidden": "hidden size H (also the embedding size)",
    "batch": "parallel streams (over all processes)",
    "bptt": "truncation length: steps per segment",
    "steps": "optimizer steps",
    "lr": "peak learning rate (Adam; warm-up then cosine to lr/10)",
    "clip": "global gradient-norm limit (0: no clipping)",
    "amp": "mixed precision: off, bf16 or fp16 (fp16 with a gradient scaler)",
    "nproc": "data-parallel processes (gloo on CPU, NCCL on CUDA)",
    "checkpoint": "directory for checkpoint.pt and the curve; an existing checkpoint is "
    "never replaced without --resume or --force",
    "resume": "continue from the checkpoint in --checkpoint, with its settings (only where "
    "and how long it runs, and what it reports, may change: e.g. more --steps)",
    "force": "replace an existing checkpoint (and curve) in --checkpoint/--out",
    "seed": "random seed (initialisation, sampling)",
    "corpus": "bundled corpus name or a UTF-8 text file (its last tenth is held out)",
    "eval_every": "held-out evaluation every N steps (0: at the end only)",
    "eval_chars": "held-out characters to evaluate",
    "sample_len": "characters to sample at the end (0: none)",
    "temperature": "sampling temperature",
    "out": "directory for curve.json/curve.csv (default: the --checkpoint directory)",
    "save_every": "save the checkpoint every N steps (0: at the end only)",
    "stop_after": "stop and save after this step, as if interrupted",
    "threads": "torch threads per process (0: cores / processes)",
    "dtype": "parameter dtype (float64 for exactness checks)",
    "log_every": "progress line every N steps when stdout is not a terminal",
}
CHOICES = {"device": ("auto", "cpu", "cuda"),
           "model": ("cudnn", "ours", "ours-compiled", "fused"),
           "amp": ("off", "bf16", "fp16"), "dtype": ("float32", "float64")}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block
        raise ConfigError(message)


def build_parser():
    parser = _Parser(prog="python -m lstm_ref.train.charlm",
                     description="Train a character-level LSTM language model.",
                     argument_default=argparse.SUPPRESS)
    for field in dataclasses.fields(Config):
        flag = "--" + field.name.replace("_", "-")
        if field.name in ("resume", "force"):
            parser.add_argument(flag, action="store_true", help=HELP[field.name])
            continue
        kind = {"int": int, "float": float}.get(type(field.default).__name__, str)
        if field.name == "stop_after":
            kind = int
        text = HELP[field.name]
        if field.default is not None and "default" not in text:  # never "(default: None)"
            text += f" (default: {field.default})"
        parser.add_argument(flag, type=kind, choices=CHOICES.get(field.name), help=text)
    return parser


def parse(argv=None):
    """``(Config, explicit option names)`` from the command line."""
    given = vars(build_parser().parse_args(argv))
    return dataclasses.replace(Config(), **given), set(given)


def main(argv=None):
    try:
        config, explicit = parse(argv)
        if config.resume and config.force:
            raise ConfigError("--resume and --force contradict each other: --resume "
                              "continues the checkpoint, --force replaces it")
        if config.resume:
            config = merge_resumed(config, load_checkpoint(config.checkpoint), explicit)
        result = train(config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    if result and result.get("valid_bits_per_char") is not None:
        print(f"done: {result['step']} steps in {result['seconds']:.1f} s, "
              f"{result['tokens_per_s'] or 0:,.0f} tokens/s (this run), held-out "
              f"{result['valid_bits_per_char']:.3f} bits/char")
    return 0
