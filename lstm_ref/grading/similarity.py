"""Near-copies, for a person to judge: solution cells that look like the reference or a
classmate's.

The solutions and ``lstm_ref`` are public, so a copied answer is possible and cannot be
proven by a program. This module only points at pairs worth a look. Each solution cell is
reduced to a normalised token stream (:func:`tokens`): comments, blank lines and docstrings
dropped, every identifier that is not a keyword, builtin or attribute name replaced by one
placeholder, numbers kept; so renaming variables or reformatting does not hide a copy. Two
streams are compared by the Jaccard index of their sets of 4-token runs (from 0 to 1,
fast enough for every pair of a class). A cell is
flagged when its ratio to the reference implementation of the exercise (the source of the
``REFERENCE_EXERCISED`` functions and the source notebook's solution) or to another
student's same cell is at least :data:`THRESHOLD`. Flags never change a score.
"""

import builtins
import importlib
import inspect
import io
import json
import keyword
import re
import tokenize
from pathlib import Path

from .course import cell_source

THRESHOLD = 0.9
MIN_TOKENS = 40  # shorter cells (a one-line answer) say nothing about copying
_MARK = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$", re.M)
_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
         tokenize.ENCODING, tokenize.ENDMARKER}


def tokens(src):
    """The normalised token stream of Python source ``src`` (a list of strings)."""
    out = []
    prev = None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(src).readline):
            if tok.type in _SKIP:
                continue
            if tok.type == tokenize.STRING and prev in (None, ":", "NEWLINE"):
                prev = "STR"
                continue  # a docstring
            text = tok.string
            if tok.type == tokenize.NAME and not keyword.iskeyword(text) \
                    and not hasattr(builtins, text) and prev != ".":
                text = "ID"
            elif tok.type == tokenize.STRING:
                text = "STR"
            out.append(text)
            prev = tok.string
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return out


def shingles(toks, k=4):
    return frozenset(tuple(toks[i:i + k]) for i in range(max(1, len(toks) - k + 1)))


def ratio(a, b):
    """Similarity of two token streams (or shingle sets), from 0 to 1."""
    a = a if isinstance(a, frozenset) else shingles(a)
    b = b if isinstance(b, frozenset) else shingles(b)
    return len(a & b) / len(a | b) if a or b else 0.0


def _solution_cells(nb):
    out = {}
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and meta.get("solution") and meta.get("grade_id"):
            out[meta["grade_id"]] = _MARK.sub("", cell_source(cell))
    return out


def reference_streams(source_nbs, targets=()):
    """``[(label, tokens)]``: the source notebooks' solutions and the reference objects."""
    refs = []
    for name, nb in source_nbs.items():
        for gid, src in _solution_cells(nb).items():
            refs.append((f"the published solution ({gid})", tokens(src)))
    for target in targets:
        module, _, qualname = target.partition(":")
        try:
            obj = importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
            refs.append((f"lstm_ref {target}", tokens(inspect.getsource(obj))))
        except (ImportError, AttributeError, OSError, TypeError):
            continue
    return [(label, shingles(t)) for label, t in refs if len(t) >= MIN_TOKENS]


def similarity_flags(root, chapter, stage, source_nbs, students, targets=None):
    """``{student: [line, ...]}`` of near-copies among the staged notebooks."""
    from . import refcopy
    from .verdict import checks_module_name

    if targets is None:
        targets = set()
        for nb in source_nbs.values():
            module = checks_module_name(nb)
            if module:
                targets.update(refcopy.exercised(module))
    refs = reference_streams(source_nbs, sorted(targets))
    stubs = {}
    for nb in source_nbs.values():
        for gid, src in _solution_cells(nb).items():
            stubs[gid] = src
    cells = {}  # (student, notebook, grade_id) -> tokens
    for student in students:
        for name in source_nbs:
            path = Path(stage) / student / chapter / f"{name}.ipynb"
            if not path.is_file():
                continue
            try:
                nb = json.loads(path.read_text("utf-8"))
            except ValueError:
                continue
            for gid, src in _solution_cells(nb).items():
                t = tokens(src)
                if len(t) >= MIN_TOKENS and "NotImplementedError" not in src:
                    cells[(student, name, gid)] = shingles(t)
    flags = {}
    for (student, name, gid), t in cells.items():
        for label, ref in refs:
            r = ratio(t, ref)
            if r >= THRESHOLD:
                flags.setdefault(student, []).append(
                    f"{name}/{gid}: {r:.0%} similar to {label}")
                break
    keys = sorted(cells)
    close = {}  # key -> [(ratio, other student)]
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            if a[0] == b[0] or a[1:] != b[1:]:
                continue
            r = ratio(cells[a], cells[b])
            if r >= THRESHOLD:
                close.setdefault(a, []).append((r, b[0]))
                close.setdefault(b, []).append((r, a[0]))
    for (student, name, gid), others in sorted(close.items()):
        others.sort(key=lambda x: (-x[0], x[1]))
        r, who = others[0]
        more = f" (and {len(others) - 1} other student(s))" if len(others) > 1 else ""
        flags.setdefault(student, []).append(f"{name}/{gid}: {r:.0%} similar to {who}'s{more}")
    return flags
