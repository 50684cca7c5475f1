"""The GPU benchmark's CPU mode runs on tiny sizes and writes JSON of the documented schema
(no timing is asserted)."""

import json

import pytest

from lstm_ref import bench_gpu


def test_quick_cpu_run_writes_the_schema(tmp_path, capsys):
    out = tmp_path / "b.json"
    assert bench_gpu.main(["--quick", "--device", "cpu", "--impls", "cudnn", "ours", "fused",
                           "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["schema"] == bench_gpu.SCHEMA and data["device_type"] == "cpu"
    for key in ("device", "date", "torch", "peak_tflops", "machine", "settings", "check",
                "rows", "load_average"):
        assert key in data, key
    assert data["check"]["pass"] is True and data["check"]["backend"] == "torch"
    assert data["check"]["cases"]["fp32"]["forward_error"] <= 1e-5
    rows = data["rows"]
    assert {(r["impl"], r["pass"]) for r in rows} == {
        (i, p) for i in ("cudnn", "ours", "fused") for p in ("fwd", "fwdbwd")}
    for r in rows:
        assert r["error"] is None and r["seconds"] > 0
        assert r["tokens_per_s"] == pytest.approx(r["T"] * r["N"] / r["seconds"])
        assert r["tflops"] > 0 and r["fraction_of_peak"] > 0
    assert all(r["ratio_to_cudnn"] == 1.0 for r in rows if r["impl"] == "cudnn")
    assert data["machine"]["matmul_tflops"] > 0 and data["machine"]["bandwidth_gbs"] > 0
    assert "x cuDNN" in capsys.readouterr().out


def test_peak_table_matches_device_names():
    assert bench_gpu.peak_for("NVIDIA H100 80GB HBM3")[0]["bf16"] == pytest.approx(989.4)
    assert bench_gpu.peak_for("NVIDIA H100 PCIe")[0]["bf16"] == pytest.approx(756.0)
    assert bench_gpu.peak_for("NVIDIA H200")[0]["fp32"] == pytest.approx(67.0)
    assert bench_gpu.peak_for("Some Other GPU") == (None, None)


def test_bad_arguments_exit_2():
    with pytest.raises(SystemExit) as exc:
        bench_gpu.main(["--T", "0"])
    assert exc.value.code == 2
