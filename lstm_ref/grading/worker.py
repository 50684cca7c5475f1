"""The pipeline's worker processes: one student at a time each, a whole class in parallel.

:class:`ClassPool` hands the staged students to ``workers`` processes (default: the
machine's cores). Each worker, for one student, grades every staged notebook with
:func:`~lstm_ref.grading.verdict.grade_notebook` (the student's code in its own sandbox,
the verdicts in the worker) and sends back the notebooks with their verdicts. Workers never
write the gradebook: the pipeline's main process records each student as its results
arrive, one at a time (:mod:`.record`), then queues that student's feedback page, which a
worker writes (nbgrader's GenerateFeedback only reads the gradebook). So the grades are the
same in any order and with any number of workers.
Each worker has a slot number, which gives its sandboxes their own uid (so the process
limit of one student never counts another's processes).
"""

import json
import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from .verdict import NotebookResult, grade_notebook

_STATE = {}


def _init(counter, options):
    with counter.get_lock():
        _STATE["slot"] = counter.value
        counter.value += 1
    _STATE.update(options)


def grade_student(student, stage, chapter, source_nbs, libdir, slot=0, sandbox=True,
                  limits=None, timeout=600.0, cell_timeout=60.0, call_timeout=30.0):
    """``{notebook name: NotebookResult}`` for one staged student."""
    start = time.monotonic()
    deadline = start + timeout
    folder = Path(stage) / student / chapter
    out = {}
    for name, source in source_nbs.items():
        path = folder / f"{name}.ipynb"
        if not path.is_file():
            continue
        nb = json.loads(path.read_text("utf-8"))
        if time.monotonic() > deadline:
            out[name] = NotebookResult(False, f"timed out after {timeout:g} s")
            continue
        out[name] = grade_notebook(nb, source, libdir, slot=slot, limits=limits,
                                   sandbox=sandbox, cell_timeout=cell_timeout,
                                   call_timeout=call_timeout, deadline=deadline)
        if time.monotonic() >= deadline - 0.5:  # the whole student's time is used up
            out[name].graded = False
            out[name].reason = (f"timed out after {timeout:g} s (the time allowed for one "
                                "student)")
    return out


def _job(args):
    """Worker side of one student: grade every notebook, build the notebooks to record."""
    from .record import with_verdicts

    student, stage, chapter, source_nbs = args
    try:
        results = grade_student(student, stage, chapter, source_nbs, slot=_STATE["slot"],
                                **{k: v for k, v in _STATE.items() if k != "slot"})
        notebooks = {}
        folder = Path(stage) / student / chapter
        for name, r in results.items():
            nb = json.loads((folder / f"{name}.ipynb").read_text("utf-8"))
            notebooks[name] = with_verdicts(nb, source_nbs[name], r)
        return "graded", student, (results, notebooks), None
    except Exception as exc:  # a fault of the grader itself: this student only
        return "graded", student, ({}, {}), f"the grader failed: {type(exc).__name__}: {exc}"


def _feedback_job(args):
    from .record import write_feedback

    root, chapter, student = args
    return "feedback", student, None, write_feedback(root, chapter, student)


class ClassPool:
    """``workers`` processes that grade students and write feedback (never the gradebook).

    :meth:`grade` and :meth:`feedback` queue a job; :meth:`results` yields
    ``(kind, student, payload, error)`` as jobs finish, until none is left.
    """

    def __init__(self, libdir, workers=None, **options):
        workers = max(1, int(workers or os.cpu_count() or 1))
        ctx = multiprocessing.get_context("fork")
        counter = ctx.Value("i", 0)
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init,
                                        initargs=(counter, dict(options, libdir=libdir)))
        self.pending = {}
        # Every job has its own limits (a student's time, nbgrader's work on a capped
        # notebook); this one only guards against a worker that stops altogether.
        self.stall_seconds = float(options.get("timeout") or 600) + 600

    def grade(self, student, stage, chapter, source_nbs):
        fut = self.pool.submit(_job, (student, str(stage), chapter, source_nbs))
        self.pending[fut] = ("graded", student)

    def feedback(self, root, chapter, student):
        fut = self.pool.submit(_feedback_job, (str(root), chapter, student))
        self.pending[fut] = ("feedback", student)

    def results(self):
        while self.pending:
            done, _ = wait(list(self.pending), timeout=self.stall_seconds,
                           return_when=FIRST_COMPLETED)
            if not done:  # no job finished for far longer than any job may take
                for proc in list(getattr(self.pool, "_processes", {}).values()):
                    proc.kill()
                for kind, student in list(self.pending.values()):
                    payload = ({}, {}) if kind == "graded" else None
                    yield kind, student, payload, "the grading worker stopped responding"
                self.pending.clear()
                return
            for fut in done:
                kind, student = self.pending.pop(fut)
                try:
                    yield fut.result()
                except Exception as exc:  # the worker process died (it runs no student code)
                    payload = ({}, {}) if kind == "graded" else None
                    yield kind, student, payload, f"the grading worker died: {type(exc).__name__}"

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
