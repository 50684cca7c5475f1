"""Trusted verdicts: the source notebook's test cells, run outside the student's reach.

For one submitted notebook (already repaired by :mod:`.sanitize`), :func:`grade_notebook`

1. starts a :class:`~lstm_ref.grading.remote.Session`: the notebook's code cells, except
   its test cells, run in order in the sandbox;
2. runs every autograded test cell of the SOURCE notebook (hidden tests included; the
   student's copy of the test cells is ignored) in this process, in a fresh namespace where
   ``checks`` is the real checks module the notebook imports (:func:`checks_module_name`),
   ``np`` is numpy, ``torch`` is torch, and every other free name of the cell
   (:func:`free_names`) is a proxy of the student's object of that name;
3. returns, per cell, what nbgrader will record: the check's ``OK: ...`` line for a pass,
   an error (type and message, no source line) for a failure.

The hidden tests never enter the sandbox, and no verdict is computed where the student's
code has run.
"""

import ast
import builtins
import contextlib
import functools
import importlib
import io
import re
import time
import warnings
from dataclasses import dataclass, field

from . import forbidden
from .course import cell_source, is_test_cell
from .remote import Session
from .sandbox import SandboxLost

PROVIDED = ("checks", "np", "torch")


def free_names(src):
    """Names a cell reads but never binds (builtins excluded), in order of appearance."""
    tree = ast.parse(src)
    bound, loaded = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                loaded.append((node.lineno, node.col_offset, node.id))
            else:
                bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    out = []
    for _, _, name in sorted(loaded):
        if name not in bound and not hasattr(builtins, name) and name not in out:
            out.append(name)
    return out


def checks_module_name(source_nb):
    """The dotted name of the module the notebook binds to ``checks`` (its setup cell's
    ``from lstm_ref.checks import ch01 as checks``), or None."""
    for cell in source_nb.get("cells", []):
        if cell.get("cell_type") != "code" or is_test_cell(cell):
            continue
        try:
            tree = ast.parse(cell_source(cell))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    if (alias.asname or alias.name) == "checks":
                        return f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname == "checks":
                        return alias.name
    return None


@dataclass
class CellOutcome:
    """The verdict of one test cell."""

    grade_id: str
    passed: bool
    stdout: str = ""
    ename: str = ""
    evalue: str = ""
    title: str = ""  # what the cell checks, in words (:func:`check_title`)
    detail: str = ""  # the full failure, for the instructor's log only

    def outputs(self):
        """nbformat outputs for nbgrader: stdout for a pass, an error for a failure."""
        outs = []
        if self.stdout:
            outs.append({"output_type": "stream", "name": "stdout", "text": self.stdout})
        if not self.passed:
            outs.append({"output_type": "error", "ename": self.ename, "evalue": self.evalue,
                         "traceback": [f"{self.ename}: {self.evalue}"]})
        return outs


@dataclass
class NotebookResult:
    """What grading one notebook produced (plain data, sent back to the pipeline)."""

    graded: bool
    reason: str = ""
    tests: dict = field(default_factory=dict)  # grade_id -> CellOutcome
    cells: dict = field(default_factory=dict)  # code cell index -> nbformat outputs
    notes: list = field(default_factory=list)
    seconds: float = 0.0


BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
CELL_TEXT_CAP = 10_000  # characters of one stream or error kept in the autograded notebook
NOTEBOOK_TEXT_CAP = 400_000  # characters of outputs kept in one autograded notebook
WITHHELD = ("[output not shown: this cell ran after hidden tests had called your code, so "
            "it could show their inputs; run the notebook yourself to see it]")


NOT_RUN = ("[not run when the notebook was graded: the course's own cell after the last "
           "test changes no grade]\n")


