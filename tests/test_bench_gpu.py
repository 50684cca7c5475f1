"""The GPU benchmark's CPU mode runs on tiny sizes and writes JSON of the documented schema
(no timing is asserted); its TF32 handling restores the caller's settings; its check is
relative to a float64 reference; on a CPU it says what its baseline is."""

import json

import pytest
import torch

from lstm_ref import bench_gpu


def test_quick_cpu_run_writes_the_schema(tmp_path, capsys):
    out = tmp_path / "b.json"
    assert bench_gpu.main(["--quick", "--device", "cpu", "--impls", "cudnn", "ours", "fused",
                           "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["schema"] == bench_gpu.SCHEMA and data["device_type"] == "cpu"
    for key in ("device", "date", "torch", "peak_tflops", "machine", "settings", "check",
                "rows", "load_average", "cudnn", "profile", "baseline", "warnings"):
        assert key in data, key
    assert data["cudnn"] == {"enabled": "n/a", "version": "n/a"}
    assert data["profile"] == {"fp32 N=2 H=8": {"kernels": "n/a", "persistent": "n/a"}}
    assert "not cuDNN" in data["baseline"]
    check = data["check"]
    assert check["pass"] is True and check["backend"] == "torch", check
    case = check["cases"]["fp32"]
    # relative to float64, with torch.nn.LSTM's own float32 error as the yardstick
    assert 0 < case["torch_lstm_error"] < 1e-5
    assert case["forward_error"] <= case["tolerance"] and case["grad_error"] <= case["tolerance"]
    assert case["tolerance"] == pytest.approx(
        bench_gpu.CHECK_FACTOR * max(case["torch_lstm_error"], torch.finfo(torch.float32).eps))
    rows = data["rows"]
    assert {(r["impl"], r["pass"]) for r in rows} == {
        (i, p) for i in ("cudnn", "ours", "fused") for p in ("fwd", "fwdbwd")}
    for r in rows:
        assert r["error"] is None and r["seconds"] > 0
        assert r["spread_s"][0] <= r["seconds"] <= r["spread_s"][1]
        assert r["tokens_per_s"] == pytest.approx(r["T"] * r["N"] / r["seconds"])
        assert r["tflops"] > 0 and r["fraction_of_peak"] > 0
    assert all(r["ratio_to_cudnn"] == 1.0 for r in rows if r["impl"] == "cudnn")
    assert data["machine"]["matmul_tflops"] > 0 and data["machine"]["bandwidth_gbs"] > 0
    assert all(isinstance(v, float) for v in data["machine"].values())
    printed = capsys.readouterr().out
    assert "x nn.LSTM" in printed and "x cuDNN" not in printed.split("target:")[0]
    assert "nn.LSTM (CPU)" in printed and "median of" in printed


def test_a_busy_machine_is_flagged_not_hidden():
    rows = [{"impl": "fused", "pass": p, "T": 2, "N": 1, "H": 4, "dtype": "fp32",
             "seconds": s, "tokens_per_s": 2 / s, "ratio_to_cudnn": 1.0, "tflops": 1.0,
             "fraction_of_peak": 1.7, "compile_s": None, "error": None}
            for p, s in (("fwd", 2.0), ("fwdbwd", 1.0))]
    table = bench_gpu.format_table({"device_type": "cpu", "rows": rows, "settings": {},
                                    "warnings": ["fp32 N=1 H=4 fused: forward slower"]})
    assert "warning: fp32 N=1 H=4 fused: forward slower" in table


def test_tf32_is_set_alike_and_the_callers_flags_restored():
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        for user in ((True, False), (False, True)):
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = user
            for on in (False, True):
                with bench_gpu.tf32_setting(on):
                    assert torch.backends.cudnn.allow_tf32 is on
                    assert torch.backends.cuda.matmul.allow_tf32 is on
                assert (torch.backends.cudnn.allow_tf32,
                        torch.backends.cuda.matmul.allow_tf32) == user
            with pytest.raises(RuntimeError):  # restored on an error too
                with bench_gpu.tf32_setting(True):
                    raise RuntimeError("boom")
            assert (torch.backends.cudnn.allow_tf32,
                    torch.backends.cuda.matmul.allow_tf32) == user
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def test_a_wrong_fused_layer_fails_the_check(monkeypatch):
    from lstm_ref.torch import fused

    real = fused._pointwise_forward_torch

    def broken(a, c_prev, gates_out, h_out, c_out):
        real(a, c_prev, gates_out, h_out, c_out)
        h_out.mul_(1 + 1e-4)  # a relative error of 1e-4 on every h

    monkeypatch.setattr(fused, "_pointwise_forward_torch", broken)
    check = bench_gpu.check_fused(torch.device("cpu"), ("fp32",), T=4, N=2, H=8)
    assert check["pass"] is False and check["cases"]["fp32"]["forward_error"] > 5e-5


def test_peak_table_matches_device_names():
    assert bench_gpu.peak_for("NVIDIA H100 80GB HBM3")[0]["bf16"] == pytest.approx(989.4)
    assert bench_gpu.peak_for("NVIDIA H100 80GB HBM3")[0]["tf32"] == pytest.approx(494.7)
    assert bench_gpu.peak_for("NVIDIA H100 PCIe")[0]["bf16"] == pytest.approx(756.0)
    assert bench_gpu.peak_for("NVIDIA H200")[0]["fp32"] == pytest.approx(67.0)
    assert bench_gpu.peak_for("Some Other GPU") == (None, None)


def test_bad_arguments_exit_2():
    with pytest.raises(SystemExit) as exc:
        bench_gpu.main(["--T", "0"])
    assert exc.value.code == 2
