"""Every notebook in solutions/, graded by the real pipeline in a temporary course.

For each chapter, one ``grade`` run with three students: the solution (full marks on every
autograded cell), the released stub (0), and a submission where only the first solution
cell keeps its solution (strictly in between). Feedback must hold no hidden-test line.
"""

import json
import re

import pytest

from lstm_ref.grading.feedback import hidden_lines, page_text
from lstm_ref.grading.pipeline import grade

from grading_helpers import all_notebooks, all_solution_ids, fill, make_course, manual_points, solution_ids, source_nb, submit

pytestmark = pytest.mark.pipeline

CHAPTERS = sorted({c for c, _ in all_notebooks()})


@pytest.fixture(scope="module", params=CHAPTERS)
def graded(request, tmp_path_factory, released):
    chapter = request.param
    root = make_course(tmp_path_factory.mktemp(f"course-{chapter}"))
    names = [n for c, n in all_notebooks() if c == chapter]
    for name in names:
        src, rel = source_nb(chapter, name), released[(chapter, name)]
        ids = solution_ids(src)
        assert ids, f"{chapter}/{name} has no code solution cell"
        submit(root, "s1-solution", chapter, name, fill(rel, src, set(all_solution_ids(src))))
        submit(root, "s2-stub", chapter, name, rel)
        submit(root, "s3-first-only", chapter, name, fill(rel, src, {ids[0]}))
    run = grade(chapter, root=root, echo=lambda *a: None)
    return chapter, names, root, run, {g.student: g for g in run.grades}


def test_solution_scores_full_marks(graded):
    chapter, names, _, _, g = graded
    manual = sum(manual_points(source_nb(chapter, n)) for n in names)
    s = g["s1-solution"]
    assert s.status == "graded", s.reason
    assert s.max_score > manual
    assert s.auto_score == s.max_score - manual
    assert s.manual_pending == manual


def test_released_stub_scores_zero(graded):
    s = graded[4]["s2-stub"]
    assert s.status == "graded", s.reason
    assert s.score == 0


def test_first_solution_only_scores_strictly_between(graded):
    g = graded[4]
    s = g["s3-first-only"]
    assert s.status == "graded", s.reason
    assert 0 < s.score < g["s1-solution"].score


def test_feedback_holds_no_hidden_test(graded):
    chapter, names, root, run, g = graded
    for student in g:
        for name in names:
            page = root / "feedback" / student / chapter / f"{name}.html"
            assert page.is_file(), f"no feedback for {student}: {g[student].notes}"
            text = page_text(page.read_text(encoding="utf-8"))
            hidden = hidden_lines(source_nb(chapter, name))
            assert hidden, f"{chapter}/{name} has no hidden tests"
            for line in hidden:
                assert re.sub(r"[ \t]+", " ", line) not in text, (student, line)
            assert "HIDDEN TESTS" not in text


def test_csv_has_one_row_per_student(graded):
    chapter, _, root, run, g = graded
    rows = (root / "grades.csv").read_text().splitlines()
    assert rows[0].startswith("chapter,student,status,score")
    assert sorted(r.split(",")[1] for r in rows[1:]) == sorted(g)
    assert json.dumps(str(run.report_path)).endswith(f'grading_report.{chapter}.md"')
