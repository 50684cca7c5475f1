"""scripts/gpu_check.sh on a CPU: it refuses a machine without a GPU in one line, refuses a
missing compiler before importing anything heavy, writes its JSON before and after every
stage, records a failing stage and goes on, never starts a stage it has no time for, and
runs every command under `timeout -k`."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "gpu_check.sh")

pytestmark = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                                reason="needs bash and coreutils' timeout")


def _run(out, timeout=240, **env):
    full = dict(os.environ, OUT=str(out), PYTHON=sys.executable, **env)
    done = subprocess.run(["bash", SCRIPT], capture_output=True, text=True, env=full,
                          timeout=timeout, cwd=ROOT)
    data = json.loads((out / "gpu_check.json").read_text())
    return done, data


def test_no_gpu_is_refused_in_one_line(tmp_path):
    done, data = _run(tmp_path, GPU_CHECK_FAKE="no-gpu")
    assert done.returncode == 3
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no CUDA GPU visible"), lines
    assert data["preflight"] == "failed" and data["message"] == lines[0]
    assert all(s["status"] == "pending" for s in data["stages"].values())


def test_a_missing_compiler_is_refused_before_any_stage(tmp_path):
    done, data = _run(tmp_path, CC="/bin/false", GPU_CHECK_DRY_RUN="1")
    assert done.returncode == 4
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and "cannot compile a file that includes Python.h" in lines[0]
    assert data["preflight"] == "failed"


def test_stages_write_json_before_they_run_and_a_failure_is_recorded(tmp_path):
    probe = tmp_path / "probe_test.py"  # the tests stage: passes only if the JSON said so
    probe.write_text(
        "import json, os\n"
        "def test_the_summary_says_running():\n"
        "    data = json.load(open(os.path.join(os.environ['OUT'], 'gpu_check.json')))\n"
        "    assert data['stages']['tests']['status'] == 'running'\n"
        "    assert data['preflight'] == 'ok'\n")
    out = tmp_path / "out"
    done, data = _run(out, GPU_CHECK_DRY_RUN="1", GPU_CHECK_ONLY="tests bench",
                      GPU_CHECK_FAKE="fail:bench", GPU_CHECK_PYTEST_ARGS=str(probe))
    assert done.returncode == 1, done.stdout + done.stderr
    stages = data["stages"]
    assert stages["tests"]["status"] == "ok" and stages["tests"]["rc"] == 0
    assert stages["bench"]["status"] == "failed" and stages["bench"]["rc"] == 1
    assert stages["compiled"]["status"] == stages["charlm"]["status"] == "skipped"
    assert data["dry_run"] is True and data["elapsed_s"] <= data["budget_s"]
    assert (out / "test_fused.xml").exists() and (out / "preflight.json").exists()
    assert "[bench] failed" in done.stdout


def test_a_stage_without_time_left_is_not_started(tmp_path):
    done, data = _run(tmp_path, GPU_CHECK_DRY_RUN="1", GPU_CHECK_ONLY="charlm",
                      GPU_CHECK_BUDGET="12")
    assert data["stages"]["charlm"]["status"] == "skipped: no time left"
    assert done.returncode == 1 and not (tmp_path / "charlm").exists()


def test_every_command_runs_under_timeout_and_the_limits_fit_the_budget():
    text = open(SCRIPT).read()
    code = [l for l in text.splitlines() if l.strip() and not l.lstrip().startswith("#")]
    for line in code:  # every call of the interpreter or the compiler is under timeout -k
        if re.search(r'"\$PY" |\$CCBIN -I', line) and "run_stage" not in line:
            assert "timeout -k" in line, line
    assert 'timeout -k $KILL "$limit" "$@"' in text  # run_stage's command
    limits = dict(re.findall(r"\[(\w+)\]=(\d+)", text.split("declare -A LIMIT=")[1]
                             .splitlines()[0]))
    preflight = [int(t) for t in re.findall(r"timeout -k \$KILL (\d+) ", text)]
    assert sorted(preflight) == [10, 20, 45, 45]  # include path, compiler, preflight (x2)
    kill = int(re.search(r"^KILL=(\d+)", text, re.M).group(1))
    worst = 20 + 10 + 45 + sum(map(int, limits.values())) + 7 * kill
    assert worst <= 420, worst
    assert 'BUDGET="${GPU_CHECK_BUDGET:-420}"' in text
    assert "remaining=$(( $(left) - KILL - 5 ))" in text  # and cut to the time left
