"""The grading RPC, the proxies, the trusted test cells and the sandbox itself (fast)."""

import ast
import json
import os
import shutil

import numpy as np
import pytest

from lstm_ref.checks import _seeds
from lstm_ref.grading import refcopy, wire
from lstm_ref.grading.remote import Session, raise_remote
from lstm_ref.grading.runner import strip_magics
from lstm_ref.grading.sandbox import SandboxLost
from lstm_ref.grading.verdict import checks_module_name, free_names, run_test_cell

from grading_helpers import source_nb

HAVE_BWRAP = shutil.which("bwrap") is not None


@pytest.fixture(scope="module")
def libdir(tmp_path_factory):
    return refcopy.build(tmp_path_factory.mktemp("lib") / "lib",
                         refcopy.exercised("lstm_ref.checks.ch01"))


def _session(libdir, code, sandbox=False, **kw):
    cells = [(i, c) for i, c in enumerate(code)]
    s = Session(cells, libdir, sandbox=sandbox, **kw)
    s.start()
    s.run_until(len(cells))
    return s


# --- wire ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    None, True, 3, -2.5, float("inf"), "text", [1, (2, 3)], {"a": [None], 4: "x"},
    np.arange(6.0).reshape(2, 3), np.array([True, False]), np.int32(7),
    np.zeros((0, 3)), np.arange(4, dtype=np.complex128),
])
def test_wire_round_trip(value):
    back = wire.decode(json.loads(json.dumps(wire.encode(value))))
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and back.shape == value.shape
        assert np.array_equal(back, value)
    elif isinstance(value, float) and value != value:
        assert back != back
    else:
        assert back == value and type(back) is type(value)


def test_wire_round_trip_tensors():
    torch = pytest.importorskip("torch")
    t = torch.arange(6.0, dtype=torch.float64).reshape(2, 3).requires_grad_(True)
    back = wire.decode(wire.encode(t))
    assert back.requires_grad and back.dtype == torch.float64 and torch.equal(back.detach(), t.detach())
    lstm = torch.nn.LSTM(3, 2, dtype=torch.float64)
    # the grader's own module, rebuilt on the sandbox's side only
    rebuilt = wire.decode(wire.encode(lstm), modules=True)
    assert type(rebuilt) is torch.nn.LSTM and rebuilt.hidden_size == 2
    assert all(torch.equal(a, b) for a, b in zip(lstm.parameters(), rebuilt.parameters()))
    with pytest.raises(wire.WireError, match="handle"):
        wire.decode(wire.encode(lstm))  # the trusted side never builds one


def test_wire_sizes_are_checked_before_anything_is_allocated():
    import time

    torch = pytest.importorskip("torch")
    huge = [1 << 20, 1 << 20]
    for kind, dtype in (("tensor", "float64"), ("nd", "<f8")):
        with pytest.raises(wire.WireError, match="does not match"):
            wire.decode({"$": kind, "dtype": dtype, "shape": huge, "b": ""})
        with pytest.raises(wire.WireError, match="does not match"):
            wire.decode({"$": kind, "dtype": dtype, "shape": huge, "b": "AAAAAAAAAAA="})
    with pytest.raises(wire.WireError, match="shape"):
        wire.decode({"$": "nd", "dtype": "<f8", "shape": [-1], "b": ""})
    big = wire.encode(np.zeros(1 << 21))  # 16 MB of float64
    with pytest.raises(wire.WireError, match="larger than the size allowed"):
        wire.decode(big)
    with pytest.raises(wire.WireError, match="too many"):
        wire.decode({"$": "list", "v": list(range(wire.MAX_VALUES + 1))})
    with pytest.raises(wire.WireTimeout):
        wire.decode({"$": "list", "v": [0] * 5000}, budget=wire.Budget(deadline=time.monotonic() - 1))
    with pytest.raises(wire.WireError, match="malformed"):
        wire.decode({"$": "nd", "dtype": "<f8", "shape": [1], "b": "!!!!!!!!!!!="})
    assert torch.equal(wire.decode(wire.encode(torch.zeros(0, 5))), torch.zeros(0, 5))


def test_wire_refuses_what_is_not_plain_data():
    with pytest.raises(wire.WireError):
        wire.encode(object())
    with pytest.raises(wire.WireError):
        wire.decode({"$": "nd", "dtype": "|O", "shape": [1], "b": ""})
    with pytest.raises(wire.WireError):
        wire.decode({"$": "pickle", "v": "..."})
    with pytest.raises(wire.WireError):
        wire.decode({"$": "tmod", "cls": "Module", "kw": None, "dtype": "float64", "state": None}
                    | {"cls": "functional"})
    lying = np.arange(3.0).view(type("Lying", (np.ndarray,), {"__eq__": lambda *a: True}))
    assert type(wire.decode(wire.encode(lying))) is np.ndarray


