"""Helpers of the red-team suites: the expected score of a notebook's honest content, the
attackers' notebooks, and hashes of what no student may change."""

import contextlib
import hashlib
import io
import json
import os
import re
from pathlib import Path

from grading_helpers import REPO, fill

from lstm_ref.grading.measure import _solutions
from lstm_ref.grading.runner import strip_magics
from lstm_ref.grading.sanitize import sanitize
from lstm_ref.grading.verdict import checks_module_name, run_test_cell

ALL = "all"


def _course_hash(root, skip):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        if rel.parts and rel.parts[0] in skip:
            dirnames[:] = []
            continue
        for f in filenames:
            path = Path(dirpath) / f
            key = str(path.relative_to(root))
            if key.split("/")[0] in skip or re.match(r"(gradebook\.db|grades\.csv|grading_report\.)", key):
                continue
            out[key] = hashlib.sha256(path.read_bytes()).hexdigest() if not path.is_symlink() \
                else "link:" + os.readlink(path)
    return out


def _repo_hash():
    out = {}
    for top in ("lstm_ref", "solutions"):
        for path in sorted((REPO / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    out["nbgrader_config.py"] = hashlib.sha256((REPO / "nbgrader_config.py").read_bytes()).hexdigest()
    return out


class _Local:
    """A stand-in for the sandbox session: the honest content, run here."""

    def __init__(self, ns):
        self.ns = ns

    def lookup(self, name):
        if name not in self.ns:
            raise NameError(f"name {name!r} is not defined")
        return self.ns[name]


_CACHE = {}


def expected_auto(nb, src):
    """The automatic score of the honest notebook ``nb``: its code cells run here, then
    the source notebook's test cells through the real checks (the course's own cells after
    the last test are skipped, as the pipeline skips them)."""
    key = hashlib.sha256((json.dumps(nb, sort_keys=True) + os.environ.get("COURSE_SECRET", "")
                          + json.dumps(src, sort_keys=True)).encode()).hexdigest()
    if key not in _CACHE:
        _CACHE[key] = _expected_auto(nb, src)
    return _CACHE[key]


def _norm(source):
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _expected_auto(nb, src):
    import importlib

    checks = importlib.import_module(checks_module_name(src))
    nb, _ = sanitize(json.dumps(nb).encode(), src)  # the same repair as the pipeline's
    tests = {c["metadata"]["nbgrader"]["grade_id"]: c for c in src["cells"]
             if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("grade")
             and not c["metadata"]["nbgrader"].get("solution")}
    ns = {"__name__": "__main__"}
    total, seen = 0.0, set()
    course = {_norm("".join(c["source"])) for c in src["cells"]
              if c["cell_type"] == "code" and not c["metadata"].get("nbgrader")}
    last_test = max((i for i, c in enumerate(nb["cells"])
                     if c["metadata"].get("nbgrader", {}).get("grade_id") in tests),
                    default=len(nb["cells"]))

    def test(gid):
        nonlocal total
        seen.add(gid)
        cell = tests[gid]
        if run_test_cell("".join(cell["source"]), gid, checks, _Local(ns)).passed:
            total += cell["metadata"]["nbgrader"]["points"]

    for i, cell in enumerate(nb["cells"]):  # in order: a test sees the notebook at its place
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] != "code":
            continue
        if i > last_test and _norm("".join(cell["source"])) in course:
            continue
        if meta.get("grade_id") in tests and meta.get("grade_id") not in seen:
            test(meta["grade_id"])
            continue
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            try:
                exec(strip_magics("".join(cell["source"])), ns)
            except Exception:
                pass
    for gid in tests:  # deleted test cells run at the end
        if gid not in seen:
            test(gid)
    return total


def replace_cells(nb, replace, code):
    """Give the cells of ``nb`` whose grade_id is a key of ``replace`` that text, with each
    ``@SOL:<id>@`` in it replaced by the source notebook's solution ``code[id]``."""
    for cell in nb["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid in replace:
            text = replace[gid]
            for sol_id, sol in code.items():
                text = text.replace(f"@SOL:{sol_id}@", sol)
            cell["source"] = text


def _build(rel, src, keep, extra, replace, subst):
    ids = [c["metadata"]["nbgrader"]["grade_id"] for c in src["cells"]
           if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("solution")]
    keep_ids = set(ids) if keep == ALL else set(keep or ())
    nb = fill(rel, src, keep_ids)
    code = _solutions(src)
    replace_cells(nb, replace, code)
    for text in extra:  # at the end, where they would override the student's own cells
        for k, v in subst.items():
            text = text.replace(k, v)
        nb["cells"].append({"cell_type": "code", "execution_count": None, "metadata": {},
                            "outputs": [], "source": text})
    return nb


