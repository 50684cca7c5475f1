"""Record trusted verdicts with nbgrader: the gradebook, the autograded notebook, feedback.

nbgrader stays the instructor's tool (formgrader, feedback, export read what is written
here). The verdicts of :mod:`.verdict` become the outputs of the test cells of the student's
staged (repaired) notebook (:func:`with_verdicts`: an error output with the check's message
for a failure, the ``OK: ...`` line for a pass; test sources and metadata restored from the
source notebook, deleted test cells put back with their verdict). Then:

- :func:`write_autograded`: that notebook is the autograded notebook
  (``autograded/<student>/<chapter>/<name>.ipynb``), as nbgrader's Autograde would write it;
- :func:`record_scores`: the scores go into nbgrader's gradebook through its own API, with
  nbgrader's own rule for a cell's score (:func:`nbgrader.utils.determine_grade`) and its
  rule for manual grades: an existing manual grade is kept (and flagged for review, as
  ``nbgrader autograde`` does). Only the pipeline's main process calls it, one student
  after another: the SQLite gradebook has a single writer.
- :func:`write_feedback`: nbgrader's ``GenerateFeedback`` (which only reads the gradebook)
  writes the feedback page without hidden tests
  (:class:`~lstm_ref.grading.feedback.StripHiddenTests`); the workers run it in parallel.
"""

import json
import logging
import shutil
import warnings
from pathlib import Path

from .course import cell_source, is_test_cell, load_config

def with_verdicts(nb, source_nb, result):
    """A copy of the staged notebook ``nb`` whose cells carry the outputs of ``result``
    (a :class:`~lstm_ref.grading.verdict.NotebookResult`); test cells missing from ``nb``
    are inserted after the cell that precedes them in the source."""
    nb = json.loads(json.dumps(nb))
    for i, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") == "code":
            cell["outputs"] = list(result.cells.get(i, []))
            cell["execution_count"] = None
    present = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb["cells"]}
    previous = None
    for src in source_nb["cells"]:
        gid = src.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if is_test_cell(src) and src.get("cell_type") == "code" and gid not in present:
            cell = json.loads(json.dumps(src))
            cell["outputs"], cell["execution_count"] = [], None
            cell["id"] = f"restored-{gid}"[:64]
            at = len(nb["cells"])
            if previous is not None:
                ids = [c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb["cells"]]
                if previous in ids:
                    at = ids.index(previous) + 1
            nb["cells"].insert(at, cell)
            present.add(gid)
        if gid:
            previous = gid
    for cell in nb["cells"]:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.get("cell_type") == "code" and is_test_cell(cell):
            outcome = result.tests.get(gid)
            if outcome is None:
                outs = [{"output_type": "error", "ename": "GradingError",
                         "evalue": result.reason or "this test did not run",
                         "traceback": [f"GradingError: {result.reason or 'this test did not run'}"]}]
            else:
                outs = outcome.outputs()
            cell["outputs"] = outs
            source = next((c for c in source_nb["cells"]
                           if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == gid), None)
            if source is not None:  # nbgrader would restore it anyway; say nothing about it
                cell["source"] = cell_source(source)
                cell["metadata"] = json.loads(json.dumps(source["metadata"]))
    return nb


def _config(root, chapter, student, stage=None):
    overrides = {
        "CourseDirectory.root": str(root),
        "CourseDirectory.assignment_id": chapter,
        "CourseDirectory.student_id": student,
        "CourseDirectory.notebook_id": "*",
        "BaseConverter.force": True,
        # write_feedback hardens the pages itself (and keeps its notes): no second pass
        "GenerateFeedback.post_convert_hook": None,
    }
    if stage is not None:
        overrides["CourseDirectory.submitted_directory"] = str(stage)
    return load_config(root, **overrides)


def _safe_folder(root, *parts):
    """``root/parts...`` as a real folder (a symbolic link in its place is removed)."""
    path = Path(root)
    for part in parts:
        path = path / part
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            path.unlink()
        path.mkdir(exist_ok=True)
    return path


