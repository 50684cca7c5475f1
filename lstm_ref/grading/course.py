"""Where the course lives: its root, its chapters, and nbgrader's configuration for it.

The course directory is the repository root (``nbgrader_config.py`` sits there). Every
function takes the root as an argument, so the tests can run the whole pipeline in a
temporary copy of the course.
"""

import json
import os
import re
import sys
from pathlib import Path

CONFIG_FILE = "nbgrader_config.py"
SOURCE_DIR = "solutions"

# A chapter id is also an nbgrader assignment id and a folder name: keep it plain.
CHAPTER_ID = re.compile(r"^ch\d\d_[a-z0-9_]+$")


class CourseError(Exception):
    """A problem with the course or the command line, reported as one clear line."""


def package_root():
    """The repository that holds this copy of ``lstm_ref``."""
    return Path(__file__).resolve().parents[2]


def find_root(root=None):
    """The course root: ``root`` if given, else the current directory when it holds
    ``nbgrader_config.py``, else the repository around this package."""
    if root is not None:
        root = Path(root).resolve()
    elif (Path.cwd() / CONFIG_FILE).is_file():
        root = Path.cwd().resolve()
    else:
        root = package_root()
    if not (root / CONFIG_FILE).is_file():
        raise CourseError(f"{root} is not a course directory: it has no {CONFIG_FILE}")
    return root


def chapters(root):
    """Chapter ids under ``solutions/`` that hold at least one notebook, sorted."""
    source = Path(root) / SOURCE_DIR
    if not source.is_dir():
        return []
    return sorted(
        d.name
        for d in source.iterdir()
        if d.is_dir() and CHAPTER_ID.match(d.name) and any(d.glob("*.ipynb"))
    )


def notebooks(root, chapter):
    """The source notebooks of one chapter, as names without ``.ipynb``, sorted."""
    folder = Path(root) / SOURCE_DIR / chapter
    return sorted(p.stem for p in folder.glob("*.ipynb") if not p.name.startswith("."))


def source_notebooks(root, chapter):
    """``{name: notebook (dict)}`` of one chapter's source notebooks, in :func:`notebooks`
    order."""
    folder = Path(root) / SOURCE_DIR / chapter
    return {name: json.loads((folder / f"{name}.ipynb").read_text("utf-8"))
            for name in notebooks(root, chapter)}


def cell_source(cell):
    """A notebook cell's source as one string (nbformat allows a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def is_test_cell(cell):
    """Whether ``cell`` is an autograded test cell: nbgrader ``grade`` without ``solution``."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def load_config(root, **overrides):
    """nbgrader's traitlets ``Config`` from the course's ``nbgrader_config.py``.

    ``overrides`` maps ``"Section.name"`` to a value and is applied on top.
    """
    from traitlets.config.loader import Config, PyFileConfigLoader

    loader = PyFileConfigLoader(CONFIG_FILE, path=str(root))
    config = loader.load_config()
    extra = Config()
    for key, value in overrides.items():
        section, name = key.split(".", 1)
        extra[section][name] = value
    config.merge(extra)
    return config


def nbgrader_env(root):
    """The environment for an nbgrader subprocess: the venv's ``bin`` on ``PATH`` (nbgrader
    calls ``alembic``), the course root and this ``lstm_ref`` importable, a non-interactive
    matplotlib."""
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    pythonpath = [str(root), str(package_root())]
    pythonpath += [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(pythonpath))
    env["MPLBACKEND"] = "Agg"
    env.setdefault("PYTHONHASHSEED", "0")
    return env
