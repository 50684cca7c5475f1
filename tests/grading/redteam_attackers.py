"""Attackers of chapters 2 to 6 for the red-team suite (``test_redteam_chapters.py``).

An attacker is a released notebook with every solution cell filled in, then changed:
``replace`` swaps whole solution cells (``@SOL:<id>@`` stands for that cell's solution),
``cells`` inserts cells (``(where, type, source)``: ``"top"`` after the setup cell, ``"end"``,
or after the cell with that grade id) and ``paste`` copies a test cell to the top. Its
expected score is computed from ``honest``: the replacements that do the same honestly (a
function that raises where the attacker's earns nothing by the rules, the same code where
the attack only tries to break the grader), never typed in.
"""

from dataclasses import dataclass, field

MARK = "document.title='PWNED';document.documentElement.setAttribute('data-pwned','1');"
HTML = "\n\n".join([
    f"<script>{MARK}</script>", f'<img src="x" onerror="{MARK}">',
    f"<svg><script>{MARK}</script></svg>", f'<svg onload="{MARK}"></svg>',
    f'<iframe srcdoc="<script>parent.{MARK}</script>"></iframe>',
    f"[a link](javascript:{MARK})", f"[another](&#106;avascript:{MARK})",
    f'<a href="java&#x09;script:{MARK}">tab</a>', f'<details open ontoggle="{MARK}">x</details>',
])
BIG_MODULE = ("import torch\nclass _Big(torch.nn.Linear):\n    def __init__(self):\n"
              "        torch.nn.Module.__init__(self)\n"
              "        self.in_features = self.out_features = 1 << 40\n")
FLOOD_CELL = ("import sys\nfor i in range(200000):\n    print('flood ' * 20)\n"
              "sys.stderr.write('e' * 5_000_000)")
CPU_CELL = ("import subprocess, sys\n_burners = [subprocess.Popen([sys.executable, '-c', "
            "'import time\\nt = time.time()\\nwhile time.time() - t < 8: pass']) "
            "for _ in range(4)]")
NOISE_CELL = ("import logging, warnings, sys\nlogging.warning('a warning from logging')\n"
              "warnings.warn('careful', UserWarning)\nfor i in range(5):\n"
              "    sys.stderr.write(f'\\r{i * 20}%|###  | {i}/5 [00:00<00:00]')")
# (the token is built at run time: the cell's own source, shown in feedback, must not hold it)
LEAK_CELL = ("import os\n_t = 'LE' + 'AK-'\nprint(_t + (' ' + _t).join(_seen))\n"
             "if os.path.exists('/tmp/seen'):\n    print(_t + open('/tmp/seen').read())\n"
             "raise RuntimeError(_t + (' ' + _t).join(_seen))")


def _stash(fn):
    """A cell that wraps ``fn``: every call's arguments are kept in ``_seen`` and a file."""
    return (f"_seen = []\n_orig_{fn} = {fn}\n"
            f"def {fn}(*a, **k):\n    t = repr(a)[:300].replace('\\n', ' ')\n    _seen.append(t)\n"
            f"    {fn}.__name__ = 'f' + str(len(_seen))\n"
            "    with open('/tmp/seen', 'a') as fh:\n        fh.write(t + ' ')\n"
            f"    return _orig_{fn}(*a, **k)\n")


@dataclass
class Attack:
    name: str
    replace: dict = field(default_factory=dict)
    honest: dict = None  # None: the same replacements (the attack only aims at the grader)
    cells: list = field(default_factory=list)  # (where, "code" | "markdown", source)
    paste: str = None  # grade id of a test cell pasted at the top (metadata and all)


def generic(fn, gid, first_test):
    """The attacks every chapter gets, on its function ``fn`` (solution cell ``gid``) whose
    first test cell is ``first_test``."""
    return [
        Attack("html-in-markdown", cells=[("top", "markdown", HTML), ("end", "markdown", HTML)]),
        Attack("oracle-stash-and-leak", cells=[(gid, "code", _stash(fn)),
                                               (first_test, "code", LEAK_CELL),
                                               ("end", "code", LEAK_CELL)]),
        Attack("pasted-test-cell-at-top", paste=first_test),
    ]


def huge_array(fn):
    return Attack("huge-array-result", {fn[1]: f"import numpy as np\ndef {fn[0]}(*a, **k):\n"
                                                "    return np.ones((1 << 21, 8))"},
                  {fn[1]: f"import numpy as np\ndef {fn[0]}(*a, **k):\n    return np.ones(3)"})


def deep(fn):
    return Attack("deep-structure", {fn[1]: f"def {fn[0]}(*a, **k):\n    r = []\n"
                                            "    for _ in range(200_000):\n        r = [r]\n"
                                            "    return r"},
                  {fn[1]: f"def {fn[0]}(*a, **k):\n    return []"})


