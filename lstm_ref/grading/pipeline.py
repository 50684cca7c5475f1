"""The instructor's flow for one chapter: ``python -m lstm_ref.grading grade <chapter id>``.

1. ``nbgrader generate_assignment <chapter> --force``: the gradebook learns the chapter's
   cells and points from ``solutions/`` (and ``release/<chapter>`` is regenerated).
2. :func:`~lstm_ref.grading.intake.intake`: every ``submitted/<student>/<chapter>/`` is
   checked and its notebooks repaired into a temporary staging folder. Code that reaches
   for the grader is listed for review (:mod:`.tamper`).
3. :func:`~lstm_ref.grading.worker.grade_class`: in ``workers`` processes, each student's
   notebook runs in its own bubblewrap sandbox (:mod:`.sandbox`) against a sanitised copy
   of ``lstm_ref`` (:mod:`.refcopy`), and the source notebook's test cells, hidden tests
   included, run in the worker, outside the sandbox, calling the student's functions
   through proxies (:mod:`.verdict`, :mod:`.remote`).
4. This process records each student as results arrive (:mod:`.record`: nbgrader's
   Autograde without execution, then its feedback without hidden tests; every feedback page
   is scanned once more and withheld if a hidden-test line shows in it), printing a line
   per student and a progress bar.
5. ``grades.csv`` (one row per chapter and student, rows of other chapters kept) and
   ``grading_report.<chapter>.md`` (every student, why any was not graded, code flagged
   for review, near-copies (:mod:`.similarity`)), with details in
   ``grading_report.<chapter>.log``. All three are gitignored.

A student who cannot be graded still gets a row, with 0 and the reason.
"""

import csv
import os
import io
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .course import SOURCE_DIR, CourseError, chapters, find_root, nbgrader_env, source_notebooks
from .feedback import leaked_lines
from .intake import intake
from .record import forget, max_score, read_scores, record_scores, write_autograded

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
    similar: list = field(default_factory=list)  # near-copies found by .similarity
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
    """``nbgrader generate_assignment <chapter> --force``, in this process (nbgrader's
    ``GenerateAssignment``; the workers forked later inherit its imports)."""
    import logging

    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory

    from .course import load_config

    env = nbgrader_env(root)  # nbgrader runs `alembic` when it creates a gradebook
    os.environ["PATH"] = env["PATH"]
    log = logging.getLogger("lstm_ref.grading.prepare")
    log.setLevel(logging.ERROR)
    config = load_config(root, **{"CourseDirectory.root": str(root),
                                  "CourseDirectory.assignment_id": chapter,
                                  "BaseConverter.force": True})
    try:
        GenerateAssignment(coursedir=CourseDirectory(config=config, log=log), config=config,
                           log=log).start()
    except BaseException as exc:  # nbgrader raises or exits
        raise CourseError(f"nbgrader generate_assignment {chapter} failed: "
                          f"{type(exc).__name__}: {exc}") from None


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
    similar = [g for g in run.grades if g.similar]
    lines += ["", "## Near-copies, for a person to judge", ""]
    if similar:
        from .similarity import REPORT_INTRO

        lines += REPORT_INTRO + [""]
        for g in similar:
            lines.append(f"- **{g.student}**: " + "; ".join(g.similar))
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


def _echo_student(echo, g, done, total):
    echo(f"  {g.student:24s} {g.status:10s} {g.score:g}/{g.max_score:g}"
         + (f"  ({g.reason})" if g.reason else "")
         + (f"  [review: {len(g.review)} flagged line(s)]" if g.review else "")
         + f"  {_bar(done, total)}")


def _record_student(root, chapter, stage, g, nb_results, notebooks, error, logs):
    """Record one student's results (the single writer of the gradebook); returns whether
    feedback is to be written."""
    lost = [f"{n}: {r.reason}" for n, r in nb_results.items() if not r.graded]
    g.seconds = sum(r.seconds for r in nb_results.values())
    logs.append(f"===== {g.student} ({g.seconds:.1f} s)")
    for n, r in nb_results.items():
        logs.append(f"{n}: " + ", ".join(
            f"{gid} {'ok' if o.passed else (o.detail or o.ename + ': ' + o.evalue)}"
            for gid, o in r.tests.items()))
        g.notes += [f"{n}: {note}" for note in r.notes]
    if error or lost:
        g.reason = error or "; ".join(lost)
    if error:
        forget(root, chapter, g.student)
        return False
    stamp = stage / g.student / chapter / "timestamp.txt"
    timestamp = stamp.read_text("utf-8").strip() if stamp.is_file() else None
    write_autograded(root, chapter, g.student, notebooks, timestamp)
    record_scores(root, chapter, g.student, notebooks, timestamp)
    scores = read_scores(root, chapter, g.student)
    if scores is None:
        g.reason = g.reason or "no grade was recorded"
        return False
    g.score, g.max_score, g.auto_score, g.manual_pending = scores
    if not lost:
        g.status = "graded"
    return True


