"""Graded work computed with a library instead of written: found by reading the code.

In the numpy chapters (ch01 to ch05) the learner writes forward and backward passes
by hand. A test cell whose function is computed with an **autograd library** (torch's
``autograd``/``func``/``.backward()``, jax, tensorflow, HIPS autograd, ...) or with a
**library's recurrent cell** (``torch.nn.GRUCell``, ``torch.nn.LSTM``, ``torch._VF``...)
earns nothing, with the reason in its feedback, as calling the reference does. Chapter 6
may use torch freely. Which rule applies is the checks module's ``LIBRARIES``
(``"numpy"`` or ``"torch"``).

How it reads a notebook (:func:`forbidden_tests`), without running it:

1. every name bound anywhere in the notebook to a module or an object of one is resolved
   to a dotted path: ``import torch as T``, ``from torch import nn``, ``G = T.nn.GRUCell``,
   ``cell = torch.nn.GRUCell(3, 4)``, ``__import__("torch")``,
   ``importlib.import_module("jax")``, ``getattr(torch, "autograd")``,
   ``sys.modules["torch"]`` (flow-insensitive: a name bound to several things counts as
   each of them);
2. a test cell depends on the top-level statements that define the names it reads (the
   function under test), then on those that define the names these read, and so on;
3. among those statements, the ones the learner wrote (a cell that differs from every cell
   of the source notebook) are searched for a forbidden path, for an import by a computed
   name (``__import__(name)``: the grader cannot tell what it loads), and, where torch is
   used at all, for ``.backward()``, ``.grad``, ``requires_grad``.

What it cannot catch: code that reaches a library without naming it in the notebook's own
source (``exec``/``eval`` of a built string, which :mod:`.tamper` flags for review; an
object handed in through a provided helper that returns a torch module), a function
defined by assigning into ``globals()``, and names rebound in ways other than plain
assignment (``for``, walrus, tuple unpacking of a module). A learner's self-check that uses
torch's autograd in a cell of its own costs nothing: only what the tested functions use
counts.

:func:`extra_reference_imports` lists, for the report, imports of ``lstm_ref`` beyond those
of the notebook's own (provided) cells.
"""

import ast
import builtins
import functools
import re

from .course import cell_source, is_test_cell

AUTOGRAD_LIBRARIES = {
    "jax", "jaxlib", "tensorflow", "keras", "tf_keras", "autograd", "functorch", "theano",
    "pytensor", "mxnet", "chainer", "paddle", "flax", "haiku", "tinygrad", "micrograd",
    "mygrad", "torchviz",
}
TORCH_AUTOGRAD = ("torch.autograd", "torch.func", "torch.enable_grad", "torch.set_grad_enabled",
                  "torch.Tensor.backward", "torch._C", "torch._VF", "torch._functorch")
TORCH_RECURRENT = ("torch.nn.RNN", "torch.nn.LSTM", "torch.nn.GRU", "torch.nn.RNNCell",
                   "torch.nn.LSTMCell", "torch.nn.GRUCell", "torch.nn.RNNBase",
                   "torch.nn.RNNCellBase", "torch.nn.modules.rnn", "torch.lstm", "torch.gru",
                   "torch.rnn_tanh", "torch.rnn_relu", "torch.lstm_cell", "torch.gru_cell",
                   "torch.rnn_tanh_cell", "torch.rnn_relu_cell", "torch.ao.nn.quantized")
AUTOGRAD_ATTRS = {"backward", "grad", "requires_grad", "requires_grad_", "retain_grad",
                  "grad_fn"}
DYNAMIC = "<computed>"
_IMPORTERS = {"builtins.__import__", "importlib.import_module", "importlib.__import__"}
_MAGIC = re.compile(r"^\s*(!|%)")


def _prefixed(path, prefixes):
    return any(path == p or path.startswith(p + ".") for p in prefixes)


def why_forbidden(path):
    """The reason a resolved dotted ``path`` is forbidden in a numpy chapter, or ``""``."""
    if path.split(".")[0] in AUTOGRAD_LIBRARIES:
        return f"uses {path.split('.')[0]}, an autograd library"
    if _prefixed(path, TORCH_AUTOGRAD):
        return f"uses {path}, torch's automatic differentiation"
    if _prefixed(path, TORCH_RECURRENT):
        return f"uses {path}, a library's recurrent cell"
    if DYNAMIC in path:
        return "imports a module or reads an attribute by a computed name, which the grader " \
               "cannot check"
    return ""


