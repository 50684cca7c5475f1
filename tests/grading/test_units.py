"""Fast tests of the pipeline's parts (no nbgrader run)."""

import csv
import json
import os
import subprocess
import sys

import pytest
from grading_helpers import REPO, make_course, source_nb

from lstm_ref.grading import intake as intake_mod
from lstm_ref.grading.course import CourseError
from lstm_ref.grading.feedback import (
    PLACEHOLDER,
    StripHiddenTests,
    hidden_lines,
    leaked_lines,
    strip_hidden_source,
)
from lstm_ref.grading.pipeline import check_chapter, grade, write_csv, StudentGrade
from lstm_ref.grading.sanitize import Unreadable, read_notebook, sanitize

SRC = source_nb("ch01_rnn", "rnn_exercises")


def _ids(nb):
    return [c["metadata"].get("nbgrader", {}).get("grade_id") for c in nb["cells"]]


@pytest.mark.parametrize("data, words", [
    (b"", "empty"), (b"  \n", "empty"), (b"\xff\xfe\x00", "UTF-8"), (b"{", "not valid JSON"),
    (b"[1, 2]", "not a Jupyter notebook"), (b'{"worksheets": []}', "format 3"),
])
def test_unreadable_files_give_a_reason(data, words):
    with pytest.raises(Unreadable, match=words):
        read_notebook(data)


def test_sanitize_keeps_the_first_of_duplicated_ids_and_fixes_metadata():
    nb = json.loads(json.dumps(SRC))
    i = _ids(nb).index("test_forward_values")
    nb["cells"].insert(i + 1, json.loads(json.dumps(nb["cells"][i])))
    nb["cells"][i]["metadata"]["nbgrader"]["points"] = 100
    nb["cells"][0]["metadata"]["nbgrader"] = {"grade": True, "grade_id": "mine", "points": 9}
    clean, notes = sanitize(json.dumps(nb).encode(), SRC)
    ids = _ids(clean)
    assert ids.count("test_forward_values") == 1
    assert "mine" not in ids
    cell = clean["cells"][ids.index("test_forward_values")]
    assert cell["metadata"]["nbgrader"]["points"] == 2
    assert len(clean["cells"]) == len(nb["cells"])  # the copy stays, as an ordinary cell
    assert any("copy" in n for n in notes) and any("unknown" in n for n in notes)


def test_sanitize_restores_schema_version_and_reports_deleted_tests():
    nb = json.loads(json.dumps(SRC))
    nb["cells"][_ids(nb).index("test_forward_shape")]["metadata"]["nbgrader"]["schema_version"] = 99
    del nb["cells"][_ids(nb).index("test_backward_db")]
    clean, notes = sanitize(json.dumps(nb).encode(), SRC)
    meta = clean["cells"][_ids(clean).index("test_forward_shape")]["metadata"]["nbgrader"]
    assert meta["schema_version"] == 3
    assert any("test_backward_db" in n for n in notes)


