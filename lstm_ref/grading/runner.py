"""The process that runs one student's notebook, inside the sandbox.

Started by :mod:`lstm_ref.grading.sandbox` as a plain Python script (no Jupyter kernel). It
keeps the RPC pipes on private file descriptors, points its own stdin, stdout and stderr at
``/dev/null`` (so nothing the student prints can reach the pipes), then answers requests
(:mod:`lstm_ref.grading.wire` messages) until told to stop:

- ``{"op": "cell", "src": ..., "timeout": s}``: run one code cell in the notebook's
  namespace; IPython lines (``%magic``, ``!shell``) are skipped and ``%%`` cells not run.
  The reply holds the cell's captured stdout and stderr (capped) and its error, if any.
- ``{"op": "lookup", "name": ...}``: a global of the notebook (plain data or a handle).
- ``{"op": "call", "ref": n, "args": [...], "kwargs": {...}, "timeout": s}``: call a handled
  object; the reply holds the result and the arrays it changed in place.
- ``{"op": "getattr" | "setattr", "ref": n, "name": ..., "value": ...}`` and ``{"op": "stop"}``.

It holds no verdict and no test: it only runs the student's code on what it is sent.
"""

import builtins
import os
import signal
import sys

try:  # inside the sandbox this file sits beside a copy of wire.py named _lstm_wire
    import _lstm_wire as wire
except ImportError:  # pragma: no cover - imported from the package (tests)
    from lstm_ref.grading import wire

OUTPUT_CAP = 20_000  # characters of stdout (and of stderr) kept per cell or call


class _Timeout(BaseException):
    """Raised in the student's code when its time is up (not an ``Exception``, so a bare
    ``except Exception`` in the student's code does not swallow it)."""


class Capped:
    """A text stream that keeps its first ``cap`` characters and counts the rest."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, cap=OUTPUT_CAP):
        self.cap, self.parts, self.size, self.dropped = cap, [], 0, 0

    def write(self, s):
        s = str(s)
        room = self.cap - self.size
        if room > 0:
            self.parts.append(s[:room])
            self.size += min(len(s), room)
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass

    def isatty(self):
        return False

    def text(self):
        out = "".join(self.parts)
        if self.dropped:
            out += f"\n[... {self.dropped} more characters not kept]\n"
        return out


def strip_magics(src):
    """The cell's Python: lines starting with ``%`` or ``!`` (IPython magics and shell
    escapes) become ``pass``; a ``%%`` cell magic makes the whole cell empty."""
    if src.lstrip().startswith("%%"):
        return ""
    lines = []
    for line in src.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            lines.append(line[: len(line) - len(stripped)] + "pass")
        else:
            lines.append(line)
    return "\n".join(lines)


def _display(*objs, **kwargs):
    """IPython's ``display``, as text: notebooks may call it without importing it."""
    for obj in objs:
        print(repr(obj))


def _budget():
    """What the grader's own arguments may cost here (they come from the trusted side)."""
    return wire.Budget(array_bytes=2 * wire.MAX_MESSAGE, values=10 * wire.MAX_VALUES)


def _on_alarm(signum, frame):
    raise _Timeout()


def _error(exc):
    return {"type": type(exc).__name__, "msg": str(exc)[:2000],
            "builtin": type(exc).__module__ == "builtins"}