@functools.lru_cache(maxsize=1024)
def _parse(src):
    """The cell's syntax tree (magics blanked), or None; cached, as the course's own cells
    come back for every student (callers only read the trees)."""
    src = "\n".join("" if _MAGIC.match(line) else line for line in src.splitlines())
    try:
        return ast.parse(src)
    except (SyntaxError, ValueError):
        return None


_PLAIN = {"numpy", "item", "tolist", "shape", "size", "dtype"}  # data out of a library
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def _walk_scope(node):
    """``ast.walk`` that does not enter nested functions, lambdas or classes."""
    if isinstance(node, _SCOPES):
        yield node
        return
    todo = [node]
    while todo:
        n = todo.pop()
        yield n
        for child in ast.iter_child_nodes(n):
            if not isinstance(child, _SCOPES):
                todo.append(child)
            else:
                yield child  # the definition itself binds a name here


class Aliases:
    """Names bound to modules (or objects of modules), as dotted paths: the notebook's
    module level, or one function's scope (``parent``: the enclosing scope; ``shadow``:
    the names the function binds itself, which hide the enclosing scope's)."""

    def __init__(self, parent=None, shadow=()):
        self.paths = {}  # name -> set of dotted paths
        self.parent, self.shadow = parent, set(shadow)

    def bind(self, name, path):
        if path and not set(path.split(".")) & _PLAIN:
            self.paths.setdefault(name, set()).add(path)

    def lookup(self, name):
        own = set(self.paths.get(name, ()))
        if name in self.shadow:
            return own
        if self.parent is not None:
            return own | self.parent.lookup(name)
        if not own and name in ("__import__", "getattr") and hasattr(builtins, name):
            own.add(f"builtins.{name}")
        return own

    def resolve(self, node):
        """The dotted paths ``node`` may stand for (a set, empty when none is known)."""
        if isinstance(node, ast.Name):
            return self.lookup(node.id)
        if isinstance(node, ast.Attribute):
            return {f"{p}.{node.attr}" for p in self.resolve(node.value)}
        if isinstance(node, ast.Subscript):
            key = node.slice
            bases = self.resolve(node.value)
            if "sys.modules" in bases:
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    return {key.value}
                return {DYNAMIC}
            return bases
        if isinstance(node, ast.Call):
            funcs = self.resolve(node.func)
            first = node.args[0] if node.args else None
            if funcs & _IMPORTERS:
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    return {first.value}
                return {DYNAMIC}
            if "builtins.getattr" in funcs and len(node.args) >= 2:
                second = node.args[1]
                if isinstance(second, ast.Constant) and isinstance(second.value, str):
                    return {f"{p}.{second.value}" for p in self.resolve(first)}
                return {f"{p}.{DYNAMIC}" for p in self.resolve(first)}
            return funcs  # an object made by a library's class or function
        return set()

    def collect(self, tree):
        """Learn the bindings of one parsed cell or function body (the module level is
        collected over every cell twice, so that a name bound later is known above)."""
        for node in _walk_scope(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        self.bind(a.asname, a.name)
                    else:
                        self.bind(a.name.split(".")[0], a.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:
                    self.bind(a.asname or a.name, f"{node.module}.{a.name}")
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if node.value is None:
                    continue
                for path in self.resolve(node.value):
                    for t in targets:
                        if isinstance(t, ast.Name):
                            self.bind(t.id, path)
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if isinstance(item.optional_vars, ast.Name):
                        for path in self.resolve(item.context_expr):
                            self.bind(item.optional_vars.id, path)


def _scope_of(stmt, module_scope):
    """The alias scope a top-level statement's code runs in."""
    if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return module_scope
    shadow = set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            shadow.add(node.id)
        elif isinstance(node, ast.arg):
            shadow.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            shadow.update((a.asname or a.name).split(".")[0] for a in node.names)
    scope = Aliases(module_scope, shadow)
    for _ in range(2):
        for node in ast.walk(stmt):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for sub in node.body:
                    scope.collect(sub)
    return scope


def _bound_and_loaded(stmt):
    """Names a top-level statement binds at module level, and the names it reads that it
    does not bind itself (approximately: any name bound anywhere in it counts as bound)."""
    top = set()
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        top.add(stmt.name)
    elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
        top.update((a.asname or a.name).split(".")[0] for a in stmt.names)
    else:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                top.add(node.id)
    inner, loaded = set(), set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else inner).add(node.id)
        elif isinstance(node, ast.arg):
            inner.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            inner.add(node.name)
    return top, loaded - inner - top


def _norm(src):
    return "\n".join(line.rstrip() for line in src.strip().splitlines())


class Notebook:
    """A submitted notebook read for :func:`forbidden_tests`."""

    def __init__(self, nb, source_nb):
        course = {_norm(cell_source(c)) for c in source_nb.get("cells", [])
                  if c.get("cell_type") == "code"}
        self.aliases = Aliases()
        self._scopes, self._analysed = {}, {}  # per statement (id), computed once
        self.statements = []  # (cell number from 1, stmt, learner-written, top, loaded)
        parsed = []
        for i, cell in enumerate(nb.get("cells", []), start=1):
            if cell.get("cell_type") != "code" or is_test_cell(cell):
                continue
            src = cell_source(cell)
            tree = _parse(src)
            if tree is None:
                continue
            parsed.append((i, tree, _norm(src) not in course))
        for _ in range(2):
            for _, tree, _ in parsed:
                for stmt in tree.body:
                    self.aliases.collect(stmt)
        for i, tree, mine in parsed:
            for stmt in tree.body:
                top, loaded = _bound_and_loaded(stmt)
                self.statements.append((i, stmt, mine, top, loaded))

    def closure(self, names):
        """The statements that define ``names``, and what those use, transitively."""
        seen, todo, out = set(), list(names), []
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            for entry in self.statements:
                if name in entry[3] and entry not in out:
                    out.append(entry)
                    todo.extend(entry[4] - seen)
        return out

    def _analysis(self, stmt):
        """``(uses torch, [(line, reason, snippet, only if the code uses torch)])`` for one
        statement, in the order of ``ast.walk`` (computed once per statement)."""
        key = id(stmt)
        if key in self._analysed:
            return self._analysed[key]
        if key not in self._scopes:
            self._scopes[key] = _scope_of(stmt, self.aliases)
        scope = self._scopes[key]
        uses_torch, items = False, []
        for node in ast.walk(stmt):
            resolved = ()
            if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript, ast.Call)):
                resolved = sorted(scope.resolve(node))
                if any(p == "torch" or p.startswith("torch.") for p in resolved):
                    uses_torch = True
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                    [a.name for a in node.names]
                uses_torch |= any(n.split(".")[0] == "torch" for n in names)
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                continue  # the line is reported through what it assigns
            reason, needs_torch = "", False
            if isinstance(node, ast.Import):
                reason = next((r for r in (why_forbidden(a.name) for a in node.names) if r), "")
            elif isinstance(node, ast.ImportFrom) and node.module:
                reason = next((r for r in (why_forbidden(f"{node.module}.{a.name}")
                                           for a in node.names) if r), "")
            elif isinstance(node, (ast.Name, ast.Attribute, ast.Subscript, ast.Call)):
                reason = next((r for r in map(why_forbidden, resolved) if r), "")
                if not reason and isinstance(node, ast.Attribute) and node.attr in AUTOGRAD_ATTRS:
                    reason = f"uses .{node.attr} of torch's automatic differentiation"
                    needs_torch = True
            if not reason and isinstance(node, ast.keyword) and node.arg == "requires_grad":
                reason = "uses requires_grad, torch's automatic differentiation"
                needs_torch = True
            if reason:
                snippet = ast.unparse(node)
                snippet = snippet if len(snippet) <= 60 else snippet[:57] + "..."
                items.append((getattr(node, "lineno", stmt.lineno), reason, snippet,
                              needs_torch))
        self._analysed[key] = (uses_torch, items)
        return uses_torch, items

    def findings(self, entries):
        """``[(cell, line, reason, snippet)]`` in the learner's statements of ``entries``.
        Uses of torch's autograd by attribute (``.backward()``, ``requires_grad``) count
        where the code of ``entries`` uses torch at all."""
        uses_torch = any(self._analysis(stmt)[0] for _, stmt, _, _, _ in entries)
        found = []
        for cell, stmt, mine, _, _ in entries:
            if mine:
                found += [(cell, line, reason, snippet)
                          for line, reason, snippet, needs_torch in self._analysis(stmt)[1]
                          if uses_torch or not needs_torch]
        best = {}  # one finding per line: the longest snippet says the most
        for cell, line, reason, snippet in found:
            key = (cell, line)
            if key not in best or len(snippet) > len(best[key][3]):
                best[key] = (cell, line, reason, snippet)
        return [best[k] for k in sorted(best)]


