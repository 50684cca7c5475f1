"""A sandbox per student: bubblewrap, an unprivileged uid, rlimits, a time limit.

:class:`Sandbox` starts :mod:`lstm_ref.grading.runner` as::

    bwrap --unshare-pid --unshare-net --unshare-ipc --unshare-uts --unshare-cgroup-try
          --die-with-parent --new-session  (mounts below)
          setpriv --reuid U --regid U --clear-groups --no-new-privs (no capabilities)
          <venv>/bin/python -s -B /opt/grader/_lstm_runner.py

What the student's code sees: ``/usr`` and the Python installation and virtual environment
read-only, a sanitised copy of ``lstm_ref`` read-only (:mod:`.refcopy`), an empty ``/tmp``
and home (tmpfs), ``/proc`` of its own pid namespace, no network. The course root (with
``solutions/``, the gradebook, ``nbgrader_config.py``, other students' folders and the
course secret) is not mounted. bwrap runs as root only to build the mounts; the runner runs
as uid ``U`` (61000 + the worker's slot, so process limits of parallel workers do not mix)
without capabilities. Before bwrap starts, the launcher (:func:`_limits`) sets rlimits that
every process of the student inherits: address space, CPU seconds, file size, open files
and processes. Every read from the sandbox has a deadline; at the end, or when a deadline
passes, the whole process group is killed and, with it, the pid namespace.

``sandbox=False`` runs the same runner without bubblewrap (same rlimits, empty environment,
a temporary working directory): only for a class whose code is trusted.
"""

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import wire

UID_BASE = 61000


@dataclass
class Limits:
    """Resource limits of one student's processes."""

    memory_bytes: int = 3 << 30  # address space (RLIMIT_AS)
    cpu_seconds: int = 300  # CPU time of the runner (RLIMIT_CPU)
    processes: int = 32  # processes and threads of the sandbox's uid (RLIMIT_NPROC)
    file_bytes: int = 16 << 20  # largest file it may write (RLIMIT_FSIZE)
    open_files: int = 256  # RLIMIT_NOFILE
    start_seconds: float = 60.0  # from start to the runner's "ready"
    tmp_bytes: int = 64 << 20  # size of the sandbox's /tmp and home
    cpus: float = 0.0  # CPU time per second of all its processes together (0: one core)


class SandboxLost(BaseException):
    """The student's process is gone or did not answer in time; ``reason`` says which in
    words. A ``BaseException``, so no check mistakes it for the student's own error."""

    def __init__(self, reason, kind="other"):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind  # "timeout", "signal" (killed or crashed), "exit" or "other"


class SandboxUnavailable(Exception):
    """bubblewrap is missing or does not work on this machine."""


def bwrap_path():
    return shutil.which("bwrap")


def require_bwrap():
    if bwrap_path() is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed: grading runs every student's code in a "
            "bubblewrap sandbox. Install it with `apt-get install bubblewrap` (Debian/Ubuntu) "
            "or `dnf install bubblewrap`, or pass --no-sandbox for a class whose code you trust.")
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        raise SandboxUnavailable(
            "setpriv (from util-linux) is not installed: the sandbox uses it to drop to an "
            "unprivileged user. Install it with `apt-get install util-linux`.")


def _own_processes():
    """How many processes the current user runs (RLIMIT_NPROC counts them all)."""
    uid, n = os.getuid(), 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                n += os.stat(f"/proc/{entry}").st_uid == uid
            except OSError:
                pass
    return n


CGROUP_ROOT = Path("/sys/fs/cgroup")


