"""The graph benchmark runs and reports every case (its timings are not asserted)."""

import pytest

from lstm_ref.graph import bench


def test_time_lstm_graphs_reports_every_case():
    rows = bench.time_lstm_graphs(sizes=[(2, 3, 4)], repeats=1)
    assert [r["graph"] for r in rows] == ["four sums", "narrow", "reshape + split", bench.REFERENCE]
    for r in rows:
        assert (r["N"], r["D"], r["H"]) == (2, 3, 4)
        assert r["forward_ms"] > 0 and r["fwdbwd_ms"] > 0 and r["fwdbwd_cpu_ms"] >= 0
    assert rows[-1]["fwdbwd_vs_numpy"] == pytest.approx(1.0)
    table = bench.format_table(rows)
    assert "reshape + split" in table and "vs numpy" in table


def test_command_line(capsys):
    bench.main(["--sizes", "1,2,2", "--repeats", "1"])
    assert "numpy lstm_step" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        bench.main(["--sizes", "1,2"])


def test_bad_arguments():
    with pytest.raises(ValueError, match="repeats must be an int >= 1"):
        bench.time_lstm_graphs(repeats=0)
    with pytest.raises(ValueError, match=r"\(N, D, H\)"):
        bench.time_lstm_graphs(sizes=[(1, 2)])
