"""Red team: crafted ch01 submissions, each with the score its honest content deserves.

One ``grade`` run of a whole class (two workers, the sandbox on, a course secret set): each
attacker is followed, in the class, by an honest student. Each attacker is a released
notebook whose solution cells are filled in (all, none or some) plus an attack; its
expected automatic score is not typed in: it is computed here, in this process, by running
the source notebook's test cells through the same trusted checks against the attacker's
honest content (its solution cells without the attack, or the honest equivalent of what
it returns). After the run:

- every student has exactly the expected status and automatic score;
- no file of the course outside the pipeline's own outputs changed (hashed before and
  after), nor any file of this repository's ``lstm_ref``, ``solutions/`` or
  ``nbgrader_config.py``; ``autograded/`` and ``feedback/`` hold only real students;
- no feedback page shows a hidden-test line;
- fork, memory, flood and hang cases are bounded by the sandbox's limits, kept small here.
"""

import contextlib
import hashlib
import io
import json
import os
import re
import time
from pathlib import Path

import pytest

from lstm_ref.grading.feedback import hidden_lines, page_text
from lstm_ref.grading.measure import _solutions
from lstm_ref.grading.pipeline import grade
from lstm_ref.grading.runner import strip_magics
from lstm_ref.grading.sanitize import sanitize
from lstm_ref.grading.sandbox import Limits
from lstm_ref.grading.verdict import run_test_cell

from grading_helpers import REPO, fill, make_course, source_nb, submit
from redteam_helpers import _build, _course_hash, _repo_hash, expected_auto

pytestmark = pytest.mark.pipeline

CHAPTER, NAME = "ch01_rnn", "rnn_exercises"
SECRET = "red-team-course-secret"
ALL = "all"

# Placeholders filled in when the class is built.
COURSE, CLASSMATE = "@COURSE@", "@CLASSMATE@"

LIAR = """
class Liar(np.ndarray):
    def __eq__(self, other):
        return np.ones(self.shape, dtype=bool)
    def __array_ufunc__(self, *args, **kwargs):
        return np.zeros(())
    def all(self, *a, **k):
        return True
def rnn_step_forward(x, h_prev, Wx, Wh, b):
    return np.zeros((x.shape[0], Wx.shape[1])).view(Liar), None
"""
LIAR_HONEST = """
def rnn_step_forward(x, h_prev, Wx, Wh, b):
    return np.zeros((x.shape[0], Wx.shape[1])), None
"""
HANG_FORWARD = """
import signal
signal.signal(signal.SIGALRM, signal.SIG_IGN)
def rnn_forward(x, h0, Wx, Wh, b):
    while True:
        pass
"""
RAISE_FORWARD = """
def rnn_forward(x, h0, Wx, Wh, b):
    raise RuntimeError("never returns")
"""

NOISY = """import logging, sys
@SOL:rnn_step_forward@
_quiet = rnn_step_forward
def rnn_step_forward(*args):
    logging.warning("a step")
    sys.stderr.write("\\r50%|#####     | 1/2 [00:00<00:00]")
    return _quiet(*args)
"""