def _own_cgroup(controller):
    """This process's cgroup path for a v1 ``controller`` ("" for v2), from /proc."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, names, path = line.split(":", 2)
            if names.split(",") == [controller] or (controller == "" and names == ""):
                return path.lstrip("/")
    except OSError:
        pass
    return None


class CpuMemGroup:
    """A cgroup of one student's processes: a CPU limit (``cpus`` cores: cgroup v2
    ``cpu.max``, v1 ``cpu.cfs_quota_us``) and a memory limit (v2 ``memory.max``, v1
    ``memory.limit_in_bytes``) for all of them together, whatever they fork. Where no
    cgroup can be written (no root, a read-only /sys/fs/cgroup), :attr:`how` says so and
    the sandbox falls back on ``nice`` and RLIMIT_CPU."""

    _serial = 0

    def __init__(self, cpus, memory_bytes, root=CGROUP_ROOT):
        CpuMemGroup._serial += 1
        name = f"lstm-grading-{os.getpid()}-{CpuMemGroup._serial}"
        self.dirs, self.how = [], "nice 10 and RLIMIT_CPU (no writable cgroup)"
        period = 100_000
        quota = max(1000, int(cpus * period))
        root = Path(root)
        try:
            v2 = root / (_own_cgroup("") or "")
            if (root / "cgroup.controllers").is_file() and \
                    "cpu" in (v2 / "cgroup.subtree_control").read_text().split():
                d = v2 / name
                d.mkdir()
                self.dirs.append(d)
                (d / "cpu.max").write_text(f"{quota} {period}")
                if (d / "memory.max").exists():
                    (d / "memory.max").write_text(str(memory_bytes))
                self.how = f"cgroup v2 cpu.max {quota} {period}, memory.max {memory_bytes}"
                return
            if (root / "cpu" / "cpu.cfs_quota_us").is_file():
                d = root / "cpu" / (_own_cgroup("cpu") or "") / name
                d.mkdir()
                self.dirs.append(d)
                (d / "cpu.cfs_period_us").write_text(str(period))
                (d / "cpu.cfs_quota_us").write_text(str(quota))
                how = f"cgroup v1 cpu.cfs_quota_us {quota}/{period}"
                if (root / "memory" / "memory.limit_in_bytes").is_file():
                    m = root / "memory" / (_own_cgroup("memory") or "") / name
                    m.mkdir()
                    self.dirs.append(m)
                    (m / "memory.limit_in_bytes").write_text(str(memory_bytes))
                    how += f", memory.limit_in_bytes {memory_bytes}"
                self.how = how
        except OSError:
            self.remove()
            self.dirs, self.how = [], "nice 10 and RLIMIT_CPU (no writable cgroup)"

    @property
    def active(self):
        return bool(self.dirs)

    def enter(self):
        """Move the calling process into the group (its children follow)."""
        for d in self.dirs:
            with open(d / "cgroup.procs", "w") as fh:
                fh.write(str(os.getpid()))

    def remove(self):
        for d in self.dirs:
            for _ in range(20):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # its last processes are still exiting
                    time.sleep(0.05)
        self.dirs = []


def sweep_groups(root=CGROUP_ROOT):
    """Remove the empty groups left by grading processes that are gone (a worker's spare
    sandbox dies with its worker, before it could remove its group)."""
    import re

    root = Path(root)
    parents = [root / (_own_cgroup("") or "")] + [
        root / c / (_own_cgroup(c) or "") for c in ("cpu", "memory")]
    for parent in parents:
        try:
            entries = list(parent.glob("lstm-grading-*"))
        except OSError:
            continue
        for d in entries:
            m = re.match(r"lstm-grading-(\d+)-\d+$", d.name)
            if not m or Path(f"/proc/{m.group(1)}").exists():
                continue
            try:
                d.rmdir()
            except OSError:
                pass


def _limits(limits, nproc=None, group=None, cpu=True):
    """The launcher: runs in the child between fork and exec (before bwrap). ``cpu=False``
    (a zygote, which outlives many students) leaves CPU time to each runner's own limit."""
    def apply():
        os.setsid()
        if group is not None and group.active:
            group.enter()
        else:
            os.nice(10)
        for res, value in ((resource.RLIMIT_AS, limits.memory_bytes),
                           (resource.RLIMIT_CPU, limits.cpu_seconds if cpu
                            else resource.getrlimit(resource.RLIMIT_CPU)[1]),
                           (resource.RLIMIT_FSIZE, limits.file_bytes),
                           (resource.RLIMIT_NOFILE, limits.open_files),
                           (resource.RLIMIT_CORE, 0)):
            resource.setrlimit(res, (value, value))
        if nproc is not None:  # counted per uid: root (bwrap) is exempt, the student is not
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    return apply