def write_autograded(root, chapter, student, notebooks, timestamp=None):
    """Write ``{name: notebook}`` (from :func:`with_verdicts`) as the autograded notebooks."""
    folder = _safe_folder(root, "autograded", student, chapter)
    for name, nb in notebooks.items():
        path = folder / f"{name}.ipynb"
        if path.is_symlink() or path.exists():
            path.unlink()
        path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    stamp = folder / "timestamp.txt"
    if stamp.is_symlink() or stamp.exists():
        stamp.unlink()
    if timestamp:
        stamp.write_text(timestamp + "\n", encoding="utf-8")


def record_scores(root, chapter, student, notebooks, timestamp=None):
    """Write the scores of ``{name: notebook with verdicts}`` into the gradebook.

    A notebook of the chapter that is not in ``notebooks`` scores 0 (as in nbgrader).
    """
    from nbformat import from_dict
    from nbgrader import utils

    with _gradebook(root) as gb:
        gb.update_or_create_student(student)
    with _gradebook(root) as gb, warnings.catch_warnings():
        # SQLAlchemy's autoflush notice while nbgrader builds a new submission's rows
        warnings.simplefilter("ignore")
        if timestamp:
            gb.update_or_create_submission(chapter, student, timestamp=timestamp)
        else:
            gb.update_or_create_submission(chapter, student)
    with _gradebook(root) as gb:  # a fresh session, as nbgrader's SaveAutoGrades has
        sub = gb.find_submission(chapter, student)
        for sub_nb in sub.notebooks:
            nb = notebooks.get(sub_nb.name)
            if nb is None:
                for grade in sub_nb.grades:
                    grade.auto_score = 0
                    grade.needs_manual_grade = False
                continue
            checksums = {c.name: c.checksum for c in gb.find_notebook(
                sub_nb.name, chapter).source_cells}
            cells = {}
            for cell in nb["cells"]:
                gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                if gid and gid not in cells:
                    cells[gid] = from_dict(dict(cell, source=cell_source(cell)))
            for grade in sub_nb.grades:
                cell = cells.get(grade.name)
                if cell is None or not utils.is_grade(cell):
                    auto = 0.0 if grade.cell.cell_type == "code" else None
                else:
                    # The released cell's checksum (as nbgrader's OverwriteCells restores
                    # it): an unchanged written answer scores 0 without a person.
                    cell.metadata.nbgrader["checksum"] = checksums.get(grade.name)
                    auto, _ = utils.determine_grade(cell)
                grade.auto_score = auto
                grade.needs_manual_grade = grade.manual_score is not None or auto is None
            for comment in sub_nb.comments:
                cell = cells.get(comment.name)
                if cell is not None:
                    cell.metadata.nbgrader["checksum"] = checksums.get(comment.name)
                unchanged = (cell is not None and "checksum" in cell.metadata.get("nbgrader", {})
                             and cell.metadata.nbgrader["checksum"] == utils.compute_checksum(cell)
                             and not utils.is_task(cell))
                comment.auto_comment = "No response." if unchanged else None
        gb.db.commit()


_TEMPLATES = {}  # compiled Jinja templates of the feedback page, kept by this process


def _reuse_compiled_templates():
    """nbconvert compiles its page templates anew for every exporter, that is for every
    student: keep the compiled code in this process (Jinja's bytecode cache, keyed by each
    template's name and source checksum, so a changed template is compiled again)."""
    from jinja2 import BytecodeCache
    from nbconvert.exporters.templateexporter import TemplateExporter

    if getattr(TemplateExporter, "_lstm_cached", False):
        return

    class InMemory(BytecodeCache):
        def load_bytecode(self, bucket):
            code = _TEMPLATES.get((bucket.key, bucket.checksum))
            if code is not None:
                bucket.bytecode_from_string(code)

        def dump_bytecode(self, bucket):
            _TEMPLATES[(bucket.key, bucket.checksum)] = bucket.bytecode_to_string()

    cache, create = InMemory(), TemplateExporter._create_environment

    def create_cached(self):
        env = create(self)
        env.bytecode_cache = cache
        return env

    TemplateExporter._create_environment = create_cached
    TemplateExporter._lstm_cached = True


