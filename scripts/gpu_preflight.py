"""The pre-flight of scripts/gpu_check.sh: can this interpreter run the GPU check at all?

``python3 scripts/gpu_preflight.py OUT.json`` checks, in one process and in this order:

1. numpy, pytest, torch and triton import (their versions recorded);
2. torch sees a CUDA GPU (its name, the CUDA and cuDNN versions recorded);
3. one tiny Triton kernel compiles, launches and returns the right numbers (this is what
   needs the C compiler and ``Python.h``: Triton builds its launcher with them).

It prints exactly one line, ``ok: ...`` or ``error: ...``, writes the details to OUT.json,
and exits 0 (ready), 3 (no GPU) or 4 (anything else missing). With ``GPU_CHECK_DRY_RUN=1``
step 2 is skipped and the kernel runs under Triton's interpreter on a CPU tensor (the
caller sets ``TRITON_INTERPRET=1``); ``GPU_CHECK_FAKE=no-gpu`` makes step 2 fail, so the
refusal can be tested on a machine that has a GPU.
"""

import json
import os
import sys


def main(out):
    info = {"python": sys.executable, "version": sys.version.split()[0]}
    dry = os.environ.get("GPU_CHECK_DRY_RUN") == "1"
    fake = os.environ.get("GPU_CHECK_FAKE", "")

    def finish(code, line):
        info["status"], info["message"] = ("ok" if code == 0 else "error"), line
        with open(out, "w") as fh:
            json.dump(info, fh, indent=1)
        print(line)
        return code

    for name in ("numpy", "pytest", "torch", "triton"):
        try:
            module = __import__(name)
        except Exception as exc:  # ImportError, or a broken install
            return finish(4, f"error: {sys.executable} cannot import {name} "
                             f"({type(exc).__name__}: {str(exc)[:120]}); install it first")
        info[name] = getattr(module, "__version__", "?")
    import torch

    gpu = torch.cuda.is_available() and fake != "no-gpu"
    info["cuda"] = torch.version.cuda
    if not dry:
        if not gpu:
            return finish(3, f"error: no CUDA GPU visible to {sys.executable} (torch "
                             f"{torch.__version__}, CUDA {torch.version.cuda}): nothing to "
                             "check; run this on a GPU machine")
        info["device"] = torch.cuda.get_device_name()
        info["cudnn"] = torch.backends.cudnn.version()
    else:
        info["device"] = "cpu (dry run)"
    try:
        import triton
        import triton.language as tl

        @triton.jit
        def _double(X, Y, n, BLOCK: tl.constexpr):
            offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
            mask = offs < n
            tl.store(Y + offs, 2.0 * tl.load(X + offs, mask=mask), mask=mask)

        device = "cpu" if dry else "cuda"
        x = torch.arange(37, dtype=torch.float32, device=device)
        y = torch.empty_like(x)
        _double[(triton.cdiv(37, 16),)](x, y, 37, BLOCK=16)
        if not torch.equal(y.cpu(), 2 * x.cpu()):
            return finish(4, "error: a tiny Triton kernel ran but returned wrong numbers")
    except Exception as exc:
        msg = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else ""
        return finish(4, f"error: a tiny Triton kernel failed to compile or run "
                         f"({type(exc).__name__}: {msg}); Triton needs a C compiler and "
                         "Python.h (python3-dev)")
    return finish(0, f"ok: {info['device']}, torch {info['torch']}, triton {info['triton']}, "
                     f"numpy {info['numpy']}, pytest {info['pytest']}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