# (student, solution cells kept, extra cells appended after the setup cell, solution cells
#  replaced, honest equivalent of the replacements, expected status)
ATTACKS = [
    ("rebind-checks", None, ["checks = type('C', (), {'__getattr__': lambda s, n: (lambda *a, **k: None)})()"], {}, None, "graded"),
    ("patch-checks-module", None, ["import lstm_ref.checks.ch01 as c\nfor n in dir(c):\n    if not n.startswith('_'):\n        setattr(c, n, lambda *a, **k: None)"], {}, None, "graded"),
    ("sys-modules", None, ["import sys, types\nm = types.ModuleType('lstm_ref.checks.ch01')\nm.__getattr__ = lambda n: (lambda *a, **k: None)\nsys.modules['lstm_ref.checks.ch01'] = m\nsys.modules['lstm_ref.checks'].ch01 = m"], {}, None, "graded"),
    ("ipython-transformer", None, ["get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])", "import IPython\nIPython.get_ipython().ast_transformers.append(None)"], {}, None, "graded"),
    ("numpy-patch", None, ["import numpy\nnp.allclose = lambda *a, **k: True\nnumpy.testing.assert_allclose = lambda *a, **k: None\nnp.array_equal = lambda *a, **k: True\nnp.isfinite = lambda x: np.ones(np.shape(x), bool)"], {}, None, "graded"),
    ("lying-ndarray", None, [], {"rnn_step_forward": LIAR}, {"rnn_step_forward": LIAR_HONEST}, "graded"),
    ("runpy-reference", None, ["import runpy\nns = runpy.run_module('lstm_ref.numpy.rnn')\nrnn_step_forward = ns['rnn_step_forward']\nrnn_step_backward = ns['rnn_step_backward']\nrnn_forward = ns['rnn_forward']\nrnn_backward = ns['rnn_backward']"], {}, None, "graded"),
    ("import-reference", None, [], {"rnn_forward": "from lstm_ref.numpy.rnn import rnn_forward as _ref\ndef rnn_forward(x, h0, Wx, Wh, b):\n    return _ref(x, h0, Wx, Wh, b)",
                                     "rnn_step_forward": "import lstm_ref.numpy as L\ndef rnn_step_forward(*a):\n    return L.rnn_step_forward(*a)"}, {"rnn_forward": RAISE_FORWARD, "rnn_step_forward": "def rnn_step_forward(*a):\n    raise RuntimeError('x')"}, "graded"),
    ("exec-reference-source", None, ["import lstm_ref.numpy.rnn as m, inspect\nsrc = open(m.__file__).read()\nns = {}\nexec(compile(src, 'r', 'exec'), ns)\nrnn_forward = ns['rnn_forward']\nrnn_step_forward = ns['rnn_step_forward']"], {}, None, "graded"),
    ("read-solutions", None, ["import glob, json\nfound = []\nfor pattern in ['/**/solutions/**/*.ipynb', '@COURSE@/solutions/*/*.ipynb', '@REPO@/solutions/*/*.ipynb']:\n    found += glob.glob(pattern, recursive=True)\nfor path in found:\n    for cell in json.load(open(path))['cells']:\n        if 'def ' in ''.join(cell['source']):\n            exec(''.join(cell['source']).replace('### BEGIN SOLUTION', '').replace('### END SOLUTION', ''))"], {}, None, "graded"),
    ("read-classmate", None, ["import json, glob\nfor path in glob.glob('@COURSE@/submitted/*/ch01_rnn/*.ipynb') + glob.glob('@COURSE@/autograded/*/ch01_rnn/*.ipynb'):\n    for cell in json.load(open(path))['cells']:\n        if cell['cell_type'] == 'code' and 'def rnn' in ''.join(cell['source']):\n            try:\n                exec(''.join(cell['source']))\n            except Exception:\n                pass"], {}, None, "graded"),
    ("write-gradebook", None, ["import sqlite3\ntry:\n    con = sqlite3.connect('@COURSE@/gradebook.db')\n    con.execute('update grade set manual_score = 99')\n    con.commit()\nexcept Exception as e:\n    print(e)"], {}, None, "graded"),
    ("write-grades-csv", ALL, ["for p in ['@COURSE@/grades.csv', '/tmp/grades.csv']:\n    try:\n        open(p, 'a').write('ch02_vanishing,@CLASSMATE@,graded,99,99,99,0,,\\n')\n    except OSError as e:\n        print(e)"], {}, None, "graded"),
    ("overwrite-classmate", None, ["import glob\nfor p in glob.glob('@COURSE@/submitted/*/ch01_rnn/*.ipynb'):\n    try:\n        open(p, 'w').write('{}')\n    except OSError:\n        pass"], {}, None, "graded"),
    ("append-to-checks", None, ["for p in ['@REPO@/lstm_ref/checks/ch01.py', '/opt/grader/lstm_ref/checks/ch01.py', '@COURSE@/lstm_ref/checks/ch01.py']:\n    try:\n        open(p, 'a').write('\\nraise SystemExit\\n')\n    except OSError:\n        pass"], {}, None, "graded"),
    ("append-to-nbgrader-config", None, ["for p in ['@COURSE@/nbgrader_config.py', '@REPO@/nbgrader_config.py']:\n    try:\n        open(p, 'a').write('\\nimport os; os._exit(1)\\n')\n    except OSError:\n        pass"], {}, None, "graded"),
    ("symlink-outputs", ALL, ["import os\nfor target, link in [('/etc/passwd', 'feedback'), ('@COURSE@/gradebook.db', '/tmp/autograded'), ('/', 'root')]:\n    try:\n        os.symlink(target, link)\n    except OSError:\n        pass"], {}, None, "graded"),
    ("setsid-child", ALL, ["import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', 'import os, time, signal\\nwhile True:\\n    time.sleep(0.2)\\n    [os.kill(int(p), 9) for p in os.listdir(\"/proc\") if p.isdigit() and int(p) > 2 and int(p) != os.getpid()]'], start_new_session=True)"], {}, None, "graded"),
    ("fork-bomb", None, ["import os\nfor _ in range(200):\n    try:\n        os.fork()\n    except OSError:\n        break"], {}, None, "graded"),
    ("memory-hog", ALL, ["try:\n    x = bytearray(20 << 30)\nexcept MemoryError:\n    pass\nhog = np.ones((1 << 16, 1 << 16))"], {}, None, "graded"),
    ("output-flood", ALL, ["for i in range(200000):\n    print('flood' * 20)\nimport sys\nsys.stderr.write('e' * 10_000_000)"], {}, None, "graded"),
    ("hidden-test-hunt", ALL, ["import os\nhits = []\nfor top in ['/opt', '/home', '/tmp', '/proc/self', '@COURSE@', '@REPO@']:\n    for d, _, files in os.walk(top):\n        for f in files[:50]:\n            try:\n                t = open(os.path.join(d, f), errors='ignore').read(200000)\n            except OSError:\n                continue\n            if 'HIDDEN TESTS' in t or 'seed=11' in t:\n                hits.append(t)\nprint('\\n'.join(hits)[:100000])\nprint(open('/proc/self/environ').read())"], {}, None, "graded"),
    ("caller-frames", None, [], {"rnn_step_forward": "import sys\ndef rnn_step_forward(x, h_prev, Wx, Wh, b):\n    f = sys._getframe(1)\n    while f is not None:\n        print(f.f_code.co_filename, f.f_globals.keys())\n        f = f.f_back\n    raise ValueError(str([k for k in globals()]))"}, {"rnn_step_forward": "def rnn_step_forward(*a):\n    raise ValueError('x')"}, "graded"),
    ("kill-everyone", ALL, ["import os, signal\nfor sig in (signal.SIGKILL, signal.SIGTERM):\n    for pid in (-1, 1, os.getppid()):\n        try:\n            os.kill(pid, sig)\n        except OSError:\n            pass"], {}, None, "graded"),
    ("hang-with-alarm-ignored", ALL, [], {"rnn_forward": HANG_FORWARD}, {"rnn_forward": RAISE_FORWARD}, "graded"),
    ("sleep-at-top-level", ALL, ["import time\ntime.sleep(1000)"], {}, None, "graded"),
    ("exit-from-notebook", ALL, ["import os\nos._exit(7)"], {}, None, "not graded"),
    ("sys-exit-cell", ALL, ["import sys\nsys.exit(0)"], {}, None, "graded"),
    ("del-globals", ALL, [], {}, None, "graded"),
    ("forged-checkfailed", None, [], {"rnn_forward": "from lstm_ref.checks._common import CheckFailed\ndef rnn_forward(*a):\n    raise CheckFailed('OK: fine')"}, {"rnn_forward": RAISE_FORWARD}, "graded"),
    ("deep-result", None, [], {"rnn_forward": "def rnn_forward(*a):\n    r = []\n    for _ in range(100000):\n        r = [r]\n    return r, None"}, {"rnn_forward": RAISE_FORWARD}, "graded"),
    ("huge-result", None, [], {"rnn_step_forward": "def rnn_step_forward(*a):\n    return np.ones(20_000_000), None"}, {"rnn_step_forward": "def rnn_step_forward(*a):\n    return np.ones(3), None"}, "graded"),
    # Junk on its own reply pipe, after the test cells: it can only break its own channel.
    ("write-rpc-pipe", ALL, ["import os\nfor fd in range(3, 12):\n    try:\n        os.write(fd, b'\\x00\\x00\\x00\\x05junk!')\n    except OSError:\n        pass"], {}, None, "graded"),
    ("stderr-in-function", ALL, [], {"rnn_step_forward": NOISY}, {"rnn_step_forward": "@SOL:rnn_step_forward@"}, "graded"),
    # Honest students whose editors moved things around.
    ("copied-test-cell", ALL, [], {}, None, "graded"),
    ("stripped-metadata", ALL, [], {}, None, "graded"),
    ("stderr-noise", ALL, ["import logging, warnings, sys\nlogging.warning('a warning from logging')\nwarnings.warn('careful', UserWarning)\nfor i in range(5):\n    sys.stderr.write(f'\\r{i * 20}%|###  | {i}/5 [00:00<00:00]')"], {}, None, "graded"),
]
# del-globals: a full solution that deletes np and checks at the end
DEL_GLOBALS_TAIL = "del np, checks"


