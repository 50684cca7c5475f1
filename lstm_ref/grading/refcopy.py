"""The copy of ``lstm_ref`` that a student's code sees in the sandbox.

Built once per grading run into a temporary folder, mounted read-only as ``/opt/grader``:

- the package's ``.py`` files and data files, never ``__pycache__`` (a planted ``.pyc``
  could not come from here) and never ``lstm_ref/grading`` (the grader is not needed there);
- in it, **the reference is unavailable as a whole**. The decision is made module by
  module (:data:`PROVIDED`), not name by name: a module the notebooks legitimately use
  (the data helpers, ``gradcheck``, the graph machinery, the checks' shared helpers) is
  copied as it is; every other module (the numpy and torch implementations, the training
  loops, the converters, the benchmarks, the chapters' check modules, whose private
  helpers compute the answers) has the body of every function and method replaced, with
  :mod:`ast`, by a ``raise PermissionError`` that says the reference is not available
  during grading. Its constants, imports and class names stay, so ``import`` still works.
  A few modules mix what a notebook is given with what an exercise asks for; for them
  :data:`PROVIDED` lists the top-level names kept (with what they call in the same
  module), and everything else in the module, private helpers included, is disabled. A
  "solution" that calls, imports or re-executes the reference (``runpy``,
  ``importlib.reload``, reading the file) finds no implementation to run, whatever the
  chapter, whatever the name;
- the runner (:mod:`.runner`) and its wire format (:mod:`.wire`) beside it, as
  ``_lstm_runner.py`` and ``_lstm_wire.py``.

What a notebook may import from ``lstm_ref`` is what its setup cells import;
:func:`lstm_ref.grading.forbidden.extra_reference_imports` flags a solution that imports
more.
"""

import ast
import importlib
import shutil
from pathlib import Path

from ..checks._common import GRADING_REFUSAL
from .course import package_root

# Kept for the messages of older callers (tests compare against it).
REFUSAL = GRADING_REFUSAL

WHOLE = None
PROVIDED = {
    # path under lstm_ref/ (a folder ends with "/") -> WHOLE, or the top-level names kept
    "__init__.py": WHOLE,
    "_validate.py": WHOLE,
    "gradcheck.py": WHOLE,
    "data/": WHOLE,
    "checks/__init__.py": WHOLE,
    "checks/_common.py": WHOLE,
    "checks/_seeds.py": WHOLE,
    "graph/__init__.py": WHOLE,
    "graph/module.py": WHOLE,
    "graph/node.py": WHOLE,
    "graph/gmodule.py": WHOLE,
    "graph/dot.py": WHOLE,
    "graph/modules/__init__.py": WHOLE,
    "graph/modules/shape.py": WHOLE,
    "graph/modules/criterion.py": WHOLE,
    # ch05 asks for CMulTable and Linear; the other modules build the learner's graphs
    "graph/modules/simple.py": ("Identity", "Sigmoid", "Tanh", "ReLU", "LogSoftMax",
                                "Dropout", "LookupTable", "OneHot"),
    "graph/modules/table.py": ("CAddTable", "CSubTable", "SplitTable", "JoinTable",
                               "SelectTable"),
    # ch02's notebook draws its sequences with these
    "numpy/vanishing.py": ("GAMMA", "random_recurrent_matrix", "pascanu_rnn_states"),
    # ch06's notebook trains its loop on this model
    "train/tbptt.py": ("init_lm_params", "lm_loss"),
}
"""What the notebooks are given. Every module not named here is disabled as a whole."""


def _refusal(where):
    return (f"{GRADING_REFUSAL} ({where} was called): an exercise computed with it earns "
            "nothing, and a demonstration cell that uses it does not run in grading")


def exercised(checks_module):
    """``REFERENCE_EXERCISED`` of a checks module (a module or its dotted name)."""
    if isinstance(checks_module, str):
        checks_module = importlib.import_module(checks_module)
    names = getattr(checks_module, "REFERENCE_EXERCISED", None)
    if names is None:  # a checks module written before REFERENCE_EXERCISED: its LOCKED tuple
        names = [f"{f.__module__}:{f.__qualname__}" for f in getattr(checks_module, "LOCKED", ())]
    return tuple(names)


def all_exercised():
    """The union of ``REFERENCE_EXERCISED`` over every chapter's checks module."""
    folder = package_root() / "lstm_ref" / "checks"
    out = set()
    for path in sorted(folder.glob("ch*.py")):
        out.update(exercised(f"lstm_ref.checks.{path.stem}"))
    return tuple(sorted(out))


def policy(rel):
    """``"provided"``, ``"disabled"`` or the tuple of names kept, for a path under
    ``lstm_ref/`` (posix, e.g. ``"numpy/gru.py"``)."""
    for key, kept in PROVIDED.items():
        if rel == key or (key.endswith("/") and rel.startswith(key)):
            return "provided" if kept is WHOLE else tuple(kept)
    return "disabled"


