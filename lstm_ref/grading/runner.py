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


# -- the fork server ------------------------------------------------------------------------
#
# Started with ``LSTM_ZYGOTE`` set, this script is a fork server (a "zygote"): it imports the
# course's modules once (torch takes a second or more) and then, for each student, forks a
# runner that starts with them already imported. The zygote runs no student code. Each
# student's runner gets, before any of its code runs, what a sandbox of its own would give:
#
# - new pid, mount, IPC, network and UTS namespaces, whose first process (as bwrap is for a
#   sandbox of its own) builds the mounts, starts the runner, drops every privilege and
#   reaps; the runner sees only its namespace (a /proc of its own), so it can neither signal
#   nor trace the zygote; when it ends, every process it started ends with it;
# - its own empty /tmp, home and /dev/shm (tmpfs), and every other mount read-only (the
#   sandbox's root and /dev included): nothing of an earlier student is there;
# - its own rlimits (CPU time counted from zero, processes), and oom_score_adj 1000, so the
#   memory cgroup kills it rather than the zygote;
# - the student's uid (when the grader runs as root), no capabilities at all (checked in
#   /proc/self/status, or the runner exits before any student code) and no_new_privs.
#
# The control socket (fd 0) carries 9-byte messages ``op (1 byte), a, b (int32)`` both ways:
# ``F``: fork a runner; the answer ``F pid1 pid2`` carries the runner's two pipe ends
# (SCM_RIGHTS: write requests, read replies), which the grader uses directly. ``K pid2 0``:
# kill the namespace's first process (and, with it, the namespace). ``W pid1 ms``: wait up
# to ``ms`` for the first child's end; the answer ``W status`` is the runner's exit code
# (128 + n for signal n), or -1. ``Q``: quit. The zygote holds none of the runner's pipes
# once it has handed them over.

SETUP_FAILED = 70  # a runner's exit code when its isolation could not be set up
_MSG = "=cii"
_CLONE = {"ns": 0x00020000, "ipc": 0x08000000, "net": 0x40000000, "pid": 0x20000000,
          "uts": 0x04000000}
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REMOUNT = 1, 2, 4, 8, 32
_MS_NOATIME, _MS_NODIRATIME, _MS_BIND, _MS_REC, _MS_PRIVATE = 1024, 2048, 4096, 0x4000, 1 << 18
_MS_STRICTATIME = 1 << 24
_PR_SET_PDEATHSIG, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS = 1, 24, 38


def _libc():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                           ctypes.c_char_p]
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                           ctypes.c_ulong]
    return libc


def _ok(ret, what):
    if ret != 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _zygote_config():
    """The zygote's settings, from ``LSTM_ZYGOTE`` (``key=value,...``, set by the grader)."""
    cfg = {}
    for item in os.environ.get("LSTM_ZYGOTE", "").split(","):
        key, _, value = item.partition("=")
        if key:
            cfg[key] = int(value)
    return cfg


def _drop_privileges(libc, cfg):
    """Become the student: the uid (if root), no capabilities, no_new_privs; then check."""
    import ctypes
    import resource

    uid = cfg.get("uid", -1)
    for cap in range(64):  # the bounding set goes first (while CAP_SETPCAP is held)
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break
    if uid >= 0:  # root in the zygote: become the student's uid
        if cfg.get("nproc", 0) > 0:  # counted per uid: set before becoming that uid
            resource.setrlimit(resource.RLIMIT_NPROC, (cfg["nproc"], cfg["nproc"]))
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    _ok(libc.capset(ctypes.byref(Header(0x20080522, 0)), (Data * 2)()), "capset")
    _ok(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    status = open("/proc/self/status").read().splitlines()
    caps = {line.split(":")[0]: int(line.split()[1], 16) for line in status
            if line.startswith(("CapInh", "CapPrm", "CapEff", "CapAmb", "CapBnd"))}
    if len(caps) < 5 or any(caps.values()) or (uid >= 0 and os.getuid() != uid):
        raise OSError("privileges were not dropped")


def _exit_code(status):
    """A wait status as one exit code: the code, or 128 + the signal that ended it."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1


def _close_fds_but(keep):
    for entry in os.listdir("/proc/self/fd"):
        fd = int(entry)
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _read_only_mounts(libc):
    """Every writable folder mount the runner shares with the zygote (the sandbox's root,
    ``/dev``...; its /tmp and home are replaced next) becomes read-only in the runner's
    mount namespace: what one student writes there, the next would find. The flags the
    mount has are kept (a user namespace may not clear them)."""
    import re

    points = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            fields = line.split()
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            if "rw" in fields[5].split(",") and not point.startswith("/proc") \
                    and os.path.isdir(point):
                points.append(point)
    for point in points:
        have = os.statvfs(point).f_flag
        flags = _MS_REMOUNT | _MS_BIND | _MS_RDONLY | (have & (_MS_NOSUID | _MS_NODEV |
                                                                _MS_NOEXEC | _MS_NODIRATIME))
        if have & os.ST_NOATIME:
            flags |= _MS_NOATIME
        elif not have & os.ST_RELATIME:
            flags |= _MS_STRICTATIME
        _ok(libc.mount(None, point.encode(), None, flags, None), f"read-only {point}")


def _namespace_init(cfg, rfd, wfd):
    """The first process of the student's pid namespace (as bwrap is for a sandbox of its
    own): builds the student's mounts, starts the runner, drops every privilege, reaps
    orphans, and ends with the runner (the namespace, every process of the student with
    it), with the runner's exit code."""
    try:
        libc = _libc()
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        _ok(libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None), "private mounts")
        _read_only_mounts(libc)
        size = str(cfg.get("tmp", 64 << 20)).encode()
        for where in (b"/tmp", b"/home/student", b"/dev/shm"):
            if os.path.isdir(where):
                _ok(libc.mount(b"tmpfs", where, b"tmpfs", _MS_NOSUID | _MS_NODEV,
                               b"size=" + size + b",mode=1777"), f"tmpfs {where!r}")
        _ok(libc.mount(b"proc", b"/proc", b"proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None),
            "/proc")
        with open("/proc/self/oom_score_adj", "w") as fh:  # the runner inherits it
            fh.write("1000")
        runner = os.fork()
        if runner == 0:
            _runner_child(cfg, rfd, wfd)
        _close_fds_but(())
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _drop_privileges(libc, dict(cfg, uid=-1, nproc=0))
    except BaseException:
        os._exit(SETUP_FAILED)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(1)
        except BaseException:
            continue
        if pid == runner:
            os._exit(_exit_code(status))


def _runner_child(cfg, rfd, wfd):
    """The student's runner: its own limits, the student's uid, no privilege, then serve."""
    import resource

    try:
        libc = _libc()
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        os.chdir("/home/student")
        cpu = cfg.get("cpu", 0)
        if cpu > 0:  # SIGXCPU at the limit (said in words), SIGKILL 2 s later
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))
        _drop_privileges(libc, cfg)
        _close_fds_but((rfd, wfd))  # only the runner's two pipes stay open
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    except BaseException:
        os._exit(SETUP_FAILED)
    try:
        Runner(rfd, wfd).serve()
    finally:
        os._exit(0)


