"""The instructor's flow for one chapter: ``python -m lstm_ref.grading grade <chapter id>``.

1. ``nbgrader generate_assignment <chapter> --force``: the gradebook learns the chapter's
   cells and points from ``solutions/`` (and ``release/<chapter>`` is regenerated).
2. :func:`~lstm_ref.grading.intake.intake`: every ``submitted/<student>/<chapter>/`` is
   checked and its notebooks sanitised into a temporary staging folder.
   Code that reaches for the grader is listed for review (:mod:`.tamper`).
3. :func:`~lstm_ref.grading.worker.grade_student`: one nbgrader process per student, with a
   time limit, autogrades into ``autograded/`` and writes feedback into ``feedback/``,
   without hidden tests; every feedback page is scanned once more and withheld if a hidden
   test line shows in it.
4. ``grades.csv`` (one row per chapter and student, rows of other chapters kept) and
   ``grading_report.<chapter>.md`` (every student, and why any was not graded), with the
   workers' logs in ``grading_report.<chapter>.log``. All three are gitignored.

A student who cannot be graded still gets a row, with 0 and the reason.
"""

import csv
import io
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .course import (SOURCE_DIR, CourseError, chapters, find_root, load_config, nbgrader_env,
                     source_notebooks)
from .feedback import leaked_lines
from .intake import intake
from .worker import grade_student

GRADES_CSV = "grades.csv"
CSV_FIELDS = ["chapter", "student", "status", "score", "max_score", "auto_score",
              "manual_pending", "reason", "review"]


@dataclass
class StudentGrade:
    """One row of ``grades.csv``."""

    student: str
    status: str  # graded | not graded
    score: float = 0.0
    max_score: float = 0.0
    auto_score: float = 0.0
    manual_pending: float = 0.0  # points of written answers still to grade by hand
    reason: str = ""
    notes: list = field(default_factory=list)
    review: list = field(default_factory=list)  # code flagged by .tamper, for a person
    seconds: float = 0.0


@dataclass
class GradingRun:
    """Everything one ``grade`` run produced."""

    chapter: str
    grades: list
    csv_path: Path
    report_path: Path
    log_path: Path
    seconds: float


def check_chapter(root, chapter):
    """Refuse an unknown chapter id with the list of the known ones."""
    known = chapters(root)
    if chapter not in known:
        raise CourseError(
            f"unknown chapter {chapter!r}: chapters with notebooks in {SOURCE_DIR}/ are "
            f"{', '.join(known) or 'none'}"
        )


def prepare_assignment(root, chapter):
    """``nbgrader generate_assignment <chapter> --force``, in its own process."""
    cmd = [sys.executable, "-m", "nbgrader", "generate_assignment", chapter, "--force",
           "--log-level=WARN"]
    proc = subprocess.run(cmd, cwd=str(root), env=nbgrader_env(root), capture_output=True,
                          text=True, timeout=600)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise CourseError(f"nbgrader generate_assignment {chapter} failed:\n{tail}")


def _gradebook(root):
    from nbgrader.api import Gradebook

    config = load_config(root)
    db_url = config.CourseDirectory.db_url
    course_id = config.CourseDirectory.course_id
    return Gradebook(db_url, course_id)


def read_scores(root, chapter, student):
    """``(score, max_score, auto_score, manual_pending)`` of one submission in the gradebook."""
    from nbgrader.api import MissingEntry

    with _gradebook(root) as gb:
        try:
            sub = gb.find_submission(chapter, student)
        except MissingEntry:
            return None
        auto = pending = 0.0
        for nb in sub.notebooks:
            for grade in nb.grades:
                auto += grade.auto_score or 0.0
                if grade.needs_manual_grade:
                    pending += grade.max_score or 0.0
        return float(sub.score), float(sub.max_score), auto, pending


def max_score(root, chapter):
    with _gradebook(root) as gb:
        return float(gb.find_assignment(chapter).max_score)


def forget(root, chapter, student):
    """Remove a stale earlier result (gradebook entry, autograded notebook, feedback)."""
    from nbgrader.api import MissingEntry

    with _gradebook(root) as gb:
        try:
            gb.remove_submission(chapter, student)
        except MissingEntry:
            pass
    for step in ("autograded", "feedback"):
        shutil.rmtree(Path(root) / step / student / chapter, ignore_errors=True)


def scan_feedback(root, chapter, student, source_nbs):
    """Delete any feedback page that shows a hidden-test line; returns notes."""
    notes = []
    folder = Path(root) / "feedback" / student / chapter
    for name, source in source_nbs.items():
        page = folder / f"{name}.html"
        if not page.is_file():
            continue
        leaks = leaked_lines(page.read_text(encoding="utf-8", errors="replace"), source)
        if leaks:
            page.unlink()
            notes.append(f"{name}: feedback withheld, it showed {len(leaks)} hidden-test line(s)")
    return notes