def test_framing_rejects_oversized_and_times_out():
    r, w = os.pipe()
    try:
        os.write(w, (wire.MAX_MESSAGE + 1).to_bytes(4, "big"))
        with pytest.raises(wire.WireError, match="larger"):
            wire.recv(r, deadline=None)
        import time

        with pytest.raises(wire.WireTimeout):
            wire.recv(r, deadline=time.monotonic() + 0.2)
    finally:
        os.close(r)
        os.close(w)


# --- runner pieces --------------------------------------------------------------------------

def test_magics_and_shell_lines_are_skipped():
    assert strip_magics("%matplotlib inline\nx = 1\n  !ls") == "pass\nx = 1\n  pass"
    assert strip_magics("%%bash\necho hi") == ""
    ast.parse(strip_magics("%time y = f(x)\nif True:\n    %debug\n"))


def test_remote_errors_keep_builtin_types():
    with pytest.raises(ValueError, match="bad"):
        raise_remote({"type": "ValueError", "msg": "bad", "builtin": True})
    with pytest.raises(NotImplementedError):
        raise_remote({"type": "NotImplementedError", "msg": "", "builtin": True})
    with pytest.raises(RuntimeError, match="CheckFailed: forged"):
        raise_remote({"type": "CheckFailed", "msg": "forged", "builtin": False})
    with pytest.raises(RuntimeError):
        raise_remote({"type": "SystemExit", "msg": "0", "builtin": True})


# --- proxies (unsandboxed runner: fast, same protocol) ---------------------------------------

def test_proxies_call_copy_back_and_attributes(libdir):
    s = _session(libdir, [
        "import numpy as np\n"
        "def double(x):\n    return 2 * x\n"
        "def scale_in_place(a, k):\n    a *= k\n    return None\n"
        "class Acc:\n    def __init__(self, n):\n        self.n = n\n"
        "    def add(self, v):\n        self.n += v\n        return self.n\n"
        "def fails():\n    raise ValueError('no good')\n"
        "def notyet():\n    raise NotImplementedError\n"
        "def custom():\n    class Oops(Exception): pass\n    raise Oops('mine')\n"
        "weights = np.ones(3)\n",
    ])
    try:
        double = s.lookup("double")
        assert double.__name__ == "double" and callable(double)
        assert np.array_equal(double(np.arange(3.0)), [0.0, 2.0, 4.0])
        a = np.arange(4.0)
        assert s.lookup("scale_in_place")(a, 3.0) is None
        assert np.array_equal(a, [0.0, 3.0, 6.0, 9.0])  # the in-place change came back
        acc = s.lookup("Acc")(5)
        assert acc.n == 5 and acc.add(2) == 7 and acc.n == 7
        acc.n = 1
        assert acc.n == 1
        assert np.array_equal(s.lookup("weights"), np.ones(3))
        with pytest.raises(ValueError, match="no good"):
            s.lookup("fails")()
        with pytest.raises(NotImplementedError):
            s.lookup("notyet")()
        with pytest.raises(RuntimeError, match="Oops: mine"):
            s.lookup("custom")()
        with pytest.raises(NameError):
            s.lookup("missing")
    finally:
        s.close()


def test_a_hanging_call_fails_alone_and_the_session_restarts(libdir):
    s = _session(libdir, ["import time\ndef hang():\n    while True:\n        pass\n"
                          "def ok():\n    return 1\n"], call_timeout=1.0)
    try:
        with pytest.raises(TimeoutError, match="timed out after 1 s"):
            s.lookup("hang")()  # the runner's own timer stops it
        assert s.lookup("ok")() == 1
    finally:
        s.close()


def test_free_names_and_checks_module():
    assert free_names("checks.forward_shape(rnn_forward, seed=1, T=len(x))\ny = 2\nprint(y)") == [
        "checks", "rnn_forward", "x"]
    assert free_names("def f(a):\n    return a + b\n[k for k in z]") == ["b", "z"]
    assert checks_module_name(source_nb("ch01_rnn", "rnn_exercises")) == "lstm_ref.checks.ch01"


def test_a_test_cell_runs_here_with_proxies(libdir):
    from lstm_ref.checks import ch01
    from lstm_ref.grading.measure import _solutions

    code = _solutions(source_nb("ch01_rnn", "rnn_exercises"))["rnn_step_forward"]
    s = _session(libdir, ["import numpy as np", code, "def broken(*a):\n    return (1, 2)"])
    try:
        ok = run_test_cell("checks.step_forward_shape(rnn_step_forward)", "t", ch01, s)
        assert ok.passed and ok.stdout.startswith("OK:")
        bad = run_test_cell("checks.step_forward_shape(broken)", "t", ch01, s)
        assert not bad.passed and bad.ename == "CheckFailed"
        gone = run_test_cell("checks.step_forward_shape(nowhere)", "t", ch01, s)
        assert not gone.passed and gone.ename == "NameError"
    finally:
        s.close()


