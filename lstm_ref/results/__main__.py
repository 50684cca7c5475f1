"""``python -m lstm_ref.results``: run, list and check the recorded experiments.

    python -m lstm_ref.results run [NAME ...] [--fresh]   run (all when no NAME) and record
    python -m lstm_ref.results list                       names, seeds, recorded wall times
    python -m lstm_ref.results check                      exit 1 naming every stale record

``make experiments`` and ``make experiments NAME=charrnn`` call the first.
"""

import argparse
import sys

from .experiment import run
from .record import RecordError, load, read
from .registry import get, names


def _list():
    for name in names():
        experiment = get(name)
        try:
            record = read(name)
            when = f"recorded {record.meta['date'][:10]}, {record.meta['wall_time_s'] / 60:.1f} min"
        except RecordError:
            when = "not recorded"
        print(f"{name:<16} {len(experiment.seeds):>2} seeds  {when:<34} {experiment.description}")
    return 0


def _check():
    bad = 0
    for name in names():
        try:
            load(name)
            print(f"{name}: current")
        except RecordError as exc:
            print(f"{name}: {exc}")
            bad += 1
    return 1 if bad else 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lstm_ref.results",
                                     description="Run, list and check the book's recorded experiments.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run experiments and write their records")
    p_run.add_argument("names", nargs="*", metavar="NAME", help="experiments to run (default: all)")
    p_run.add_argument("--fresh", action="store_true",
                       help="discard the seeds an interrupted run left, instead of resuming")
    sub.add_parser("list", help="list the experiments and their records")
    sub.add_parser("check", help="fail, naming them, when records are stale")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            return _list()
        if args.command == "check":
            return _check()
        chosen = args.names or names()
        for name in chosen:
            get(name)  # every name is checked before anything runs
        for name in chosen:
            record = run(name, fresh=args.fresh)
            print(f"{name}: recorded in {record.meta['wall_time_s'] / 60:.1f} min "
                  f"({len(record.seeds)} seeds)")
        return 0
    except RecordError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished seeds are kept; the same command resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