def many(fn):
    return Attack("many-values", {fn[1]: f"def {fn[0]}(*a, **k):\n"
                                         "    return list(range(3_000_000))"},
                  {fn[1]: f"def {fn[0]}(*a, **k):\n    return [0]"})


def module(fn):
    return Attack("oversized-torch-module", {fn[1]: BIG_MODULE + f"def {fn[0]}(*a, **k):\n"
                                                                 "    return _Big()"},
                  {fn[1]: f"def {fn[0]}(*a, **k):\n    return 'not an array'"})


def none(fn):
    return Attack("returns-none", {fn[1]: f"def {fn[0]}(*a, **k):\n    return None"})


def flood(fn):
    return Attack("output-flood", {fn[1]: f"@SOL:{fn[1]}@\n_q_{fn[0]} = {fn[0]}\n"
                                          f"def {fn[0]}(*a, **k):\n"
                                          "    for i in range(20000):\n        print('x' * 80)\n"
                                          f"    return _q_{fn[0]}(*a, **k)"},
                  {fn[1]: f"@SOL:{fn[1]}@"}, cells=[("top", "code", FLOOD_CELL)])


def raising(name, *gids_and_defs):
    return {gid: f"def {fn}(*a, **k):\n    raise NotImplementedError" for gid, fn in gids_and_defs}


