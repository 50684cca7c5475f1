"""The fork server (issue 18, throughput): one per grading worker, each student's runner
forked from it already isolated.

What a student's runner must not get from being forked rather than started: anything of an
earlier student (files in /tmp, the home folder or /dev/shm, a process left running), a view
of the fork server or any other process, a capability, or a way to end the fork server. And
what it must still get: the preloaded modules, its own uid, its own time limit, its own
exit reported in words, and the cgroup limits of its worker.
"""

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from lstm_ref.grading import refcopy, remote, sandbox as sandbox_mod
from lstm_ref.grading.remote import Session
from lstm_ref.grading.sandbox import Forked, Limits, SandboxLost, Zygote

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="bubblewrap is not installed (apt-get install bubblewrap)")

SHARED = ("/", "/home", "/opt", "/dev")  # folders of the fork server's own sandbox
PROBE = (
    "import os\n"
    f"SHARED = {SHARED!r}\n"
    "def probe():\n"
    "    lines = open('/proc/self/status').read().splitlines()\n"
    "    status = dict(line.split(':', 1) for line in lines)\n"
    "    caps = {k: int(status[k], 16)\n"
    "            for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb')}\n"
    "    cmdlines = []\n"
    "    for p in os.listdir('/proc'):\n"
    "        if p.isdigit():\n"
    "            try:\n"
    "                cmdlines.append(open(f'/proc/{p}/cmdline').read())\n"
    "            except OSError:\n"
    "                pass\n"
    "    return {'uid': os.getuid(), 'pid': os.getpid(), 'cmdlines': cmdlines, 'caps': caps,\n"
    "            'no_new_privs': status['NoNewPrivs'].strip(),\n"
    "            'files': {d: sorted(os.listdir(d))\n"
    "                      for d in ('/tmp', '/home/student', '/dev/shm')},\n"
    "            'fds': len(os.listdir('/proc/self/fd')),\n"
    "            'left': [p for p in SHARED if os.path.exists(p + '/left_by_the_first')],\n"
    "            'read_only': [p for p in SHARED if os.statvfs(p).f_flag & os.ST_RDONLY],\n"
    "            'preloaded': 'decimal' in __import__('sys').modules}\n"
)
LEAVE = (
    "import subprocess\n"
    "for d in ('/tmp', '/home/student', '/dev/shm'):\n"
    "    open(d + '/left_by_the_first', 'w').write('x')\n"
    "for d in SHARED:  # refused, as root or not\n"
    "    try:\n"
    "        open(d + '/left_by_the_first', 'w').write('x')\n"
    "    except OSError:\n"
    "        pass\n"
    "sleeper = subprocess.Popen(['sleep', '300'])\n"
)


def _init_user_namespace():
    """Root of the machine itself (not root inside a container's user namespace)."""
    try:
        return os.geteuid() == 0 and open("/proc/self/uid_map").read().split() == \
            ["0", "0", "4294967295"]
    except OSError:
        return False


@pytest.fixture(scope="module")
def libdir(tmp_path_factory):
    lib = refcopy.build(tmp_path_factory.mktemp("lib") / "lib",
                        refcopy.exercised("lstm_ref.checks.ch01"))
    try:  # can this machine isolate a forked runner at all?
        with Zygote(lib) as z:
            child = z.spawn()
            child.wait_ready()
            child.stop()
    except SandboxLost as exc:
        # As root of the machine itself it must work: fail. Elsewhere (a container's user
        # namespace that forbids nested mounts) grading uses a sandbox per student, which
        # test_sandbox.py and the pipeline tests check.
        if _init_user_namespace():
            raise
        pytest.skip(f"this machine cannot isolate a forked runner ({exc.reason}); grading "
                    "falls back on a sandbox per student here")
    return lib


@pytest.fixture(autouse=True)
def fresh_servers():
    remote.close_fork_servers()
    remote.FORKING.update(on=True, why="")
    yield
    remote.close_fork_servers()
    remote.FORKING.update(on=True, why="")


def _run(libdir, cells, **kw):
    s = Session(list(enumerate(cells)), libdir, sandbox=True, spare=True,
                preload=("decimal",), **kw)
    s.start()
    s.run_until(len(cells))
    return s