def _python_home():
    """The interpreter's installation and the venv: the folders to mount read-only."""
    venv = Path(sys.prefix)
    base = Path(sys.base_prefix)
    return venv, base


def _dirs_above(path):
    """``--dir`` arguments (mode 0755) for every folder above ``path``."""
    out = []
    parts = Path(path).parts
    for i in range(2, len(parts)):
        out += ["--perms", "0755", "--dir", str(Path(*parts[:i]))]
    return out


ZYGOTE_CAPS = ("CAP_SYS_ADMIN", "CAP_SETPCAP")  # to build each runner's namespaces, then
# drop the bounding set; as root also CAP_SETUID and CAP_SETGID, to become the student


def bwrap_command(libdir, uid, limits, preload=(), zygote=False):
    """The bwrap command line that runs the runner from ``libdir`` as ``uid``; with
    ``zygote``, the fork server (:func:`~lstm_ref.grading.runner.zygote_main`), which keeps
    the capabilities it needs to isolate each runner and drops them in the runner itself,
    before any student code."""
    venv, base = _python_home()
    cmd = [bwrap_path(), "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
           "--unshare-cgroup-try", "--die-with-parent", "--new-session"]
    if uid is not None:  # run by root: bwrap builds the mounts, setpriv drops to ``uid``
        if zygote:  # bwrap run by root keeps every capability unless told otherwise
            cmd += ["--cap-drop", "ALL"]
            for cap in ZYGOTE_CAPS:
                cmd += ["--cap-add", cap]
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    elif zygote:  # an ordinary user: capabilities only inside the sandbox's user namespace
        cmd += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
        for cap in ZYGOTE_CAPS:
            cmd += ["--cap-add", cap]
    else:  # run by an ordinary user: a user namespace, no capabilities, none nested
        cmd += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    cmd += ["--ro-bind", "/usr", "/usr", "--perms", "0755", "--dir", "/opt"]
    for name in ("bin", "lib", "lib64", "sbin"):
        p = Path("/") / name
        if p.is_symlink():
            cmd += ["--symlink", os.readlink(p), str(p)]
        elif p.is_dir():
            cmd += ["--ro-bind", str(p), str(p)]
    for etc in ("/etc/ld.so.cache", "/etc/fonts", "/etc/localtime"):
        if os.path.exists(etc):
            cmd += ["--ro-bind", etc, etc]
    if not str(base).startswith("/usr/"):  # the interpreter, where the venv expects it
        cmd += _dirs_above(base) + ["--ro-bind", str(base.resolve()), str(base)]
    if venv != base:  # the venv under a neutral name: no path of the course shows
        cmd += ["--ro-bind", str(venv.resolve()), "/opt/venv"]
    cmd += ["--perms", "0755", "--dir", "/home", "--ro-bind", str(libdir), "/opt/grader",
            "--proc", "/proc", "--dev", "/dev",
            "--size", str(limits.tmp_bytes), "--perms", "1777", "--tmpfs", "/tmp",
            "--size", str(limits.tmp_bytes), "--perms", "1777", "--tmpfs", "/home/student",
            "--chdir", "/home/student", "--clearenv"]
    env = {"PATH": "/usr/bin:/bin", "HOME": "/home/student", "PYTHONPATH": "/opt/grader",
           "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp/matplotlib", "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
           "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8",
           "LSTM_PRELOAD": ",".join(preload)}
    if zygote:
        env["LSTM_ZYGOTE"] = (f"isolate=1,uid={-1 if uid is None else uid},"
                              f"cpu={int(limits.cpu_seconds)},nproc={int(limits.processes)},"
                              f"tmp={int(limits.tmp_bytes)}")
    for k, v in env.items():
        cmd += ["--setenv", k, v]
    if uid is not None and not zygote:
        cmd += ["setpriv", "--reuid", str(uid), "--regid", str(uid), "--clear-groups",
                "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all"]
    cmd += [("/opt/venv/bin/python" if venv != base else str(base / "bin" / "python3")),
            "-s", "-B", "/opt/grader/_lstm_runner.py"]
    return cmd


