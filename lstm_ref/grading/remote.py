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
from .sandbox import Sandbox, SandboxLost, Zygote

GRACE = 3.0  # seconds past a time limit before the process is killed (the runner's own
# timer stops the student's code at the limit and answers at once)
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


_SPARES = {}  # one sandbox started ahead per kind, in this process (a grading worker)


_ZYGOTES = {}  # one fork server per kind, in this process (a grading worker)
FORKING = {"on": True, "why": ""}  # off once a fresh fork server could not isolate a runner


def fork_server_failure():
    """Why this process grades with a sandbox started per student (the slower way), or ""."""
    return FORKING["why"]


def close_fork_servers():
    """Stop this process's fork servers and spare sandboxes (no student is being graded)."""
    for box in list(_ZYGOTES.values()) + list(_SPARES.values()):
        box.kill()
    _ZYGOTES.clear()
    _SPARES.clear()


def _take_spare(key):
    """The spare sandbox of this kind, if one is alive (it has run no student's code)."""
    box = _SPARES.pop(key, None)
    if box is not None and not box.alive:
        box.kill()
        return None
    return box


class Session:
    """The student's notebook running in a sandbox, restarted when it is lost.

    The notebook's cells run lazily and in order: :meth:`run_until` runs those before a
    position, so a test cell sees the notebook's state at its own place (as in Jupyter).
    When the process is lost (a call that hung was killed), the next request starts a new
    one and runs the cells up to the current position again, a bounded number of times. A
    cell that hangs past its time limit without letting the runner stop it is skipped from
    then on (its output says it timed out), as nbgrader interrupts such a cell and goes on.
    """

    def __init__(self, cells, libdir, slot=0, limits=None, sandbox=True, cell_timeout=60.0,
                 call_timeout=30.0, max_restarts=20, deadline=None, preload=(), spare=False):
        self.cells = list(cells)  # (index, code) of the notebook's non-test code cells
        self.libdir, self.slot, self.limits, self.sandboxed = libdir, slot, limits, sandbox
        self.cell_timeout, self.call_timeout = cell_timeout, call_timeout
        self.restarts_left = max_restarts
        self.deadline = deadline  # time.monotonic() after which nothing more is started
        self.preload = tuple(preload)  # modules the runner imports before any cell
        self.spare = spare  # keep a sandbox started ahead for the next session (a worker)
        self.box = None
        self.generation = 0
        self.pos = 0  # cells of self.cells run in the current process
        self.limit = 0  # run_until's current position
        self.skipped = set()
        self.replies = {}  # cell index -> reply of its first run
        self.tainted = False  # hidden inputs have reached the current process
        self.after_hidden = set()  # cells whose first run came after hidden inputs

    # -- lifecycle --
    def _new_box(self):
        if self.box is not None:
            self.box.kill()
        self.generation += 1
        self.pos = 0
        self.tainted = False
        if self.spare and self.sandboxed and FORKING["on"]:
            self.box = self._forked()
            if self.box is not None:
                return
        self.box = _take_spare(self._key())
        if self.box is None:
            self.box = Sandbox(self.libdir, slot=self.slot, limits=self.limits,
                               sandbox=self.sandboxed, preload=self.preload)
        else:
            self.box.wait_ready()
        if self.spare:  # the next student's (or the next restart's) sandbox starts now
            try:
                _SPARES[self._key()] = Sandbox(self.libdir, slot=self.slot, limits=self.limits,
                                               sandbox=self.sandboxed, preload=self.preload,
                                               wait=False)
            except (SandboxLost, OSError):
                pass

    def _forked(self):
        """A runner from this worker's fork server (started the first time), ready; None
        if a fresh fork server cannot start one (the sandbox started per student is used
        from then on, and :func:`fork_server_failure` says why)."""
        key = self._key()
        zygote = _ZYGOTES.get(key)
        if zygote is not None and not zygote.alive:
            zygote.kill()
            zygote = None
        fresh = zygote is None
        try:
            if fresh:
                zygote = _ZYGOTES[key] = Zygote(self.libdir, slot=self.slot, limits=self.limits,
                                                preload=self.preload)
            box = zygote.spawn()
            box.wait_ready()
            return box
        except (SandboxLost, OSError) as exc:
            if zygote is not None:
                zygote.kill()
            _ZYGOTES.pop(key, None)
            if fresh:  # before any student's code: this machine cannot fork runners
                FORKING.update(on=False, why=getattr(exc, "reason", None) or str(exc))
                return None
            return self._forked()  # the old one died: once more with a fresh one

    def _key(self):
        return (str(self.libdir), self.slot, repr(self.limits), self.sandboxed, self.preload)

    def taint(self):
        """Hidden inputs are about to be sent: from now on, what this process prints or
        raises may hold them (:mod:`.verdict` shows none of it)."""
        self.tainted = True

    def start(self):
        """Start the sandbox (no cell runs yet)."""
        self._new_box()

    def run_until(self, limit):
        """Run the cells whose index is below ``limit`` (in this process, not yet run).

        Raises :class:`SandboxLost` when the process is lost and cannot be recovered (it
        exited, or restarts are used up).
        """
        self.limit = max(self.limit, limit)
        if self.box is None or not self.box.alive:
            self._restart("the notebook's process was lost")
        while self.pos < len(self.cells) and self.cells[self.pos][0] < self.limit:
            index, src = self.cells[self.pos]
            if index in self.skipped:
                self.pos += 1
                continue
            self._check_deadline()
            timeout = self._clamp(self.cell_timeout)
            try:
                reply = self.box.request(
                    {"op": "cell", "src": src, "index": index, "timeout": timeout},
                    timeout, f"cell {index + 1}", grace=GRACE)
            except SandboxLost as exc:
                if exc.kind not in ("timeout", "signal") or self.restarts_left <= 0:
                    raise
                self.skipped.add(index)
                self.replies.setdefault(index, {"error": {
                    "type": "TimeoutError" if exc.kind == "timeout" else "GradingError",
                    "msg": exc.reason.partition(": ")[2] or exc.reason, "builtin": True}})
                self._restart(exc.reason)
                continue
            if index not in self.replies and self.tainted:
                self.after_hidden.add(index)
            self.replies.setdefault(index, reply)
            self.pos += 1

    def _restart(self, why):
        if self.generation and self.restarts_left <= 0:
            raise SandboxLost(f"not run: {why}, too many times")
        if self.generation:
            self.restarts_left -= 1
        self._new_box()

    def _clamp(self, timeout):
        if self.deadline is None:
            return timeout
        return max(0.5, min(timeout, self.deadline - time.monotonic()))

    def _check_deadline(self):
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise SandboxLost("the time allowed for this student is used up", "timeout")

    def ensure(self):
        """A live sandbox with the notebook run up to the current position."""
        if self.box is not None and self.box.alive:
            return
        self.run_until(self.limit)

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
        self._decode_by = time.monotonic() + timeout + GRACE
        reply = self.box.request(msg, timeout, what, grace=GRACE)
        if not isinstance(reply, dict):
            raise SandboxLost(f"{what}: a malformed reply")
        return reply

    def _budget(self):
        """Decoding a reply counts against the same time limit as the call."""
        return wire.Budget(deadline=getattr(self, "_decode_by", None))

    def _decode(self, v, budget=None):
        try:
            return wire.decode(v, self._deref, budget=budget or self._budget())
        except wire.WireTimeout:
            self.box.kill()  # the same fate as a call that runs past its limit
            raise SandboxLost("decoding the result took longer than the time limit",
                              "timeout") from None
        except wire.WireError as exc:
            raise RuntimeError(f"the result could not be used: {exc}") from None

    def _value(self, reply):
        if reply.get("error"):
            raise_remote(reply["error"])
        v = reply.get("value")
        if isinstance(v, dict) and v.get("$") == "error":
            raise RuntimeError(f"the result could not be sent back ({v.get('type')}: "
                               f"{v.get('msg')})")
        return self._decode(v)

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
        budget = self._budget()
        changed = reply.get("changed")
        for item in (changed if type(changed) is list else [])[: len(arrays)]:
            try:
                i, enc = int(item[0]), item[1]
                if 0 <= i < len(arrays):
                    _copy_back(arrays[i], self._decode(enc, budget))
            except (TypeError, ValueError, IndexError, KeyError, RuntimeError):
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