def write_feedback(root, chapter, student):
    """nbgrader's GenerateFeedback for one student; returns None or the reason it failed."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory

    _reuse_compiled_templates()

    log = logging.getLogger("lstm_ref.grading.record")
    log.setLevel(logging.ERROR)
    config = _config(root, chapter, student)
    try:
        coursedir = CourseDirectory(config=config, log=log)
        GenerateFeedback(coursedir=coursedir, config=config, log=log).start()
    except BaseException as exc:  # nbgrader raises or exits: report it as one line
        return f"GenerateFeedback failed: {type(exc).__name__}: {exc}"[:500]
    return harden_feedback(root, chapter, student)


def harden_feedback(root, chapter, student):
    """Each page of the student's feedback: scripts out, a strict CSP and the local MathJax
    in (:func:`~lstm_ref.grading.feedback.harden_page`), test cells named by what they
    check; a page still over 2 MB is replaced by a short one. Returns None or a note."""
    from .feedback import (MAX_PAGE_BYTES, harden_page, install_mathjax, too_large_page)
    from .verdict import check_title

    folder = Path(root) / "feedback" / student / chapter
    autograded = Path(root) / "autograded" / student / chapter
    pages = sorted(folder.glob("*.html")) if folder.is_dir() else []
    mathjax = install_mathjax(folder) if pages else False
    notes = []
    for page in pages:
        nb_path = autograded / f"{page.stem}.ipynb"
        titles = {}
        if nb_path.is_file():
            for cell in json.loads(nb_path.read_text("utf-8"))["cells"]:
                gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                if gid and cell.get("cell_type") == "code" and is_test_cell(cell):
                    titles[gid] = check_title(cell_source(cell))
        text = harden_page(page.read_text("utf-8", errors="replace"), titles, mathjax)
        if len(text.encode("utf-8")) > MAX_PAGE_BYTES:
            text = too_large_page(page.stem)
            notes.append(f"{page.stem}: feedback page over 2 MB, replaced by a short one")
        page.write_text(text, encoding="utf-8")
    if pages and not mathjax:
        notes.append("MathJax (sphinx-mathjax-offline) not found: maths shows as LaTeX")
    return "; ".join(notes) or None


def _gradebook(root):
    from nbgrader.api import Gradebook

    config = load_config(root)
    return Gradebook(config.CourseDirectory.db_url, config.CourseDirectory.course_id)


def read_scores(root, chapter, student):
    """``(score, max_score, auto_score, manual_pending)`` of one submission.

    ``manual_pending`` is the gradebook's real state: the points of written answers that no
    person has graded yet (no manual score, no automatic one), not nbgrader's review flag,
    which stays set after a regrade even when a manual grade exists.
    """
    from nbgrader.api import MissingEntry

    with _gradebook(root) as gb:
        try:
            sub = gb.find_submission(chapter, student)
        except MissingEntry:
            return None
        auto = pending = 0.0
        for nb in sub.notebooks:
            for grade in nb.grades:
                auto += grade.auto_score or 0.0
                if grade.manual_score is None and grade.auto_score is None:
                    pending += grade.max_score or 0.0
        return float(sub.score), float(sub.max_score), auto, pending


def max_score(root, chapter):
    with _gradebook(root) as gb:
        return float(gb.find_assignment(chapter).max_score)


def forget(root, chapter, student):
    """A submission that could not be read at all: its automatic scores become 0. A
    submission with manual grades keeps them (and its autograded notebook, which formgrader
    shows); one without is removed, with its autograded notebook and feedback."""
    from nbgrader.api import MissingEntry

    with _gradebook(root) as gb:
        try:
            sub = gb.find_submission(chapter, student)
        except MissingEntry:
            sub = None
        manual = sub is not None and any(
            g.manual_score is not None for nb in sub.notebooks for g in nb.grades)
        if sub is not None and manual:
            for nb in sub.notebooks:
                for g in nb.grades:
                    if g.auto_score is not None:
                        g.auto_score = 0.0
            gb.db.commit()
            return
        if sub is not None:
            gb.remove_submission(chapter, student)
    for step in ("autograded", "feedback"):
        shutil.rmtree(Path(root) / step / student / chapter, ignore_errors=True)