def _describe_exit(code):
    """``(kind, words)`` for how the runner's process ended."""
    if code is None:
        return "other", "stopped responding"
    if code < 0:
        sig = -code
    elif code > 128:
        sig = code - 128
    else:
        return "exit", f"exited from the notebook (exit code {code})"
    if sig == signal.SIGKILL:
        return "signal", "killed (it ran out of memory or processes)"
    if sig == signal.SIGXCPU:
        return "signal", "killed: it used more CPU time than allowed"
    if sig == signal.SIGXFSZ:
        return "signal", "killed: it wrote a file larger than allowed"
    name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
    return "signal", f"crashed with signal {name}"


def _kill_group(proc):
    """Kill ``proc``'s process group (bwrap and, with its pid namespace, all below it)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _close_all(*things):
    for thing in things:
        try:
            thing.close()
        except (OSError, AttributeError, ValueError):
            pass


def _first_words(errlog):
    """The first line bwrap wrote on its stderr (its complaint, if it did not start)."""
    try:
        errlog.seek(0)
        said = errlog.read(300).decode("utf-8", "replace").strip()
    except (OSError, ValueError):
        said = ""
    return said.splitlines()[0][:200] if said else ""


class Sandbox:
    """One running runner; :meth:`request` sends a message and waits, with a deadline."""

    def __init__(self, libdir, slot=0, limits=None, sandbox=True, preload=(), wait=True):
        """``preload``: modules the runner imports before it says it is ready (the ones the
        notebook's own setup imports: a spare sandbox started ahead does that work while
        another student is graded). ``wait=False`` returns at once; :meth:`wait_ready`
        waits for the runner later."""
        self.limits = limits or Limits()
        self.libdir = Path(libdir)
        self.sandboxed = sandbox
        self._tmp = None
        if sandbox:
            require_bwrap()
            if os.geteuid() == 0:  # the student gets a uid of its own
                uid = UID_BASE + slot
                nproc = self.limits.processes
            else:  # the student runs as the instructor's uid, in a user namespace
                uid = None
                nproc = _own_processes() + self.limits.processes
            cmd = bwrap_command(self.libdir, uid, self.limits, preload)
            cwd, env = "/", {"PATH": "/usr/bin:/bin"}
        else:
            nproc = None
            self._tmp = tempfile.mkdtemp(prefix="lstm-unsandboxed-")
            cmd = [sys.executable, "-s", "-B", str(self.libdir / "_lstm_runner.py")]
            cwd = self._tmp
            env = {"PATH": "/usr/bin:/bin", "HOME": self._tmp, "PYTHONPATH": str(self.libdir),
                   "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                   "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
                   "MPLCONFIGDIR": os.path.join(self._tmp, "mpl"),
                   "LSTM_PRELOAD": ",".join(preload)}
        self.group = CpuMemGroup(self.limits.cpus or 1.0, self.limits.memory_bytes)
        self.started = time.monotonic()
        # bwrap's own complaints (the runner points its stderr at /dev/null at once)
        self._errlog = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._errlog, cwd=cwd, env=env,
                                     preexec_fn=_limits(self.limits, nproc, self.group),
                                     close_fds=True)
        self._killed = False
        self.ready = False
        if wait:
            self.wait_ready()

    def wait_ready(self):
        """Wait for the runner's "ready" (within ``start_seconds`` from now)."""
        if not self.ready:
            self.reply(self.limits.start_seconds, "starting the notebook's Python")
            self.ready = True

    @property
    def alive(self):
        return self.proc.poll() is None and not self._killed

    def _fds(self):
        """``(read replies, write requests)``."""
        return self.proc.stdout.fileno(), self.proc.stdin.fileno()

    def reply(self, timeout, what, grace=0.0):
        try:
            return wire.recv(self._fds()[0], time.monotonic() + timeout + grace,
                             limit=wire.MAX_REPLY)
        except wire.WireTimeout:
            self.kill()
            raise SandboxLost(f"{what}: timed out after {timeout:g} s", "timeout") from None
        except wire.WireError:
            kind, reason = self._gone()
            raise SandboxLost(f"{what}: {reason}", kind) from None

    def request(self, msg, timeout, what, grace=0.0):
        """Send ``msg``; the reply must come within ``timeout`` (+ ``grace``) seconds."""
        if not self.alive:
            kind, reason = self._gone()
            raise SandboxLost(f"{what}: {reason}", kind)
        try:
            wire.send(self._fds()[1], msg)
        except (OSError, wire.WireError):
            kind, reason = self._gone()
            raise SandboxLost(f"{what}: {reason}", kind) from None
        return self.reply(timeout, what, grace)

    def _gone(self):
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        self.kill()
        kind, reason = _describe_exit(code)
        said = _first_words(self._errlog)
        if said and time.monotonic() - self.started < self.limits.start_seconds:
            reason += f" ({said})"
        return kind, reason

    def kill(self):
        """Kill every process of the student (the group; the pid namespace goes with it)."""
        if not self._killed:
            self._killed = True
            _kill_group(self.proc)
            _close_all(self.proc.stdin, self.proc.stdout)
        _close_all(getattr(self, "_errlog", None))
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        if getattr(self, "group", None) is not None:
            self.group.remove()

    def stop(self):
        if self.alive:
            try:
                self.request({"op": "stop"}, 2, "stopping")
            except SandboxLost:
                pass
        self.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


