"""Device runs stored under book/results/gpu/ and rendered by chapter 6: a synthetic run (in a
temporary folder, never committed as a result) is stored and rendered with its machine,
date, versions and every case; without a run the page says so and how to make one."""

import json

import pytest

from lstm_ref import gpu_results

ROWS = [{"impl": impl, "pass": p, "T": 100, "N": 256, "H": 1024, "D": 1024, "dtype": "bf16",
         "seconds": s, "tokens_per_s": 25600 / s, "ratio_to_cudnn": r, "tflops": 1.5,
         "fraction_of_peak": 0.0015, "compile_s": None, "error": None}
        for impl, p, s, r in (("cudnn", "fwd", 0.010, 1.0), ("cudnn", "fwdbwd", 0.031, 1.0),
                              ("fused-graph", "fwd", 0.0123, 0.813),
                              ("fused-graph", "fwdbwd", 0.0477, 0.65))]
ROWS.append(dict(ROWS[0], impl="fused-onestep", seconds=None, tokens_per_s=None,
                 ratio_to_cudnn=None, tflops=None, fraction_of_peak=None,
                 error="OutOfMemoryError: synthetic"))


def _fake_out(tmp_path, dry=False, preflight="ok"):
    out = tmp_path / "out"
    out.mkdir()
    bench = {"schema": "lstm_ref.bench_gpu/2", "device": "SYNTHETIC GPU 9000",
             "device_type": "cpu" if dry else "cuda", "date": "2031-02-03T04:05:06+00:00",
             "torch": "9.9.9-synthetic", "cuda": "99.1", "cudnn": {"enabled": True,
                                                                  "version": 99123},
             "settings": {"tf32": False, "repeats": 10, "timing": "CUDA events"},
             "check": {"pass": True, "cases": {"bf16": {"forward_error": 1e-3,
                                                        "grad_error": 2e-3, "pass": True}}},
             "profile": {"fp16 N=64 H=1024": {"kernels": ["synthetic_rnn_kernel"], "persistent": False}},
             "rows": ROWS, "warnings": [],
             "target": {"impl": "fused-graph", "pass": "fwdbwd", "N": 256, "H": 1024,
                        "dtype": "bf16", "min_ratio_to_cudnn": 0.5, "ratio": 0.65,
                        "met": True}}
    (out / "bench_gpu.json").write_text(json.dumps(bench))
    (out / "gpu_check.json").write_text(json.dumps({
        "dry_run": dry, "preflight": preflight, "message": "ok: synthetic",
        "stages": {"tests": {"status": "ok"}, "bench": {"status": "ok"},
                   "compiled": {"status": "timeout"}, "charlm": {"status": "ok"}}}))
    return out


def test_a_stored_run_is_rendered_with_its_machine_and_every_case(tmp_path):
    root = tmp_path / "results" / "gpu"
    dest = gpu_results.store_run(str(_fake_out(tmp_path)), str(root))
    assert dest.endswith("2031-02-03_synthetic-gpu-9000")
    runs = gpu_results.find_runs(str(root))
    assert len(runs) == 1 and runs[0]["compiled"] is None
    page = gpu_results.render(str(root))
    for text in ("SYNTHETIC GPU 9000", "2031-02-03T04:05:06", "torch 9.9.9-synthetic",
                 "cuDNN 99123", "CUDA 99.1", "TF32 off", "0.65×", "met",
                 "synthetic_rnn_kernel", "compiled timeout", "OutOfMemoryError: synthetic"):
        assert text in page, text
    for r in ROWS[:4]:  # every measured case, with its own numbers
        assert f"{1e3 * r['seconds']:.2f}" in page and f"{r['ratio_to_cudnn']:.2f}" in page
    assert page.count("<tr>") == 1 + len(ROWS) and "No GPU run" not in page  # head + rows


def test_without_a_run_the_page_says_how_to_make_one(tmp_path, monkeypatch):
    page = gpu_results.render(str(tmp_path / "nothing"))
    assert "No GPU run has been made" in page and "scripts/gpu_check.sh" in page
    assert "OUT=" in page
    monkeypatch.setenv("LSTM_REF_RESULTS", str(tmp_path / "results"))  # the results layer's
    assert gpu_results.default_root() == str(tmp_path / "results" / "gpu")
    assert "No GPU run has been made" in gpu_results.render()
    dest = gpu_results.store_run(str(_fake_out(tmp_path)))
    assert dest.startswith(str(tmp_path / "results" / "gpu")) and "SYNTHETIC" in \
        gpu_results.render()


@pytest.mark.parametrize("kw,message", [({"dry": True}, "dry"),
                                        ({"preflight": "failed"}, "pre-flight failed")])
def test_dry_or_failed_runs_are_not_stored(tmp_path, kw, message):
    with pytest.raises(ValueError, match=message):
        gpu_results.store_run(str(_fake_out(tmp_path, **kw)), str(tmp_path / "gpu"))


def test_store_refuses_to_overwrite_and_a_folder_without_a_run(tmp_path, capsys):
    root = tmp_path / "gpu"
    out = _fake_out(tmp_path)
    gpu_results.store_run(str(out), str(root))
    with pytest.raises(ValueError, match="exists already"):
        gpu_results.store_run(str(out), str(root))
    assert gpu_results.main(["store", str(tmp_path / "empty")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
