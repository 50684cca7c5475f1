"""``python -m lstm_ref.grading grade <chapter id> [--root DIR] [--timeout S] [--workers N]
[--no-sandbox] [--no-fork-server]``.

``make grade A=<chapter id>`` runs exactly this. See :mod:`lstm_ref.grading.pipeline`.
``python -m lstm_ref.grading feedback <chapter id>`` writes the feedback pages again (after
manual grading), as ``grade`` writes them.
``python -m lstm_ref.grading release [ARGS]`` is ``python -m lstm_ref.grading.release_to_book
[ARGS]`` (:mod:`lstm_ref.grading.release_to_book`).
"""

import argparse
import sys
import traceback

from .course import CourseError


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m lstm_ref.grading",
        description="The instructor's grading pipeline (see the book's 'For instructors' page).",
    )
    sub = parser.add_subparsers(dest="command", metavar="command")
    g = sub.add_parser("grade", help="grade submitted/<student>/<chapter>/ for one chapter")
    g.add_argument("chapter", help="chapter id, e.g. ch01_rnn")
    g.add_argument("--root", help="course directory (default: this repository)")
    g.add_argument("--timeout", type=float, default=600,
                   help="seconds allowed to grade one student (default 600)")
    g.add_argument("--workers", type=int, default=None,
                   help="students graded in parallel (default: the machine's cores)")
    g.add_argument("--no-sandbox", action="store_true",
                   help="run students' code WITHOUT the bubblewrap sandbox (only for a class "
                        "whose code you trust; a hostile notebook can then read solutions/ "
                        "and change grades)")
    g.add_argument("--no-fork-server", action="store_true",
                   help="start a sandbox per student instead of forking each student's runner "
                        "from a fork server per worker (slower; as safe)")
    g.add_argument("--debug", action="store_true", help="show Python tracebacks")
    f = sub.add_parser("feedback", help="write the feedback pages again (after manual grading), "
                       "hidden tests out, no script but the local MathJax")
    f.add_argument("chapter", help="chapter id, e.g. ch01_rnn")
    f.add_argument("--root", help="course directory (default: this repository)")
    # Its arguments (and -h) are release_to_book's own: they are passed on unparsed.
    sub.add_parser("release", add_help=False,
                   help="generate the student notebooks into the book "
                        "(python -m lstm_ref.grading.release_to_book)")
    args, rest = parser.parse_known_args(argv)
    if args.command == "release":
        from .release_to_book import main as release_main

        return release_main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "feedback":
        return _feedback(args.chapter, args.root)
    try:
        from .pipeline import grade

        if args.no_sandbox:
            print("WARNING: --no-sandbox: students' code will run without the sandbox.",
                  file=sys.stderr)
        grade(args.chapter, root=args.root, timeout=args.timeout, workers=args.workers,
              sandbox=not args.no_sandbox, fork_server=not args.no_fork_server)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(f"error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
              file=sys.stderr)
        return 1
    return 0


def _feedback(chapter, root=None):
    """``feedback <chapter>``: nbgrader's GenerateFeedback for every graded student, each
    page hardened as ``grade`` does (:func:`~lstm_ref.grading.record.write_feedback`)."""
    from pathlib import Path

    from .course import find_root, nbgrader_env, source_notebooks
    from .intake import STUDENT_ID
    from .pipeline import check_chapter, scan_feedback
    from .record import write_feedback

    try:
        root = find_root(root)
        check_chapter(root, chapter)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import os

    os.environ["PATH"] = nbgrader_env(root)["PATH"]
    source_nbs = source_notebooks(root, chapter)
    folder = Path(root) / "autograded"
    students = sorted(p.name for p in folder.iterdir() if (p / chapter).is_dir()
                      and STUDENT_ID.match(p.name)) if folder.is_dir() else []
    for student in students:
        note = write_feedback(root, chapter, student)
        notes = ([note] if note else []) + scan_feedback(root, chapter, student, source_nbs)
        print(f"  {student:24s} " + ("; ".join(notes) or "ok"))
    print(f"{chapter}: feedback for {len(students)} student(s) in {Path(root) / 'feedback'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
