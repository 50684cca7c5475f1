"""Flag submitted code that reaches for the grader instead of solving the exercise.

The sandbox (:mod:`.sandbox`) makes such code harmless: the checks do not run where the
student's code runs, and the course is not visible from there. What remains is intent,
which a person may want to know about. This module reads, without running it, every code
cell the student wrote or changed and lists the constructs that an exercise on recurrent
networks never needs. A flagged student is graded on the merits; the report and
``grades.csv`` say "review" with the line numbers, for a person to look at.

The rules are deliberately narrow, so that ordinary numpy code is never flagged:

- imports of modules that reach outside the notebook or into the interpreter (``os``,
  ``sys``, ``subprocess``, ``importlib``, ``builtins``, ``inspect``, ``gc``, ``ctypes``, ...)
  and of the grader itself (``lstm_ref.checks``, ``lstm_ref.grading``, ``nbgrader``);
- calls of ``exec``, ``eval``, ``compile``, ``__import__``, ``setattr``, ``delattr``,
  ``globals``, ``vars``, ``open``;
- the attributes that expose code objects and namespaces (``__code__``, ``__globals__``,
  ``__builtins__``, ``__dict__``, ``__subclasses__``, ...);
- assigning to, or deleting, ``checks`` or an attribute of ``checks``, ``np``/``numpy`` or
  ``lstm_ref``;
- shell escapes and cell magics (``!cmd``, ``%%bash``, ``%run``, ...).

Cells whose source is identical to a cell of the source notebook (the provided imports and
worked examples) are not read: they are the course's own code.
"""

import ast
import re

from .course import cell_source, is_test_cell

SUSPECT_MODULES = {
    "os", "sys", "subprocess", "importlib", "builtins", "inspect", "gc", "ctypes", "socket",
    "shutil", "signal", "pathlib", "pickle", "marshal", "types", "threading",
    "multiprocessing", "nbgrader", "IPython",
}
SUSPECT_PREFIXES = ("lstm_ref.checks", "lstm_ref.grading")
SUSPECT_CALLS = {"exec", "eval", "compile", "__import__", "setattr", "delattr", "globals",
                 "vars", "open", "get_ipython"}
SUSPECT_ATTRS = {"__code__", "__globals__", "__builtins__", "__dict__", "__subclasses__",
                 "__closure__", "__defaults__", "__kwdefaults__", "__loader__", "__spec__",
                 "f_globals", "f_locals", "f_back"}
PROTECTED_NAMES = {"checks", "np", "numpy", "lstm_ref"}
# IPython lines Python's parser does not read: shell escapes and magics.
_MAGIC = re.compile(r"^\s*(!|%)")


def _root_name(node):
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _module_suspect(name):
    return name.split(".")[0] in SUSPECT_MODULES or name.startswith(SUSPECT_PREFIXES)


class _Finder(ast.NodeVisitor):
    def __init__(self):
        self.found = []  # (line, what)

    def _add(self, node, what):
        self.found.append((getattr(node, "lineno", 0), what))

    def visit_Import(self, node):
        for alias in node.names:
            if _module_suspect(alias.name):
                self._add(node, f"imports {alias.name}")
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        if _module_suspect(module) or (module == "lstm_ref" and any(
                a.name in ("checks", "grading") for a in node.names)):
            self._add(node, f"imports from {module}")
        self.generic_visit(node)

    def visit_Call(self, node):
        if isinstance(node.func, ast.Name) and node.func.id in SUSPECT_CALLS:
            self._add(node, f"calls {node.func.id}()")
        self.generic_visit(node)

    def visit_Attribute(self, node):
        if node.attr in SUSPECT_ATTRS:
            self._add(node, f"uses .{node.attr}")
        if isinstance(node.ctx, (ast.Store, ast.Del)) and _root_name(node) in PROTECTED_NAMES:
            self._add(node, f"changes {_root_name(node)}.{node.attr}")
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in SUSPECT_ATTRS or node.id == "__builtins__":
            self._add(node, f"uses {node.id}")
        if isinstance(node.ctx, (ast.Store, ast.Del)) and node.id == "checks":
            self._add(node, "rebinds checks")
        self.generic_visit(node)


def scan_source(source):
    """``[(line, what), ...]`` for one cell's source (line numbers start at 1)."""
    found = []
    lines = source.splitlines()
    for i, line in enumerate(lines, start=1):
        if _MAGIC.match(line):
            found.append((i, "shell escape or magic " + line.strip().split()[0]))
    python = "\n".join("" if _MAGIC.match(line) else line for line in lines)
    try:
        tree = ast.parse(python)
    except (SyntaxError, ValueError):
        return found  # a syntax error costs the student its own points; nothing to flag
    finder = _Finder()
    finder.visit(tree)
    return sorted(found + finder.found)


def _norm(source):
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def suspicious_code(nb, source_nb):
    """Findings in the code cells of ``nb`` that differ from every cell of ``source_nb``.

    Returns a list of strings such as ``"cell 3, line 2: imports sys"``, in cell order.
    Locked test cells are skipped: nbgrader replaces their source with the course's own.
    """
    course = {_norm(cell_source(c)) for c in source_nb["cells"] if c.get("cell_type") == "code"}
    out = []
    for i, cell in enumerate(nb["cells"], start=1):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("metadata", {}).get("nbgrader", {}).get("locked") and is_test_cell(cell):
            continue
        source = cell_source(cell)
        if _norm(source) in course:
            continue
        out += [f"cell {i}, line {line}: {what}" for line, what in scan_source(source)]
    return out
