"""Reading records, and the hashes that tie a record to the code and the data it holds.

A record lives in ``results_dir() / <name>``: ``record.json`` and, when the experiment
returned arrays, ``arrays.npz``. :func:`load` checks three things before a page may use one:
its fields have the types the writer gives them, its ``content_hash`` matches its data (a
number typed in by hand breaks it), and its code hash and configuration match the code and
configuration of the experiment now (else :class:`StaleRecordError`).
"""

import ast
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SCHEMA = 1
RECORD_FILE = "record.json"
ARRAYS_FILE = "arrays.npz"
PACKAGE = "lstm_ref"
_PACKAGE_ROOT = Path(__file__).resolve().parents[1]
# The recording machinery is not part of any experiment's code: changing how records are
# written does not change what an experiment computes.
_NOT_HASHED = ("lstm_ref.results",)

# Fields of record.json and their types, as the writer produces them.
FIELDS = {
    "schema": int,
    "name": str,
    "description": str,
    "config": dict,
    "seeds": list,
    "per_seed": dict,
    "array_keys": dict,
    "summary": dict,
    "code": dict,
    "versions": dict,
    "machine": dict,
    "wall_time_s": float,
    "seed_wall_time_s": dict,
    "date": str,
    "command": str,
    "content_hash": str,
}


class RecordError(ValueError):
    """A record is missing, malformed or was edited by hand."""


class StaleRecordError(RecordError):
    """A record was made by other code or another configuration than the experiment's now."""


def results_dir():
    """The folder of the records: ``$LSTM_REF_RESULTS`` when set, else ``book/results`` of
    the repository that holds this package."""
    env = os.environ.get("LSTM_REF_RESULTS")
    return Path(env) if env else _PACKAGE_ROOT.parent / "book" / "results"


def rerun_command(name):
    return f"make experiments NAME={name}"


# ---------------------------------------------------------------------------- code hash

def _module_file(name):
    """The source file of module ``name``: found under this package for ``lstm_ref.*``
    (without importing it), else through the import system."""
    if name == PACKAGE or name.startswith(PACKAGE + "."):
        base = _PACKAGE_ROOT.joinpath(*name.split(".")[1:])
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise RecordError(f"cannot find the source of module {name!r}")
    return Path(spec.origin)


