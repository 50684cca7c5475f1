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
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from .verdict import NotebookResult, grade_notebook

_STATE = {}


def _init(counter, options):
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        # A forked child cannot use the OpenMP threads of its parent (a parent that ran a
        # torch op would leave it waiting for them forever); one thread per worker anyway.
        torch.set_num_threads(1)
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
                                   call_timeout=call_timeout, deadline=deadline, spare=True)
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

    At most ``workers`` jobs are in the processes at a time, so a worker that dies (killed
    for memory, say) can only have been running one of them. The pool is then started
    again; the jobs that were running are retried one at a time, and the one whose job
    kills a worker again, alone, is the only one "not graded". The rest of the class is
    graded as usual.
    """

    def __init__(self, libdir, workers=None, **options):
        self.workers = max(1, int(workers or os.cpu_count() or 1))
        self.options = dict(options, libdir=libdir)
        self.pool = None
        self._start()
        self.queue = []  # (kind, function, args, student) not yet handed to a worker
        self.suspects = []  # jobs that were running when a worker died: retried alone
        self.pending = {}
        # Every job has its own limits (a student's time, nbgrader's work on a capped
        # notebook); this one only guards against a worker that stops altogether.
        self.stall_seconds = float(options.get("timeout") or 600) + 600
        self.restarts = 0

    def _start(self):
        ctx = multiprocessing.get_context("fork")
        counter = ctx.Value("i", 0)
        self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx,
                                        initializer=_init, initargs=(counter, self.options))

    def grade(self, student, stage, chapter, source_nbs):
        self.queue.append(("graded", _job, (student, str(stage), chapter, source_nbs), student))

    def feedback(self, root, chapter, student):
        self.queue.append(("feedback", _feedback_job, (str(root), chapter, student), student))

    def _fill(self):
        if self.suspects:  # alone, so a second death names its cause
            if not self.pending:
                job = self.suspects.pop(0)
                self.pending[self.pool.submit(job[1], job[2])] = job + (True,)
            return
        while self.queue and len(self.pending) < self.workers:
            job = self.queue.pop(0)
            self.pending[self.pool.submit(job[1], job[2])] = job + (False,)

    @staticmethod
    def _failed(kind, student, error):
        return kind, student, ({}, {}) if kind == "graded" else None, error

    def _restart(self):
        """A worker died: every job it held is lost; start a new pool."""
        self.restarts += 1
        for proc in list(getattr(self.pool, "_processes", {}).values()):
            try:
                proc.kill()
            except Exception:
                pass
        self.pool.shutdown(wait=False, cancel_futures=True)
        self._start()

    def results(self):
        self._fill()
        while self.pending:
            done, _ = wait(list(self.pending), timeout=self.stall_seconds,
                           return_when=FIRST_COMPLETED)
            if not done:  # no job finished for far longer than any job may take
                for kind, _f, _a, student, _alone in list(self.pending.values()):
                    yield self._failed(kind, student, "the grading worker stopped responding")
                self.pending.clear()
                self._restart()
                self._fill()
                continue
            broken = False
            for fut in done:
                job = self.pending.pop(fut)
                kind, _f, _a, student, alone = job
                try:
                    yield fut.result()
                except BrokenProcessPool:
                    broken = True
                    if alone:  # it killed its worker on its own: its fault only
                        yield self._failed(kind, student, "the grading worker died while "
                                           "grading it (it used too much memory or crashed)")
                    else:
                        self.suspects.append(job[:4])
                except Exception as exc:  # the job itself failed (it runs no student code)
                    yield self._failed(kind, student, f"the grading worker failed: "
                                       f"{type(exc).__name__}")
            if broken:
                for fut, job in list(self.pending.items()):  # lost with the same pool
                    self.suspects.append(job[:4])
                self.pending.clear()
                self._restart()
            self._fill()

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