def _norm(source):
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def split_hidden(src):
    """``[(hidden, code), ...]``: the test cell's source cut at its hidden-test markers, in
    order (the lines of the markers themselves dropped)."""
    parts, hidden, lines = [], False, []
    for line in src.splitlines():
        marker = BEGIN_HIDDEN in line or END_HIDDEN in line
        if marker:
            parts.append((hidden, "\n".join(lines)))
            hidden, lines = BEGIN_HIDDEN in line, []
        else:
            lines.append(line)
    parts.append((hidden, "\n".join(lines)))
    return [(h, code) for h, code in parts if code.strip()]


def check_title(src):
    """What a test cell checks, in words, from its source (trusted text): the learner's
    function it calls and its comment, e.g. ``gru_step_forward: the values of h_next``."""
    comment = next((line.strip().lstrip("#").strip() for line in src.splitlines()
                    if line.strip().startswith("#") and "HIDDEN TESTS" not in line), "")
    comment = re.sub(r"^\d+(\.\d+)?\s+points?\s*:\s*", "", comment)
    target = None
    try:
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Name):
                target = node.args[0].id
                break
    except SyntaxError:
        pass
    return ": ".join(x for x in (target, comment) if x) or "test"


@functools.lru_cache(maxsize=None)
def _course_strings(module_name):
    """The string constants of a checks module and of the shared check helpers: a hint is
    quoted in feedback only if it is written there, word for word."""
    import inspect

    strings = []
    for name in (module_name, "lstm_ref.checks._common"):
        try:
            tree = ast.parse(inspect.getsource(importlib.import_module(name)))
        except (ImportError, OSError, TypeError, SyntaxError):
            continue
        strings += [n.value for n in ast.walk(tree)
                    if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return tuple(strings)


def public_message(title, ename, evalue, checks, hidden=False):
    """A failure in words that carry nothing of the learner's run: the check's title, what
    kind of failure (fixed words) and the check's hint when it is course text verbatim."""
    if ename in ("GradingError", "TimeoutError"):
        kind = "your code did not finish in time or its process was lost"
    elif "is not implemented yet" in evalue:
        kind = "your function is not implemented yet"
    elif "reference implementation" in evalue:  # (fixed words, whatever the message held)
        from lstm_ref.checks import _common

        refusal = getattr(_common, "GRADING_REFUSAL", "the reference implementation in "
                          "lstm_ref is not available during grading")
        kind = (f"your function called the reference implementation ({refusal}; an exercise "
                "computed with it earns nothing)")
    elif " raised " in evalue or ename != "CheckFailed":
        kind = "your code raised an error"
    else:
        kind = "the result is wrong"
    message = f"{title}: {'on the hidden tests, ' if hidden else ''}{kind}"
    hint = evalue.rpartition("Hint: ")[2].strip() if "Hint: " in evalue else ""
    course = _course_strings(getattr(checks, "__name__", ""))
    if len(hint) >= 12 and any(hint.rstrip(".") in text for text in course):
        message += f". Hint: {hint}"
    return message


class _TrustedTimeout(BaseException):
    """A test cell ran past its limit on the trusted side (a ``BaseException``: no check
    catches it)."""


def _cell_limit(session):
    """Seconds a test cell may take here, all its calls and checks together: a backstop
    behind the per-call limits."""
    return 10 * float(getattr(session, "call_timeout", 30.0)) + 30


@contextlib.contextmanager
def _time_limit(seconds):
    """Raise :class:`_TrustedTimeout` in this (main) thread after ``seconds``."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise _TrustedTimeout(f"the test took longer than {seconds:g} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_test_cell(src, grade_id, checks, session, stdout_cap=2000):
    """Run one test cell of the source notebook here; returns a :class:`CellOutcome`.

    The cell runs in parts (:func:`split_hidden`). A visible part may show the check's own
    message, unless hidden inputs have already reached the learner's process (it could
    then hold them and put them in its error text): :func:`public_message` is shown then,
    and always for a hidden part, whose printed ``OK`` lines (with their parameters) are
    not kept either. The message in full goes to ``CellOutcome.detail`` (the instructor's
    log only)."""
    ns = {"__builtins__": builtins, "__name__": "__grader__", "checks": checks}
    title = check_title(src)
    try:
        names = free_names(src)
    except SyntaxError as exc:
        return CellOutcome(grade_id, False, ename="SyntaxError", evalue=str(exc), title=title)
    shown = io.StringIO()
    hidden_passed = False
    for hidden, code in split_hidden(src):
        tainted = hidden or getattr(session, "tainted", False)
        buf = io.StringIO()
        try:
            if "np" in names:
                import numpy

                ns["np"] = numpy
            if "torch" in names:
                import torch

                ns["torch"] = torch
            for name in names:
                if name not in PROVIDED:
                    ns[name] = session.lookup(name)
            if hidden and hasattr(session, "taint"):
                session.taint()
            with contextlib.redirect_stdout(buf), warnings.catch_warnings(), \
                    _time_limit(_cell_limit(session)):
                warnings.simplefilter("ignore")  # a warning is never a verdict
                exec(compile(code, f"<test cell {grade_id}>", "exec"), ns)
        except SandboxLost as exc:
            ename, evalue = "GradingError", exc.reason
        except _TrustedTimeout as exc:  # the student's process is in an unknown state
            box = getattr(session, "box", None)
            if box is not None:
                box.kill()
            ename, evalue = "GradingError", str(exc)
        except Exception as exc:  # CheckFailed, or the student's error seen by the cell
            ename, evalue = type(exc).__name__, str(exc)[:1000]
        else:
            if hidden:
                hidden_passed = True
            else:
                shown.write(buf.getvalue())
            continue
        if tainted:
            public = public_message(title, ename, evalue, checks, hidden)
            return CellOutcome(grade_id, False, shown.getvalue()[:stdout_cap],
                               "GradingError" if ename == "GradingError" else "CheckFailed",
                               public, title=title, detail=f"{ename}: {evalue}")
        return CellOutcome(grade_id, False, shown.getvalue()[:stdout_cap], ename,
                           _cap(evalue, 1000), title=title, detail=f"{ename}: {evalue}")
    if hidden_passed:
        shown.write("OK: the hidden tests of this cell passed\n")
    return CellOutcome(grade_id, True, shown.getvalue()[:stdout_cap], title=title)


def _cap(text, n):
    text = str(text)
    return text if len(text) <= n else text[:n] + f" [... {len(text) - n} more characters]"


class _Allowance:
    """What is left of one notebook's output cap."""

    def __init__(self, total=NOTEBOOK_TEXT_CAP):
        self.left = total

    def take(self, text):
        text = _cap(text, min(CELL_TEXT_CAP, max(self.left, 0)))
        self.left -= len(text)
        return text if self.left >= 0 else "[output not kept: the notebook's output cap was reached]"


