"""How long autograding takes: ``python -m lstm_ref.grading.measure ch01_rnn --n 10``.

Builds a temporary copy of the course, submits ``n`` notebooks for ``n`` students (the
solution for even-numbered students, the released stub with only its first solution cell
filled in for odd-numbered ones, so passing and failing tests are both timed), runs the
pipeline serially and prints the seconds each student's nbgrader process took.
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


def measure(chapter, n=10, root=None, timeout=600):
    from .pipeline import grade
    from .release_to_book import generate_release

    root = find_root(root)
    with tempfile.TemporaryDirectory(prefix="lstm-measure-") as tmp:
        course = Path(tmp) / "course"
        course.mkdir()
        shutil.copytree(root / SOURCE_DIR, course / SOURCE_DIR)
        shutil.copy(root / "nbgrader_config.py", course / "nbgrader_config.py")
        released = generate_release(root, chapter, Path(tmp) / "release")
        solutions = {name: _solutions(source)
                     for name, source in source_notebooks(root, chapter).items()}
        for k in range(n):
            for name, code in solutions.items():
                first = next(iter(code))
                nb = _filled(released[name], code, None if k % 2 == 0 else {first})
                folder = course / "submitted" / f"student{k:02d}" / chapter
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{name}.ipynb").write_text(json.dumps(nb))
        start = time.monotonic()
        run = grade(chapter, root=course, timeout=timeout, echo=lambda *a: None)
        total = time.monotonic() - start
    seconds = [g.seconds for g in run.grades]
    return run, seconds, total


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lstm_ref.grading.measure",
                                     description="Time autograding, one student at a time.")
    parser.add_argument("chapter")
    parser.add_argument("--n", type=int, default=10, help="number of submissions (default 10)")
    parser.add_argument("--root", help="course directory (default: this repository)")
    args = parser.parse_args(argv)
    try:
        run, seconds, total = measure(args.chapter, args.n, args.root)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for g in run.grades:
        print(f"{g.student}  {g.score:g}/{g.max_score:g}  {g.seconds:.2f} s")
    print(f"{args.chapter}: {len(seconds)} submissions graded serially; per submission: "
          f"mean {statistics.mean(seconds):.2f} s, median {statistics.median(seconds):.2f} s, "
          f"min {min(seconds):.2f} s, max {max(seconds):.2f} s; whole run {total:.1f} s "
          f"(including nbgrader generate_assignment)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
