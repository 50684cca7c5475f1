"""``python -m lstm_ref.results``: run, list and check the recorded experiments.

    python -m lstm_ref.results run [NAME ...] [--fresh]   run (all when no NAME) and record
    python -m lstm_ref.results list                       names, seeds, recorded wall times
    python -m lstm_ref.results check                      exit 1 naming every stale record
    python -m lstm_ref.results table [--readme]           the README's table of recorded times
                                                          (--readme: rewrite it in README.md)

``make experiments`` and ``make experiments NAME=charrnn`` call the first.
"""

import argparse
import sys
from pathlib import Path

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


README = Path(__file__).resolve().parents[2] / "README.md"
TABLE_START = "<!-- experiments table: python -m lstm_ref.results table --readme -->"
TABLE_END = "<!-- end of the experiments table -->"


def table():
    """A Markdown table of every registered experiment and its record: seeds, wall time,
    where and when it was recorded (``not recorded`` where there is no record)."""
    rows = ["| experiment | what | seeds | recorded wall time | machine, date |",
            "|---|---|---|---|---|"]
    total = 0.0
    for name in names():
        experiment = get(name)
        try:
            meta = read(name).meta
        except RecordError:
            rows.append(f"| `{name}` | {experiment.description} | {len(experiment.seeds)} "
                        "| not recorded | |")
            continue
        total += meta["wall_time_s"]
        machine = meta["machine"].get("gpu") or meta["machine"].get("cpu", "unknown")
        threads = meta["machine"].get("torch_threads")
        where = machine + (f", {threads} torch thread(s)" if threads else "")
        rows.append(f"| `{name}` | {experiment.description} | {len(meta['seeds'])} "
                    f"| {meta['wall_time_s'] / 60:.1f} min | {where}, {meta['date'][:10]} |")
    rows.append(f"| all | | | {total / 60:.1f} min | |")
    return "\n".join(rows) + "\n"


def _readme(write):
    text = README.read_text(encoding="utf-8")
    if TABLE_START not in text or TABLE_END not in text:
        print(f"error: {README} has no experiments table between {TABLE_START!r} and "
              f"{TABLE_END!r}", file=sys.stderr)
        return 2
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    new = head + TABLE_START + "\n" + table() + TABLE_END + tail
    if write:
        README.write_text(new, encoding="utf-8")
    else:
        print(table(), end="")
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
    p_table = sub.add_parser("table", help="the README's table of the recorded experiments")
    p_table.add_argument("--readme", action="store_true", help="rewrite the table in README.md")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            return _list()
        if args.command == "check":
            return _check()
        if args.command == "table":
            return _readme(args.readme)
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
