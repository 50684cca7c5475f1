"""Red team, chapters 2 to 6: the attackers of ``redteam_attackers.py``, one class per
chapter (two workers, the sandbox on, a course secret set), each attacker followed by an
honest student. As in ``test_redteam.py`` (chapter 1), an attacker's expected automatic
score is computed here from its honest content, through the same trusted checks. After each
run the suite counts, and requires zero of each:

- wrong grades: a status or automatic score other than the expected one;
- aborted batches: a run that stopped, or a student with no row;
- files touched: anything of the course outside the pipeline's outputs, or of this
  repository's ``lstm_ref``, ``solutions/`` and ``nbgrader_config.py``;
- leaks: a feedback page that shows a hidden-test line, the course secret, something the
  student's code saw once hidden tests had called it (``LEAK-``), active HTML (a script
  other than the page's MathJax, an event handler, a script URL, a frame), or that is over
  2 MB (the autograded notebook too).
"""

import json
import re
from html.parser import HTMLParser

import pytest

from grading_helpers import REPO, all_notebooks, fill, make_course, source_nb, submit
from redteam_attackers import ATTACKS, HTML
from redteam_helpers import _course_hash, _repo_hash, expected_auto, replace_cells

from lstm_ref.grading.feedback import hidden_lines, page_text
from lstm_ref.grading.measure import _solutions
from lstm_ref.grading.pipeline import grade
from lstm_ref.grading.sandbox import Limits

pytestmark = pytest.mark.pipeline

SECRET = "red-team-chapters-secret"
OUTPUTS = {"autograded", "feedback", "release"}


def test_at_least_forty_new_attackers_over_chapters_4_to_6():
    assert sum(len(ATTACKS[c]) for c in ("ch04_variants", "ch05_nngraph", "ch06_gpu")) >= 40
    names = {a.name for attacks in ATTACKS.values() for a in attacks}
    for kind in ("html", "huge", "deep", "many", "module", "oracle", "none", "flood", "cpu",
                 "pasted", "autograd", "reference", "twin", "other-chapter", "zero-weight",
                 "mutates"):
        assert any(kind in n for n in names), kind


def _notebook(chapter, name, attack, honest=False):
    src, rel = source_nb(chapter, name), RELEASED[(chapter, name)]
    code = _solutions(src)
    nb = fill(rel, src, set(code))
    replace = attack.replace if not honest or attack.honest is None else attack.honest
    replace_cells(nb, replace, code)
    if honest:
        return nb
    ids = [c["metadata"].get("nbgrader", {}).get("grade_id") for c in nb["cells"]]
    for where, kind, text in reversed(attack.cells):
        cell = {"cell_type": kind, "metadata": {}, "source": text}
        if kind == "code":
            cell.update(outputs=[], execution_count=None)
        at = 2 if where == "top" else len(nb["cells"]) if where == "end" else ids.index(where) + 1
        nb["cells"].insert(at, cell)
        ids.insert(at, None)
    if attack.paste:
        test = next(c for c in nb["cells"]
                    if c["metadata"].get("nbgrader", {}).get("grade_id") == attack.paste)
        nb["cells"].insert(2, json.loads(json.dumps(test)))
    return nb


RELEASED = {}