def _fork_runner(cfg, sock, report_w, rfd, wfd, close):
    """The first child: new namespaces, whose first process (:func:`_namespace_init`) it
    starts, reports (the pid the grader kills to end the student) and waits for; its exit
    code is theirs."""
    try:
        sock.close()
        for fd in close:
            os.close(fd)
        libc = _libc()
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        flags = 0
        if cfg.get("isolate", 1):
            for name in ("ns", "ipc", "net", "pid", "uts"):
                flags |= _CLONE[name]
            _ok(libc.unshare(flags), "unshare")
        pid = os.fork()
        if pid == 0:
            os.close(report_w)
            _namespace_init(cfg, rfd, wfd)
        os.close(rfd)
        os.close(wfd)
        os.write(report_w, int(pid).to_bytes(4, "little"))
        os.close(report_w)
        _, status = os.waitpid(pid, 0)
        os._exit(_exit_code(status))
    except BaseException:
        os._exit(SETUP_FAILED)


def _recv_exact(sock, n):
    data = b""
    while len(data) < n:
        part = sock.recv(n - len(data))
        if not part:
            raise EOFError
        data += part
    return data


def zygote_main():
    import gc
    import select
    import socket
    import struct

    ctl = os.dup(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    sys.stdin = open(os.devnull)
    sys.argv = [""]
    sys.setrecursionlimit(3000)
    cfg = _zygote_config()
    sock = socket.socket(fileno=ctl)
    _preload(os.environ.get("LSTM_PRELOAD", ""))
    gc.collect()
    gc.freeze()  # the runners' garbage collector leaves the zygote's objects (and pages) alone
    first, runners = {}, set()  # first child -> runner pid, runner pids
    sock.sendall(struct.pack(_MSG, b"R", os.getpid(), 0))
    while True:
        try:
            op, a, b = struct.unpack(_MSG, _recv_exact(sock, struct.calcsize(_MSG)))
        except (EOFError, OSError, struct.error):
            os._exit(0)
        if op == b"F":
            req_r, req_w = os.pipe()
            rep_r, rep_w = os.pipe()
            report_r, report_w = os.pipe()
            pid1 = os.fork()
            if pid1 == 0:
                _fork_runner(cfg, sock, report_w, req_r, rep_w, (req_w, rep_r, report_r))
            for fd in (req_r, rep_w, report_w):
                os.close(fd)
            pid2 = -1
            if select.select([report_r], [], [], 10)[0]:
                data = os.read(report_r, 4)
                pid2 = int.from_bytes(data, "little") if len(data) == 4 else -1
            os.close(report_r)
            first[pid1] = pid2
            runners.add(pid2)
            socket.send_fds(sock, [struct.pack(_MSG, b"F", pid1, pid2)], [req_w, rep_r])
            os.close(req_w)
            os.close(rep_r)
        elif op == b"K":
            if a in runners:
                try:
                    os.kill(a, signal.SIGKILL)
                except OSError:
                    pass
            sock.sendall(struct.pack(_MSG, b"K", a, 0))
        elif op == b"W":
            code = -1
            if a in first:
                import time

                end = time.monotonic() + max(b, 0) / 1000
                while True:
                    done, status = os.waitpid(a, os.WNOHANG)
                    if done:
                        code = (128 + os.WTERMSIG(status) if os.WIFSIGNALED(status)
                                else os.WEXITSTATUS(status))
                        runners.discard(first.pop(a))
                        break
                    if time.monotonic() >= end:
                        break
                    time.sleep(0.005)
            sock.sendall(struct.pack(_MSG, b"W", code, 0))
        else:
            os._exit(0)


def main():
    if os.environ.get("LSTM_ZYGOTE"):
        zygote_main()
        return
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
