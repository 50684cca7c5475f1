"""Rebuild a submitted notebook into a clean one that nbgrader can always grade.

What comes in is untrusted bytes. What goes out is a valid nbformat-4 notebook with the
source notebook's metadata (kernel, language) and, for each submitted cell, only its type,
its source and, for cells that carry one of the source's nbgrader ids, the source's
nbgrader metadata (so a changed ``points``, an unknown ``schema_version`` or a solution
cell turned into a test are undone). A second cell with the same id (a copy-pasted test
or solution cell) becomes an ordinary cell: it still runs, in its place, but earns nothing
and cannot abort nbgrader. Cells with ids the source does not know become ordinary too.
Test cells that were deleted are put back by nbgrader itself
(``OverwriteCells.add_missing_cells``); the source of every test cell is restored by
nbgrader's ``OverwriteCells``.
"""

import json

from .course import is_test_cell

MAX_CELLS = 5000
# The nbgrader fields that decide how a cell is graded.
_KEYS = ("grade", "solution", "locked", "points", "grade_id", "task", "schema_version")


class Unreadable(Exception):
    """The file cannot be graded at all; the message is the reason given to the student."""


def _text(source):
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        return "".join(source)
    return None


def read_notebook(data):
    """Parse the submitted bytes into a dict, or raise :class:`Unreadable` with a reason."""
    if not data.strip():
        raise Unreadable("the notebook file is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Unreadable("the notebook file is not UTF-8 text") from None
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Unreadable(f"the notebook is not valid JSON ({exc.msg} at line {exc.lineno}, "
                         f"column {exc.colno})") from None
    except RecursionError:
        raise Unreadable("the notebook is not valid JSON (nested too deeply)") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        if isinstance(nb, dict) and "worksheets" in nb:
            raise Unreadable("the notebook is in the old format 3; save it with a current Jupyter")
        raise Unreadable("the file is JSON but not a Jupyter notebook (no list of cells)")
    if len(nb["cells"]) > MAX_CELLS:
        raise Unreadable(f"the notebook has more than {MAX_CELLS} cells")
    return nb


def source_cells(source_nb):
    """``{grade_id: cell}`` for the cells of the source notebook that carry nbgrader ids."""
    out = {}
    for cell in source_nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader")
        if isinstance(meta, dict) and meta.get("grade_id"):
            out[meta["grade_id"]] = cell
    return out


def sanitize(data, source_nb):
    """Return ``(notebook dict, notes)`` for the submitted bytes ``data``.

    ``notes`` lists, in words, what was changed (for the report). Raises
    :class:`Unreadable` when nothing gradable can be made of the file.
    """
    import nbformat

    nb = read_notebook(data)
    known = source_cells(source_nb)
    seen = set()
    notes = []
    cells = []
    restored = dropped_unknown = 0
    for i, raw in enumerate(nb["cells"]):
        if not isinstance(raw, dict):
            notes.append(f"cell {i + 1} is not a cell object; dropped")
            continue
        cell_type = raw.get("cell_type")
        source = _text(raw.get("source", ""))
        if cell_type not in ("code", "markdown", "raw") or source is None:
            notes.append(f"cell {i + 1} is malformed; dropped")
            continue
        meta = raw.get("metadata")
        meta = meta.get("nbgrader") if isinstance(meta, dict) else None
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        new_meta = {}
        if isinstance(grade_id, str) and grade_id in known:
            if grade_id in seen:
                notes.append(f"a second cell with id {grade_id!r} (a copy) is graded as an "
                             "ordinary cell; the first one counts")
            else:
                seen.add(grade_id)
                src = known[grade_id]
                new_meta = json.loads(json.dumps(src["metadata"]))
                if any(src["metadata"]["nbgrader"].get(k) != meta.get(k) for k in _KEYS):
                    restored += 1
                cell_type = src["cell_type"]
        elif meta:
            dropped_unknown += 1
        cell = {
            "code": nbformat.v4.new_code_cell,
            "markdown": nbformat.v4.new_markdown_cell,
            "raw": nbformat.v4.new_raw_cell,
        }[cell_type](source=source, metadata=new_meta)
        cell["id"] = f"cell-{len(cells)}"
        cells.append(cell)
    if restored:
        notes.append(f"the nbgrader metadata of {restored} cell(s) was restored from the source")
    if dropped_unknown:
        notes.append(f"{dropped_unknown} cell(s) with unknown or invalid nbgrader metadata are "
                     "graded as ordinary cells")
    missing = sorted(gid for gid, c in known.items() if gid not in seen and is_test_cell(c))
    if missing:
        notes.append("deleted test cell(s) put back: " + ", ".join(missing))
    clean = nbformat.v4.new_notebook(cells=cells, metadata=json.loads(json.dumps(source_nb["metadata"])))
    clean.nbformat, clean.nbformat_minor = 4, 5
    nbformat.validate(clean)
    return json.loads(nbformat.writes(clean)), notes
