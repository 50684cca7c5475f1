"""The benchmark runs (a tiny --quick run; no timing is asserted)."""

import os
import subprocess
import sys


def test_bench_quick_prints_its_table():
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root
    done = subprocess.run(
        [sys.executable, "-m", "lstm_ref.bench", "--quick"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "one thread" in out and "median" in out
    for case in ("torch.nn.LSTM forward (no grad)", "numpy lstm_forward+lstm_backward",
                 "lstm_ref.torch.LSTM forward+backward"):
        assert case in out
    assert "PASS" in out or "MISS" in out