def _probe_sandbox(libdir, sandbox, limits=None, fork_server=True):
    """Start one empty sandbox, so a machine where bubblewrap cannot run (no namespaces in
    a container, say) stops the run with bwrap's own words instead of failing everyone."""
    from . import remote
    from .sandbox import Sandbox, SandboxLost, Zygote

    try:
        box = Sandbox(libdir, sandbox=sandbox, limits=limits)
        how = box.group.how
        box.stop()
    except SandboxLost as exc:
        raise CourseError(f"the grading sandbox does not start on this machine: {exc.reason}. "
                          "See the 'For instructors' page (the sandbox).") from None
    if not sandbox:
        return how
    if not fork_server:
        remote.FORKING.update(on=False, why="turned off")
        return how + "; a sandbox is started per student (the fork server is turned off)"
    # The fork server (one per worker, runners forked already isolated) is the fast way; a
    # machine where it cannot isolate a runner grades with a sandbox started per student.
    # The workers are forked from this process: they inherit the decision.
    remote.FORKING.update(on=True, why="")
    zygote = None
    try:
        zygote = Zygote(libdir, limits=limits)
        child = zygote.spawn()
        child.wait_ready()
        child.stop()
        return how + "; each runner is forked, already isolated, from a fork server per worker"
    except (SandboxLost, OSError) as exc:
        why = getattr(exc, "reason", None) or str(exc)
        remote.FORKING.update(on=False, why=why)
        return (how + f"; a sandbox is started per student (slower: the fork server could "
                f"not isolate a runner here: {why})")
    finally:
        if zygote is not None:
            zygote.kill()


def _fair_share(limits, workers):
    """``limits`` with a CPU limit per student: the machine's cores shared evenly by the
    students graded at once (at least one core each), so one student who keeps every core
    busy slows the others by at most the share he was given anyway."""
    from dataclasses import replace

    from .sandbox import Limits

    limits = limits or Limits()
    if not limits.cpus:
        n = max(1, int(workers or os.cpu_count() or 1))
        limits = replace(limits, cpus=max(1.0, (os.cpu_count() or 1) / n))
    return limits


def _bar(done, total, width=30):
    filled = int(width * done / total) if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"


def _secret_for(root):
    """Point the checks at the course secret beside ``nbgrader_config.py``, if there is one
    and none is set already (see :mod:`lstm_ref.checks._seeds`)."""
    import os

    secret = Path(root) / ".course_secret"
    if not os.environ.get("COURSE_SECRET") and not os.environ.get("COURSE_SECRET_FILE") \
            and secret.is_file():
        os.environ["COURSE_SECRET_FILE"] = str(secret)