def write_csv(path, chapter, grades):
    """Write ``grades.csv``: this chapter's rows replace its old ones, others are kept."""
    rows = []
    if path.is_file():
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            known = {"chapter", "student"} <= set(reader.fieldnames or ())
            if known:  # an older layout keeps its rows; new columns are left empty
                rows = [{k: r.get(k) or "" for k in CSV_FIELDS} for r in reader
                        if r.get("chapter") != chapter]
        if not known:  # not ours: keep it aside rather than lose what it holds
            path.replace(path.with_name(path.name + f".{time.strftime('%Y%m%d-%H%M%S')}.bak"))
    for g in grades:
        rows.append({
            "chapter": chapter, "student": g.student, "status": g.status,
            "score": f"{g.score:g}", "max_score": f"{g.max_score:g}",
            "auto_score": f"{g.auto_score:g}", "manual_pending": f"{g.manual_pending:g}",
            "reason": g.reason,
            "review": "; ".join(g.review),
        })
    rows.sort(key=lambda r: (r["chapter"], r["student"]))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def write_report(path, run):
    """A short Markdown report: a table of every student, then the ones not graded."""
    graded = [g for g in run.grades if g.status == "graded"]
    failed = [g for g in run.grades if g.status != "graded"]
    pending = sum(1 for g in graded if g.manual_pending)
    lines = [
        f"# Grading report: {run.chapter}",
        "",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {len(run.grades)} student folder(s): "
        f"{len(graded)} graded, {len(failed)} not graded; {pending} with written answers "
        f"still to grade by hand (`nbgrader formgrader`). Total {run.seconds:.0f} s.",
        "",
        "| student | status | score | max | still to grade by hand | notes |",
        "|---|---|---|---|---|---|",
    ]
    for g in run.grades:
        notes = "; ".join(([g.reason] if g.reason else []) + g.notes).replace("|", "/")
        lines.append(f"| {g.student} | {g.status} | {g.score:g} | {g.max_score:g} | "
                     f"{g.manual_pending:g} | {notes} |")
    flagged = [g for g in run.grades if g.review]
    lines += ["", "## Flagged for review", ""]
    if flagged:
        lines += ["Their code reaches for the grader or the interpreter (imports such as `sys`,",
                  "`exec`, changes to `checks`, ...), which no exercise needs. They were graded",
                  "as usual; look at these lines before you accept the score.", ""]
        for g in flagged:
            lines.append(f"- **{g.student}**: " + "; ".join(g.review))
    else:
        lines.append("None.")
    lines += ["", "## Not graded", ""]
    if failed:
        lines += [f"- **{g.student}**: {g.reason}" for g in failed]
        lines += ["", "They have 0 in grades.csv. Fix the cause (or ask the student for a new "
                  "file) and run the command again: it regrades every folder."]
    else:
        lines.append("None: every student folder was graded.")
    lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


def grade(chapter, root=None, timeout=600, echo=print):
    """Run the whole flow for ``chapter``; returns a :class:`GradingRun`."""
    start = time.monotonic()
    root = find_root(root)
    check_chapter(root, chapter)
    submitted = root / "submitted"
    if not submitted.is_dir() or submitted.is_symlink():
        raise CourseError(f"no submitted/ folder in {root}: collect the notebooks into "
                          f"submitted/<student id>/{chapter}/ first (see the 'For instructors' page)")
    source_nbs = source_notebooks(root, chapter)
    echo(f"{chapter}: preparing the assignment (nbgrader generate_assignment)")
    prepare_assignment(root, chapter)
    full = max_score(root, chapter)
    grades, logs = [], []
    with tempfile.TemporaryDirectory(prefix="lstm-grading-") as stage:
        records = intake(root, chapter, source_nbs, stage)
        if not records:
            echo(f"{chapter}: submitted/ holds no student folder")
        for rec in records:
            g = StudentGrade(student=rec.student, status="not graded", max_score=full,
                             notes=list(rec.notes), review=list(rec.review))
            if not rec.gradable:
                g.reason = rec.reason
                if rec.safe:
                    forget(root, chapter, rec.student)
            else:
                g.notes += [f"{n}: scored 0 ({r})" for n, r in rec.zeroed.items()]
                res = grade_student(root, chapter, rec.student, stage, timeout=timeout)
                g.seconds = res.seconds
                logs.append(f"===== {rec.student} ({res.seconds:.1f} s)\n{res.log}")
                scores = read_scores(root, chapter, rec.student) if res.ok else None
                if scores is None:
                    g.reason = res.reason or "no grade was recorded"
                    forget(root, chapter, rec.student)
                else:
                    g.status = "graded"
                    g.score, g.max_score, g.auto_score, g.manual_pending = scores
                    if not res.feedback:
                        g.notes.append(f"no feedback: {res.reason}")
                    g.notes += scan_feedback(root, chapter, rec.student, source_nbs)
            echo(f"  {g.student:24s} {g.status:10s} {g.score:g}/{g.max_score:g}"
                 + (f"  ({g.reason})" if g.reason else "")
                 + (f"  [review: {len(g.review)} flagged line(s)]" if g.review else ""))
            grades.append(g)
    run = GradingRun(chapter, grades, root / GRADES_CSV,
                     root / f"grading_report.{chapter}.md", root / f"grading_report.{chapter}.log",
                     time.monotonic() - start)
    write_csv(run.csv_path, chapter, grades)
    write_report(run.report_path, run)
    run.log_path.write_text("\n".join(logs) + "\n", encoding="utf-8")
    echo(f"{chapter}: {sum(g.status == 'graded' for g in grades)} of {len(grades)} graded in "
         f"{run.seconds:.0f} s")
    echo(f"  grades:   {run.csv_path}\n  report:   {run.report_path}\n  logs:     {run.log_path}"
         f"\n  autograded notebooks: {root / 'autograded'}/<student>/{chapter}/"
         f"\n  feedback: {root / 'feedback'}/<student>/{chapter}/")
    return run
