#!/usr/bin/env bash
# The chapter-6 GPU check, ready to run once on a machine with a CUDA GPU:
#
#   OUT=/some/dir bash scripts/gpu_check.sh        # (PYTHON=... to pick the interpreter)
#
# 1. the CUDA tests of the fused layer (Triton kernels against torch.nn.LSTM in fp32, bf16,
#    fp16) -> $OUT/test_fused.xml and .log
# 2. the benchmark (cuDNN, ours, fused, fused in CUDA graphs; T=100, N in {64,256},
#    H in {512,1024}, fp32/bf16/fp16); it re-checks the fused layer first -> $OUT/bench_gpu.json
# 3. ours under torch.compile, one case (compiling 100 unrolled steps is slow)
#    -> $OUT/bench_gpu_compiled.json
# 4. a short charlm run on the GPU (bf16 autocast, fused model) -> $OUT/charlm_cuda/
# and a summary of every stage's exit status -> $OUT/gpu_check.json. Each stage has its own
# time limit (9 minutes in all at most; 124 in the summary means a stage hit its limit), and
# the benchmark writes its JSON after every case, so a stage cut short keeps what it measured.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-${TMPDIR:-/tmp}/lstm_ref_gpu_check}"
# the interpreter: $PYTHON if set, else the first of these whose torch sees a GPU
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in .venv/bin/python python3 python; do
    if command -v "$cand" > /dev/null 2>&1 && \
       "$cand" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2> /dev/null; then
      PY="$cand"; break
    fi
  done
  if [ -z "$PY" ]; then  # no GPU anywhere: the first that has torch, to report that
    for cand in .venv/bin/python python3 python; do
      if command -v "$cand" > /dev/null 2>&1 && "$cand" -c "import torch" 2> /dev/null; then
        PY="$cand"; break
      fi
    done
  fi
  PY="${PY:-python3}"
fi
mkdir -p "$OUT"
echo "python: $PY" > "$OUT/device.txt"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
declare -A RC
"$PY" -c "import torch, sys; print(torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name()); sys.exit(0 if torch.cuda.is_available() else 3)" \
  | tee -a "$OUT/device.txt"
RC[device]=${PIPESTATUS[0]}
if [ "${RC[device]}" != 0 ]; then
  echo "no CUDA device visible to $PY (a CPU-only torch?): nothing to check" >&2
fi
"$PY" -c "import triton; print('triton', triton.__version__)" >> "$OUT/device.txt" 2>&1

timeout 100 "$PY" -m pytest -q -p no:cacheprovider tests/torch/test_fused.py \
  --junitxml="$OUT/test_fused.xml" > "$OUT/test_fused.log" 2>&1
RC[tests]=$?
tail -3 "$OUT/test_fused.log"

timeout 270 "$PY" -m lstm_ref.bench_gpu --device cuda --impls cudnn ours fused fused-graph \
  --out "$OUT/bench_gpu.json" > "$OUT/bench_gpu.log" 2>&1
RC[bench]=$?
cat "$OUT/bench_gpu.log"

timeout 120 "$PY" -m lstm_ref.bench_gpu --device cuda --impls cudnn ours-compiled \
  --N 256 --H 1024 --dtypes bf16 --repeats 10 --out "$OUT/bench_gpu_compiled.json" \
  > "$OUT/bench_gpu_compiled.log" 2>&1
RC[bench_compiled]=$?
tail -8 "$OUT/bench_gpu_compiled.log"

timeout 60 "$PY" -m lstm_ref.train.charlm --device cuda --model fused --amp bf16 \
  --hidden 512 --layers 2 --batch 64 --bptt 100 --steps 150 --lr 3e-3 \
  --out "$OUT/charlm_cuda" > "$OUT/charlm_cuda.log" 2>&1
RC[charlm]=$?
tail -4 "$OUT/charlm_cuda.log"

{
  printf '{"date": "%s"' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  for k in device tests bench bench_compiled charlm; do printf ', "%s": %s' "$k" "${RC[$k]}"; done
  printf '}\n'
} > "$OUT/gpu_check.json"
cat "$OUT/gpu_check.json"
