"""The trusted side of the RPC: proxies of the student's objects and the session behind them.

A :class:`Remote` stands for an object that lives in the sandbox. Calling it sends the
arguments as plain data (:mod:`.wire`), runs the student's code there and returns plain
data; a result that is not plain data (an instance of a student class, a closure...) comes
back as another :class:`Remote`. Attribute reads, writes and method calls go the same way.
Arrays (and tensors) passed as arguments and changed in place by the student's code are
changed in place here too. An exception raised by the student's code is raised here as the
same builtin type with its message (``ValueError``, ``NotImplementedError``, ...), any other
type as ``RuntimeError``. When the student's process is lost (a time limit, a crash),
:class:`~lstm_ref.grading.sandbox.SandboxLost` is raised: the check does not catch it and
the test cell fails with the reason.

:class:`Session` owns the sandbox: it runs the notebook's code cells once, and if the
process is lost (a call that hung was killed), it starts a new one and runs them again
before the next test cell, a bounded number of times.
"""

import builtins
import sys
import time

from . import wire
from .sandbox import Sandbox, SandboxLost

_PASSTHROUGH = {"__name__", "__qualname__", "__doc__"}
_NOT_EXCEPTIONS = (SystemExit, KeyboardInterrupt, GeneratorExit)


def raise_remote(err):
    """Raise the student's error ``{"type", "msg", "builtin"}`` here."""
    cls = getattr(builtins, str(err.get("type")), None) if err.get("builtin") else None
    msg = str(err.get("msg", ""))
    if (isinstance(cls, type) and issubclass(cls, BaseException)
            and not issubclass(cls, _NOT_EXCEPTIONS)):
        try:
            exc = cls(msg)
        except Exception:
            exc = None
        if exc is not None:
            raise exc
    raise RuntimeError(f"{err.get('type')}: {msg}" if msg else str(err.get("type")))


class Remote:
    """A student's object in the sandbox (see the module docstring)."""

    __slots__ = ("_session", "_id", "_callable", "_name", "_type", "_generation")

    def __init__(self, session, handle):
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_id", int(handle["id"]))
        object.__setattr__(self, "_callable", bool(handle.get("callable")))
        object.__setattr__(self, "_name", handle.get("name"))
        object.__setattr__(self, "_type", str(handle.get("type", "object")))
        object.__setattr__(self, "_generation", session.generation)

    @property
    def __name__(self):
        if self._name is not None:
            return self._name
        return self._session.getattr(self, "__name__")

    def __call__(self, *args, **kwargs):
        return self._session.call(self, args, kwargs)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__") and name not in _PASSTHROUGH:
            raise AttributeError(name)
        return self._session.getattr(self, name)

    def __setattr__(self, name, value):
        self._session.setattr(self, name, value)

    def __repr__(self):
        label = f" {self._name}" if self._name else ""
        return f"<student {self._type}{label}>"

    # Operators Python looks up on the type: forwarded as method calls.
    def __len__(self):
        return self._session.call(self, (), {}, method="__len__")

    def __getitem__(self, key):
        return self._session.call(self, (key,), {}, method="__getitem__")

    def __setitem__(self, key, value):
        return self._session.call(self, (key, value), {}, method="__setitem__")

    def __iter__(self):
        return self._session.call(self, (), {}, method="__iter__")

    def __next__(self):
        return self._session.call(self, (), {}, method="__next__")

    def __contains__(self, item):
        return self._session.call(self, (item,), {}, method="__contains__")


def _collect(x, out, depth=0):
    """The arrays and tensors in ``x``, in the order :func:`wire.decode` builds them."""
    if depth > wire.MAX_DEPTH:
        return
    if type(x) in (list, tuple):
        for v in x:
            _collect(v, out, depth + 1)
    elif type(x) is dict:
        for k in x:
            _collect(k, out, depth + 1)
        for v in x.values():
            _collect(v, out, depth + 1)
    elif wire.is_plain_array(x):
        out.append(x)
    else:
        torch = sys.modules.get("torch")
        if torch is not None and type(x) in (torch.Tensor, torch.nn.Parameter):
            out.append(x)


def _copy_back(orig, new):
    try:
        if hasattr(orig, "detach"):
            import torch

            if orig.shape == new.shape and orig.dtype == new.dtype:
                with torch.no_grad():
                    orig.copy_(new)
        elif orig.shape == new.shape and orig.dtype == new.dtype and orig.flags.writeable:
            orig[...] = new
    except Exception:
        pass