class Zygote:
    """A fork server in its own bubblewrap sandbox (:func:`~lstm_ref.grading.runner.zygote_main`):
    one per grading worker, started once. It imports the notebook's setup modules (torch
    takes a second or more) before any student, then forks each student's runner, already
    isolated from it and from every other student: pid, mount, IPC and network namespaces
    of its own, fresh /tmp and home, the student's uid and no capabilities (see the runner).
    Its cgroup (CPU and memory) is the one all of its runners share, one student at a time.
    :meth:`spawn` returns a :class:`Forked`, used exactly like a :class:`Sandbox`."""

    def __init__(self, libdir, slot=0, limits=None, preload=(), wait=True):
        import socket

        self.limits = limits or Limits()
        self.libdir = Path(libdir)
        self.preload = tuple(preload)
        require_bwrap()
        if os.geteuid() == 0:
            uid, nproc = UID_BASE + slot, None
        else:
            uid, nproc = None, _own_processes() + self.limits.processes
        cmd = bwrap_command(self.libdir, uid, self.limits, preload, zygote=True)
        self.group = CpuMemGroup(self.limits.cpus or 1.0, self.limits.memory_bytes)
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._errlog = tempfile.TemporaryFile()
        self.started = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                cmd, stdin=theirs.fileno(), stdout=subprocess.DEVNULL, stderr=self._errlog,
                cwd="/", env={"PATH": "/usr/bin:/bin"}, close_fds=True,
                preexec_fn=_limits(self.limits, nproc, self.group, cpu=False))
        finally:
            theirs.close()
        self._killed = False
        self.ready = False
        self.children = 0
        if wait:
            self.wait_ready()

    @property
    def alive(self):
        return self.proc.poll() is None and not self._killed

    def _ask(self, op, a=0, b=0, timeout=10.0, fds=False):
        """Send one control message and read the answer (``(a, b)``, and the passed
        descriptors with ``fds``); :class:`SandboxLost` if the zygote is gone or silent."""
        import select
        import socket
        import struct

        try:
            if op is not None:
                self.sock.sendall(struct.pack("=cii", op, a, b))
            size = struct.calcsize("=cii")
            if not select.select([self.sock], [], [], timeout)[0]:
                raise TimeoutError
            if fds:
                data, got, _flags, _addr = socket.recv_fds(self.sock, size, 2)
            else:
                data, got = self.sock.recv(size), []
                while data and len(data) < size:  # a stream: the rest may come apart
                    if not select.select([self.sock], [], [], timeout)[0]:
                        raise TimeoutError
                    more = self.sock.recv(size - len(data))
                    if not more:
                        break
                    data += more
            if len(data) != size:
                for fd in got:
                    os.close(fd)
                raise EOFError
            kind, x, y = struct.unpack("=cii", data)
            return x, y, got
        except (OSError, EOFError, TimeoutError, struct.error):
            self.kill()
            raise SandboxLost("the grader's fork server stopped answering", "other") from None

    def wait_ready(self):
        if not self.ready:
            try:
                self._ask(None, timeout=self.limits.start_seconds)
            except SandboxLost:
                said = _first_words(self._errlog)
                raise SandboxLost("the grader's fork server did not start"
                                  + (f" ({said})" if said else ""), "other") from None
            self.ready = True

    def spawn(self):
        """A new runner for one student (a :class:`Forked`), ready to use."""
        self.wait_ready()
        pid1, pid2, fds = self._ask(b"F", fds=True)
        if len(fds) != 2 or pid2 <= 0:
            for fd in fds:
                os.close(fd)
            self.kill()
            raise SandboxLost("the grader's fork server could not start a runner: its sandbox "
                              "could not be set up (namespaces, mounts or privileges)", "other")
        self.children += 1
        return Forked(self, pid1, pid2, fds[0], fds[1])

    def end_child(self, pid1, pid2, kill=True, wait=5.0):
        """Kill a runner (its pid namespace goes with it) and wait for its end; its exit
        code (128 + n for signal n), or None."""
        if not self.alive:
            return None
        if kill:
            self._ask(b"K", pid2)
        code, _, _ = self._ask(b"W", pid1, int(wait * 1000), timeout=wait + 10)
        return None if code < 0 else code

    def kill(self):
        """Kill the zygote and every runner it started (its pid namespace)."""
        if not self._killed:
            self._killed = True
            _kill_group(self.proc)
            _close_all(self.sock)
        _close_all(getattr(self, "_errlog", None))
        if getattr(self, "group", None) is not None:
            self.group.remove()

    stop = kill

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