@pytest.fixture(scope="module", params=sorted(ATTACKS))
def attacked(request, tmp_path_factory, released):
    chapter = request.param
    RELEASED.update(released)
    root = make_course(tmp_path_factory.mktemp(f"course-red-{chapter}"))
    names = [n for c, n in all_notebooks() if c == chapter]
    expected = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_SECRET", SECRET)
        honest_nbs = {n: _notebook(chapter, n, ATTACKS[chapter][0], honest=True) for n in names}
        for n in names:  # an attack with no replacement and no cell is the honest notebook
            honest_nbs[n] = fill(RELEASED[(chapter, n)], source_nb(chapter, n),
                                 set(_solutions(source_nb(chapter, n))))
        honest_score = sum(expected_auto(honest_nbs[n], source_nb(chapter, n)) for n in names)
        for k, attack in enumerate(ATTACKS[chapter]):
            student = f"a{k:02d}-{attack.name}"
            score = 0.0
            for n in names:
                submit(root, student, chapter, n, _notebook(chapter, n, attack))
                score += expected_auto(_notebook(chapter, n, attack, honest=True),
                                       source_nb(chapter, n))
            expected[student] = ("graded", score)
            for n in names:
                submit(root, f"a{k:02d}-zhonest", chapter, n, honest_nbs[n])
            expected[f"a{k:02d}-zhonest"] = ("graded", honest_score)
        before = _course_hash(root, OUTPUTS), _repo_hash()
        limits = Limits(memory_bytes=2 << 30, cpu_seconds=120, processes=16)
        try:
            run = grade(chapter, root=root, echo=lambda *a: None, workers=2, limits=limits,
                        cell_timeout=40, call_timeout=15, timeout=400)
        except Exception as exc:  # an aborted batch
            run = exc
    return chapter, names, root, run, expected, before, honest_score


class _Active(HTMLParser):
    """Active content in a page: scripts other than the page's own MathJax, handlers,
    script URLs, frames, objects."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src") not in ("mathjax/config.js", "mathjax/tex-svg.js"):
            self.found.append(f"script {attrs}")
        if tag in ("iframe", "frame", "object", "embed", "base", "form"):
            self.found.append(tag)
        for k, v in attrs.items():
            if k.startswith("on") or "script:" in re.sub(r"\s", "", (v or "")).lower():
                self.found.append(f"{tag} {k}")


def _counts(attacked):
    chapter, names, root, run, expected, before, _ = attacked
    counts = {"wrong grades": [], "aborted batches": [], "files touched": [], "leaks": []}
    if isinstance(run, Exception):
        counts["aborted batches"].append(repr(run))
        return counts
    got = {g.student: g for g in run.grades}
    counts["aborted batches"] += sorted(set(expected) - set(got))
    for s, exp in expected.items():
        if s in got and (got[s].status, got[s].auto_score) != exp:
            counts["wrong grades"].append((s, got[s].status, got[s].auto_score, exp,
                                           got[s].reason))
    if _course_hash(root, OUTPUTS) != before[0] or _repo_hash() != before[1]:
        counts["files touched"].append("course or repository changed")
    for step in ("autograded", "feedback"):
        for p in (root / step).iterdir():
            if p.name not in expected or p.is_symlink():
                counts["files touched"].append(str(p))
    hidden = {n: [re.sub(r"[ \t]+", " ", line) for line in hidden_lines(source_nb(chapter, n))]
              for n in names}
    for s in expected:
        for n in names:
            page = root / "feedback" / s / chapter / f"{n}.html"
            if not page.is_file():
                counts["leaks"].append(f"{s}: no feedback page")  # (counted, to be seen)
                continue
            raw = page.read_text(encoding="utf-8")
            text = page_text(raw)
            graded_nb = root / "autograded" / s / chapter / f"{n}.ipynb"
            for f in (page, graded_nb):  # capped here, whatever the sandbox did
                if f.is_file() and f.stat().st_size > 2_000_000:
                    counts["leaks"].append(f"{s}: {f.name} of {f.stat().st_size} bytes")
            if SECRET in text or "LEAK-" in text:
                counts["leaks"].append(f"{s}: secret or LEAK- token")
            counts["leaks"] += [f"{s}: hidden line {line!r}" for line in hidden[n] if line in text]
            parser = _Active()
            parser.feed(raw)
            counts["leaks"] += [f"{s}: {f}" for f in parser.found]
    return counts


def test_zero_wrong_grades_aborted_batches_touched_files_and_leaks(attacked):
    counts = _counts(attacked)
    print(f"{attacked[0]}: " + ", ".join(f"{len(v)} {k}" for k, v in counts.items()))
    assert all(not v for v in counts.values()), {k: v for k, v in counts.items() if v}


def test_the_expected_scores_are_not_all_the_same(attacked):
    _, _, _, _, expected, _, honest_score = attacked
    assert honest_score > 0
    assert len({v[1] for v in expected.values()}) >= 2  # attackers lose points somewhere
