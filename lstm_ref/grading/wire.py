"""The grading RPC's wire format: length-prefixed JSON, arrays as base64 bytes, no pickle.

Both ends use this module: the trusted grader (as ``lstm_ref.grading.wire``) and the runner
inside the sandbox (a copy named ``_lstm_wire``), so it imports nothing but the standard
library at import time (numpy and torch are imported when a value needs them).

A message is a 4-byte big-endian length and that many bytes of UTF-8 JSON. Values are
encoded by :func:`encode`:

- ``None``, ``bool``, ``int``, ``float`` and ``str`` as themselves;
- ``{"$": "list" | "tuple", "v": [...]}`` and ``{"$": "dict", "k": [...], "v": [...]}``;
- ``{"$": "nd", "dtype": "<f8", "shape": [...], "b": base64}`` for a numpy array (numbers
  and booleans only) and ``{"$": "np", ...}`` for a numpy scalar;
- ``{"$": "tensor", "dtype": "float64", "shape": [...], "grad": bool, "b": base64}`` for a
  torch tensor (its values, dtype, shape and ``requires_grad``);
- ``{"$": "tmod", "cls": "LSTM", "kw": ..., "dtype": ..., "state": ...}`` for a module of
  ``torch.nn`` itself (``nn.LSTM``, ``nn.Linear``...): its constants and its state dict;
- ``{"$": "ref", "id": n, ...}`` for an object that is not plain data: it stays where it
  lives and the other side holds a handle to it (:mod:`lstm_ref.grading.remote`).

Decoding never runs code from the message: it builds numbers, strings, containers and
arrays from bytes, within a :class:`Budget` (bytes of arrays, number of values, nesting and
a deadline) that is checked BEFORE anything is allocated: an array's shape must match the
bytes that came, so no size is taken from the sender's word. Only the sandbox's side
rebuilds ``tmod`` values (the grader's own ``torch.nn`` modules, sent as arguments); the
trusted side never builds a module from settings the student chose: a module the student
returns crosses as a handle (``encode(..., modules=False)`` in the runner) whose methods the
checks call remotely.
"""

import base64
import json
import os
import select
import struct
import time

MAX_MESSAGE = 64 * 1024 * 1024  # bytes of one message
MAX_DEPTH = 32  # nesting of containers
MAX_REPLY = 16 * 1024 * 1024  # bytes of one message the trusted side reads from a student
MAX_ARRAY_BYTES = 12 * 1024 * 1024  # bytes of arrays in one decoded value (trusted side)
MAX_VALUES = 200_000  # numbers, strings and containers in one decoded value
MAX_DIMS = 16
_ARRAY_KINDS = "biufc"  # bool, signed, unsigned, float, complex
_TORCH_DTYPES = ("float64", "float32", "float16", "bfloat16", "int64", "int32", "int16",
                 "int8", "uint8", "bool", "complex64", "complex128")


class WireError(Exception):
    """A message could not be read or built (closed pipe, too large, malformed, timeout)."""


class WireTimeout(WireError):
    """No complete message arrived before the deadline."""


# --- framing ------------------------------------------------------------------------------

