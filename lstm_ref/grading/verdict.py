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
import importlib
import io
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


def run_test_cell(src, grade_id, checks, session, stdout_cap=2000):
    """Run one test cell of the source notebook here; returns a :class:`CellOutcome`."""
    ns = {"__builtins__": builtins, "__name__": "__grader__", "checks": checks}
    try:
        names = free_names(src)
    except SyntaxError as exc:
        return CellOutcome(grade_id, False, ename="SyntaxError", evalue=str(exc))
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
        with contextlib.redirect_stdout(buf), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a warning is never a verdict
            exec(compile(src, f"<test cell {grade_id}>", "exec"), ns)
    except SandboxLost as exc:
        return CellOutcome(grade_id, False, buf.getvalue()[:stdout_cap], "GradingError",
                           exc.reason)
    except Exception as exc:  # CheckFailed, or the student's error seen by the cell
        return CellOutcome(grade_id, False, buf.getvalue()[:stdout_cap], type(exc).__name__,
                           str(exc)[:1000])
    return CellOutcome(grade_id, True, buf.getvalue()[:stdout_cap])


def _cell_outputs(reply):
    outs = []
    for name in ("stdout", "stderr"):
        if reply.get(name):
            outs.append({"output_type": "stream", "name": name, "text": reply[name]})
    err = reply.get("error")
    if err:
        outs.append({"output_type": "error", "ename": str(err.get("type")),
                     "evalue": str(err.get("msg")),
                     "traceback": [f"{err.get('type')}: {err.get('msg')}"]})
    return outs


def grade_notebook(nb, source_nb, libdir, slot=0, limits=None, sandbox=True, cell_timeout=60.0,
                   call_timeout=30.0, deadline=None):
    """Grade one repaired notebook ``nb`` against ``source_nb``; returns a
    :class:`NotebookResult`."""
    start = time.monotonic()
    module = checks_module_name(source_nb)
    if module is None:
        return NotebookResult(False, "the source notebook imports no checks module")
    checks = importlib.import_module(module)
    cells = [(i, cell_source(c)) for i, c in enumerate(nb["cells"])
             if c.get("cell_type") == "code" and not is_test_cell(c)]
    session = Session(cells, libdir, slot=slot, limits=limits, sandbox=sandbox,
                      cell_timeout=cell_timeout, call_timeout=call_timeout, deadline=deadline)
    # Each test cell runs where the student's notebook has it (a deleted one at the end),
    # after the cells above it.
    where = {}
    for i, c in enumerate(nb["cells"]):
        gid = c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if c.get("cell_type") == "code" and is_test_cell(c) and gid not in where:
            where[gid] = i
    tests = [c for c in source_nb["cells"] if c.get("cell_type") == "code" and is_test_cell(c)]
    end = len(nb["cells"])
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
        for index, reply in sorted(session.replies.items()):
            result.cells[index] = _cell_outputs(reply)
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
