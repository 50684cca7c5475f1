"""The fused layer's Triton kernels, checked on every run without a GPU: Triton's interpreter
runs them on CPU tensors (``TRITON_INTERPRET=1``, in a separate process started once for the
module, since Triton reads the variable when it is imported).

Both designs (``"triton"``: two kernels per step; ``"triton-onestep"``: one) against a
float64 ``torch.nn.LSTM``, over odd shapes (N=1, T=1, H = 1, 7, 33, 77, 100, two stacked
bidirectional layers): every output and gradient, relative to the largest entry of the
reference, within 10 times the error of ``torch.nn.LSTM``'s own float32 result (at least
float32's epsilon); bf16 storage within 3e-2. Also the launch functions' checks."""

import json
import os
import subprocess
import sys

import pytest
import torch

triton = pytest.importorskip("triton", reason="Triton is not installed on this platform "
                             "(pip has wheels for Linux x86-64 and aarch64): nothing to check")

from lstm_ref.torch import _triton_kernels as tk  # noqa: E402
from lstm_ref.torch import fused  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKER = os.path.join(ROOT, "tests", "torch", "triton_interp_worker.py")
EPS32 = torch.finfo(torch.float32).eps
FACTOR = 10  # the fused layer's error may be this many times torch.nn.LSTM's own
LOW_TOL = 3e-2  # bf16: 8 bits of significand


@pytest.fixture(scope="module")
def interp(tmp_path_factory):
    out = tmp_path_factory.mktemp("interp") / "results.json"
    env = dict(os.environ, TRITON_INTERPRET="1",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, WORKER, str(out)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, "the interpreter run failed:\n" + done.stderr[-3000:]
    data = json.loads(out.read_text())
    return {(r["case"], r["backend"], r["dtype"]): r for r in data["results"]}


def _cases():
    sys.path.insert(0, os.path.dirname(WORKER))
    try:
        import triton_interp_worker as w
    finally:
        sys.path.pop(0)
    low_name, _ = w.LOW
    return ([(c[0], b, "float32") for b in w.BACKENDS for c in w.CASES]
            + [(low_name, b, "bfloat16") for b in w.BACKENDS])


@pytest.mark.parametrize("key", _cases(), ids=lambda k: "-".join(k))
def test_triton_kernels_under_the_interpreter_match_float64(interp, key):
    r = interp[key]
    assert r["output_dtypes"] == [f"torch.{key[2]}"]
    for name, err, yard in zip(r["names"], r["fused"], r["torch_float32"]):
        tol = FACTOR * max(yard, EPS32) if key[2] == "float32" else LOW_TOL
        assert err <= tol, (f"{name}: relative error {err:.2e} > {tol:.2e} "
                            f"(torch.nn.LSTM float32: {yard:.2e})")


# --- the launch functions' checks (no kernel runs: the checks come first) ------------------


def _step_args(N=3, H=5, dtype=torch.float32):
    return (torch.zeros(N, 4 * H, dtype=dtype), torch.zeros(N, H),
            torch.zeros(N, 4 * H, dtype=dtype), torch.zeros(N, H, dtype=dtype),
            torch.zeros(N, H))


def test_launch_refuses_a_strided_view():
    a, c_prev, gates, h, c = _step_args()
    strided = torch.zeros(5, 3).t()  # (3, 5), strides (1, 3): the right shape, transposed
    with pytest.raises(ValueError, match=r"c_prev must be contiguous .*strides \(1, 3\)"):
        tk.lstm_forward_pointwise(a, strided, gates, h, c)
    wide = torch.zeros(3, 40)[:, ::2]  # (3, 20) with strides (40, 2)
    with pytest.raises(ValueError, match="a must be contiguous"):
        tk.lstm_forward_pointwise(wide, c_prev, gates, h, c)


def test_launch_refuses_wrong_shapes_dtypes_and_weights():
    a, c_prev, gates, h, c = _step_args()
    with pytest.raises(ValueError, match=r"gates_out must have shape \(N, 4H\) = \(3, 20\)"):
        tk.lstm_forward_pointwise(a, c_prev, gates[:, :10], h, c)
    with pytest.raises(ValueError, match="c_prev must be float32"):
        tk.lstm_forward_pointwise(a, c_prev.double(), gates, h, c)
    with pytest.raises(ValueError, match="recurrent weight must be a contiguous"):
        tk.lstm_forward_step(h, torch.zeros(5, 20).t(), a, c_prev, gates, h.clone(), c)
    with pytest.raises(ValueError, match="da_next must have shape"):
        tk.lstm_backward_step(torch.zeros(3, 5), torch.zeros(20, 5), None, h, c, gates,
                              c_prev, c, a, c)


def test_interleave_gates_puts_the_four_gates_of_a_unit_together():
    H = 3
    w = torch.arange(4 * H * H, dtype=torch.float32).reshape(4 * H, H)
    wi = tk.interleave_gates(w)
    for u in range(H):
        for gate in range(4):
            assert torch.equal(wi[4 * u + gate], w[gate * H + u])


def test_auto_never_sends_float64_to_the_float32_kernels():
    assert fused.resolve_backend("cuda", torch.float64, "auto") == "torch"
    assert fused.resolve_backend("cuda", torch.bfloat16, "auto") == "triton"
    assert fused.resolve_backend("cpu", torch.float32, "auto") == "torch"
    with pytest.raises(RuntimeError, match="float64"):
        fused.resolve_backend("cuda", torch.float64, "triton-onestep")