def test_hidden_tests_are_cut_from_sources_and_tracebacks():
    from nbformat import from_dict

    cell = next(c for c in SRC["cells"] if "BEGIN HIDDEN TESTS" in "".join(c["source"]))
    hidden = hidden_lines({"cells": [cell]})
    assert hidden and hidden[0].endswith("BEGIN HIDDEN TESTS")
    nb = from_dict({"cells": [dict(cell, outputs=[{
        "output_type": "error", "ename": "CheckFailed", "evalue": "h_next has shape (2,)",
        "traceback": ["Cell In[3], line 4", *hidden]}], execution_count=1)],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    out, _ = StripHiddenTests().preprocess(nb, {})
    text = json.dumps(out)
    assert not any(line in text for line in hidden[1:-1])
    assert PLACEHOLDER in out.cells[0].source
    assert out.cells[0].outputs[0]["traceback"] == ["CheckFailed: h_next has shape (2,)"]
    assert strip_hidden_source("a\n### BEGIN HIDDEN TESTS\nb\n### END HIDDEN TESTS\nc") == \
        f"a\n{PLACEHOLDER}\nc"


def test_leak_scan_sees_through_syntax_highlighting():
    line = 'checks.forward_shape(rnn_forward, seed=3101, T=1, N=1, D=6, H=2)'
    page = ('<span class="n">checks</span><span class="o">.</span>forward_shape('
            'rnn_forward, seed=3101, T=1, N=1, D=6, H=2)')
    src = {"cells": [{"source": f"### BEGIN HIDDEN TESTS\n{line}\n### END HIDDEN TESTS"}]}
    assert leaked_lines(page, src) == [line]
    assert leaked_lines("<p>nothing here</p>", src) == []


def _folder(tmp_path, student, data=b"{}"):
    d = tmp_path / "submitted" / student / "ch01_rnn"
    d.mkdir(parents=True)
    (d / "rnn_exercises.ipynb").write_bytes(data)
    return d


def test_intake_rejects_and_explains(tmp_path, monkeypatch):
    good = json.dumps(SRC).encode()
    _folder(tmp_path, "ok", good)
    _folder(tmp_path, "big", good)
    _folder(tmp_path, "$(rm -rf)", good)
    (tmp_path / "submitted" / ".DS_Store").write_text("x")
    (tmp_path / "submitted" / "stray.txt").write_text("x")
    d = tmp_path / "submitted" / "dirnb" / "ch01_rnn" / "rnn_exercises.ipynb"
    d.mkdir(parents=True)
    monkeypatch.setattr(intake_mod, "MAX_NOTEBOOK_BYTES", len(good) - 1)
    recs = {r.student: r for r in intake_mod.intake(
        tmp_path, "ch01_rnn", {"rnn_exercises": SRC}, tmp_path / "stage")}
    assert ".DS_Store" not in recs
    assert "larger than" in recs["big"].reason
    assert "student id rejected" in recs[ascii("$(rm -rf)")].reason
    assert "not a folder" in recs["stray.txt"].reason
    assert "not a regular file" in recs["dirnb"].reason
    assert not any(r.gradable for r in recs.values())


def test_bad_input_gives_one_clear_line(tmp_path):
    root = make_course(tmp_path / "course")
    with pytest.raises(CourseError, match="unknown chapter 'ch99_x'.*ch01_rnn"):
        check_chapter(root, "ch99_x")
    os.rmdir(root / "submitted")
    with pytest.raises(CourseError, match="no submitted/ folder"):
        grade("ch01_rnn", root=root, echo=lambda *a: None)
    with pytest.raises(CourseError, match="not a course directory"):
        grade("ch01_rnn", root=tmp_path, echo=lambda *a: None)
    proc = subprocess.run([sys.executable, "-m", "lstm_ref.grading", "grade", "nope",
                           "--root", str(root)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: unknown chapter") and "Traceback" not in proc.stderr


def test_csv_keeps_other_chapters_rows(tmp_path):
    path = tmp_path / "grades.csv"
    write_csv(path, "ch02_vanishing", [StudentGrade("ann", "graded", 3, 5, 3, 0)])
    write_csv(path, "ch01_rnn", [StudentGrade("ann", "not graded", reason="empty, really")])
    write_csv(path, "ch01_rnn", [StudentGrade("bob", "graded", 1, 2, 1, 0)])
    rows = path.read_text().splitlines()
    assert rows[1:] == ["ch01_rnn,bob,graded,1,2,1,0,,", "ch02_vanishing,ann,graded,3,5,3,0,,"]


def test_csv_keeps_rows_of_an_older_layout_and_sets_a_foreign_file_aside(tmp_path):
    path = tmp_path / "grades.csv"
    path.write_text("chapter,student,status,score\nch02_vanishing,ann,graded,3\n")
    write_csv(path, "ch01_rnn", [StudentGrade("bob", "graded", 1, 2, 1, 0)])
    rows = list(csv.DictReader(open(path)))
    assert [(r["chapter"], r["student"], r["score"]) for r in rows] == [
        ("ch01_rnn", "bob", "1"), ("ch02_vanishing", "ann", "3")]
    path.write_text("name,mark\nann,12\n")
    write_csv(path, "ch01_rnn", [StudentGrade("bob", "graded", 1, 2, 1, 0)])
    backups = list(tmp_path.glob("grades.csv.*.bak"))
    assert len(backups) == 1 and backups[0].read_text() == "name,mark\nann,12\n"
    assert "ch01_rnn,bob" in path.read_text()


@pytest.mark.pipeline
def test_release_to_book_writes_student_notebooks_without_solutions(tmp_path):
    from lstm_ref.grading.release_to_book import release_to_book

    root = make_course(tmp_path / "course")
    first = release_to_book(root, quiet=True)
    assert first and all(status == "written" for _, status in first)
    for path, _ in first:
        text = path.read_text()
        nb = json.loads(text)
        assert path.parent.parent.name == "chapters" and path.parent.name.startswith("ch")
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
        assert "NotImplementedError" in text
        assert nb["metadata"]["mystnb"]["execution_mode"] == "off"
    again = release_to_book(root, quiet=True)
    assert all(status == "unchanged" for _, status in again)


@pytest.mark.pipeline
def test_a_sandbox_that_cannot_start_stops_the_run_with_a_reason(tmp_path, monkeypatch):
    from lstm_ref.grading import sandbox

    root = make_course(tmp_path / "course")
    (root / "submitted" / "ann" / "ch01_rnn").mkdir(parents=True)
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: "/bin/false")
    with pytest.raises(CourseError, match="sandbox does not start"):
        grade("ch01_rnn", root=root, echo=lambda *a: None)
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    with pytest.raises(CourseError, match="apt-get install bubblewrap"):
        grade("ch01_rnn", root=root, echo=lambda *a: None)


# --- issue 18: pasted test cells, active content, feedback that is not an oracle -------------

def test_a_test_cell_pasted_near_the_top_changes_nothing():
    from lstm_ref.grading.sanitize import sanitize as repair

    src = source_nb("ch01_rnn", "rnn_exercises")
    nb = json.loads(json.dumps(src))
    i = next(k for k, c in enumerate(nb["cells"])
             if c["metadata"].get("nbgrader", {}).get("grade_id") == "test_step_forward_values")
    nb["cells"].insert(1, json.loads(json.dumps(nb["cells"][i])))  # before any definition
    clean, notes = repair(json.dumps(nb).encode(), src)
    graded = [k for k, c in enumerate(clean["cells"])
              if c["metadata"].get("nbgrader", {}).get("grade_id") == "test_step_forward_values"]
    assert graded == [i + 1]  # the copy at the test's place counts, the pasted one does not
    assert clean["cells"][1]["metadata"] == {} and any("a copy" in n for n in notes)


@pytest.mark.parametrize("text", [
    "<script>alert(1)</script>", '<img src=x onerror="alert(1)">', "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>", '<iframe src="https://x"></iframe>',
    "[a](javascript:alert(1))", "[a](&#106;avascript:alert(1))", "[a](java&Tab;script:alert(1))",
    '<a href="javascript:alert(1)">a</a>', '<details ontoggle="alert(1)" open>x</details>',
])
def test_active_content_is_removed_from_markdown(text):
    from html.parser import HTMLParser

    from nbconvert.filters.markdown import markdown2html

    from lstm_ref.grading.sanitize import strip_active

    out, changed = strip_active(text)
    assert changed
    found = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag in ("script", "iframe", "svg"):
                found.append(tag)
            found.extend(k for k, v in attrs if k.startswith("on")
                         or "script:" in (v or "").replace("\t", "").lower())

    P().feed(markdown2html(out))
    assert not found, (out, found)


def test_plain_markdown_and_maths_stay_as_written():
    from lstm_ref.grading.sanitize import strip_active

    for text in ["**bold** and $a < b$, $$x_t = W h_{t-1}$$", "| a | b |\n|---|---|\n| 1 | 2 |",
                 "[the book](https://example.org) <b>kept</b>"]:
        import html

        out, changed = strip_active(text)
        assert not changed and html.unescape(out) == text  # at most "<" spelt "&lt;"


def test_hidden_failures_show_the_check_and_its_hint_only():
    from lstm_ref.checks import ch01
    from lstm_ref.grading.verdict import check_title, public_message, split_hidden

    src = ("# 2 points: the values of h_next\nchecks.step_forward_values(rnn_step_forward)\n"
           "### BEGIN HIDDEN TESTS\nchecks.step_forward_values(rnn_step_forward, seed=1)\n"
           "### END HIDDEN TESTS")
    assert [h for h, _ in split_hidden(src)] == [False, True]
    title = check_title(src)
    assert title == "rnn_step_forward: the values of h_next"
    hint = "compare each term of the pre-activation and the nonlinearity with the forward page"
    msg = public_message(title, "CheckFailed", "h_next has wrong values (largest relative "
                         f"error 3.1e-01, tolerance 1e-07). Hint: {hint}", ch01, hidden=True)
    assert msg == f"{title}: on the hidden tests, the result is wrong. Hint: {hint}"
    forged = public_message(title, "CheckFailed", "rnn_step_forward raised ValueError: "
                            "x=[0.123] Hint: x=[0.123]", ch01, hidden=True)
    assert "0.123" not in forged and "raised an error" in forged


def test_outputs_are_capped_on_the_trusted_side():
    from lstm_ref.grading.verdict import CELL_TEXT_CAP, NOTEBOOK_TEXT_CAP, _Allowance, _cell_outputs

    allowance = _Allowance()
    total = 0
    for _ in range(200):
        outs = _cell_outputs({"stdout": "x" * 10_000_000, "error": {"type": "E" * 500,
                              "msg": "m" * 10_000_000}}, allowance)
        for o in outs:
            text = o.get("text", "") + o.get("evalue", "") + o.get("ename", "")
            assert len(text) <= CELL_TEXT_CAP + 200
            total += len(text)
    assert total <= NOTEBOOK_TEXT_CAP + 200 * 3 * 200
    assert _cell_outputs({"stdout": "secret"}, _Allowance(), withheld=True)[0]["text"] \
        .startswith("[output not shown")


def test_feedback_page_is_hardened():
    from lstm_ref.grading.feedback import CSP, harden_page

    page = ('<html><head><script src="https://cdn/mathjax.js"></script><script>init()</script>'
            '</head><body><a href="#test_x">Test cell</a></body></html>')
    out = harden_page(page, {"test_x": "f: the <values>"})
    assert "cdn" not in out and "init()" not in out and CSP in out
    assert out.count("<script") == 2 and 'src="mathjax/tex-svg.js"' in out
    assert '<a href="#test_x">f: the &lt;values&gt;</a>' in out


def test_a_test_cell_is_bounded_on_the_trusted_side_too(monkeypatch):
    import types

    from lstm_ref.grading import verdict
    from lstm_ref.grading.verdict import run_test_cell

    class Slow:
        call_timeout = 0.01

        def lookup(self, name):
            return lambda *a: None

    # the cell's limit: ten calls' worth and 30 s more (here 30.1 s), a backstop behind the
    # per-call limits; the test waits out a shorter one, the mechanism being the same
    assert verdict._cell_limit(Slow()) == pytest.approx(30.1)
    monkeypatch.setattr(verdict, "_cell_limit", lambda session: 0.5)
    checks = types.SimpleNamespace(slow=lambda f: __import__("time").sleep(3600))
    out = run_test_cell("checks.slow(f)", "t", checks, Slow())
    assert not out.passed and out.ename == "GradingError" and "longer than 0.5 s" in out.evalue
