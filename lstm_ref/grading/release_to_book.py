"""Generate the student notebooks into the book: ``python -m lstm_ref.grading.release_to_book``.

For every chapter folder under ``solutions/`` that holds notebooks, nbgrader's
``GenerateAssignment`` converter (the code behind ``nbgrader generate_assignment``, with the
course's ``nbgrader_config.py``) runs in a temporary copy of the course, without a gradebook,
so the course's ``gradebook.db`` and ``release/`` are never touched. Each student notebook
is written to ``book/chapters/<id>/<name>.ipynb`` (gitignored), only when its content
changed, so an unchanged rebuild keeps the book's execution cache warm.

The student notebook carries ``"mystnb": {"execution_mode": "off"}`` in its metadata: the
book renders it without executing it (its stubs raise ``NotImplementedError``). Its links to
reading pages point to the published book (:mod:`lstm_ref.site.links`), so they also work in
a downloaded copy.
"""

import argparse
import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path

from ..site.links import absolute_page_links, book_baseurl
from .course import SOURCE_DIR, CourseError, chapters, find_root, load_config

BOOK_CHAPTERS = Path("book") / "chapters"
MYSTNB_METADATA = {"execution_mode": "off"}


def generate_release(root, chapter, dest):
    """Run nbgrader's ``GenerateAssignment`` for one chapter, writing into ``dest``.

    Returns ``{notebook name: student notebook (dict)}``. No gradebook is read or written.
    """
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory

    root = Path(root)
    dest = Path(dest)
    (dest / SOURCE_DIR).mkdir(parents=True, exist_ok=True)
    shutil.copytree(
        root / SOURCE_DIR / chapter,
        dest / SOURCE_DIR / chapter,
        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc"),
    )
    config = load_config(
        root,
        **{
            "CourseDirectory.root": str(dest),
            "CourseDirectory.source_directory": SOURCE_DIR,
            "CourseDirectory.release_directory": "release",
            "CourseDirectory.db_url": "sqlite:///" + str(dest / "unused.db"),
            "CourseDirectory.assignment_id": chapter,
            "CourseDirectory.notebook_id": "*",
            "GenerateAssignment.no_database": True,
            "SaveCells.enabled": False,
            "BaseConverter.force": True,
        },
    )
    log = logging.getLogger("lstm_ref.release_to_book")
    coursedir = CourseDirectory(config=config, log=log)
    converter = GenerateAssignment(coursedir=coursedir, config=config, log=log)
    converter.start()
    out = {}
    for path in sorted((dest / "release" / chapter).glob("*.ipynb")):
        out[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    return out


def book_notebook_text(nb):
    """The text written into the book: the student notebook, marked not to be executed."""
    nb = dict(nb)
    metadata = dict(nb.get("metadata", {}))
    mystnb = dict(metadata.get("mystnb", {}))
    mystnb.update(MYSTNB_METADATA)
    metadata["mystnb"] = mystnb
    nb["metadata"] = metadata
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def release_to_book(root=None, only=None, quiet=False):
    """Write every chapter's student notebooks into ``book/chapters/<id>/``.

    Returns a list of ``(path, status)`` with status ``"written"`` or ``"unchanged"``.
    """
    root = find_root(root)
    wanted = chapters(root)
    if only:
        unknown = sorted(set(only) - set(wanted))
        if unknown:
            raise CourseError(
                f"no notebooks in {SOURCE_DIR}/ for {', '.join(unknown)}; "
                f"chapters with notebooks: {', '.join(wanted) or 'none'}"
            )
        wanted = [c for c in wanted if c in only]
    results = []
    baseurl = book_baseurl(root)
    with tempfile.TemporaryDirectory(prefix="lstm-release-") as tmp:
        for chapter in wanted:
            released = generate_release(root, chapter, Path(tmp) / chapter)
            book_dir = root / BOOK_CHAPTERS / chapter
            book_dir.mkdir(parents=True, exist_ok=True)
            for name, nb in released.items():
                target = book_dir / f"{name}.ipynb"
                text = book_notebook_text(absolute_page_links(nb, chapter, baseurl))
                if target.is_file() and target.read_text(encoding="utf-8") == text:
                    results.append((target, "unchanged"))
                    continue
                tmp_target = target.with_suffix(".ipynb.tmp")
                tmp_target.write_text(text, encoding="utf-8")
                tmp_target.replace(target)
                results.append((target, "written"))
    if not quiet:
        for path, status in results:
            print(f"{status:9s} {path.relative_to(root)}")
        if not results:
            print(f"no notebooks under {SOURCE_DIR}/: nothing to release")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m lstm_ref.grading.release_to_book",
        description="Generate the student notebooks (nbgrader) into book/chapters/<id>/.",
    )
    parser.add_argument("chapters", nargs="*", help="chapter ids (default: every chapter)")
    parser.add_argument("--root", help="course directory (default: this repository)")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s: %(message)s")
    try:
        release_to_book(args.root, only=args.chapters or None, quiet=args.quiet)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # nbgrader's own errors: one line, not a traceback
        print(f"error: generating the student notebooks failed: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