class Forked(Sandbox):
    """One student's runner forked by a :class:`Zygote`: the same requests and replies as a
    :class:`Sandbox` of its own, on the two pipes the zygote handed over."""

    def __init__(self, zygote, pid1, pid2, wfd, rfd):  # noqa: D107 (no Sandbox.__init__)
        self.zygote, self.pid1, self.pid2 = zygote, pid1, pid2
        self.limits, self.libdir, self.sandboxed = zygote.limits, zygote.libdir, True
        self.group = zygote.group
        self._tmp = None
        self._wfd, self._rfd = wfd, rfd
        self.started = time.monotonic()
        self._killed = False
        self._ended = False
        self.code = None
        self.ready = False

    @property
    def alive(self):
        return not self._killed and self.zygote.alive

    def _fds(self):
        return self._rfd, self._wfd

    def _gone(self):
        code = self._end(wait=2.0)
        self.kill()
        if code == 70:  # runner.SETUP_FAILED
            return "other", "its sandbox could not be set up (namespaces, mounts or privileges)"
        return _describe_exit(code)

    def _end(self, wait=0.0):
        """Wait up to ``wait`` s for the runner to end by itself, then kill it; its exit
        code. A runner that does not end takes the zygote with it: nothing of it stays."""
        if not self._ended:
            self._ended = True
            code = None
            try:
                if wait:
                    code = self.zygote.end_child(self.pid1, self.pid2, kill=False, wait=wait)
                if code is None:
                    code = self.zygote.end_child(self.pid1, self.pid2, kill=True, wait=5.0)
                if code is None:
                    self.zygote.kill()
            except SandboxLost:
                code = None
            self.code = code
        return self.code

    def kill(self):
        """Kill every process of the student (its pid namespace) and close its pipes."""
        if not self._killed:
            self._killed = True
            self._end()
            for fd in (self._wfd, self._rfd):
                try:
                    os.close(fd)
                except OSError:
                    pass
