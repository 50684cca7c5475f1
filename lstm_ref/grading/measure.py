"""How long grading takes: ``python -m lstm_ref.grading.measure ch01_rnn --n 40 --workers 1 2``.

Builds a temporary copy of the course with a class of ``n`` honest submissions (the solution
for even-numbered students, the released stub with only its first solution cell filled in
for odd-numbered ones, so passing and failing tests are both timed), runs the whole pipeline
once per worker count, sandbox on (``--no-sandbox`` to compare; ``--no-fork-server`` starts
a sandbox per student, the way before the fork server), and prints per worker count: the
class's wall time, the wall time per submission (class time / n), the median seconds one
student's sandbox and verdicts took inside a worker, and the load average before and after
(the machine may be shared: say so with the numbers); then how each student's processes were
confined (the cgroup, and whether runners came from a fork server). It also checks that
every worker count gave the same grades.
"""

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from .course import SOURCE_DIR, CourseError, cell_source, find_root, source_notebooks

_MARK = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")


def _solutions(source):
    """``{grade_id: code}`` of the solution cells (code or written) of ``source``, in order,
    without the ``### BEGIN/END SOLUTION`` lines."""
    out = {}
    for cell in source["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            text = cell_source(cell)
            out[meta["grade_id"]] = "\n".join(l for l in text.splitlines() if not _MARK.match(l))
    return out


def filled(released, source, keep=None):
    """``released`` with the solution cells in ``keep`` (default all) taken from ``source``."""
    return _filled(released, _solutions(source), keep)


def _filled(released, code, keep=None):
    """:func:`filled` with the solutions already read (``code`` from :func:`_solutions`)."""
    nb = json.loads(json.dumps(released))
    for cell in nb["cells"]:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in code and (keep is None or gid in keep):
            cell["source"] = code[gid]
    return nb


def build_class(root, chapter, n, dest):
    """A temporary course in ``dest`` with ``n`` honest submissions; returns its root."""
    from .release_to_book import generate_release

    course = Path(dest) / "course"
    course.mkdir()
    shutil.copytree(root / SOURCE_DIR, course / SOURCE_DIR)
    shutil.copy(root / "nbgrader_config.py", course / "nbgrader_config.py")
    released = generate_release(root, chapter, Path(dest) / "release")
    solutions = {name: _solutions(source) for name, source in source_notebooks(root, chapter).items()}
    for k in range(n):
        for name, code in solutions.items():
            first = next(iter(code))
            nb = _filled(released[name], code, None if k % 2 == 0 else {first})
            folder = course / "submitted" / f"student{k:02d}" / chapter
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{name}.ipynb").write_text(json.dumps(nb))
    return course


def measure(chapter, n=40, root=None, workers=(1, 2), sandbox=True, timeout=600,
            fork_server=True):
    """``[(workers, run, class seconds, load before, load after)]`` for each worker count."""
    import os

    from .pipeline import grade

    root = find_root(root)
    out = []
    with tempfile.TemporaryDirectory(prefix="lstm-measure-") as tmp:
        for w in workers:
            sub = Path(tmp) / f"w{w}"
            sub.mkdir()
            course = build_class(root, chapter, n, sub)
            load = os.getloadavg()[0]
            start = time.monotonic()
            said = []
            run = grade(chapter, root=course, timeout=timeout, echo=said.append,
                        workers=w, sandbox=sandbox, fork_server=fork_server)
            run.how = next((line.partition(" get ")[2] for line in said
                            if "each student's processes get" in line), "")
            out.append((w, run, time.monotonic() - start, load, os.getloadavg()[0]))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lstm_ref.grading.measure",
                                     description="Time grading a class, per worker count.")
    parser.add_argument("chapter")
    parser.add_argument("--n", type=int, default=40, help="number of submissions (default 40)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="worker counts to time (default: 1 2)")
    parser.add_argument("--no-sandbox", action="store_true", help="time without bubblewrap")
    parser.add_argument("--no-fork-server", action="store_true",
                        help="start a sandbox per student (the way before the fork server)")
    parser.add_argument("--root", help="course directory (default: this repository)")
    args = parser.parse_args(argv)
    try:
        results = measure(args.chapter, args.n, args.root, args.workers, not args.no_sandbox,
                          fork_server=not args.no_fork_server)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.chapter}: {args.n} submissions, sandbox {'off' if args.no_sandbox else 'on'}, "
          f"{__import__('os').cpu_count()} cores")
    print("| workers | class wall (s) | wall per submission (s) | median worker s/student "
          "| load avg before -> after |")
    print("|---:|---:|---:|---:|---|")
    grades = []
    for w, run, total, before, after in results:
        seconds = [g.seconds for g in run.grades]
        print(f"| {w} | {total:.1f} | {total / len(run.grades):.2f} | "
              f"{statistics.median(seconds):.2f} | {before:.1f} -> {after:.1f} |")
        grades.append(sorted((g.student, g.status, g.score) for g in run.grades))
    hows = sorted({run.how for _, run, *_ in results if run.how})
    for how in hows:
        print(f"sandbox: {how}")
    same = all(g == grades[0] for g in grades)
    print(f"same grades for every worker count: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
