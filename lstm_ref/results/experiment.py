"""An experiment, and the one writer of records: :func:`run`.

An :class:`Experiment` says what to run (``run_seed(config, seed)``), with what (a frozen
dataclass ``config`` and the ``seeds``), how to summarise the seeds, and which cheap slice
of it a test reruns to prove the record reproducible. :func:`run` runs the seeds one by one,
keeps each finished seed in ``<name>/.partial/`` so that an interrupted run resumes where
it stopped, and writes the record when every seed is done.
"""

import dataclasses
import datetime
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .record import (
    ARRAYS_FILE,
    RECORD_FILE,
    SCHEMA,
    RecordError,
    code_hashes,
    content_hash,
    modules_digest,
    plain,
    read,
    rerun_command,
    results_dir,
)

PARTIAL = ".partial"


@dataclass(frozen=True)
class Experiment:
    """A named, parameterised run whose record the book reads.

    Attributes:
        name: the record's folder name under ``book/results``.
        module: the module whose code (with every ``lstm_ref`` module it imports) the
            record's code hash covers; normally the module that defines the experiment.
        config: a dataclass instance, the full configuration.
        seeds: the seeds, run in this order.
        run_seed: ``run_seed(config, seed) -> dict`` of scalars, short lists and numpy
            arrays (arrays go to ``arrays.npz``).
        summarise: ``summarise(config, per_seed) -> dict`` over all seeds (``per_seed``
            maps each seed to what ``run_seed`` returned), or None.
        slice_config: ``slice_config(config) -> config`` for a cheap rerun (one seed, the
            first steps) whose ``slice_keys`` curves are a prefix of the full run's.
        slice_keys: the keys the slice test compares.
        slice_rtol: the relative tolerance of that comparison; 0 means bit for bit.
        description: one line for ``python -m lstm_ref.results list``.
    """

    name: str
    module: str
    config: Any
    seeds: tuple
    run_seed: Callable[[Any, int], dict]
    summarise: Callable[[Any, dict], dict] | None = None
    slice_config: Callable[[Any], Any] | None = None
    slice_keys: tuple = ()
    slice_rtol: float = 0.0
    description: str = ""

    def __post_init__(self):
        if not dataclasses.is_dataclass(self.config):
            raise TypeError(f"experiment {self.name!r}: config must be a dataclass instance")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"experiment {self.name!r}: seeds must be distinct and not empty")


def config_dict(config):
    return dataclasses.asdict(config)


def _split(name, seed, result):
    """A seed's result as (JSON scalars, arrays)."""
    if not isinstance(result, dict):
        raise RecordError(f"experiment {name!r}: run_seed must return a dict, "
                          f"not {type(result).__name__} (seed {seed})")
    scalars, arrays = {}, {}
    for key, value in result.items():
        if not isinstance(key, str) or "/" in key:
            raise RecordError(f"experiment {name!r}: result key {key!r} must be a string without '/'")
        if isinstance(value, np.ndarray) and value.ndim > 0:
            if value.dtype == object:
                raise RecordError(f"experiment {name!r}: array {key!r} has dtype object")
            arrays[key] = value
        else:
            scalars[key] = plain(value)
    return scalars, arrays


