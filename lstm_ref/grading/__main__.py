"""``python -m lstm_ref.grading grade <chapter id> [--root DIR] [--timeout S] [--workers N]
[--no-sandbox]``.

``make grade A=<chapter id>`` runs exactly this. See :mod:`lstm_ref.grading.pipeline`.
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
    g.add_argument("--debug", action="store_true", help="show Python tracebacks")
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
    try:
        from .pipeline import grade

        if args.no_sandbox:
            print("WARNING: --no-sandbox: students' code will run without the sandbox.",
                  file=sys.stderr)
        grade(args.chapter, root=args.root, timeout=args.timeout, workers=args.workers,
              sandbox=not args.no_sandbox)
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


if __name__ == "__main__":
    sys.exit(main())