class Session:
    """The student's notebook running in a sandbox, restarted when it is lost."""

    def __init__(self, cells, libdir, slot=0, limits=None, sandbox=True, cell_timeout=60.0,
                 call_timeout=30.0, max_restarts=2, deadline=None):
        self.cells = list(cells)  # code of the notebook's non-test code cells, in order
        self.libdir, self.slot, self.limits, self.sandboxed = libdir, slot, limits, sandbox
        self.cell_timeout, self.call_timeout = cell_timeout, call_timeout
        self.restarts_left = max_restarts
        self.deadline = deadline  # time.monotonic() after which nothing more is started
        self.box = None
        self.generation = 0
        self.cell_results = None  # replies of the first run of the cells
        self.lost = None  # why the first run could not finish

    # -- lifecycle --
    def start(self):
        """Start the sandbox and run the cells; returns their replies. Raises
        :class:`SandboxLost` if the process is lost while the cells run."""
        self.generation += 1
        self.box = Sandbox(self.libdir, slot=self.slot, limits=self.limits,
                           sandbox=self.sandboxed)
        replies = []
        for index, src in self.cells:
            self._check_deadline()
            timeout = self._clamp(self.cell_timeout)
            replies.append((index, self.box.request(
                {"op": "cell", "src": src, "index": index, "timeout": timeout},
                timeout + 5, f"cell {index + 1}")))
        if self.cell_results is None:
            self.cell_results = replies
        return replies

    def _clamp(self, timeout):
        if self.deadline is None:
            return timeout
        return max(0.5, min(timeout, self.deadline - time.monotonic()))

    def _check_deadline(self):
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise SandboxLost("the time allowed for this student is used up")

    def ensure(self):
        """A live sandbox with the notebook run (restarting it if needed)."""
        if self.box is not None and self.box.alive:
            return
        if self.restarts_left <= 0:
            raise SandboxLost("not run: the notebook's process was lost too many times")
        self.restarts_left -= 1
        if self.box is not None:
            self.box.kill()
        self.start()

    def close(self):
        if self.box is not None:
            self.box.stop()
            self.box = None

    # -- requests --
    def _request(self, msg, what):
        self.ensure()
        self._check_deadline()
        timeout = self._clamp(self.call_timeout)
        msg["timeout"] = timeout
        reply = self.box.request(msg, timeout + 5, what)
        if not isinstance(reply, dict):
            raise SandboxLost(f"{what}: a malformed reply")
        return reply

    def _value(self, reply):
        if reply.get("error"):
            raise_remote(reply["error"])
        v = reply.get("value")
        if isinstance(v, dict) and v.get("$") == "error":
            raise RuntimeError(f"the result could not be sent back ({v.get('type')}: "
                               f"{v.get('msg')})")
        return wire.decode(v, self._deref)

    def _deref(self, handle):
        return Remote(self, handle)

    def _ref(self, obj):
        if isinstance(obj, Remote):
            if obj._generation != self.generation:
                raise SandboxLost("an object of the student's lost process was used")
            return {"$": "ref", "id": obj._id}
        raise TypeError(f"cannot send a {type(obj).__name__} to the student's code")

    def lookup(self, name):
        """The notebook's global ``name``: plain data, or a :class:`Remote`."""
        return self._value(self._request({"op": "lookup", "name": name}, f"looking up {name}"))

    def call(self, target, args, kwargs, method=None):
        arrays = []
        _collect(args, arrays)
        _collect(kwargs, arrays)
        msg = {"op": "call", "ref": self._ref(target)["id"],
               "args": wire.encode(list(args), self._ref),
               "kwargs": wire.encode(dict(kwargs), self._ref)}
        if method:
            msg["method"] = method
        what = f"calling {target._name or 'a student object'}"
        reply = self._request(msg, what)
        for item in reply.get("changed", [])[: len(arrays)]:
            try:
                i, enc = int(item[0]), item[1]
                if 0 <= i < len(arrays):
                    _copy_back(arrays[i], wire.decode(enc))
            except (TypeError, ValueError, IndexError, wire.WireError):
                continue
        return self._value(reply)

    def getattr(self, target, name):
        try:
            return self._value(self._request(
                {"op": "getattr", "ref": self._ref(target)["id"], "name": name},
                f"reading .{name}"))
        except AttributeError:
            raise
        except SandboxLost:
            raise

    def setattr(self, target, name, value):
        reply = self._request({"op": "setattr", "ref": self._ref(target)["id"], "name": name,
                               "value": wire.encode(value, self._ref)}, f"setting .{name}")
        if reply.get("error"):
            raise_remote(reply["error"])