# --- the sanitised reference ------------------------------------------------------------------

def test_reference_copy_refuses_exercised_functions(libdir, tmp_path):
    text = (libdir / "lstm_ref" / "numpy" / "rnn.py").read_text()
    tree = ast.parse(text)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "rnn_forward")
    assert isinstance(fn.body[-1], ast.Raise) and len(fn.body) <= 2
    assert not (libdir / "lstm_ref" / "grading").exists()
    assert not list(libdir.rglob("__pycache__"))
    with pytest.raises(ValueError, match="not defined"):
        refcopy.build(tmp_path / "x", ["lstm_ref.numpy.rnn:no_such_function"])
    s = _session(libdir, ["import numpy as np\nfrom lstm_ref.numpy import rnn_forward\n"
                          "def mine(*a):\n    return rnn_forward(*a)\n"
                          "import runpy\nns = runpy.run_module('lstm_ref.numpy.rnn')\n"
                          "def via_runpy(*a):\n    return ns['rnn_forward'](*a)\n"])
    try:
        for name in ("mine", "via_runpy"):
            with pytest.raises(PermissionError, match="reference implementation"):
                s.lookup(name)(np.zeros((1, 1, 1)), np.zeros((1, 1)), np.zeros((1, 1)),
                               np.zeros((1, 1)), np.zeros(1))
    finally:
        s.close()