def _strip_docstrings(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _imports(tree, module, is_package):
    """The ``lstm_ref`` modules that ``module``'s source imports (anywhere in it), with
    their parent packages."""
    found = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            # ``from pkg import name``: name may be a submodule.
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                parts = target.split(".")
                found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return found


def code_hashes(module):
    """Per module, the SHA-256 of the syntax tree (comments and docstrings left out) of
    ``module`` and of every ``lstm_ref`` module it imports, transitively.

    Returns:
        dict: module name -> hex digest, sorted by name.
    """
    hashes, todo = {}, [module]
    while todo:
        name = todo.pop()
        if name in hashes or name.startswith(_NOT_HASHED):
            continue
        path = _module_file(name)
        if path is None:  # ``from pkg import name`` where name is not a module
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        todo.extend(_imports(tree, name, path.name == "__init__.py"))
        dump = ast.dump(_strip_docstrings(tree), include_attributes=False)
        hashes[name] = hashlib.sha256(dump.encode()).hexdigest()
    return dict(sorted(hashes.items()))


def modules_digest(modules):
    """One SHA-256 over a dict of per-module hashes."""
    return _digest(json.dumps(modules, sort_keys=True))


def code_hash(module):
    """One SHA-256 over :func:`code_hashes` of ``module``."""
    return modules_digest(code_hashes(module))


def _digest(text):
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------------------- content hash

def plain(value):
    """``value`` as JSON-ready data: numpy scalars become Python numbers, tuples and numpy
    arrays lists, dict keys strings. Raises RecordError for anything else."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise RecordError(f"cannot record a value of type {type(value).__name__}")


def array_digest(arrays):
    """SHA-256 over the dtype, shape and bytes of each array, in key order."""
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def content_hash(meta, arrays):
    """The hash the writer stores in ``content_hash``: every field of the record but that
    one, and the arrays."""
    body = {k: v for k, v in meta.items() if k != "content_hash"}
    return _digest(json.dumps(body, sort_keys=True, allow_nan=True) + array_digest(arrays))


# ---------------------------------------------------------------------------- the record

@dataclass
class Record:
    """One experiment's record, as :func:`load` returns it.

    Attributes:
        name: the experiment's name (its folder under :func:`results_dir`).
        meta: the content of ``record.json``.
        arrays: the arrays of ``arrays.npz``, keyed ``"<seed>/<key>"``.
    """

    name: str
    meta: dict
    arrays: dict = field(repr=False)

    @property
    def config(self):
        return self.meta["config"]

    @property
    def seeds(self):
        return list(self.meta["seeds"])

    @property
    def summary(self):
        return self.meta["summary"]

    def seed(self, seed):
        """Everything seed ``seed`` returned: its scalars and its arrays."""
        key = str(seed)
        if key not in self.meta["per_seed"]:
            raise KeyError(f"record {self.name!r} has no seed {seed} (seeds: {self.seeds})")
        out = dict(self.meta["per_seed"][key])
        out.update({k: self.arrays[f"{key}/{k}"] for k in self.meta["array_keys"].get(key, [])})
        return out

    def per_seed(self, key):
        """``[seed(s)[key] for s in seeds]``."""
        return [self.seed(s)[key] for s in self.seeds]

    def provenance(self):
        """One sentence for a caption: where and when the numbers were made, and how to
        make them again. Plain text (pages glue it with ``{glue:text}``, which renders no
        Markdown)."""
        m, v = self.meta["machine"], self.meta["versions"]
        device = m.get("gpu") or m.get("cpu") or "an unknown CPU"
        minutes = self.meta["wall_time_s"] / 60
        n = len(self.seeds)
        return (f"Recorded run {self.name}: {n} seed{'s' if n > 1 else ''}, "
                f"{self.meta['date'][:10]}, {device}, torch {v.get('torch', 'not used')}, "
                f"{minutes:.1f} min; rerun with: {self.meta['command']}.")


def _check_fields(name, meta):
    if not isinstance(meta, dict):
        raise RecordError(f"record {name!r}: record.json does not hold an object")
    for key, kind in FIELDS.items():
        if key not in meta:
            raise RecordError(f"record {name!r}: record.json has no field {key!r}")
        ok = isinstance(meta[key], kind) or (kind is float and isinstance(meta[key], int))
        if not ok or (kind is not bool and isinstance(meta[key], bool)):
            raise RecordError(f"record {name!r}: field {key!r} should be {kind.__name__}, "
                              f"not {type(meta[key]).__name__}")
    if meta["schema"] != SCHEMA:
        raise RecordError(f"record {name!r}: schema {meta['schema']}, expected {SCHEMA}")
    if meta["name"] != name:
        raise RecordError(f"record {name!r}: record.json names {meta['name']!r}")
    seeds = [str(s) for s in meta["seeds"]]
    if sorted(meta["per_seed"]) != sorted(seeds):
        raise RecordError(f"record {name!r}: per_seed does not hold exactly the seeds {seeds}")
    for field_name in ("hash", "module", "modules"):
        if field_name not in meta["code"]:
            raise RecordError(f"record {name!r}: code has no {field_name!r}")


def read(name, directory=None):
    """Read and validate record ``name`` (types and content hash), without comparing it
    with the code."""
    folder = Path(directory or results_dir()) / name
    path = folder / RECORD_FILE
    if not path.is_file():
        raise RecordError(f"there is no record {name!r} (no {path}); make it with: "
                          f"{rerun_command(name)}")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RecordError(f"record {name!r}: {path} is not valid JSON ({exc})") from None
    _check_fields(name, meta)
    arrays = {}
    npz = folder / ARRAYS_FILE
    if npz.is_file():
        with np.load(npz, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    expected = {f"{s}/{k}" for s, keys in meta["array_keys"].items() for k in keys}
    if set(arrays) != expected:
        raise RecordError(f"record {name!r}: arrays.npz does not hold the arrays record.json lists")
    if content_hash(meta, arrays) != meta["content_hash"]:
        raise RecordError(f"record {name!r} was changed after it was written (its content hash "
                          f"does not match); rerun it with: {rerun_command(name)}")
    return Record(name, meta, arrays)


def staleness(record, experiment):
    """Why ``record`` no longer matches ``experiment`` (a list of reasons; empty when it
    is current)."""
    from .experiment import config_dict

    reasons = []
    now = code_hashes(experiment.module)
    before = record.meta["code"]["modules"]
    changed = sorted(m for m in set(now) | set(before) if now.get(m) != before.get(m))
    if changed:
        reasons.append("code changed in " + ", ".join(changed))
    if plain(config_dict(experiment.config)) != record.config:
        reasons.append("its configuration changed")
    if [int(s) for s in record.seeds] != list(experiment.seeds):
        reasons.append("its seeds changed")
    return reasons


def load(name, check=True, directory=None, experiment=None):
    """The record of experiment ``name``, validated and, unless ``check`` is false, proven
    current: made by the experiment's code and configuration as they are now.

    Raises:
        RecordError: the record is missing, malformed or edited by hand.
        StaleRecordError: the code or configuration changed since it was made; the message
            names what changed and the command that reruns it.

    ``experiment`` is the registered experiment called ``name`` unless given.
    """
    record = read(name, directory)
    if check:
        if experiment is None:
            from .registry import get

            experiment = get(name)
        reasons = staleness(record, experiment)
        if reasons:
            raise StaleRecordError(f"the record of experiment {name!r} is stale ("
                                   + "; ".join(reasons) + f"); rerun it with: {rerun_command(name)}")
    return record