def _refusing_body(node, where):
    raise_stmt = ast.parse(f"raise PermissionError({_refusal(where)!r})").body[0]
    doc = ast.get_docstring(node, clean=False)
    return ([ast.Expr(ast.Constant(doc))] if doc is not None else []) + [raise_stmt]


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


def _disable_def(node, where):
    if isinstance(node, _DEFS):
        node.body = _refusing_body(node, where)
    elif isinstance(node, ast.ClassDef):
        methods = [n for n in node.body if isinstance(n, _DEFS)]
        for m in methods:
            m.body = _refusing_body(m, f"{where}.{m.name}")
        for inner in node.body:
            if isinstance(inner, ast.ClassDef):
                _disable_def(inner, f"{where}.{inner.name}")
        if methods and not any(m.name == "__init__" for m in methods):
            init = ast.parse("def __init__(self, *args, **kwargs):\n    pass").body[0]
            init.body = _refusing_body(init, where)
            node.body.append(init)


def _decorators(tree):
    """Names of module-level functions used as decorators in the module (kept: applying
    them happens at import)."""
    out = set()
    for node in ast.walk(tree):
        for dec in getattr(node, "decorator_list", ()):
            target = dec.func if isinstance(dec, ast.Call) else dec
            if isinstance(target, ast.Name):
                out.add(target.id)
    return out


def _is_dataclass(node):
    return any("dataclass" in ast.unparse(d) for d in node.decorator_list)


def _closure(tree, kept):
    """``kept`` plus the module-level definitions they use, transitively."""
    defs = {n.name: n for n in tree.body if isinstance(n, (*_DEFS, ast.ClassDef))}
    out, todo = set(), [k for k in kept]
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out.add(name)
        node = defs.get(name)
        if node is None:
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and sub.id in defs and sub.id not in out:
                todo.append(sub.id)
    return out


def disable_module(text, module, kept=()):
    """The source ``text`` of ``module`` with every top-level function and class disabled,
    except the names in ``kept`` (and what they use); returns ``(new text, kept names)``."""
    tree = ast.parse(text)
    keep = _closure(tree, kept) | _decorators(tree)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and _is_dataclass(node):
            continue  # a record of settings (built at import as default arguments)
        if isinstance(node, (*_DEFS, ast.ClassDef)) and node.name not in keep:
            _disable_def(node, f"{module}.{node.name}")
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n", keep


def _defined(tree, qualname):
    scope, node = tree.body, None
    for part in qualname.split("."):
        node = next((n for n in scope if isinstance(n, (*_DEFS, ast.ClassDef))
                     and n.name == part), None)
        if node is None:
            return False
        scope = node.body
    return True


def build(dest, targets=(), source=None):
    """Write the sanitised copy into ``dest`` (a new folder); returns ``dest``.

    ``targets`` are ``"module:qualname"`` strings that must end up disabled (the chapters'
    ``REFERENCE_EXERCISED``; every chapter's are checked in any case): one that cannot be
    found, or that :data:`PROVIDED` would keep, raises ``ValueError``.
    """
    source = Path(source) if source else package_root() / "lstm_ref"
    dest = Path(dest)
    pkg = dest / "lstm_ref"
    shutil.copytree(source, pkg, ignore=shutil.ignore_patterns(
        "__pycache__", "*.pyc", "*.pyo", ".*"))
    shutil.rmtree(pkg / "grading", ignore_errors=True)
    kept_names = {}
    for path in sorted(pkg.rglob("*.py")):
        rel = path.relative_to(pkg).as_posix()
        rule = policy(rel)
        if rule == "provided":
            continue
        module = "lstm_ref." + rel[:-3].replace("/", ".").removesuffix(".__init__")
        text, kept = disable_module(path.read_text("utf-8"), module,
                                    () if rule == "disabled" else rule)
        kept_names[module] = kept
        path.write_text(text, "utf-8")
    for target in sorted(set(targets) | set(all_exercised())):
        module, _, qualname = target.partition(":")
        if not module.startswith("lstm_ref") or not qualname:
            raise ValueError(f"REFERENCE_EXERCISED entry {target!r} is not 'lstm_ref...:name'")
        rel = Path(*module.split(".")[1:])
        path = source / rel.with_suffix(".py")
        if not path.is_file():
            path = source / rel / "__init__.py"
        if not path.is_file():
            raise ValueError(f"REFERENCE_EXERCISED names {module}, which has no source file")
        if not _defined(ast.parse(path.read_text("utf-8")), qualname):
            raise ValueError(f"REFERENCE_EXERCISED names {module}:{qualname}, which is not "
                             "defined there")
        top = qualname.split(".")[0]
        if module not in kept_names or top in kept_names[module]:
            raise ValueError(f"{target} is an exercise, but refcopy.PROVIDED keeps it for "
                             "the notebooks")
    here = Path(__file__).parent
    shutil.copy(here / "runner.py", dest / "_lstm_runner.py")
    shutil.copy(here / "wire.py", dest / "_lstm_wire.py")
    for p in [dest, *dest.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dest
