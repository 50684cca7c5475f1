"""Check the submissions in ``submitted/<student>/<chapter>/`` before anything runs.

Only what passes is copied, sanitised (:mod:`.sanitize`), into a staging folder that
nbgrader grades from: regular files (never a symbolic link, a device or a folder in the
notebook's place), below a size cap, with the expected notebook names, under a student id
of safe characters. Nothing else a student put in the folder is copied. Every student
folder found gives one :class:`Intake` record, graded or not, with the reason.
"""

import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .sanitize import Unreadable, sanitize
from .tamper import suspicious_code

# Letters, digits, dot, dash and underscore; starts with a letter or digit; at most 64.
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
MAX_ENTRIES = 1000
TIMESTAMP_FILE = "timestamp.txt"


@dataclass
class Intake:
    """One student folder found in ``submitted/``."""

    student: str  # the folder name, shown with ascii() when it is not a safe id
    safe: bool  # the id may be used as a path and an nbgrader student id
    gradable: bool = False  # at least one notebook was staged
    reason: str = ""  # why nothing could be graded, for the report and the CSV
    notes: list = field(default_factory=list)  # what was fixed or ignored
    zeroed: dict = field(default_factory=dict)  # notebook -> reason it scores 0
    review: list = field(default_factory=list)  # code a person should look at (.tamper)


def display_id(name):
    """A student id as it may appear in the CSV and the report."""
    return name if STUDENT_ID.match(name) else ascii(name)


def _lstat(path):
    try:
        return os.lstat(path)
    except OSError:
        return None


def _count_entries(folder, limit):
    n = 0
    for _root, dirs, files in os.walk(folder, followlinks=False):
        n += len(dirs) + len(files)
        if n > limit:
            break
    return n


def check_student(folder, chapter, source_nbs, stage):
    """Check one ``submitted/<student>`` folder and stage what can be graded.

    ``source_nbs`` maps the chapter's notebook names to their source notebooks (dicts),
    ``stage`` is the staging root (``stage/<student>/<chapter>/<name>.ipynb``).
    """
    name = folder.name
    rec = Intake(student=display_id(name), safe=bool(STUDENT_ID.match(name)))
    st = _lstat(folder)
    if not rec.safe:
        rec.reason = ("student id rejected: use letters, digits, '.', '-' and '_' only "
                      "(at most 64, starting with a letter or digit)")
        return rec
    if st is None or stat.S_ISLNK(st.st_mode):
        rec.reason = "the student folder is a symbolic link"
        return rec
    if not stat.S_ISDIR(st.st_mode):
        rec.reason = "not a folder"
        return rec
    chapter_dir = folder / chapter
    st = _lstat(chapter_dir)
    if st is None:
        rec.reason = f"no submission for {chapter}"
        return rec
    if stat.S_ISLNK(st.st_mode):
        rec.reason = f"{chapter} is a symbolic link"
        return rec
    if not stat.S_ISDIR(st.st_mode):
        rec.reason = f"{chapter} is not a folder"
        return rec
    if _count_entries(chapter_dir, MAX_ENTRIES) > MAX_ENTRIES:
        rec.notes.append(f"more than {MAX_ENTRIES} files in the folder")
    wanted = {f"{n}.ipynb" for n in source_nbs}
    try:
        entries = sorted(os.listdir(chapter_dir))[: MAX_ENTRIES]
    except OSError as exc:
        rec.reason = f"cannot list the folder ({exc.strerror})"
        return rec
    ignored = [e for e in entries if e not in wanted and e != TIMESTAMP_FILE]
    if ignored:
        shown = ", ".join(ascii(e) if not STUDENT_ID.match(e) else e for e in ignored[:5])
        more = f" and {len(ignored) - 5} more" if len(ignored) > 5 else ""
        rec.notes.append(f"ignored (not copied): {shown}{more}")
    dest = Path(stage) / name / chapter
    for nb_name in source_nbs:
        path = chapter_dir / f"{nb_name}.ipynb"
        st = _lstat(path)
        if st is None:
            rec.zeroed[nb_name] = "notebook missing"
            continue
        if stat.S_ISLNK(st.st_mode):
            rec.zeroed[nb_name] = "the notebook is a symbolic link"
            continue
        if not stat.S_ISREG(st.st_mode):
            rec.zeroed[nb_name] = "the notebook is not a regular file"
            continue
        if st.st_size > MAX_NOTEBOOK_BYTES:
            rec.zeroed[nb_name] = (f"the notebook is larger than "
                                   f"{MAX_NOTEBOOK_BYTES // (1024 * 1024)} MB")
            continue
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            with os.fdopen(fd, "rb") as fh:
                data = fh.read(MAX_NOTEBOOK_BYTES + 1)
        except OSError as exc:
            rec.zeroed[nb_name] = f"the notebook cannot be read ({exc.strerror})"
            continue
        try:
            nb, notes = sanitize(data, source_nbs[nb_name])
        except Unreadable as exc:
            rec.zeroed[nb_name] = str(exc)
            continue
        except Exception as exc:  # nbformat refusing what we rebuilt: report, never crash
            rec.zeroed[nb_name] = f"the notebook could not be repaired ({type(exc).__name__})"
            continue
        rec.notes.extend(f"{nb_name}: {n}" for n in notes)
        rec.review.extend(f"{nb_name}: {r}" for r in suspicious_code(nb, source_nbs[nb_name]))
        dest.mkdir(parents=True, exist_ok=True)
        (dest / f"{nb_name}.ipynb").write_text(json.dumps(nb, indent=1), encoding="utf-8")
        rec.gradable = True
    _copy_timestamp(chapter_dir / TIMESTAMP_FILE, dest, rec)
    if not rec.gradable:
        rec.reason = "; ".join(f"{n}: {r}" for n, r in rec.zeroed.items()) or "nothing to grade"
    return rec


def _copy_timestamp(path, dest, rec):
    """nbgrader's ``timestamp.txt`` (written by ``nbgrader collect``), if it is one."""
    st = _lstat(path)
    if st is None or not rec.gradable:
        return
    if not stat.S_ISREG(st.st_mode) or st.st_size > 100:
        rec.notes.append("timestamp.txt ignored (not a small regular file)")
        return
    text = path.read_text(encoding="utf-8", errors="replace").strip()
    if not re.fullmatch(r"[0-9][0-9 :.\-T+]*[0-9A-Z]*", text):
        rec.notes.append("timestamp.txt ignored (not a date)")
        return
    (dest / TIMESTAMP_FILE).write_text(text + "\n", encoding="utf-8")


def intake(root, chapter, source_nbs, stage):
    """Check every folder in ``root/submitted``; returns the :class:`Intake` records.

    Hidden entries (names starting with a dot) are skipped; everything else gets a record.
    """
    submitted = Path(root) / "submitted"
    records = []
    for entry in sorted(os.listdir(submitted)):
        if entry.startswith("."):
            continue
        records.append(check_student(submitted / entry, chapter, source_nbs, stage))
    return records
