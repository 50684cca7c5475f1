"""The trusted side under a memory cgroup (issue 18, item 2).

The whole ``grade`` run (main process, trusted workers, every sandbox) runs in a memory
cgroup of 3 GiB, each student's sandbox in its own 1 GiB group below it. Attackers return
a module that claims terabytes of weights, arrays and structures far above the trusted
side's budget, forge a message on their own reply pipe that announces a huge tensor, and
hog memory. Every honest classmate graded after them gets full marks, every attacker gets a
row with a score, and the run writes ``grades.csv``: nothing the students send allocates
in the trusted processes, and a student who exhausts memory loses only his own process.
"""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from grading_helpers import REPO, all_solution_ids, fill, make_course, source_nb, submit

from lstm_ref.grading.sandbox import CGROUP_ROOT, _own_cgroup

pytestmark = pytest.mark.pipeline

CHAPTER, NAME = "ch01_rnn", "rnn_exercises"
ATTACKS = {
    "huge-module": "import torch\nclass Big(torch.nn.Linear):\n    def __init__(self):\n"
                   "        torch.nn.Module.__init__(self)\n"
                   "        self.in_features = self.out_features = 1 << 40\n"
                   "def rnn_step_forward(*a):\n    return Big(), None",
    "huge-array": "import numpy as np\ndef rnn_step_forward(*a):\n    return np.ones((1 << 21, 8)), None",
    "many-values": "def rnn_step_forward(*a):\n    return list(range(3_000_000)), None",
    "deep-list": "def rnn_step_forward(*a):\n    r = []\n    for _ in range(200_000):\n        r = [r]\n    return r, None",
    "forged-tensor": "import os, json, struct\ndef rnn_step_forward(*a):\n"
                     "    msg = json.dumps({'value': {'$': 'tuple', 'v': [{'$': 'tensor', 'dtype': 'float64', 'shape': [1 << 20, 1 << 20], 'grad': False, 'b': ''}, None]}, 'error': None, 'stdout': '', 'stderr': '', 'changed': []}).encode()\n"
                     "    for fd in range(3, 12):\n        try:\n            os.write(fd, struct.pack('>I', len(msg)) + msg)\n        except OSError:\n            pass\n"
                     "    return None",
    "memory-hog": "import numpy as np\nhog = []\nfor _ in range(64):\n    hog.append(np.ones(1 << 24))\n",
}


def _memory_group(limit):
    """A new v1 or v2 memory cgroup below ours, or None where none can be written."""
    name = f"lstm-test-{uuid.uuid4().hex[:8]}"
    v1 = CGROUP_ROOT / "memory"
    if (v1 / "memory.limit_in_bytes").is_file():
        d = v1 / (_own_cgroup("memory") or "") / name
        knob = "memory.limit_in_bytes"
    else:
        d = CGROUP_ROOT / (_own_cgroup("") or "") / name
        knob = "memory.max"
    try:
        d.mkdir()
        (d / knob).write_text(str(limit))
    except OSError:
        return None
    return d


def test_a_class_graded_under_a_memory_cgroup(tmp_path, released):
    group = _memory_group(3 << 30)
    if group is None:
        pytest.skip("no writable memory cgroup here (needs root and cgroup v1 or v2)")
    root = make_course(tmp_path / "course")
    src, rel = source_nb(CHAPTER, NAME), released[(CHAPTER, NAME)]
    honest = fill(rel, src, set(all_solution_ids(src)))
    for k, (name, code) in enumerate(ATTACKS.items()):
        nb = json.loads(json.dumps(honest))
        if name == "memory-hog":
            nb["cells"].insert(2, {"cell_type": "code", "metadata": {}, "outputs": [],
                                   "execution_count": None, "source": code})
        else:
            for cell in nb["cells"]:
                if cell["metadata"].get("nbgrader", {}).get("grade_id") == "rnn_step_forward":
                    cell["source"] = code
        submit(root, f"a{k}-{name}", CHAPTER, NAME, nb)
        submit(root, f"a{k}-zhonest", CHAPTER, NAME, honest)
    script = (
        "import json, sys\n"
        "from lstm_ref.grading.pipeline import grade\n"
        "from lstm_ref.grading.sandbox import Limits\n"
        f"run = grade({CHAPTER!r}, root={str(root)!r}, echo=lambda *a: None, workers=2,\n"
        "            limits=Limits(memory_bytes=1 << 30, cpu_seconds=60), call_timeout=10,\n"
        "            cell_timeout=20, timeout=240)\n"
        "json.dump([[g.student, g.status, g.score, g.max_score, g.manual_pending, g.reason]\n"
        "           for g in run.grades], sys.stdout)\n")

    def enter():
        (group / "cgroup.procs").write_text(str(os.getpid()))

    env = dict(os.environ, PYTHONPATH=str(REPO),
               PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    try:
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              preexec_fn=enter, env=env, cwd=tmp_path, timeout=900)
    finally:
        for _ in range(50):
            try:
                group.rmdir()
                break
            except OSError:
                import time

                time.sleep(0.1)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r[0]: r for r in json.loads(proc.stdout)}
    assert (root / "grades.csv").is_file()
    assert len(rows) == 2 * len(ATTACKS)
    for student, status, score, full, manual, reason in rows.values():
        if student.endswith("zhonest"):
            assert status == "graded" and score == full - manual > 0, (student, reason)
        elif student.endswith("memory-hog"):  # its MemoryError stays in its own cell, or its
            # process is killed and the reason says so
            assert status == "graded" or reason, (student, status, reason)
        else:
            assert status == "graded" and score < full - manual, (student, score, reason)