def test_seeds_derive_from_the_secret(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_SECRET", raising=False)
    monkeypatch.setenv("COURSE_SECRET_FILE", str(tmp_path / "absent"))
    if _seeds._secret() is None:
        assert _seeds.derive(1101) == 1101
    monkeypatch.setenv("COURSE_SECRET", "s3cret")
    a, b = _seeds.derive(1101), _seeds.derive(1102)
    assert a != 1101 and a != b and a == _seeds.derive(1101) and 0 <= a < 2 ** 63
    assert _seeds.derive(None) is None
    monkeypatch.delenv("COURSE_SECRET")
    (tmp_path / "key").write_text("other\n")
    monkeypatch.setenv("COURSE_SECRET_FILE", str(tmp_path / "key"))
    assert _seeds.derive(1101) not in (1101, a)
    from lstm_ref.checks._common import rng_for

    assert rng_for(1101).random() == np.random.default_rng(_seeds.derive(1101)).random()


# --- the sandbox --------------------------------------------------------------------------------

@pytest.mark.skipif(not HAVE_BWRAP, reason="bubblewrap is not installed (apt-get install bubblewrap)")
def test_sandbox_isolation(libdir):
    from lstm_ref.grading.course import package_root

    here = str(package_root() / "solutions")
    s = _session(libdir, [
        "import os, socket\n"
        f"def probe():\n"
        f"    out = {{'uid': os.getuid(), 'repo': os.path.exists({here!r}),\n"
        "           'pids': len([p for p in os.listdir('/proc') if p.isdigit()]),\n"
        "           'home': os.environ.get('HOME'), 'secret': os.environ.get('COURSE_SECRET')}\n"
        "    try:\n        socket.create_connection(('1.1.1.1', 80), timeout=1); out['net'] = True\n"
        "    except OSError:\n        out['net'] = False\n"
        "    try:\n        open('/opt/grader/x', 'w'); out['ro'] = False\n"
        "    except OSError:\n        out['ro'] = True\n"
        "    try:\n        open('/etc/shadow').read(); out['shadow'] = True\n"
        "    except OSError:\n        out['shadow'] = False\n"
        "    return out\n"
        "def hog():\n    return len(bytearray(8 << 30))\n"
    ], sandbox=True)
    try:
        out = s.lookup("probe")()
        assert out["uid"] != 0 and out["repo"] is False and out["net"] is False
        assert out["ro"] is True and out["shadow"] is False and out["secret"] is None
        assert out["pids"] <= 3 and out["home"] == "/home/student"
        with pytest.raises(MemoryError):
            s.lookup("hog")()
    finally:
        s.close()


@pytest.mark.skipif(not HAVE_BWRAP, reason="bubblewrap is not installed")
def test_sandbox_loss_is_reported_in_words(libdir):
    s = Session([(0, "import os\nos._exit(3)")], libdir, sandbox=True)
    s.start()
    with pytest.raises(SandboxLost, match="exited from the notebook"):
        s.run_until(1)
    s.close()


@pytest.mark.skipif(not HAVE_BWRAP, reason="bubblewrap is not installed")
def test_a_cell_that_cannot_be_interrupted_is_skipped(libdir):
    s = Session([(0, "x = 1"), (1, "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                 "while True:\n    pass"), (2, "y = x + 1")], libdir, sandbox=True, cell_timeout=1)
    try:
        s.start()
        s.run_until(3)
        assert s.lookup("y") == 2 and 1 in s.skipped
        assert "timed out" in s.replies[1]["error"]["msg"]
    finally:
        s.close()


def test_test_cells_see_the_notebook_at_their_own_place(libdir):
    s = Session([(0, "def f():\n    return 1"), (2, "def f():\n    return 2")], libdir,
                sandbox=False)
    try:
        s.start()
        s.run_until(1)
        assert s.lookup("f")() == 1
        s.run_until(3)
        assert s.lookup("f")() == 2
    finally:
        s.close()


def test_a_students_torch_module_crosses_as_a_handle(libdir):
    torch = pytest.importorskip("torch")
    from lstm_ref.grading.remote import Remote

    s = _session(libdir, [
        "import torch\n"
        "def small():\n    return torch.nn.Linear(2, 3, dtype=torch.float64)\n"
        "class Huge(torch.nn.Linear):\n"
        "    def __init__(self):\n        torch.nn.Module.__init__(self)\n"
        "        self.in_features, self.out_features = 1 << 40, 1 << 40\n"
        "def huge():\n    return Huge()\n"
        "def fake():\n    return {'$': 'tmod', 'cls': 'LSTM', 'kw': {'$': 'dict', 'k': ['input_size', 'hidden_size', 'num_layers'], 'v': [1 << 20, 1 << 20, 1000]}, 'dtype': 'float64', 'state': None}\n",
    ])
    try:
        m = s.lookup("small")()
        assert isinstance(m, Remote) and m.out_features == 3  # a handle: read remotely
        y = m(torch.ones(4, 2, dtype=torch.float64))  # called remotely, plain data back
        assert isinstance(y, torch.Tensor) and y.shape == (4, 3)
        h = s.lookup("huge")()
        assert isinstance(h, Remote) and h.in_features == 1 << 40  # nothing was built here
        f = s.lookup("fake")()  # a dict that looks like a module message stays a dict
        assert isinstance(f, dict) and f["cls"] == "LSTM"
    finally:
        s.close()


@pytest.mark.skipif(not HAVE_BWRAP, reason="bubblewrap is not installed")
def test_every_process_of_a_student_shares_one_cpu_and_memory_limit(libdir):
    from lstm_ref.grading.sandbox import Limits

    s = _session(libdir, [
        "import subprocess, sys\n"
        "kids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']) "
        "for _ in range(3)]\n"
    ], sandbox=True, limits=Limits(cpus=0.5, memory_bytes=1 << 30))
    try:
        group = s.box.group
        if not group.active:  # no writable cgroup here: the fallback, said in words
            assert "nice" in group.how
            pytest.skip(f"no writable cgroup on this machine ({group.how})")
        cpu = next(d for d in group.dirs if (d / "cpu.cfs_quota_us").exists()
                   or (d / "cpu.max").exists())
        if (cpu / "cpu.max").exists():
            assert (cpu / "cpu.max").read_text().split()[0] == "50000"
        else:
            assert (cpu / "cpu.cfs_quota_us").read_text().strip() == "50000"
            assert (cpu / "cpu.cfs_period_us").read_text().strip() == "100000"
        for d in group.dirs:
            procs = (d / "cgroup.procs").read_text().split()
            assert str(s.box.proc.pid) in procs and len(procs) >= 5  # bwrap, runner, 3 kids
        mem = [d for d in group.dirs if (d / "memory.limit_in_bytes").exists()
               or (d / "memory.max").exists()]
        for d in mem:
            f = d / ("memory.max" if (d / "memory.max").exists() else "memory.limit_in_bytes")
            assert f.read_text().strip() == str(1 << 30)
        dirs = list(group.dirs)
    finally:
        s.close()
    assert not any(d.exists() for d in dirs)  # removed with the sandbox


def test_a_spare_sandbox_started_ahead_is_fresh_and_preloaded(libdir):
    from lstm_ref.grading import remote

    first = Session([(0, "secret_of_the_first = 42")], libdir, sandbox=False,
                    preload=("decimal",), spare=True)
    first.start()
    first.run_until(1)
    key = first._key()
    spare = remote._SPARES.get(key)
    assert spare is not None and not spare.ready  # started while the first one works
    second = Session([(0, "import sys\npreloaded = 'decimal' in sys.modules")], libdir,
                     sandbox=False, preload=("decimal",), spare=False)
    try:
        second.start()
        assert second.box is spare  # the spare was taken
        second.run_until(1)
        assert second.lookup("preloaded") is True
        with pytest.raises(NameError):
            second.lookup("secret_of_the_first")  # nothing of the first student is there
    finally:
        first.close()
        second.close()
