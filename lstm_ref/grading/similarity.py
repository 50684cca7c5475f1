"""Near-copies, for a person to judge: code cells that look like the reference or like a
classmate's.

The solutions and ``lstm_ref`` are public, so a copied answer is possible and cannot be
proven by a program. This module only points at pairs worth a look.

- **Every code cell** a student has counts, marked solution cell or not, test cells aside
  (nbgrader puts the course's own back). A cell is reduced to a normalised token stream
  (:func:`tokens`): comments, blank lines and docstrings dropped, every identifier that is
  not a keyword, builtin or attribute name replaced by one placeholder, numbers kept; so
  renaming variables, reformatting or adding a comment (a marker such as
  ``NotImplementedError`` included) changes nothing.
- What the course gives everyone (the released notebook: provided cells and the stubs of
  the solution cells) is subtracted first, as MOSS subtracts a base file: two students who
  both left a stub, or kept a provided cell, are not alike for it.
- Two cells are compared by the Jaccard index of their sets of 4-token runs, from 0 to 1.
  Candidate pairs come from an index of those runs, so the whole class is compared, every
  cell against every cell of every classmate.
- A cell close to the reference (the published solution of a cell, or the source of an
  exercised ``lstm_ref`` function) is listed for its student. Two students with close
  cells are listed **as a pair**: both names, both submission times (nbgrader's
  ``timestamp.txt``), the cells and the ratio; a pair says nothing about who wrote first
  or who copied whom, and it never changes a score.
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

from .course import cell_source, is_test_cell

THRESHOLD = 0.9
MIN_TOKENS = 40  # shorter cells (a one-line answer) say nothing about copying
MIN_SHINGLES = 30  # what is left of a cell once the course's own code is taken out
REPORT_INTRO = [
    "Code cells (every one, solution cell or not; what the released notebook gives everyone",
    "taken out) whose normalised tokens (names replaced, comments and layout ignored) are",
    "close to the reference implementation, or to a classmate's. A pair names both students",
    "and both submission times and says nothing about who wrote first. The solutions are",
    "public: a flag is a reason to look, not a proof, and never changes a score.",
]
"""The words the grading report puts above these flags."""

_SOLUTION = re.compile(r"### BEGIN SOLUTION.*?### END SOLUTION", re.S)
_MARK = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$", re.M)
_MAGIC = re.compile(r"^\s*(!|%)")
_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
         tokenize.ENCODING, tokenize.ENDMARKER}


def tokens(src):
    """The normalised token stream of Python source ``src`` (a list of strings)."""
    src = "\n".join("" if _MAGIC.match(line) else line for line in src.splitlines())
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


def _code_cells(nb):
    """``[(label, source)]`` of a notebook's code cells, test cells aside; the label is the
    cell's grade_id when it has one, else ``cell <number>``."""
    out = []
    for i, cell in enumerate(nb.get("cells", []), start=1):
        if cell.get("cell_type") != "code" or is_test_cell(cell):
            continue
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        out.append((gid or f"cell {i}", cell_source(cell)))
    return out


def _solution_cells(nb):
    out = {}
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and meta.get("solution") and meta.get("grade_id"):
            out[meta["grade_id"]] = _MARK.sub("", cell_source(cell))
    return out


def course_shingles(source_nbs):
    """The 4-token runs of what the released notebooks give everyone: provided cells and
    the stubs of solution cells."""
    base = set()
    for nb in source_nbs.values():
        for cell in nb.get("cells", []):
            if cell.get("cell_type") != "code" or is_test_cell(cell):
                continue
            src = cell_source(cell)
            if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
                src = _SOLUTION.sub("raise NotImplementedError()", src)
            base |= shingles(tokens(src))
    return frozenset(base)


def reference_streams(source_nbs, targets=(), base=frozenset()):
    """``[(label, shingles)]``: the source notebooks' solutions and the reference objects,
    the course's own runs taken out."""
    refs = []
    for nb in source_nbs.values():
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
    return [(label, shingles(t) - base) for label, t in refs if len(t) >= MIN_TOKENS]