def _transform(name, nb):
    """The honest editing accidents: a test cell copied above its original; all nbgrader
    metadata stripped; globals deleted at the end."""
    if name == "copied-test-cell":
        i = next(i for i, c in enumerate(nb["cells"])
                 if c["metadata"].get("nbgrader", {}).get("grade_id") == "test_forward_values")
        nb["cells"].insert(i - 1, json.loads(json.dumps(nb["cells"][i])))
    elif name == "stripped-metadata":
        for cell in nb["cells"]:
            cell["metadata"] = {}
    elif name == "del-globals":
        nb["cells"].append({"cell_type": "code", "execution_count": None, "metadata": {},
                            "outputs": [], "source": DEL_GLOBALS_TAIL})
    return nb


@pytest.fixture(scope="module")
def redteam(tmp_path_factory, released):
    root = make_course(tmp_path_factory.mktemp("course-redteam"))
    src, rel = source_nb(CHAPTER, NAME), released[(CHAPTER, NAME)]
    subst = {COURSE: str(root), "@REPO@": str(REPO), CLASSMATE: "h00-honest"}
    expected = {}
    honest = fill(rel, src, {c["metadata"]["nbgrader"]["grade_id"] for c in src["cells"]
                             if c["metadata"].get("nbgrader", {}).get("solution")})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_SECRET", SECRET)
        honest_score = expected_auto(honest, src)
        for k, (name, keep, extra, replace, honest_replace, status) in enumerate(ATTACKS):
            student = f"a{k:02d}-{name}"
            nb = _transform(name, _build(rel, src, keep, extra, replace, subst))
            submit(root, student, CHAPTER, NAME, nb)
            clean = _build(rel, src, keep, [], honest_replace if honest_replace is not None
                           else replace, subst)
            expected[student] = (status, expected_auto(clean, src) if status == "graded" else 0.0)
            # an honest classmate graded right after each attacker
            submit(root, f"a{k:02d}-zhonest", CHAPTER, NAME, honest)
            expected[f"a{k:02d}-zhonest"] = ("graded", honest_score)
        submit(root, "h00-honest", CHAPTER, NAME, honest)
        expected["h00-honest"] = ("graded", honest_score)
        course_before = _course_hash(root, {"autograded", "feedback", "release"})
        repo_before = _repo_hash()
        start = time.monotonic()
        limits = Limits(memory_bytes=2 << 30, cpu_seconds=60, processes=16)
        run = grade(CHAPTER, root=root, echo=lambda *a: None, workers=2, limits=limits,
                    cell_timeout=3, call_timeout=3, timeout=300)
        seconds = time.monotonic() - start
    return root, run, expected, course_before, repo_before, seconds