def _machine():
    info = {"platform": platform.platform(), "machine": platform.machine(),
            "cpu_count": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info.setdefault("cpu", platform.processor() or "unknown")
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _versions():
    import lstm_ref

    out = {"python": platform.python_version(), "numpy": np.__version__,
           "lstm_ref": lstm_ref.__version__}
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch"] = torch.__version__
    return out


def _write_json(path, data):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, allow_nan=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _write_npz(path, arrays):
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


class _Partial:
    """Finished seeds of a run in progress, valid only for one code hash and configuration."""

    def __init__(self, folder, key):
        self.folder, self.key = folder, key
        marker = folder / "key.json"
        if marker.is_file():
            try:
                same = json.loads(marker.read_text(encoding="utf-8")) == key
            except ValueError:
                same = False
            if not same:
                shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        _write_json(marker, key)

    def done(self, seed):
        return (self.folder / f"seed_{seed}.json").is_file()

    def save(self, seed, scalars, arrays, seconds):
        if arrays:
            _write_npz(self.folder / f"seed_{seed}.npz", arrays)
        _write_json(self.folder / f"seed_{seed}.json", {"scalars": scalars,
                                                         "arrays": sorted(arrays),
                                                         "seconds": seconds})

    def get(self, seed):
        meta = json.loads((self.folder / f"seed_{seed}.json").read_text(encoding="utf-8"))
        arrays = {}
        if meta["arrays"]:
            with np.load(self.folder / f"seed_{seed}.npz", allow_pickle=False) as data:
                arrays = {k: data[k] for k in meta["arrays"]}
        return meta["scalars"], arrays, meta["seconds"]


def run(experiment, directory=None, fresh=False, progress=True):
    """Run ``experiment`` (an :class:`Experiment` or a registered name) and write its record.

    Seeds already finished by an interrupted run of the same code and configuration are
    kept; ``fresh=True`` discards them.

    Returns:
        Record: the record just written, as :func:`lstm_ref.results.load` reads it.
    """
    if isinstance(experiment, str):
        from .registry import get

        experiment = get(experiment)
    name = experiment.name
    folder = Path(directory or results_dir()) / name
    folder.mkdir(parents=True, exist_ok=True)
    modules = code_hashes(experiment.module)
    config = plain(config_dict(experiment.config))
    key = {"modules": modules, "config": config, "seeds": list(experiment.seeds)}
    if fresh and (folder / PARTIAL).exists():
        shutil.rmtree(folder / PARTIAL)
    partial = _Partial(folder / PARTIAL, key)

    from tqdm.auto import tqdm

    bar = tqdm(experiment.seeds, desc=name, unit="seed", disable=not progress, file=sys.stderr)
    for seed in bar:
        if partial.done(seed):
            continue
        bar.set_postfix(seed=seed)
        start = time.perf_counter()
        scalars, arrays = _split(name, seed, experiment.run_seed(experiment.config, seed))
        partial.save(seed, scalars, arrays, time.perf_counter() - start)

    per_seed, all_arrays, array_keys, seconds = {}, {}, {}, {}
    for seed in experiment.seeds:
        scalars, arrays, secs = partial.get(seed)
        per_seed[str(seed)] = scalars
        array_keys[str(seed)] = sorted(arrays)
        all_arrays.update({f"{seed}/{k}": v for k, v in arrays.items()})
        seconds[str(seed)] = secs
    summary = {}
    if experiment.summarise is not None:
        full = {seed: {**per_seed[str(seed)],
                       **{k: all_arrays[f"{seed}/{k}"] for k in array_keys[str(seed)]}}
                for seed in experiment.seeds}
        summary = plain(experiment.summarise(experiment.config, full))

    meta = {
        "schema": SCHEMA,
        "name": name,
        "description": experiment.description,
        "config": config,
        "seeds": list(experiment.seeds),
        "per_seed": per_seed,
        "array_keys": array_keys,
        "summary": summary,
        "code": {"module": experiment.module, "modules": modules,
                 "hash": modules_digest(modules)},
        "versions": _versions(),
        "machine": _machine(),
        "wall_time_s": float(sum(seconds.values())),
        "seed_wall_time_s": seconds,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": rerun_command(name),
    }
    meta["content_hash"] = content_hash(meta, all_arrays)
    npz = folder / ARRAYS_FILE
    if all_arrays:
        _write_npz(npz, all_arrays)
    elif npz.exists():
        npz.unlink()
    _write_json(folder / RECORD_FILE, meta)
    shutil.rmtree(folder / PARTIAL)
    return read(name, directory)