def submission_time(stage, student, chapter):
    """The student's submission time (nbgrader's ``timestamp.txt``), or ``"time unknown"``."""
    path = Path(stage) / student / chapter / "timestamp.txt"
    try:
        text = path.read_text("utf-8", errors="replace").strip()
    except OSError:
        return "time unknown"
    return text[:40] if text else "time unknown"


def _student_cells(stage, chapter, source_nbs, students, base):
    """``{(student, notebook, label): shingles}`` of every code cell worth comparing."""
    cells = {}
    for student in students:
        for name in source_nbs:
            path = Path(stage) / student / chapter / f"{name}.ipynb"
            if not path.is_file():
                continue
            try:
                nb = json.loads(path.read_text("utf-8"))
            except ValueError:
                continue
            for label, src in _code_cells(nb):
                toks = tokens(src)
                if len(toks) < MIN_TOKENS:
                    continue
                own = shingles(toks) - base
                if len(own) >= MIN_SHINGLES:
                    cells[(student, name, label)] = own
    return cells


def close_pairs(cells, threshold=THRESHOLD):
    """``[(ratio, key_a, key_b)]`` for cells of two different students at least
    ``threshold`` alike (candidates found through an index of their 4-token runs)."""
    index = {}
    for key, sh in cells.items():
        for s in sh:
            index.setdefault(s, []).append(key)
    seen, out = set(), []
    for key, sh in cells.items():
        counts = {}
        for s in sh:
            for other in index[s]:
                if other[0] != key[0]:
                    counts[other] = counts.get(other, 0) + 1
        for other, common in counts.items():
            pair = (key, other) if key < other else (other, key)
            if pair in seen:
                continue
            seen.add(pair)
            # Jaccard >= t needs the overlap to be at least t times the larger set
            if common < threshold * max(len(sh), len(cells[other])):
                continue
            r = common / (len(sh) + len(cells[other]) - common)
            if r >= threshold:
                out.append((r, *pair))
    return sorted(out, key=lambda x: (-x[0], x[1], x[2]))


def similarity_flags(root, chapter, stage, source_nbs, students, targets=None):
    """``{student: [line, ...]}`` of near-copies among the staged notebooks.

    A cell close to the reference gives a line to its student. A pair of students gives
    one line, filed under the student whose id sorts first, naming both with their
    submission times."""
    from . import refcopy
    from .verdict import checks_module_name

    if targets is None:
        targets = set()
        for nb in source_nbs.values():
            module = checks_module_name(nb)
            if module:
                targets.update(refcopy.exercised(module))
    base = course_shingles(source_nbs)
    refs = reference_streams(source_nbs, sorted(targets), base)
    cells = _student_cells(stage, chapter, source_nbs, students, base)
    flags = {}
    for key, own in sorted(cells.items()):
        student, name, label = key  # (cells is changed in the loop: sorted() made a copy)
        for ref_label, ref in refs:
            r = ratio(own, ref)
            if r >= THRESHOLD:
                flags.setdefault(student, []).append(
                    f"{name}/{label}: {r:.0%} alike with {ref_label}")
                del cells[key]  # said once: a pair of copies of the reference adds nothing
                break
    by_pair = {}
    for r, a, b in close_pairs(cells):
        by_pair.setdefault((a[0], b[0]), []).append((r, a, b))
    for (sa, sb), found in sorted(by_pair.items()):
        where = ", ".join(
            f"{a[1]}/{a[2]}" + ("" if (a[1], a[2]) == (b[1], b[2]) else f" ~ {b[1]}/{b[2]}")
            + f" {r:.0%}" for r, a, b in found[:5])
        more = f" and {len(found) - 5} more cell(s)" if len(found) > 5 else ""
        flags.setdefault(sa, []).append(
            f"pair {sa} (submitted {submission_time(stage, sa, chapter)}) and {sb} "
            f"(submitted {submission_time(stage, sb, chapter)}): alike in {where}{more}")
    return flags
