"""Helpers for the pipeline tests: a temporary course, submissions built from solutions/."""

import json
import shutil
from pathlib import Path

from lstm_ref.grading.course import SOURCE_DIR, package_root, source_notebooks
from lstm_ref.grading.measure import filled

REPO = package_root()


def all_notebooks():
    """``(chapter, name)`` for every source notebook in the repository's solutions/."""
    return sorted((p.parent.name, p.stem) for p in (REPO / SOURCE_DIR).glob("*/*.ipynb"))


def make_course(dest):
    """Copy what grading needs (solutions/, nbgrader_config.py) into ``dest``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / SOURCE_DIR, dest / SOURCE_DIR,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    shutil.copy(REPO / "nbgrader_config.py", dest / "nbgrader_config.py")
    (dest / "submitted").mkdir()
    return dest


def source_nb(chapter, name):
    return source_notebooks(REPO, chapter)[name]


def solution_ids(nb):
    """grade_ids of the code solution cells, in order."""
    return [c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"]
            if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("solution")]


def all_solution_ids(nb):
    """grade_ids of every solution cell, written answers included."""
    return [c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"]
            if c["metadata"].get("nbgrader", {}).get("solution")]


def manual_points(nb):
    return sum(c["metadata"]["nbgrader"].get("points", 0) for c in nb["cells"]
               if c["metadata"].get("nbgrader", {}).get("grade")
               and c["metadata"]["nbgrader"].get("solution"))


def fill(released, source, keep):
    """The released notebook with the solution cells (code or written) in ``keep`` filled in
    from the source (:func:`lstm_ref.grading.measure.filled`)."""
    return filled(released, source, keep)


def submit(root, student, chapter, name, nb_or_bytes):
    folder = Path(root) / "submitted" / student / chapter
    folder.mkdir(parents=True, exist_ok=True)
    data = nb_or_bytes if isinstance(nb_or_bytes, bytes) else json.dumps(nb_or_bytes).encode()
    (folder / f"{name}.ipynb").write_bytes(data)
    return folder


