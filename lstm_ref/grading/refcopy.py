"""The copy of ``lstm_ref`` that a student's code sees in the sandbox.

Built once per grading run into a temporary folder, mounted read-only as ``/opt/grader``:

- the package's ``.py`` files and data files, never ``__pycache__`` (a planted ``.pyc``
  could not come from here) and never ``lstm_ref/grading`` (the grader is not needed there);
- in it, every reference object that the chapter's exercises ask for
  (``lstm_ref.checks.<chapter>.REFERENCE_EXERCISED``, ``"module:qualname"``, where the
  qualname is a function, a class or ``Class.method``) has its body replaced, with
  :mod:`ast`, by a ``raise PermissionError`` that says so: a "solution" that calls, imports
  or re-executes the reference (``runpy``, ``importlib.reload``, reading the file) finds no
  implementation to run;
- the runner (:mod:`.runner`) and its wire format (:mod:`.wire`) beside it, as
  ``_lstm_runner.py`` and ``_lstm_wire.py``.
"""

import ast
import importlib
import shutil
from pathlib import Path

from .course import package_root

# The same words as the in-process lock of lstm_ref.checks._common, so call_learner reports
# both the same way.
REFUSAL = ("your function called the reference implementation in lstm_ref; the exercise asks "
           "you to write it yourself")


def exercised(checks_module):
    """``REFERENCE_EXERCISED`` of a checks module (a module or its dotted name)."""
    if isinstance(checks_module, str):
        checks_module = importlib.import_module(checks_module)
    names = getattr(checks_module, "REFERENCE_EXERCISED", None)
    if names is None:  # a checks module written before REFERENCE_EXERCISED: its LOCKED tuple
        names = [f"{f.__module__}:{f.__qualname__}" for f in getattr(checks_module, "LOCKED", ())]
    return tuple(names)


def _refusing_body(node):
    raise_stmt = ast.parse(f"raise PermissionError({REFUSAL!r})").body[0]
    doc = ast.get_docstring(node, clean=False)
    body = ([ast.Expr(ast.Constant(doc))] if doc is not None else []) + [raise_stmt]
    return body


def _disable(tree, qualname):
    """Replace the body of ``qualname`` (function, class or ``Class.method``) in ``tree``;
    returns whether it was found."""
    parts = qualname.split(".")
    scope = tree.body
    node = None
    for i, part in enumerate(parts):
        node = next((n for n in scope if isinstance(
            n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == part), None)
        if node is None:
            return False
        if i < len(parts) - 1:
            scope = node.body
    if isinstance(node, ast.ClassDef):
        methods = [n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        for m in methods:
            m.body = _refusing_body(m)
        if not any(m.name == "__init__" for m in methods):
            init = ast.parse("def __init__(self, *args, **kwargs):\n    pass").body[0]
            init.body = _refusing_body(init)
            node.body.append(init)
    else:
        node.body = _refusing_body(node)
    return True


def build(dest, targets, source=None):
    """Write the sanitised copy into ``dest`` (a new folder); returns ``dest``.

    ``targets`` are ``"module:qualname"`` strings; a target that cannot be found raises
    ``ValueError`` (a wrong entry in ``REFERENCE_EXERCISED`` must not go unnoticed).
    """
    source = Path(source) if source else package_root() / "lstm_ref"
    dest = Path(dest)
    pkg = dest / "lstm_ref"
    shutil.copytree(source, pkg, ignore=shutil.ignore_patterns(
        "__pycache__", "*.pyc", "*.pyo", ".*"))
    shutil.rmtree(pkg / "grading", ignore_errors=True)
    by_module = {}
    for target in targets:
        module, _, qualname = target.partition(":")
        if not module.startswith("lstm_ref") or not qualname:
            raise ValueError(f"REFERENCE_EXERCISED entry {target!r} is not 'lstm_ref...:name'")
        by_module.setdefault(module, []).append(qualname)
    for module, names in by_module.items():
        rel = Path(*module.split(".")[1:])
        path = pkg / rel.with_suffix(".py")
        if not path.is_file():
            path = pkg / rel / "__init__.py"
        if not path.is_file():
            raise ValueError(f"REFERENCE_EXERCISED names {module}, which has no source file")
        tree = ast.parse(path.read_text("utf-8"))
        for name in names:
            if not _disable(tree, name):
                raise ValueError(f"REFERENCE_EXERCISED names {module}:{name}, which is not "
                                 "defined there")
        path.write_text(ast.unparse(ast.fix_missing_locations(tree)) + "\n", "utf-8")
    here = Path(__file__).parent
    shutil.copy(here / "runner.py", dest / "_lstm_runner.py")
    shutil.copy(here / "wire.py", dest / "_lstm_wire.py")
    for p in [dest, *dest.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dest