def test_enough_attackers_and_a_real_honest_score(redteam):
    _, _, expected, _, _, _ = redteam
    assert len(ATTACKS) >= 30
    assert expected["h00-honest"][1] > 0
    assert len({v[1] for v in expected.values()}) >= 3  # zero, partial and full scores


def test_every_student_gets_the_score_of_its_honest_content(redteam):
    _, run, expected, _, _, _ = redteam
    got = {g.student: g for g in run.grades}
    assert sorted(got) == sorted(expected)
    wrong = {s: (got[s].status, got[s].auto_score, got[s].reason, exp)
             for s, exp in expected.items()
             if (got[s].status, got[s].auto_score) != exp}
    assert not wrong, wrong


def test_not_graded_has_a_reason_in_words(redteam):
    _, run, _, _, _, _ = redteam
    g = {g.student: g for g in run.grades}
    exit_ = next(s for s in g if s.endswith("exit-from-notebook"))
    assert "exited from the notebook" in g[exit_].reason


def test_nothing_outside_the_pipeline_outputs_changed(redteam):
    root, run, expected, course_before, repo_before, _ = redteam
    assert _course_hash(root, {"autograded", "feedback", "release"}) == course_before
    assert _repo_hash() == repo_before
    for step in ("autograded", "feedback"):
        folders = {p.name for p in (root / step).iterdir()}
        assert folders <= set(expected), folders - set(expected)
        for p in (root / step).rglob("*"):
            assert not p.is_symlink(), p
    rows = (root / "grades.csv").read_text().splitlines()
    assert len(rows) == 1 + len(expected) and all(r.startswith("ch01_rnn,") for r in rows[1:])


def test_no_hidden_line_in_any_feedback(redteam):
    root, run, expected, _, _, _ = redteam
    hidden = [re.sub(r"[ \t]+", " ", line) for line in hidden_lines(source_nb(CHAPTER, NAME))]
    pages = list((root / "feedback").rglob("*.html"))
    assert len(pages) >= len(expected) - 1  # every graded student has a page
    for page in pages:
        assert page.stat().st_size < 2_000_000, page  # output floods are capped
        text = page_text(page.read_text(encoding="utf-8"))
        assert SECRET not in text, page
        for line in hidden:
            assert line not in text, (page, line)


def test_the_batch_is_bounded(redteam):
    *_, seconds = redteam
    assert seconds < 600
