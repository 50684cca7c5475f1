"""Hostile and broken ch01 submissions, graded together in one real pipeline run."""

import csv
import json
import os

import pytest
from grading_helpers import all_solution_ids, fill, make_course, source_nb, submit

from lstm_ref.grading.pipeline import grade

pytestmark = pytest.mark.pipeline

CHAPTER, NAME = "ch01_rnn", "rnn_exercises"


def _test_cell_index(nb, grade_id):
    for i, cell in enumerate(nb["cells"]):
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            return i
    raise KeyError(grade_id)


@pytest.fixture(scope="module")
def run(tmp_path_factory, released):
    root = make_course(tmp_path_factory.mktemp("course-ch01-hostile"))
    src, rel = source_nb(CHAPTER, NAME), released[(CHAPTER, NAME)]
    good = fill(rel, src, set(all_solution_ids(src)))

    # A correct submission whose rnn_step_forward emits a UserWarning on every call.
    warn = json.loads(json.dumps(good))
    i = _test_cell_index(warn, "rnn_step_forward")
    warn["cells"][i]["source"] = warn["cells"][i]["source"].replace(
        "    a = x @ Wx", "    import warnings\n    warnings.warn('slow loop', UserWarning)\n    a = x @ Wx")
    assert "warnings.warn" in warn["cells"][i]["source"]
    submit(root, "a-warning", CHAPTER, NAME, warn)

    # A correct submission with a deleted test cell: it is put back and graded.
    deleted = json.loads(json.dumps(good))
    del deleted["cells"][_test_cell_index(deleted, "test_forward_values")]
    submit(root, "b-deleted", CHAPTER, NAME, deleted)

    # A correct submission with a copy-pasted test cell (same grade_id), then a student
    # after it: both are graded on their merits.
    dup = json.loads(json.dumps(good))
    j = _test_cell_index(dup, "test_step_backward_db")
    dup["cells"].insert(j + 1, json.loads(json.dumps(dup["cells"][j])))
    # ... and a cell with a schema_version nbgrader does not know.
    dup["cells"][_test_cell_index(dup, "test_forward_shape")]["metadata"]["nbgrader"][
        "schema_version"] = 99
    submit(root, "c-duplicate", CHAPTER, NAME, dup)
    submit(root, "d-after-duplicate", CHAPTER, NAME, good)

    submit(root, "e-invalid-json", CHAPTER, NAME, b'{"cells": [')
    submit(root, "f-empty", CHAPTER, NAME, b"")
    submit(root, "g bad id", CHAPTER, NAME, good)
    os.symlink(root / "submitted" / "d-after-duplicate", root / "submitted" / "h-symlink")
    linked = root / "submitted" / "i-linked-notebook" / CHAPTER
    linked.mkdir(parents=True)
    os.symlink(root / "submitted" / "d-after-duplicate" / CHAPTER / f"{NAME}.ipynb",
               linked / f"{NAME}.ipynb")
    extra = submit(root, "j-extra-files", CHAPTER, NAME, good)
    (extra / "notes.txt").write_text("not for grading")
    (root / "submitted" / "k-no-chapter").mkdir()

    # Stubs, with every test cell's source replaced by `pass` and its points raised: the
    # tests are restored from the source and the points from the gradebook.
    tampered = json.loads(json.dumps(rel))
    for cell in tampered["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            cell["source"] = "pass"
            meta["points"] = 50
    submit(root, "l-tampered-tests", CHAPTER, NAME, tampered)

    # Stubs, plus a cell that disables every check in its own process: the checks run
    # elsewhere, so it scores 0; the pipeline also flags it for review.
    cheat = json.loads(json.dumps(rel))
    cheat["cells"].insert(2, {
        "cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
        "source": "import lstm_ref.checks.ch01 as c\nfor n in c.__all__:\n"
                  "    setattr(c, n, lambda *a, **k: None)\n",
    })
    submit(root, "m-patches-checks", CHAPTER, NAME, cheat)

    result = grade(CHAPTER, root=root, echo=lambda *a: None)
    return root, result, {g.student: g for g in result.grades}


def _full(g):
    return g.status == "graded" and g.auto_score == g.max_score - g.manual_pending > 0


def test_warning_does_not_cost_points(run):
    assert _full(run[2]["a-warning"]), run[2]["a-warning"]


def test_deleted_test_cell_is_put_back_and_graded(run):
    root, _, g = run
    assert _full(g["b-deleted"]), g["b-deleted"]
    nb = json.loads((root / "autograded" / "b-deleted" / CHAPTER / f"{NAME}.ipynb").read_text())
    ids = [c["metadata"].get("nbgrader", {}).get("grade_id") for c in nb["cells"]]
    assert "test_forward_values" in ids


def test_duplicated_cell_is_graded_on_its_merits_and_does_not_stop_the_next(run):
    g = run[2]
    assert _full(g["c-duplicate"]), g["c-duplicate"]
    assert any("copy" in n for n in g["c-duplicate"].notes)
    assert _full(g["d-after-duplicate"]), g["d-after-duplicate"]


@pytest.mark.parametrize("student, words", [
    ("e-invalid-json", "not valid JSON"),
    ("f-empty", "empty"),
    ("'g bad id'", "student id rejected"),
    ("h-symlink", "symbolic link"),
    ("i-linked-notebook", "symbolic link"),
    ("k-no-chapter", "no submission"),
])
def test_ungradable_gets_zero_and_a_reason_in_csv_and_report(run, student, words):
    root, result, g = run
    assert g[student].status == "not graded"
    assert g[student].score == 0
    assert words in g[student].reason
    report = result.report_path.read_text()
    assert f"**{student}**" in report and words in report
    rows = [r for r in result.csv_path.read_text().splitlines() if f",{student}," in r
            or f',"{student}",' in r]
    assert len(rows) == 1 and ",not graded,0," in rows[0]


def test_extra_files_are_not_copied(run):
    root, _, g = run
    assert _full(g["j-extra-files"])
    assert any("notes.txt" in n for n in g["j-extra-files"].notes)
    assert not list((root / "autograded").rglob("notes.txt"))
    assert not (root / "autograded" / "h-symlink").exists()


def test_tampered_test_cells_are_restored(run):
    g = run[2]["l-tampered-tests"]
    assert g.status == "graded" and g.score == 0 and g.max_score == run[2]["a-warning"].max_score


def test_a_notebook_that_never_ends_is_stopped_and_reported(tmp_path, released):
    root = make_course(tmp_path / "course")
    src, rel = source_nb(CHAPTER, NAME), released[(CHAPTER, NAME)]
    nb = json.loads(json.dumps(rel))
    nb["cells"][_test_cell_index(nb, "rnn_step_forward")]["source"] = "while True:\n    pass"
    submit(root, "loops", CHAPTER, NAME, nb)
    result = grade(CHAPTER, root=root, timeout=8, echo=lambda *a: None)
    (g,) = result.grades
    assert g.status == "not graded" and g.score == 0
    assert "timed out after 8 s" in g.reason
    assert "loops" in result.report_path.read_text()


def test_code_that_patches_the_checks_is_flagged_for_review(run):
    root, result, g = run
    flagged = g["m-patches-checks"]
    assert flagged.status == "graded" and flagged.score == 0, flagged
    assert any("lstm_ref.checks" in r for r in flagged.review), flagged.review
    assert any("setattr" in r for r in flagged.review), flagged.review
    report = result.report_path.read_text()
    assert "m-patches-checks" in report.split("## Flagged for review")[1].split("## Not graded")[0]
    rows = {r["student"]: r for r in csv.DictReader(open(result.csv_path))}
    assert "setattr" in rows["m-patches-checks"]["review"]


def test_honest_submissions_are_not_flagged(run):
    g = run[2]
    for student in ("a-warning", "b-deleted", "c-duplicate", "d-after-duplicate", "j-extra-files",
                    "l-tampered-tests"):
        assert g[student].review == [], (student, g[student].review)