def grade(chapter, root=None, timeout=600, echo=print, workers=None, sandbox=True,
          limits=None, cell_timeout=60.0, call_timeout=30.0, fork_server=True):
    """Run the whole flow for ``chapter``; returns a :class:`GradingRun`.

    ``workers`` processes grade students in parallel (default: the machine's cores).
    ``sandbox=False`` runs students' code without bubblewrap (only for trusted code).
    ``fork_server=False`` starts a sandbox per student instead of forking each student's
    runner from a fork server per worker (slower; to compare).
    """
    from . import refcopy
    from .sandbox import SandboxUnavailable, require_bwrap
    from .similarity import similarity_flags
    from .verdict import checks_module_name
    from .worker import ClassPool

    start = time.monotonic()

    def timing(what):
        if os.environ.get("LSTM_GRADING_TIMES"):
            echo(f"[{time.monotonic() - start:.1f} s] {what}")

    root = find_root(root)
    check_chapter(root, chapter)
    submitted = root / "submitted"
    if not submitted.is_dir() or submitted.is_symlink():
        raise CourseError(f"no submitted/ folder in {root}: collect the notebooks into "
                          f"submitted/<student id>/{chapter}/ first (see the 'For instructors' page)")
    if sandbox:
        try:
            require_bwrap()
        except SandboxUnavailable as exc:
            raise CourseError(str(exc)) from None
    else:
        echo("WARNING: --no-sandbox: students' code runs WITHOUT the bubblewrap sandbox; it "
             "can read solutions/ and change files the grader writes. Use it only for a class "
             "whose code you trust.")
    _secret_for(root)
    source_nbs = source_notebooks(root, chapter)
    echo(f"{chapter}: preparing the assignment (nbgrader generate_assignment)")
    prepare_assignment(root, chapter)
    timing("prepared")
    full = max_score(root, chapter)
    targets = set()
    for nb in source_nbs.values():
        module = checks_module_name(nb)
        if module:
            targets.update(refcopy.exercised(module))
    grades, logs = {}, []
    with tempfile.TemporaryDirectory(prefix="lstm-grading-") as tmp:
        stage = Path(tmp) / "stage"
        stage.mkdir()
        libdir = refcopy.build(Path(tmp) / "lib", sorted(targets))
        limits = _fair_share(limits, workers)
        how = _probe_sandbox(libdir, sandbox, limits, fork_server)
        echo(f"{chapter}: each student's processes get {how}")
        records = intake(root, chapter, source_nbs, stage)
        if not records:
            echo(f"{chapter}: submitted/ holds no student folder")
        todo = []
        for rec in records:
            g = StudentGrade(student=rec.student, status="not graded", max_score=full,
                             notes=list(rec.notes), review=list(rec.review))
            grades[rec.student] = g
            if not rec.gradable:
                g.reason = rec.reason
                if rec.safe:
                    forget(root, chapter, rec.student)
            else:
                g.notes += [f"{n}: scored 0 ({r})" for n, r in rec.zeroed.items()]
                todo.append(rec.student)
        done = len(records) - len(todo)
        total = len(records)
        for g in grades.values():
            if g.reason:
                echo(f"  {g.student:24s} not graded  ({g.reason})")
        pool = ClassPool(libdir, workers=workers, sandbox=sandbox, limits=limits,
                         timeout=timeout, cell_timeout=cell_timeout, call_timeout=call_timeout)
        with pool:
            for student in todo:
                pool.grade(student, stage, chapter, source_nbs)
            for kind, student, payload, error in pool.results():
                g = grades[student]
                if kind == "feedback":
                    timing(f"{student} feedback")
                    if error:
                        g.notes.append(f"feedback: {error}")
                    g.notes += scan_feedback(root, chapter, student, source_nbs)
                    done += 1
                    _echo_student(echo, g, done, total)
                    continue
                nb_results, notebooks = payload
                timing(f"{student} graded in {sum(r.seconds for r in nb_results.values()):.1f} s")
                if _record_student(root, chapter, stage, g, nb_results, notebooks, error, logs):
                    pool.feedback(root, chapter, student)
                else:
                    done += 1
                    _echo_student(echo, g, done, total)
        timing("all recorded")
        from .sandbox import sweep_groups

        sweep_groups()
        flags = similarity_flags(root, chapter, stage, source_nbs, sorted(todo))
        for student, lines in flags.items():
            grades[student].similar = lines
    ordered = [grades[r.student] for r in records]
    run = GradingRun(chapter, ordered, root / GRADES_CSV,
                     root / f"grading_report.{chapter}.md", root / f"grading_report.{chapter}.log",
                     time.monotonic() - start)
    write_csv(run.csv_path, chapter, ordered)
    write_report(run.report_path, run)
    run.log_path.write_text("\n".join(logs) + "\n", encoding="utf-8")
    graded = sum(g.status == "graded" for g in ordered)
    echo(f"{chapter}: {graded} of {len(ordered)} graded in {run.seconds:.0f} s")
    echo(f"  grades:   {run.csv_path}\n  report:   {run.report_path}\n  logs:     {run.log_path}"
         f"\n  autograded notebooks: {root / 'autograded'}/<student>/{chapter}/"
         f"\n  feedback: {root / 'feedback'}/<student>/{chapter}/")
    return run
