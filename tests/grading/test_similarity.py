"""lstm_ref.grading.similarity: near-copies survive renaming and comments (markers such as
NotImplementedError included), every code cell is compared, a stub or a provided cell
makes no one alike, and a pair is reported as a pair with both submission times."""

import json

from grading_helpers import source_nb

from lstm_ref.grading.similarity import THRESHOLD, ratio, similarity_flags, tokens

ORIGINAL = '''
def rnn_step_forward(x, h_prev, Wx, Wh, b):
    """One step."""
    a = x @ Wx + h_prev @ Wh + b  # (N, H)
    h_next = np.tanh(a)
    cache = (x, h_prev, Wx, Wh, b, h_next)
    return h_next, cache
'''
RENAMED = '''
def step(inp, prev, A, B, bias):
    # my own words
    pre = inp @ A + prev @ B + bias
    out = np.tanh(pre)

    saved = (inp, prev, A, B, bias, out)
    return out, saved
'''
DIFFERENT = '''
def rnn_step_forward(x, h_prev, Wx, Wh, b):
    N = x.shape[0]
    out = np.empty((N, Wx.shape[1]))
    for n in range(N):
        out[n] = np.tanh(np.dot(x[n], Wx) + np.dot(h_prev[n], Wh) + b)
    return out, {"inputs": (x, h_prev), "weights": (Wx, Wh, b), "out": out}
'''

MINE = ("def rnn_forward(x, h0, Wx, Wh, b):\n    T, N, _ = x.shape\n"
        "    H = h0.shape[1]\n    hs = np.zeros((T, N, H))\n    caches = []\n    h = h0\n"
        "    for t in range(T):\n        h, c = rnn_step_forward(x[t], h, Wx, Wh, b)\n"
        "        hs[t] = h\n        caches.append(c)\n    return hs, (caches, 'seq')\n")
HELPER = ("def my_norms(grads):\n    total = 0.0\n    for g in grads:\n"
          "        for row in np.atleast_2d(g):\n            total = total + float(row @ row)\n"
          "    scale = np.sqrt(total) if total > 0 else 1.0\n"
          "    return [g / scale for g in grads], {'total': total, 'scale': scale}\n")


def test_renaming_and_comments_do_not_hide_a_copy():
    assert tokens(ORIGINAL) == tokens(RENAMED)
    assert ratio(tokens(ORIGINAL), tokens(RENAMED)) == 1.0
    assert ratio(tokens(ORIGINAL), tokens(DIFFERENT)) < THRESHOLD
    marked = RENAMED.replace("# my own words", "# raise NotImplementedError  (TODO)")
    assert tokens(marked) == tokens(ORIGINAL)


def _stage(tmp_path, students):
    """Stage ``{student: ({grade_id: code}, [extra cells], timestamp)}`` from the source."""
    src = source_nb("ch01_rnn", "rnn_exercises")
    stage = tmp_path / "stage"
    for student, (cells, extra, stamp) in students.items():
        nb = json.loads(json.dumps(src))
        for cell in nb["cells"]:
            gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
            if gid in cells:
                cell["source"] = cells[gid]
            elif cell["metadata"].get("nbgrader", {}).get("solution") \
                    and cell["cell_type"] == "code":
                cell["source"] = "raise NotImplementedError()\n"  # a stub, like everyone's
        for code in extra:
            nb["cells"].append({"cell_type": "code", "metadata": {}, "source": code,
                                "outputs": [], "execution_count": None})
        folder = stage / student / "ch01_rnn"
        folder.mkdir(parents=True)
        (folder / "rnn_exercises.ipynb").write_text(json.dumps(nb))
        if stamp:
            (folder / "timestamp.txt").write_text(stamp)
    return src, stage


def test_a_pair_is_reported_once_with_both_submission_times(tmp_path):
    copy = MINE.replace("hs", "states").replace("caches", "memo")
    copy = copy.replace("    H = h0", "    # NotImplementedError\n    H = h0")
    src, stage = _stage(tmp_path, {
        "ann": ({"rnn_forward": MINE}, [], "2026-12-01 10:00:00"),
        "bob": ({"rnn_forward": copy}, [], "2026-12-02 09:30:00"),
        "eve": ({}, [], "2026-12-01 11:00:00"),
    })
    flags = similarity_flags(tmp_path, "ch01_rnn", stage, {"rnn_exercises": src},
                             ["ann", "bob", "eve"], targets=[])
    (line,) = flags["ann"]
    assert "ann (submitted 2026-12-01 10:00:00)" in line
    assert "bob (submitted 2026-12-02 09:30:00)" in line and "rnn_forward" in line
    assert "cop" not in line  # nobody is said to have copied anybody
    assert "bob" not in flags and "eve" not in flags  # stubs alike make no one alike


def test_every_code_cell_is_compared_not_only_solution_cells(tmp_path):
    src, stage = _stage(tmp_path, {
        "ann": ({}, [HELPER], "t1"),
        "bob": ({}, [HELPER.replace("total", "acc").replace("scale", "s")], "t2"),
        "cid": ({}, [DIFFERENT], None),
    })
    flags = similarity_flags(tmp_path, "ch01_rnn", stage, {"rnn_exercises": src},
                             ["ann", "bob", "cid"], targets=[])
    assert list(flags) == ["ann"], flags
    assert "bob (submitted t2)" in flags["ann"][0] and "cell " in flags["ann"][0]
    assert "time unknown" not in flags["ann"][0]


def test_a_copy_of_the_reference_is_said_once_per_student(tmp_path):
    src = source_nb("ch01_rnn", "rnn_exercises")
    published = next(c for c in src["cells"]
                     if c["metadata"].get("nbgrader", {}).get("grade_id") == "rnn_forward")
    code = "".join(published["source"])
    src, stage = _stage(tmp_path, {"ann": ({"rnn_forward": code}, [], "t1"),
                                   "bob": ({"rnn_forward": code}, [], "t2")})
    flags = similarity_flags(tmp_path, "ch01_rnn", stage, {"rnn_exercises": src},
                             ["ann", "bob"], targets=["lstm_ref.numpy.rnn:rnn_forward"])
    for student in ("ann", "bob"):
        assert any("published solution (rnn_forward)" in line for line in flags[student])
        assert not any(line.startswith("pair") for line in flags[student]), flags