class Runner:
    def __init__(self, rfd, wfd):
        self.rfd, self.wfd = rfd, wfd
        self.pid = os.getpid()
        self.ns = {"__name__": "__main__", "__builtins__": builtins,
                   "display": _display}  # what Jupyter provides without an import
        self.handles = {}
        self.next_id = 1

    # -- handles --
    def ref(self, obj):
        for k, v in self.handles.items():
            if v is obj:
                n = k
                break
        else:
            n = self.next_id
            self.next_id += 1
            self.handles[n] = obj
        try:
            name = getattr(obj, "__name__", None)
            name = name if type(name) is str else None
        except BaseException:
            name = None
        try:
            is_callable = callable(obj)
        except BaseException:
            is_callable = False
        return {"$": "ref", "id": n, "callable": is_callable, "name": name,
                "type": type(obj).__name__}

    def deref(self, d):
        try:
            return self.handles[int(d["id"] if isinstance(d, dict) else d)]
        except (KeyError, TypeError, ValueError):
            raise wire.WireError("unknown object handle") from None

    # -- running student code with a time limit and captured output --
    def _guarded(self, fn, timeout):
        out, err = Capped(), Capped()
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        reply = {}
        signal.setitimer(signal.ITIMER_REAL, max(float(timeout), 0.001))
        try:
            reply["value"] = fn()
            reply["error"] = None
        except _Timeout:
            reply["error"] = {"type": "TimeoutError",
                              "msg": f"timed out after {timeout:g} s", "builtin": True}
        except SystemExit as exc:
            reply["error"] = {"type": "SystemExit", "msg": f"the code called exit ({exc.code})",
                              "builtin": True}
        except BaseException as exc:  # the student's error, reported to the grader
            reply["error"] = _error(exc)
        finally:
            if os.getpid() != self.pid:  # a child the student forked: it never answers
                os._exit(0)
            signal.setitimer(signal.ITIMER_REAL, 0)
            sys.stdout, sys.stderr = saved
        reply["stdout"], reply["stderr"] = out.text(), err.text()
        return reply

    # -- operations --
    def op_cell(self, msg):
        src = strip_magics(str(msg["src"]))

        def run():
            code = compile(src, f"<cell {msg.get('index', '?')}>", "exec")
            exec(code, self.ns)

        reply = self._guarded(run, msg.get("timeout", 30))
        reply.pop("value", None)
        return reply

    def op_lookup(self, msg):
        name = str(msg["name"])
        if name not in self.ns:
            return {"error": {"type": "NameError", "msg": f"name {name!r} is not defined",
                              "builtin": True}}
        return {"value": wire.encode(self.ns[name], self.ref, modules=False), "error": None}

    def op_call(self, msg):
        arrays = []
        args = wire.decode(msg.get("args", {"$": "list", "v": []}), self.deref, arrays,
                           budget=_budget(), modules=True)
        kwargs = wire.decode(msg.get("kwargs", {"$": "dict", "k": [], "v": []}), self.deref,
                             arrays, budget=_budget(), modules=True)
        before = [a.clone() if hasattr(a, "clone") else a.copy() for a in arrays]
        target = self.deref(msg["ref"])
        name = msg.get("method")
        fn = getattr(target, name) if name else target  # may run student code: guarded below

        reply = self._guarded(lambda: fn(*args, **kwargs), msg.get("timeout", 30))
        if reply["error"] is None:
            reply["value"] = self._encode_result(reply["value"])
        else:
            reply.pop("value", None)
        changed = []
        for i, (a, b) in enumerate(zip(arrays, before)):
            try:
                if not wire.same_values(a, b):
                    changed.append([i, wire.encode(a)])
            except Exception:
                pass
        reply["changed"] = changed
        return reply

    def _encode_result(self, value):
        try:
            return wire.encode(value, self.ref, modules=False)
        except BaseException as exc:
            return {"$": "error", "type": type(exc).__name__, "msg": str(exc)[:500]}

    def op_getattr(self, msg):
        target = self.deref(msg["ref"])
        reply = self._guarded(lambda: getattr(target, str(msg["name"])), msg.get("timeout", 30))
        if reply["error"] is None:
            reply["value"] = self._encode_result(reply["value"])
        return reply

    def op_setattr(self, msg):
        target = self.deref(msg["ref"])
        value = wire.decode(msg["value"], self.deref, budget=_budget(), modules=True)
        reply = self._guarded(lambda: setattr(target, str(msg["name"]), value),
                              msg.get("timeout", 30))
        reply.pop("value", None)
        return reply

    def serve(self):
        wire.send(self.wfd, {"ready": True})
        while True:
            try:
                msg = wire.recv(self.rfd)
            except wire.WireError:
                return
            op = msg.get("op") if isinstance(msg, dict) else None
            if op == "stop":
                wire.send(self.wfd, {"stopped": True})
                return
            handler = getattr(self, f"op_{op}", None) if isinstance(op, str) else None
            try:
                if handler is None:
                    raise wire.WireError(f"unknown operation {op!r}")
                reply = handler(msg)
            except BaseException as exc:  # a malformed request or an unencodable value
                reply = {"error": {"type": "RuntimeError",
                                   "msg": f"grading runner: {type(exc).__name__}: {exc}"[:500],
                                   "builtin": True}}
            try:  # what the grader reads from here is capped: say so instead of sending it
                wire.send(self.wfd, reply, limit=wire.MAX_REPLY)
            except wire.WireError as exc:
                wire.send(self.wfd, {"error": {"type": "RuntimeError", "builtin": True,
                                               "msg": f"the result is too large to grade ({exc})"}})


def _preload(names):
    """Import the modules the notebook's setup imports (numpy, torch...) before any
    student code: only the course's own imports, named by the grader."""
    import importlib

    for name in filter(None, names.split(",")):
        try:
            importlib.import_module(name)
        except BaseException:  # the notebook's own import will say what is wrong
            pass


def main():
    # The RPC pipes move to private descriptors; 0, 1 and 2 point at /dev/null.
    rfd, wfd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sys.stdin = open(os.devnull)
    signal.signal(signal.SIGALRM, _on_alarm)
    sys.argv = [""]
    sys.setrecursionlimit(3000)
    _preload(os.environ.get("LSTM_PRELOAD", ""))
    Runner(rfd, wfd).serve()
    os._exit(0)  # no atexit hook of the student's runs after this


if __name__ == "__main__":
    main()