@functools.lru_cache(maxsize=256)
def _tested_names(src):
    """The learner's names a test cell reads (a tuple; the course's cells come back for
    every student)."""
    from .verdict import PROVIDED, free_names

    try:
        return tuple(n for n in free_names(src) if n not in PROVIDED)
    except SyntaxError:
        return ()


def forbidden_tests(nb, source_nb, libraries="numpy", book=None):
    """``{grade_id: reason}`` for the source notebook's test cells whose functions the
    learner computed with an autograd library or a library's recurrent cell. Empty when
    ``libraries`` is ``"torch"`` (chapter 6)."""
    if libraries != "numpy":
        return {}
    book = book or Notebook(nb, source_nb)
    out = {}
    for cell in source_nb.get("cells", []):
        if cell.get("cell_type") != "code" or not is_test_cell(cell):
            continue
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        names = _tested_names(cell_source(cell))
        found = book.findings(book.closure(names))
        if found:
            c, line, reason, snippet = found[0]
            more = f" (and {len(found) - 1} more line(s))" if len(found) > 1 else ""
            out[gid] = (f"no points: {', '.join(names) or 'your code'} {reason} (cell {c}, line "
                        f"{line}: {snippet}){more}; in this chapter you write it with numpy, "
                        "as the exercise asks")
    return out