def _sleepers():
    """Host pids of ``sleep 300`` processes (a student's leftover)."""
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if Path(f"/proc/{p}/cmdline").read_text() == "sleep\x00300\x00":
                    out.append(int(p))
            except OSError:
                pass
    return out


def test_a_forked_runner_starts_clean_sees_only_itself_and_holds_no_privilege(libdir):
    before = _sleepers()
    first = _run(libdir, [PROBE, LEAVE])
    try:
        assert isinstance(first.box, Forked)
        zygote = first.box.zygote
        seen = first.lookup("probe")()
        assert seen["files"] == {d: ["left_by_the_first"] for d in seen["files"]}
        assert len(_sleepers()) == len(before) + 1
    finally:
        first.close()
    assert _sleepers() == before  # its processes ended with it (its pid namespace)
    second = _run(libdir, [PROBE])
    try:
        assert second.box.zygote is zygote and zygote.children == 2  # the same fork server
        seen = second.lookup("probe")()
    finally:
        second.close()
    assert seen["files"] == {"/tmp": [], "/home/student": [], "/dev/shm": []}
    assert seen["left"] == [] and seen["read_only"] == list(SHARED)
    # its namespace's first process (which reaps, as bwrap does) and itself, nothing else
    assert seen["pid"] == 2 and len(seen["cmdlines"]) == 2
    assert all(v == 0 for v in seen["caps"].values()) and seen["no_new_privs"] == "1"
    if os.geteuid() == 0:
        assert seen["uid"] == sandbox_mod.UID_BASE  # the student's uid, never root
    assert seen["fds"] <= 6  # 0-2, its two pipes, and the one listing them
    assert seen["preloaded"] is True


def test_a_runner_cannot_end_the_fork_server(libdir):
    attack = (
        "import os, signal\n"
        "for pid in range(1, 400):\n"
        "    if pid != os.getpid():\n"
        "        try:\n            os.kill(pid, signal.SIGKILL)\n"
        "        except OSError:\n            pass\n"
        "for fd in range(3, 64):\n"
        "    try:\n        os.close(fd)\n    except OSError:\n        pass\n"
        "try:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass\n"
    )
    first = Session([(0, attack)], libdir, sandbox=True, spare=True, preload=("decimal",))
    first.start()
    zygote = first.box.zygote
    with pytest.raises(SandboxLost, match="exited from the notebook"):
        first.run_until(1)  # it closed its own pipes: lost, and said so
    first.close()
    assert zygote.alive
    second = _run(libdir, ["x = 6 * 7"])
    try:
        assert second.box.zygote is zygote and second.lookup("x") == 42
    finally:
        second.close()


