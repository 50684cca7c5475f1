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
arrays from bytes, with limits on size and nesting.
"""

import base64
import json
import os
import select
import struct
import time

MAX_MESSAGE = 64 * 1024 * 1024  # bytes of one message
MAX_DEPTH = 32  # nesting of containers
_ARRAY_KINDS = "biufc"  # bool, signed, unsigned, float, complex
_TORCH_DTYPES = ("float64", "float32", "float16", "bfloat16", "int64", "int32", "int16",
                 "int8", "uint8", "bool", "complex64", "complex128")


class WireError(Exception):
    """A message could not be read or built (closed pipe, too large, malformed, timeout)."""


class WireTimeout(WireError):
    """No complete message arrived before the deadline."""


# --- framing ------------------------------------------------------------------------------

def send(fd, obj):
    """Write one message (a JSON-able object) to the file descriptor ``fd``."""
    data = json.dumps(obj, separators=(",", ":")).encode("utf-8")
    if len(data) > MAX_MESSAGE:
        raise WireError(f"message of {len(data)} bytes is larger than {MAX_MESSAGE}")
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


def recv(fd, deadline=None):
    """Read one message from ``fd``; ``deadline`` is a ``time.monotonic()`` value or None."""
    (size,) = struct.unpack(">I", _read_exact(fd, 4, deadline))
    if size > MAX_MESSAGE:
        raise WireError(f"message of {size} bytes is larger than {MAX_MESSAGE}")
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


def encode(x, ref=None, depth=0):
    """``x`` as JSON-able data. ``ref(obj)`` returns the handle dict of an object that is not
    plain data (without ``ref`` such an object raises :class:`WireError`)."""
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
        return {"$": type(x).__name__, "v": [encode(v, ref, depth + 1) for v in x]}
    if type(x) is dict:
        keys = list(x)
        return {"$": "dict", "k": [encode(k, ref, depth + 1) for k in keys],
                "v": [encode(x[k], ref, depth + 1) for k in keys]}
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
    if torch is not None and isinstance(x, torch.nn.Module) \
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


def decode(d, deref=None, arrays=None, depth=0):
    """The value encoded by :func:`encode`. ``deref(handle)`` turns a handle into an object;
    every array and tensor built is appended to ``arrays`` (for copying changes back)."""
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if d is None or type(d) in (bool, int, float, str):
        return d
    if type(d) is not dict:
        raise WireError(f"malformed value ({type(d).__name__})")
    kind = d.get("$")
    if kind in ("list", "tuple"):
        items = [decode(v, deref, arrays, depth + 1) for v in d["v"]]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        keys = [decode(k, deref, arrays, depth + 1) for k in d["k"]]
        return dict(zip(keys, (decode(v, deref, arrays, depth + 1) for v in d["v"])))
    if kind in ("nd", "np"):
        import numpy as np

        dtype = np.dtype(str(d["dtype"]))
        if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None:
            raise WireError(f"array of dtype {dtype} is not plain data")
        raw = base64.b64decode(d["b"])
        if kind == "np":
            return np.frombuffer(raw, dtype=dtype)[0].copy() if raw else dtype.type(0)
        shape = tuple(int(s) for s in d["shape"])
        arr = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        if arrays is not None:
            arrays.append(arr)
        return arr
    if kind == "tensor":
        import numpy as np
        import torch

        name = str(d["dtype"])
        if name not in _TORCH_DTYPES:
            raise WireError(f"tensor of dtype {name} is not plain data")
        dtype = getattr(torch, name)
        shape = tuple(int(s) for s in d["shape"])
        raw = bytearray(base64.b64decode(d["b"]))
        flat = torch.frombuffer(raw, dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
        t = flat.view(dtype).reshape(shape).clone() if raw else torch.empty(shape, dtype=dtype)
        if d.get("grad"):
            t.requires_grad_(True)
        if arrays is not None:
            arrays.append(t)
        return t
    if kind == "tmod":
        import torch

        cls = getattr(torch.nn, str(d["cls"]), None)
        if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
            raise WireError(f"unknown torch module {d['cls']!r}")
        kw = decode(d["kw"], None, None, depth + 1)
        if cls is not torch.nn.RNNBase:
            kw.pop("mode", None)
        name = str(d.get("dtype"))
        if name not in _TORCH_DTYPES:
            raise WireError(f"torch module of dtype {name} is not plain data")
        try:
            module = cls(**kw, dtype=getattr(torch, name))
            module.load_state_dict(decode(d["state"], None, None, depth + 1))
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