def send(fd, obj, limit=MAX_MESSAGE):
    """Write one message (a JSON-able object) to the file descriptor ``fd``; one longer than
    ``limit`` bytes raises :class:`WireError` and nothing is written."""
    data = json.dumps(obj, separators=(",", ":")).encode("utf-8")
    if len(data) > limit:
        raise WireError(f"message of {len(data)} bytes is larger than {limit}")
    view = memoryview(struct.pack(">I", len(data)) + data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_exact(fd, n, deadline):
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WireTimeout("timed out")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                raise WireTimeout("timed out")
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise WireError("the other side closed the pipe")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv(fd, deadline=None, limit=MAX_MESSAGE):
    """Read one message from ``fd``; ``deadline`` is a ``time.monotonic()`` value or None;
    a message longer than ``limit`` bytes is refused before it is read."""
    (size,) = struct.unpack(">I", _read_exact(fd, 4, deadline))
    if size > limit:
        raise WireError(f"message of {size} bytes is larger than {limit}")
    try:
        return json.loads(_read_exact(fd, size, deadline).decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise WireError(f"malformed message ({type(exc).__name__})") from None


# --- values -------------------------------------------------------------------------------

def _b64(data):
    return base64.b64encode(data).decode("ascii")


def is_plain_array(x):
    import sys

    np = sys.modules.get("numpy")
    return np is not None and isinstance(x, np.ndarray) and x.dtype.kind in _ARRAY_KINDS


def encode(x, ref=None, depth=0, modules=True):
    """``x`` as JSON-able data. ``ref(obj)`` returns the handle dict of an object that is not
    plain data (without ``ref`` such an object raises :class:`WireError`). With
    ``modules=False`` a ``torch.nn`` module is sent as a handle, never as settings."""
    import sys

    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if x is None or type(x) in (bool, str):
        return x
    if type(x) is int:
        return x
    if type(x) is float:
        return x
    if type(x) in (list, tuple):
        return {"$": type(x).__name__, "v": [encode(v, ref, depth + 1, modules) for v in x]}
    if type(x) is dict:
        keys = list(x)
        return {"$": "dict", "k": [encode(k, ref, depth + 1, modules) for k in keys],
                "v": [encode(x[k], ref, depth + 1, modules) for k in keys]}
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(x, np.ndarray) and x.dtype.kind in _ARRAY_KINDS:
            # The true memory, whatever a subclass claims about itself.
            arr = np.ascontiguousarray(x.view(np.ndarray))
            return {"$": "nd", "dtype": arr.dtype.str, "shape": list(arr.shape),
                    "b": _b64(arr.tobytes())}
        if isinstance(x, np.generic) and np.dtype(type(x)).kind in _ARRAY_KINDS:
            arr = np.asarray(x).view(np.ndarray)
            return {"$": "np", "dtype": arr.dtype.str, "b": _b64(arr.tobytes())}
    torch = sys.modules.get("torch")
    if torch is not None and type(x) in (torch.Tensor, torch.nn.Parameter):
        name = str(x.dtype).replace("torch.", "")
        if name in _TORCH_DTYPES and x.layout == torch.strided:
            t = x.detach().to("cpu").contiguous()
            data = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
            return {"$": "tensor", "dtype": name, "shape": list(t.shape),
                    "grad": bool(x.requires_grad), "b": _b64(data)}
    if modules and torch is not None and isinstance(x, torch.nn.Module) \
            and type(x).__module__.startswith("torch.nn.") and hasattr(torch.nn, type(x).__name__):
        # A module of torch.nn itself (nn.LSTM, nn.Linear...): its settings and weights.
        kw = {k: getattr(x, k) for k in getattr(x, "__constants__", ()) if hasattr(x, k)
              and type(getattr(x, k)) in (int, float, bool, str, type(None))}
        params = list(x.parameters())
        return {"$": "tmod", "cls": type(x).__name__, "kw": encode(kw),
                "dtype": str(params[0].dtype).replace("torch.", "") if params else "float32",
                "state": encode(dict(x.state_dict()), None, depth + 1),
                "training": bool(x.training)}
    if ref is None:
        raise WireError(f"cannot send a {type(x).__name__} as plain data")
    return ref(x)


class Budget:
    """What one decoded value may cost: bytes of arrays, number of values, a deadline
    (``time.monotonic()``). Every charge is made before the allocation it pays for."""

    def __init__(self, array_bytes=MAX_ARRAY_BYTES, values=MAX_VALUES, deadline=None):
        self.array_bytes, self.values, self.deadline = array_bytes, values, deadline

    def value(self):
        self.values -= 1
        if self.values < 0:
            raise WireError("value holds too many items")
        if self.deadline is not None and self.values % 1024 == 0 \
                and time.monotonic() > self.deadline:
            raise WireTimeout("decoding took longer than the time limit")

    def array(self, nbytes):
        self.array_bytes -= nbytes
        if self.array_bytes < 0:
            raise WireError("arrays larger than the size allowed")


def _shape(d, itemsize, b64):
    """The shape of an encoded array, checked against the bytes that came with it."""
    shape = d.get("shape")
    if type(shape) is not list or len(shape) > MAX_DIMS \
            or not all(type(s) is int and s >= 0 for s in shape):
        raise WireError("malformed array shape")
    count = 1
    for s in shape:
        count *= s
    if type(b64) is not str or len(b64) % 4:
        raise WireError("malformed array bytes")
    came = len(b64) // 4 * 3 - b64[-2:].count("=") if b64 else 0
    if count * itemsize != came:
        raise WireError("array shape does not match its bytes")
    return tuple(shape), came


def decode(d, deref=None, arrays=None, depth=0, budget=None, modules=False):
    """The value encoded by :func:`encode`. ``deref(handle)`` turns a handle into an object;
    every array and tensor built is appended to ``arrays`` (for copying changes back).
    ``budget`` (a :class:`Budget`, a default one when None) bounds what is built;
    ``modules=True`` (the sandbox's side only) rebuilds the grader's ``torch.nn`` modules.
    Anything malformed raises :class:`WireError`."""
    if budget is None:
        budget = Budget()
    try:
        return _decode(d, deref, arrays, depth, budget, modules)
    except WireError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError,
            OverflowError) as exc:
        raise WireError(f"malformed value ({type(exc).__name__})") from None


def _decode(d, deref, arrays, depth, budget, modules):
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    budget.value()
    if d is None or type(d) in (bool, int, float):
        return d
    if type(d) is str:
        budget.array(len(d))
        return d
    if type(d) is not dict:
        raise WireError(f"malformed value ({type(d).__name__})")
    kind = d.get("$")

    def sub(v):
        return _decode(v, deref, arrays, depth + 1, budget, modules)

    if kind in ("list", "tuple"):
        if type(d.get("v")) is not list:
            raise WireError("malformed list")
        items = [sub(v) for v in d["v"]]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        if type(d.get("k")) is not list or type(d.get("v")) is not list \
                or len(d["k"]) != len(d["v"]):
            raise WireError("malformed dict")
        keys = [sub(k) for k in d["k"]]
        try:
            return dict(zip(keys, (sub(v) for v in d["v"])))
        except TypeError:
            raise WireError("unhashable dict key") from None
    if kind in ("nd", "np"):
        import numpy as np

        try:
            dtype = np.dtype(str(d["dtype"]))
        except TypeError:
            raise WireError("unknown array dtype") from None
        if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None:
            raise WireError(f"array of dtype {dtype} is not plain data")
        b64 = d.get("b")
        if kind == "np":
            if type(b64) is not str or len(b64) > 64:
                raise WireError("malformed scalar")
            raw = base64.b64decode(b64)
            if len(raw) != dtype.itemsize:
                raise WireError("malformed scalar")
            return np.frombuffer(raw, dtype=dtype)[0].copy()
        shape, nbytes = _shape(d, dtype.itemsize, b64)
        budget.array(2 * nbytes)  # the decoded bytes and the array
        raw = base64.b64decode(b64) if nbytes else b""
        arr = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        if arrays is not None:
            arrays.append(arr)
        return arr
    if kind == "tensor":
        import torch

        name = str(d.get("dtype"))
        if name not in _TORCH_DTYPES:
            raise WireError(f"tensor of dtype {name} is not plain data")
        dtype = getattr(torch, name)
        itemsize = torch.empty((), dtype=dtype).element_size()
        shape, nbytes = _shape(d, itemsize, d.get("b"))
        budget.array(2 * nbytes)
        if nbytes:
            raw = bytearray(base64.b64decode(d["b"]))
            t = torch.frombuffer(raw, dtype=torch.uint8).view(dtype).reshape(shape).clone()
        else:
            t = torch.empty(shape, dtype=dtype)  # no element: nothing is allocated
        if d.get("grad"):
            if not (t.is_floating_point() or t.is_complex()):
                raise WireError("only a float tensor can require gradients")
            t.requires_grad_(True)
        if arrays is not None:
            arrays.append(t)
        return t
    if kind == "tmod":
        if not modules:
            raise WireError("a torch module is not plain data here; it crosses as a handle")
        import torch

        cls = getattr(torch.nn, str(d["cls"]), None)
        if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
            raise WireError(f"unknown torch module {d['cls']!r}")
        kw = sub(d["kw"])
        if cls is not torch.nn.RNNBase:
            kw.pop("mode", None)
        name = str(d.get("dtype"))
        if name not in _TORCH_DTYPES:
            raise WireError(f"torch module of dtype {name} is not plain data")
        try:
            module = cls(**kw, dtype=getattr(torch, name))
            module.load_state_dict(sub(d["state"]))
        except Exception as exc:
            raise WireError(f"could not rebuild torch.nn.{d['cls']} ({exc})") from None
        module.train(bool(d.get("training")))
        return module
    if kind == "ref":
        if deref is None:
            raise WireError("unexpected object handle")
        return deref(d)
    raise WireError(f"unknown value kind {kind!r}")


def _raw(a):
    if hasattr(a, "detach"):  # a torch tensor
        import torch

        t = a.detach().contiguous().reshape(-1)
        return str(t.dtype), tuple(a.shape), t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
    return a.dtype.str, a.shape, a.tobytes()


def same_values(a, b):
    """Whether two arrays (or two tensors) hold the same dtype, shape and bytes."""
    return _raw(a) == _raw(b)