ATTACKS = {
    "ch02_vanishing": generic("clip_grad_norm", "clip_grad_norm", "test_clip_values") + [
        none(("clip_grad_norm", "clip_grad_norm")),
        Attack("reference-via-module-dict",
               {"clip_grad_norm": "import lstm_ref.numpy.vanishing as _v\n"
                                  "def clip_grad_norm(grads, max_norm):\n"
                                  "    return vars(_v)['clip_grad_norm'](grads, max_norm)"},
               raising("x", ("clip_grad_norm", "clip_grad_norm"))),
    ],
    "ch03_lstm": generic("lstm_step_forward", "lstm_step_forward", "test_step_forward_shape") + [
        module(("lstm_params_from_torch", "lstm_params_from_torch")),
        flood(("init_forget_bias", "init_forget_bias")),
    ],
    "ch04_variants": generic("gru_step_forward", "gru_step_forward", "test_gru_forward_shape") + [
        huge_array(("gru_step_forward", "gru_step_forward")),
        deep(("gru_step_backward", "gru_step_backward")),
        many(("peephole_lstm_step_forward", "peephole_lstm_step_forward")),
        module(("gru_step_forward_reset_before", "gru_step_forward_reset_before")),
        none(("gru_step_forward_reset_before", "gru_step_forward_reset_before")),
        flood(("gru_step_forward", "gru_step_forward")),
        Attack("cpu-burner", cells=[("top", "code", CPU_CELL)]),
        Attack("stderr-noise", cells=[("top", "code", NOISE_CELL)]),
        Attack("private-reference-helper",
               {"gru_step_forward": "import numpy as np\nfrom lstm_ref.numpy import gru as _g\n"
                                    "def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):\n"
                                    "    return _g.gru_step_forward(x, h_prev, Wx, Wh, bx, bh)"},
               raising("x", ("gru_step_forward", "gru_step_forward"))),
        Attack("torch-twin",
               {"gru_step_forward": "import torch\nimport lstm_ref.torch.gru as _tg\n"
                                    "def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):\n"
                                    "    for name in dir(_tg):\n"
                                    "        getattr(_tg, name)\n"
                                    "    raise NotImplementedError"},
               raising("x", ("gru_step_forward", "gru_step_forward"))),
        Attack("autograd-backward",
               {"gru_step_backward":
                "import torch\n"
                "def gru_step_backward(dh_next, cache):\n"
                "    x, h_prev, Wx, Wh, bx, bh = (torch.tensor(a, requires_grad=True) for a in cache[:6])\n"
                "    H = h_prev.shape[1]\n"
                "    ax, ah = x @ Wx + bx, h_prev @ Wh + bh\n"
                "    r = torch.sigmoid(ax[:, :H] + ah[:, :H])\n"
                "    z = torch.sigmoid(ax[:, H:2*H] + ah[:, H:2*H])\n"
                "    n = torch.tanh(ax[:, 2*H:] + r * ah[:, 2*H:])\n"
                "    h = (1 - z) * n + z * h_prev\n"
                "    h.backward(torch.tensor(dh_next))\n"
                "    return tuple(t.grad.numpy() for t in (x, h_prev, Wx, Wh, bx, bh))"},
               raising("x", ("gru_step_backward", "gru_step_backward"))),
        Attack("library-recurrent-cell",
               {"gru_step_forward_reset_before":
                "import torch\n"
                "def gru_step_forward_reset_before(x, h_prev, Wx, Wh, bx, bh):\n"
                "    cell = torch.nn.GRUCell(x.shape[1], h_prev.shape[1], dtype=torch.float64)\n"
                "    raise NotImplementedError"},
               raising("x", ("gru_step_forward_reset_before", "gru_step_forward_reset_before"))),
    ],
    "ch05_nngraph": generic("build_z_network", "build_z_network", "test_z_forward") + [
        Attack("fanout-returns-none", {"fanout": "@SOL:fanout@\ndef fanout_gradient(x, W, dz):\n"
                                                 "    return None"}),
        Attack("fanout-huge", {"fanout": "@SOL:fanout@\ndef fanout_gradient(x, W, dz):\n"
                                         "    return np.ones((1 << 21, 8))"},
               {"fanout": "@SOL:fanout@\ndef fanout_gradient(x, W, dz):\n    return np.ones(3)"}),
        Attack("fanout-deep", {"fanout": "@SOL:fanout@\ndef fanout_gradient(x, W, dz):\n"
                                         "    r = []\n    for _ in range(200_000):\n"
                                         "        r = [r]\n    return r"},
               {"fanout": "@SOL:fanout@\ndef fanout_gradient(x, W, dz):\n    return []"}),
        Attack("z-network-torch-module", {"build_z_network": BIG_MODULE +
                                          "def build_z_network(n_in, n_out):\n    return _Big()"},
               {"build_z_network": "def build_z_network(n_in, n_out):\n    return 'no graph'"}),
        Attack("zero-weight-linear",
               {"linear": "@SOL:linear@\n_Lin = Linear\nclass Linear(_Lin):\n"
                          "    def __init__(self, n_in, n_out, rng=None):\n"
                          "        super().__init__(n_in, n_out, rng)\n"
                          "        self.weight[...] = 0.0\n        self.bias[...] = 0.0"}),
        Attack("other-chapter-lstm-cell",
               {"build_lstm_cell": "from lstm_ref.numpy.lstm import lstm_step_forward as _cell\n"
                                   "def build_lstm_cell(D, H):\n"
                                   "    _cell(*[np.zeros((1, 1))] * 3, np.zeros((1, 4)), "
                                   "np.zeros((1, 4)), np.zeros(4))\n"
                                   "    raise NotImplementedError"},
               raising("x", ("build_lstm_cell", "build_lstm_cell"))),
        Attack("autograd-fanout-gradient",
               {"fanout": "@SOL:fanout@\nimport torch\n"
                          "def fanout_gradient(x, W, dz):\n"
                          "    t = torch.tensor(x, requires_grad=True)\n"
                          "    ((t * t + t @ torch.tensor(W).T) * torch.tensor(dz)).sum().backward()\n"
                          "    return t.grad.numpy()"},
               {"fanout": "@SOL:fanout@\ndef fanout_gradient(x, W, dz):\n"
                          "    raise NotImplementedError"}),
        Attack("cpu-burner", cells=[("top", "code", CPU_CELL)]),
        flood(("build_z_network", "build_z_network")),
    ],
    "ch06_gpu": generic("segments", "segments", "test_segments_shapes") + [
        none(("clip_global_norm", "clip_global_norm")),
        deep(("segments", "segments")),
        many(("segments", "segments")),
        module(("train_tbptt", "train_tbptt")),
        Attack("huge-tensor-result",
               {"make_streams": "import torch\ndef make_streams(data, batch):\n"
                                "    return torch.ones(1 << 22, 2, dtype=torch.float64)"},
               {"make_streams": "import torch\ndef make_streams(data, batch):\n"
                                "    return torch.ones(3, dtype=torch.float64)"}),
        Attack("other-chapter-clip",
               {"clip_global_norm": "from lstm_ref.numpy.vanishing import clip_grad_norm as _c\n"
                                    "def clip_global_norm(grads, max_norm):\n"
                                    "    return _c(grads, max_norm)"},
               raising("x", ("clip_global_norm", "clip_global_norm"))),
        Attack("train-mutates-inputs",
               {"train_tbptt": "@SOL:train_tbptt@\n_t = train_tbptt\n"
                               "def train_tbptt(params, *a, **k):\n"
                               "    out = _t(params, *a, **k)\n"
                               "    for v in params.values():\n"
                               "        v.data.zero_()\n"
                               "    return out"}),
        Attack("cpu-burner", cells=[("top", "code", CPU_CELL)]),
        Attack("stderr-noise", cells=[("top", "code", NOISE_CELL)]),
        flood(("clip_global_norm", "clip_global_norm")),
    ],
}