def _imports(tree, aliases):
    """``{(line, dotted path)}`` of the ``lstm_ref`` imports in ``tree``."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.update((node.lineno, f"{node.module}.{a.name}") for a in node.names)
        elif isinstance(node, ast.Call) and aliases.resolve(node.func) & _IMPORTERS:
            out.update((node.lineno, p) for p in aliases.resolve(node))
    return {(line, p) for line, p in out if p == "lstm_ref" or p.startswith("lstm_ref.")}


def extra_reference_imports(nb, source_nb, book=None):
    """Lines for the report: the learner's imports of ``lstm_ref`` (modules or names) that
    the notebook's provided cells do not import."""
    book = book or Notebook(nb, source_nb)
    given = set()
    for cell in source_nb.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") != "code" or meta.get("solution") or is_test_cell(cell):
            continue
        tree = _parse(cell_source(cell))
        if tree is not None:
            given.update(p for _, p in _imports(tree, book.aliases))
    out = []
    for i, cell in enumerate(nb.get("cells", []), start=1):
        if cell.get("cell_type") != "code" or is_test_cell(cell):
            continue
        tree = _parse(cell_source(cell))
        if tree is None:
            continue
        for line, path in sorted(_imports(tree, book.aliases)):
            if path not in given and not any(path.startswith(g + ".") for g in given):
                out.append(f"cell {i}, line {line}: imports {path}, which the notebook does "
                           "not provide (the reference is not available in grading)")
    return out


def apply(result, nb, source_nb, checks):
    """Apply the policy to a :class:`~lstm_ref.grading.verdict.NotebookResult`: a test cell
    computed with a forbidden library fails with the reason; imports of ``lstm_ref`` beyond
    the notebook's are added to the notes. The one hook in :mod:`.verdict`."""
    from .verdict import CellOutcome

    libraries = getattr(checks, "LIBRARIES", "numpy")
    book = Notebook(nb, source_nb)
    for gid, reason in forbidden_tests(nb, source_nb, libraries, book).items():
        if gid in result.tests:
            result.tests[gid] = CellOutcome(gid, False, "", "CheckFailed", reason)
    result.notes += [f"review: {line}"
                     for line in extra_reference_imports(nb, source_nb, book)]
    return result
