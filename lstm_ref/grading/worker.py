"""Grade one student in its own process: ``python -m lstm_ref.grading.worker``.

The pipeline starts one of these per student (:func:`grade_student`), with a time limit,
so a notebook that hangs, crashes its kernel or trips nbgrader costs only its own grade.
The process runs nbgrader's ``Autograde`` converter on the staged (sanitised) notebooks,
then ``GenerateFeedback`` with :class:`~lstm_ref.grading.feedback.StripHiddenTests`, and
prints one JSON line with what happened. Another runner (a sandbox such as bubblewrap, a
batch system for a whole class in parallel) can run the same command: it needs the course
root, the staging folder and the gradebook, and nothing else.
"""

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from .course import load_config, nbgrader_env


def _config(root, chapter, student, stage):
    return load_config(
        root,
        **{
            "CourseDirectory.root": str(root),
            "CourseDirectory.submitted_directory": str(stage),
            "CourseDirectory.assignment_id": chapter,
            "CourseDirectory.student_id": student,
            "CourseDirectory.notebook_id": "*",
            "BaseConverter.force": True,
        },
    )


def run(root, chapter, student, stage):
    """Autograde and write feedback for one student, in this process. Returns a dict."""
    from nbgrader.converters import Autograde, GenerateFeedback
    from nbgrader.coursedir import CourseDirectory

    log = logging.getLogger("lstm_ref.grading.worker")
    config = _config(root, chapter, student, stage)
    result = {"student": student, "autograde": None, "feedback": None}
    for step, cls in (("autograde", Autograde), ("feedback", GenerateFeedback)):
        coursedir = CourseDirectory(config=config, log=log)
        try:
            cls(coursedir=coursedir, config=config, log=log).start()
        except BaseException as exc:  # nbgrader raises or exits; report it as one line
            result[step] = f"failed: {type(exc).__name__}: {exc}"[:500]
            break
        result[step] = "ok"
    return result


@dataclass
class WorkerResult:
    """What one worker process did."""

    ok: bool  # autograde finished (the scores are in the gradebook)
    feedback: bool  # the feedback was written
    reason: str  # why not, when not ok
    seconds: float
    log: str  # the process's stdout and stderr


def grade_student(root, chapter, student, stage, timeout=600):
    """Run the worker for one student as a subprocess, killed after ``timeout`` seconds."""
    result_file = os.path.join(str(stage), f".{student}.result.json")
    if os.path.exists(result_file):
        os.remove(result_file)
    cmd = [sys.executable, "-m", "lstm_ref.grading.worker", "--root", str(root),
           "--chapter", chapter, "--student", student, "--stage", str(stage),
           "--result", result_file]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=str(root), env=nbgrader_env(root), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the worker and its kernel
        out, _ = proc.communicate()
        log = out.decode("utf-8", "replace")
        return WorkerResult(False, False, f"grading took longer than {timeout} s and was stopped",
                            time.monotonic() - start, log)
    seconds = time.monotonic() - start
    log = out.decode("utf-8", "replace")
    result = None
    try:
        with open(result_file, encoding="utf-8") as fh:
            result = json.load(fh)
    except (OSError, ValueError):
        pass
    if result is None:
        return WorkerResult(False, False, f"the grading process ended with code {proc.returncode}",
                            seconds, log)
    if result["autograde"] != "ok":
        return WorkerResult(False, False, f"nbgrader autograde {result['autograde']}", seconds, log)
    feedback_ok = result["feedback"] == "ok"
    reason = "" if feedback_ok else f"feedback {result['feedback']}"
    return WorkerResult(True, feedback_ok, reason, seconds, log)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lstm_ref.grading.worker",
                                     description="Autograde one student (used by the pipeline).")
    parser.add_argument("--root", required=True)
    parser.add_argument("--chapter", required=True)
    parser.add_argument("--student", required=True)
    parser.add_argument("--stage", required=True, help="folder holding <student>/<chapter>/")
    parser.add_argument("--result", required=True, help="where to write the JSON result")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    result = run(args.root, args.chapter, args.student, args.stage)
    with open(args.result, "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
