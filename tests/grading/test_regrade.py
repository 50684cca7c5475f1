"""Regrading keeps what a person decided: manual grades, and every other chapter's grades."""

import csv

import pytest
from grading_helpers import all_solution_ids, fill, make_course, source_nb, submit

from lstm_ref.grading.pipeline import grade
from lstm_ref.grading.record import _gradebook

pytestmark = pytest.mark.pipeline


def _manual_ids(nb):
    return [c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"]
            if c["metadata"].get("nbgrader", {}).get("grade")
            and c["metadata"]["nbgrader"].get("solution")]


def _set_manual(root, chapter, name, student, grade_id, score):
    with _gradebook(root) as gb:
        gb.find_grade(grade_id, name, chapter, student).manual_score = score
        gb.db.commit()


def _manual(root, chapter, name, student, grade_id):
    with _gradebook(root) as gb:
        return gb.find_grade(grade_id, name, chapter, student).manual_score


def test_manual_grades_and_other_chapters_survive_a_regrade(tmp_path, released):
    root = make_course(tmp_path / "course")
    quiet = dict(echo=lambda *a: None, workers=2)
    ch1, n1 = "ch01_rnn", "rnn_exercises"
    ch2, n2 = "ch02_vanishing", "vanishing_exercises"
    src1, src2 = source_nb(ch1, n1), source_nb(ch2, n2)
    full1 = fill(released[(ch1, n1)], src1, set(all_solution_ids(src1)))
    submit(root, "ann", ch1, n1, full1)
    submit(root, "bob", ch1, n1, full1)
    submit(root, "ann", ch2, n2, released[(ch2, n2)])
    grade(ch2, root=root, **quiet)
    (m2,) = _manual_ids(src2)[:1]
    _set_manual(root, ch2, n2, "ann", m2, 1.0)
    first = grade(ch1, root=root, **quiet)
    m1 = _manual_ids(src1)[0]
    pending = {g.student: g.manual_pending for g in first.grades}
    assert pending["ann"] > 0 and pending["bob"] > 0  # written answers not graded yet
    _set_manual(root, ch1, n1, "ann", m1, 1.5)
    second = grade(ch1, root=root, **quiet)
    g = {x.student: x for x in second.grades}
    assert _manual(root, ch1, n1, "ann", m1) == 1.5
    assert g["ann"].manual_pending < pending["ann"]
    assert g["ann"].score == g["ann"].auto_score + 1.5
    assert g["bob"].manual_pending == pending["bob"]
    assert _manual(root, ch2, n2, "ann", m2) == 1.0
    rows = {(r["chapter"], r["student"]): r for r in csv.DictReader(open(root / "grades.csv"))}
    assert rows[(ch2, "ann")]["status"] == "graded"
    assert set(rows) == {(ch1, "ann"), (ch1, "bob"), (ch2, "ann"), (ch2, "bob")}
    assert rows[(ch2, "bob")]["status"] == "not graded"  # no ch02 folder: a row, with 0
