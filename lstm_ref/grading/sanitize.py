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

import html
import json
import re

from .course import is_test_cell

MAX_CELLS = 5000
MAX_SOURCE_CHARS = 400_000  # of all cells' sources together: a feedback page stays < 2 MB
# HTML a student's Markdown may keep: text formatting, lists, tables, links and images.
SAFE_TAGS = ["a", "abbr", "b", "blockquote", "br", "code", "del", "details", "div", "em",
             "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p",
             "pre", "s", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td",
             "th", "thead", "tr", "u", "ul"]
SAFE_ATTRIBUTES = {"a": ["href", "title"], "img": ["src", "alt", "title", "width", "height"],
                   "td": ["align"], "th": ["align"]}
SAFE_PROTOCOLS = ["http", "https", "mailto"]
# What may start markup or a script URL (the text is cleaned only when one is present, so
# ordinary Markdown, maths with "<" included, stays exactly as written).
_MARKUP = re.compile(r"<\s*[A-Za-z!/?]|&#|&[A-Za-z]+;|script\s*:|data\s*:", re.I)
_SCRIPT_URL = re.compile(r"(j\s*a\s*v\s*a|v\s*b|l\s*i\s*v\s*e)\s*s\s*c\s*r\s*i\s*p\s*t\s*:"
                         r"|d\s*a\s*t\s*a\s*:\s*text/html", re.I)
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


def strip_active(text):
    """Markdown (or raw) text without active content: tags outside :data:`SAFE_TAGS`
    (``script``, ``iframe``, ``svg``, ``style``, ``object``, ``form``...) escaped so they
    show as text, every attribute outside :data:`SAFE_ATTRIBUTES` (``onerror``,
    ``onload``, ``style``...) dropped, links only to http(s) and mailto, and no
    ``javascript:`` URL in Markdown's own links, even spelt with entities. Returns
    ``(text, changed)``; text without markup comes back unchanged."""
    if not _MARKUP.search(text):
        return text, False
    import bleach

    def clean(t):
        return bleach.clean(t, tags=SAFE_TAGS, attributes=SAFE_ATTRIBUTES,
                            protocols=SAFE_PROTOCOLS, strip=False, strip_comments=True)

    out = clean(text)
    if _SCRIPT_URL.search(_decoded(out)):
        # Markdown's own links are not HTML to bleach, and Markdown and then HTML each decode
        # entities: the script URL goes from the fully decoded text, which is cleaned again.
        out = clean(_SCRIPT_URL.sub("blocked:", _decoded(out)))
    if _SCRIPT_URL.search(_decoded(out)):  # never seen; shown as text, then
        out = "```\n" + out.replace("`", "'") + "\n```"
    risky = re.search(r"<\s*/?[A-Za-z!][^<>]*>", text) or _SCRIPT_URL.search(_decoded(text))
    return out, bool(out != text and risky)


def _decoded(text):
    """``text`` with HTML entities decoded until none is left (at most a few rounds)."""
    for _ in range(5):
        decoded = html.unescape(text)
        if decoded == text:
            break
        text = decoded
    return text


def source_cells(source_nb):
    """``{grade_id: cell}`` for the cells of the source notebook that carry nbgrader ids."""
    out = {}
    for cell in source_nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader")
        if isinstance(meta, dict) and meta.get("grade_id"):
            out[meta["grade_id"]] = cell
    return out


def _graded_copies(raw_cells, source_nb):
    """``{grade_id: index}`` of the copy of each test cell that counts when a notebook holds
    several (a student pasted one elsewhere): the first copy that comes after every
    solution cell the source notebook puts before that test, else the last copy. So a copy
    pasted near the top, where nothing is defined yet, changes nothing."""
    order = [c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
             for c in source_nb["cells"]]
    solutions = {c["metadata"]["nbgrader"]["grade_id"] for c in source_nb["cells"]
                 if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    tests = {c["metadata"]["nbgrader"]["grade_id"] for c in source_nb["cells"]
             if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") and is_test_cell(c)}
    where = {}
    for i, raw in enumerate(raw_cells):
        meta = raw.get("metadata") if isinstance(raw, dict) else None
        meta = meta.get("nbgrader") if isinstance(meta, dict) else None
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        if isinstance(gid, str):
            where.setdefault(gid, []).append(i)
    out = {}
    for gid in tests:
        copies = where.get(gid, [])
        if len(copies) < 2:
            continue
        before = [g for g in order[: order.index(gid)] if g in solutions]
        last_solution = max((where[g][0] for g in before if g in where), default=-1)
        out[gid] = next((i for i in copies if i > last_solution), copies[-1])
    return out


def sanitize(data, source_nb):
    """Return ``(notebook dict, notes)`` for the submitted bytes ``data``.

    ``notes`` lists, in words, what was changed (for the report). Raises
    :class:`Unreadable` when nothing gradable can be made of the file.
    """
    import nbformat

    nb = read_notebook(data)
    known = source_cells(source_nb)
    graded_copy = _graded_copies(nb["cells"], source_nb)
    seen = set()
    notes = []
    cells = []
    restored = dropped_unknown = cleaned = size = 0
    for i, raw in enumerate(nb["cells"]):
        if not isinstance(raw, dict):
            notes.append(f"cell {i + 1} is not a cell object; dropped")
            continue
        cell_type = raw.get("cell_type")
        source = _text(raw.get("source", ""))
        if cell_type not in ("code", "markdown", "raw") or source is None:
            notes.append(f"cell {i + 1} is malformed; dropped")
            continue
        size += len(source)
        if size > MAX_SOURCE_CHARS:
            raise Unreadable(f"the notebook's cells hold more than {MAX_SOURCE_CHARS:,} "
                             "characters (data pasted into a cell?)".replace(",", " "))
        meta = raw.get("metadata")
        meta = meta.get("nbgrader") if isinstance(meta, dict) else None
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        new_meta = {}
        if isinstance(grade_id, str) and grade_id in known:
            if grade_id in seen or graded_copy.get(grade_id, i) != i:
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
        if cell_type in ("markdown", "raw"):
            source, changed = strip_active(source)
            cleaned += changed
        cell = {
            "code": nbformat.v4.new_code_cell,
            "markdown": nbformat.v4.new_markdown_cell,
            "raw": nbformat.v4.new_raw_cell,
        }[cell_type](source=source, metadata=new_meta)
        cell["id"] = f"cell-{len(cells)}"
        cells.append(cell)
    if restored:
        notes.append(f"the nbgrader metadata of {restored} cell(s) was restored from the source")
    if cleaned:
        notes.append(f"active content (HTML script, event handler, frame or script link) "
                     f"removed from {cleaned} Markdown cell(s)")
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