def test_hangs_exits_and_crashes_are_reported_and_cost_one_runner(libdir):
    s = _run(libdir, ["x = 1", "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                      "while True:\n    pass", "y = x + 1"], cell_timeout=1)
    try:
        zygote = s.box.zygote
        assert s.lookup("y") == 2 and 1 in s.skipped  # killed, restarted from the server
        assert "timed out" in s.replies[1]["error"]["msg"]
        assert zygote.alive and zygote.children == 2
    finally:
        s.close()
    s = Session([(0, "import os\nos._exit(3)")], libdir, sandbox=True, spare=True,
                preload=("decimal",))
    s.start()
    with pytest.raises(SandboxLost, match=r"exited from the notebook \(exit code 3\)"):
        s.run_until(1)
    s.close()
    s = _run(libdir, ["import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)", "ok = 1"])
    try:  # the cell that crashed is skipped, in words; the next one runs in a new runner
        assert s.replies[0]["error"]["msg"] == "crashed with signal SIGSEGV"
        assert s.lookup("ok") == 1 and s.box.zygote is zygote
    finally:
        s.close()
    s = _run(libdir, ["def hog():\n    return len(bytearray(8 << 30))"])
    try:
        with pytest.raises(MemoryError):
            s.lookup("hog")()
    finally:
        s.close()


def test_each_runner_has_its_own_cpu_time_limit(libdir):
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.6:\n    pass"
    limits = Limits(cpu_seconds=1)
    s = _run(libdir, [burn], limits=limits)
    try:
        assert s.replies[0]["error"]["msg"] == "killed: it used more CPU time than allowed"
    finally:
        s.close()
    for _ in range(3):  # the server's own CPU time is not counted against a student
        s = _run(libdir, ["import time\nt = time.process_time()\n"
                          "while time.process_time() - t < 0.4:\n    pass\nok = True"],
                 limits=limits)
        try:
            assert s.lookup("ok") is True
        finally:
            s.close()


def test_every_runner_of_a_worker_shares_its_cgroup(libdir):
    s = _run(libdir, ["import subprocess, sys\n"
                      "kids = [subprocess.Popen(['sleep', '300']) for _ in range(3)]\n"],
             limits=Limits(cpus=0.5, memory_bytes=1 << 30))
    try:
        group = s.box.group
        if not group.active:
            assert "nice" in group.how
            pytest.skip(f"no writable cgroup on this machine ({group.how})")
        for d in group.dirs:  # bwrap, the server, the first child, the runner, 3 kids
            assert len((d / "cgroup.procs").read_text().split()) >= 7
    finally:
        s.close()


def test_a_fork_server_that_cannot_isolate_gives_way_to_a_sandbox_per_student(libdir,
                                                                             monkeypatch):
    monkeypatch.setattr(sandbox_mod, "ZYGOTE_CAPS", ())  # no capability: no namespaces
    if os.geteuid() == 0:  # and as root, no setuid either
        real = sandbox_mod.bwrap_command

        def without_setuid(*a, **kw):
            cmd = real(*a, **kw)
            if kw.get("zygote"):
                for cap in ("CAP_SETUID", "CAP_SETGID"):
                    i = cmd.index(cap)
                    del cmd[i - 1:i + 1]
            return cmd

        monkeypatch.setattr(sandbox_mod, "bwrap_command", without_setuid)
    s = _run(libdir, [PROBE])
    try:
        assert not isinstance(s.box, Forked)  # a sandbox of its own, as before
        assert "could not be set up" in remote.fork_server_failure()
        assert s.lookup("probe")()["uid"] != 0
    finally:
        s.close()


def test_a_dead_fork_server_is_replaced(libdir):
    s = _run(libdir, ["x = 1"])
    zygote = s.box.zygote
    s.close()
    os.killpg(zygote.proc.pid, signal.SIGKILL)
    zygote.proc.wait(timeout=10)
    t = _run(libdir, ["x = 2"])
    try:
        assert t.box.zygote is not zygote and t.lookup("x") == 2
        assert remote.fork_server_failure() == ""
    finally:
        t.close()


def test_a_zygote_refuses_to_start_runners_once_killed(libdir):
    z = Zygote(libdir, preload=("decimal",))
    child = z.spawn()
    child.wait_ready()
    z.kill()
    with pytest.raises(SandboxLost):
        child.request({"op": "lookup", "name": "x"}, 5, "looking up x")
    with pytest.raises(SandboxLost, match="fork server"):
        z.spawn()
    start = time.monotonic()
    child.kill()  # nothing left to wait for: at once
    assert time.monotonic() - start < 5


@pytest.mark.pipeline
def test_a_class_gets_the_same_grades_with_or_without_the_fork_server(tmp_path, released):
    """The whole pipeline, both ways: the fork server (the default) and a sandbox started per
    student (``--no-fork-server``, and what a machine that cannot isolate a runner uses)."""
    from grading_helpers import all_solution_ids, fill, make_course, source_nb, submit

    from lstm_ref.grading.pipeline import grade

    chapter, name = "ch03_lstm", "lstm_exercises"
    src, rel = source_nb(chapter, name), released[(chapter, name)]
    ids = all_solution_ids(src)
    scores = {}
    for fork_server in (True, False):
        root = make_course(tmp_path / f"course-{fork_server}")
        submit(root, "full", chapter, name, fill(rel, src, set(ids)))
        submit(root, "first-only", chapter, name, fill(rel, src, {ids[0]}))
        said = []
        run = grade(chapter, root=root, echo=said.append, workers=2, fork_server=fork_server)
        how = next(line for line in said if "each student's processes get" in line)
        assert ("forked, already isolated" in how) == fork_server, how
        scores[fork_server] = {g.student: (g.status, g.auto_score) for g in run.grades}
    assert scores[True] == scores[False]
    full, first = scores[True]["full"], scores[True]["first-only"]
    assert full[0] == first[0] == "graded" and full[1] > first[1] > 0
