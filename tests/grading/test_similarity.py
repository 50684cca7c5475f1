"""lstm_ref.grading.similarity: near-copies survive renaming; different code does not match."""

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


def test_renaming_and_comments_do_not_hide_a_copy():
    assert tokens(ORIGINAL) == tokens(RENAMED)
    assert ratio(tokens(ORIGINAL), tokens(RENAMED)) == 1.0
    assert ratio(tokens(ORIGINAL), tokens(DIFFERENT)) < THRESHOLD


def test_flags_name_the_reference_and_the_classmate(tmp_path):
    src = source_nb("ch01_rnn", "rnn_exercises")
    stage = tmp_path / "stage"

    def put(student, code):
        nb = json.loads(json.dumps(src))
        for cell in nb["cells"]:
            if cell["metadata"].get("nbgrader", {}).get("grade_id") == "rnn_forward":
                cell["source"] = code
        folder = stage / student / "ch01_rnn"
        folder.mkdir(parents=True)
        (folder / "rnn_exercises.ipynb").write_text(json.dumps(nb))

    mine = ("def rnn_forward(x, h0, Wx, Wh, b):\n    T, N, _ = x.shape\n"
            "    H = h0.shape[1]\n    hs = np.zeros((T, N, H))\n    caches = []\n    h = h0\n"
            "    for t in range(T):\n        h, c = rnn_step_forward(x[t], h, Wx, Wh, b)\n"
            "        hs[t] = h\n        caches.append(c)\n    return hs, (caches, 'seq')\n")
    put("ann", mine)
    put("bob", mine.replace("hs", "states").replace("caches", "memo"))
    put("eve", "def rnn_forward(x, h0, Wx, Wh, b):\n    raise NotImplementedError\n")
    flags = similarity_flags(tmp_path, "ch01_rnn", stage, {"rnn_exercises": src},
                             ["ann", "bob", "eve"], targets=["lstm_ref.numpy.rnn:rnn_forward"])
    assert any("bob's" in line and "rnn_forward" in line for line in flags["ann"]), flags
    assert any("ann's" in line for line in flags["bob"])
    assert not any("eve" in line for lines in flags.values() for line in lines)
    # every student's unchanged solution cells equal the published solution: flagged as such
    assert any("published solution" in line for line in flags["eve"])