def _cell_outputs(reply, allowance, withheld=False):
    """nbformat outputs of one of the learner's cells, capped here (whatever the sandbox
    did), or one line in their place when the cell ran after hidden tests."""
    if withheld:
        return [{"output_type": "stream", "name": "stdout", "text": WITHHELD + "\n"}]
    outs = []
    for name in ("stdout", "stderr"):
        if reply.get(name):
            outs.append({"output_type": "stream", "name": name,
                         "text": allowance.take(reply[name])})
    err = reply.get("error")
    if isinstance(err, dict):
        ename = _cap(err.get("type"), 100)
        evalue = allowance.take(err.get("msg"))
        outs.append({"output_type": "error", "ename": ename, "evalue": evalue,
                     "traceback": [f"{ename}: {evalue}"]})
    return outs


def setup_imports(source_nb):
    """The modules the course's own code cells import at top level (what a runner may
    import before the student's first cell)."""
    names = []
    for c in source_nb.get("cells", []):
        if c.get("cell_type") != "code" or c.get("metadata", {}).get("nbgrader"):
            continue
        try:
            tree = ast.parse(cell_source(c))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.append(node.module)
    return tuple(dict.fromkeys(names))


def grade_notebook(nb, source_nb, libdir, slot=0, limits=None, sandbox=True, cell_timeout=60.0,
                   call_timeout=30.0, deadline=None, spare=False):
    """Grade one repaired notebook ``nb`` against ``source_nb``; returns a
    :class:`NotebookResult`."""
    start = time.monotonic()
    module = checks_module_name(source_nb)
    if module is None:
        return NotebookResult(False, "the source notebook imports no checks module")
    checks = importlib.import_module(module)
    # Each test cell runs where the student's notebook has it (a deleted one at the end),
    # after the cells above it.
    where = {}
    for i, c in enumerate(nb["cells"]):
        gid = c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if c.get("cell_type") == "code" and is_test_cell(c) and gid not in where:
            where[gid] = i
    tests = [c for c in source_nb["cells"] if c.get("cell_type") == "code" and is_test_cell(c)]
    end = len(nb["cells"])
    # The course's own cells after the last test (a benchmark, a demonstration) can change
    # no grade, and what they print would be withheld (they run after hidden tests): they
    # are not run. A student's own cells there still run.
    last_test = max((where.get(c["metadata"]["nbgrader"]["grade_id"], end) for c in tests),
                    default=end)
    course = {_norm(cell_source(c)) for c in source_nb["cells"]
              if c.get("cell_type") == "code" and not c.get("metadata", {}).get("nbgrader")}
    cells, not_run = [], []
    for i, c in enumerate(nb["cells"]):
        if c.get("cell_type") != "code" or is_test_cell(c):
            continue
        if i > last_test and _norm(cell_source(c)) in course:
            not_run.append(i)
        else:
            cells.append((i, cell_source(c)))
    session = Session(cells, libdir, slot=slot, limits=limits, sandbox=sandbox,
                      cell_timeout=cell_timeout, call_timeout=call_timeout, deadline=deadline,
                      preload=setup_imports(source_nb), spare=spare)
    tests.sort(key=lambda c: where.get(c["metadata"]["nbgrader"]["grade_id"], end))
    result = NotebookResult(True)
    try:
        try:
            session.start()
            for cell in tests:
                gid = cell["metadata"]["nbgrader"]["grade_id"]
                try:
                    session.run_until(where.get(gid, end))
                except SandboxLost as exc:
                    if exc.kind == "exit" or "time allowed" in exc.reason:
                        raise
                    result.tests[gid] = CellOutcome(gid, False, "", "GradingError", exc.reason)
                    continue
                result.tests[gid] = run_test_cell(cell_source(cell), gid, checks, session)
            try:
                session.run_until(end)
            except SandboxLost as exc:
                if exc.kind == "exit" or "time allowed" in exc.reason:
                    raise
        except SandboxLost as exc:
            result = NotebookResult(False, exc.reason)
        allowance = _Allowance()
        for index in not_run:
            result.cells[index] = [{"output_type": "stream", "name": "stdout", "text": NOT_RUN}]
        for index, reply in sorted(session.replies.items()):
            result.cells[index] = _cell_outputs(reply, allowance, index in session.after_hidden)
            err = reply.get("error")
            if err and err.get("type") in ("TimeoutError", "GradingError"):
                result.notes.append(f"cell {index + 1}: {err.get('msg')}")
        lost = sorted({o.evalue for o in result.tests.values() if o.ename == "GradingError"})
        result.notes += lost
        if result.graded:  # work computed with a forbidden library earns nothing (.forbidden)
            forbidden.apply(result, nb, source_nb, checks)
    except SandboxLost as exc:
        result = NotebookResult(False, exc.reason)
    finally:
        session.close()
    result.seconds = time.monotonic() - start
    return result
