#!/usr/bin/env bash
# The chapter-6 GPU check, made to run once on a machine with a CUDA GPU and never waste
# the run:
#
#   OUT=/some/dir PYTHONPATH=. bash scripts/gpu_check.sh    # PYTHON=... picks the interpreter
#
# 0. pre-flight (at most 90 s): the interpreter imports numpy, pytest, torch and triton; a C
#    compiler builds a file that includes Python.h (Triton builds its launcher so); torch
#    sees a GPU; one tiny Triton kernel compiles and runs. Without a GPU it stops here with
#    ONE line "error: ..." and exit status 3 (4: something else is missing).
# 1. tests: the fused layer on CUDA (Triton kernels, CUDA graphs; fp32, bf16, fp16) and
#    the kernels under Triton's interpreter -> tests.log, test_fused.xml
# 2. bench: cuDNN, ours, fused, fused in CUDA graphs, one kernel per step; T=100,
#    N in {64,256}, H in {512,1024}, fp32/bf16/fp16, TF32 off on both sides -> bench_gpu.json
#    (written after every case, so a stage cut short keeps what it measured)
# 3. compiled: ours under torch.compile, one case -> bench_gpu_compiled.json (optional:
#    compiling 100 unrolled steps may not fit its limit; a timeout here fails nothing)
# 4. charlm: a short run of the trainer on the GPU (bf16 autocast, fused model)
#
# gpu_check.json holds the status of every stage and is rewritten before and after each
# one (a stage shows "running" while it runs, so a killed script still says where it was).
# Every command runs under `timeout -k`; the limits of the pre-flight (20 + 10 + 45 s) and
# of the stages (80 + 140 + 50 + 40 s), with 5 s between TERM and KILL for each of the 7
# commands, add up to the 420 s the whole script may take (GPU_CHECK_BUDGET); a stage's
# limit is also cut to the time left. Exit status: 0 all passed, 1 a stage failed,
# 3 no GPU, 4 pre-flight.
#
# Switches for testing this script on a CPU (scripts' tests use them):
#   GPU_CHECK_DRY_RUN=1      run every stage on the CPU at tiny sizes (the kernels under
#                            Triton's interpreter): checks the script, measures nothing
#   GPU_CHECK_FAKE=no-gpu    pretend torch sees no GPU
#   GPU_CHECK_FAKE=fail:NAME make stage NAME fail (exit 1) without running it
#   GPU_CHECK_ONLY="a b"     run only these stages (the others are "skipped")
#   GPU_CHECK_PYTEST_ARGS    the tests stage's pytest selection
set -u
cd "$(dirname "$0")/.."
START=$SECONDS
BUDGET="${GPU_CHECK_BUDGET:-420}"
OUT="${OUT:-${TMPDIR:-/tmp}/lstm_ref_gpu_check}"
PY="${PYTHON:-python3}"
DRY="${GPU_CHECK_DRY_RUN:-0}"
FAKE="${GPU_CHECK_FAKE:-}"
ONLY="${GPU_CHECK_ONLY:-}"
KILL=5  # seconds between TERM and KILL for every command
# stage limits (s); with the pre-flight's 20 + 10 + 45 and KILL per command: <= 420
STAGES=(tests bench compiled charlm)
declare -A LIMIT=([tests]=80 [bench]=140 [compiled]=50 [charlm]=40)
OPTIONAL=" compiled "  # a stage whose failure or timeout does not fail the check
declare -A STATUS RC SECS
for s in "${STAGES[@]}"; do STATUS[$s]=pending; RC[$s]=null; SECS[$s]=null; done
PREFLIGHT=pending
MESSAGE=""
mkdir -p "$OUT" || { echo "error: cannot create OUT=$OUT"; exit 4; }
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

esc() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | tr -d '\000-\037'; }

write_json() {  # the summary, rewritten atomically before and after every stage
  local tmp="$OUT/gpu_check.json.tmp" first=1
  {
    printf '{"schema": "lstm_ref.gpu_check/1", "date": "%s", "python": "%s",' \
      "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(esc "$PY")"
    printf ' "dry_run": %s, "budget_s": %s, "elapsed_s": %s,' \
      "$([ "$DRY" = 1 ] && echo true || echo false)" "$BUDGET" "$((SECONDS - START))"
    printf ' "preflight": "%s", "message": "%s", "stages": {' "$PREFLIGHT" "$(esc "$MESSAGE")"
    for s in "${STAGES[@]}"; do
      [ $first = 1 ] || printf ', '
      first=0
      printf '"%s": {"status": "%s", "rc": %s, "seconds": %s, "limit_s": %s}' \
        "$s" "${STATUS[$s]}" "${RC[$s]}" "${SECS[$s]}" "${LIMIT[$s]}"
    done
    printf '}}\n'
  } > "$tmp" && mv -f "$tmp" "$OUT/gpu_check.json"
}

left() { echo $((BUDGET - (SECONDS - START))); }

# --- 0. pre-flight ----------------------------------------------------------------------
write_json
fail_preflight() {  # one line, the JSON, the exit status
  PREFLIGHT=failed; MESSAGE="$2"; write_json
  echo "$2" >&2
  exit "$1"
}
INCLUDE=$(timeout -k $KILL 20 "$PY" -c \
  "import sysconfig; print(sysconfig.get_paths()['include'])" 2> /dev/null) \
  || fail_preflight 4 "error: $PY does not run (PYTHON=... picks the interpreter)"
CCBIN="${CC:-}"
if [ -z "$CCBIN" ]; then
  for c in cc gcc clang; do command -v $c > /dev/null 2>&1 && { CCBIN=$c; break; }; done
fi
[ -n "$CCBIN" ] || fail_preflight 4 "error: no C compiler (cc, gcc, clang or \$CC): Triton needs one to build its launcher"
[ -f "$INCLUDE/Python.h" ] || fail_preflight 4 "error: $INCLUDE/Python.h is missing: install the Python headers (python3-dev); Triton needs them"
printf '#include <Python.h>\nint main(void) { return 0; }\n' > "$OUT/preflight_cc.c"
timeout -k $KILL 10 $CCBIN -I"$INCLUDE" -c "$OUT/preflight_cc.c" -o "$OUT/preflight_cc.o" \
  > "$OUT/preflight_cc.log" 2>&1 \
  || fail_preflight 4 "error: $CCBIN cannot compile a file that includes Python.h (see $OUT/preflight_cc.log)"
if [ "$DRY" = 1 ]; then
  LINE=$(TRITON_INTERPRET=1 timeout -k $KILL 45 "$PY" scripts/gpu_preflight.py "$OUT/preflight.json" 2>> "$OUT/preflight.log")
else
  LINE=$(timeout -k $KILL 45 "$PY" scripts/gpu_preflight.py "$OUT/preflight.json" 2>> "$OUT/preflight.log")
fi
rc=$?
if [ $rc != 0 ]; then
  [ $rc = 124 ] || [ $rc = 137 ] && LINE="error: the pre-flight did not finish in 45 s (see $OUT/preflight.log)"
  [ -n "$LINE" ] || LINE="error: the pre-flight failed with status $rc (see $OUT/preflight.log)"
  [ $rc = 3 ] || rc=4
  fail_preflight $rc "$LINE"
fi
PREFLIGHT=ok; MESSAGE="$LINE"; write_json
echo "$LINE"

# --- 1-4. the stages ----------------------------------------------------------------------
if [ "$DRY" = 1 ]; then
  DEV=(--device cpu)
  PYTEST_ARGS="${GPU_CHECK_PYTEST_ARGS:-tests/torch/test_fused.py tests/torch/test_fused_triton.py}"
  BENCH=(--quick --impls cudnn ours fused)
  COMPILED=(--quick --impls cudnn ours-compiled)
  CHARLM=(--model fused --hidden 16 --layers 1 --batch 4 --bptt 8 --steps 3 --eval-chars 200 --threads 1)
else
  DEV=(--device cuda)
  PYTEST_ARGS="${GPU_CHECK_PYTEST_ARGS:-tests/torch/test_fused.py tests/torch/test_fused_triton.py}"
  # bf16 first: the target case (N=256, H=1024) and fp16 (cuDNN's persistent kernel at
  # N=64) before fp32, should the stage be cut short
  BENCH=(--impls cudnn ours fused fused-graph fused-onestep --dtypes bf16 fp16 fp32 --repeats 10)
  COMPILED=(--impls cudnn ours-compiled --N 256 --H 1024 --dtypes bf16 --repeats 5)
  CHARLM=(--model fused --amp bf16 --hidden 512 --layers 2 --batch 64 --bptt 100 --steps 100 --lr 3e-3)
fi

run_stage() {  # name, command...: under timeout -k, with the JSON written before and after
  local name=$1; shift
  if [ -n "$ONLY" ] && [[ " $ONLY " != *" $name "* ]]; then
    STATUS[$name]=skipped; write_json; return
  fi
  local limit=${LIMIT[$name]} remaining
  remaining=$(( $(left) - KILL - 5 ))
  if [ "$remaining" -lt 10 ]; then
    STATUS[$name]="skipped: no time left"; write_json
    echo "[$name] skipped: no time left"; return
  fi
  [ "$remaining" -lt "$limit" ] && limit=$remaining
  STATUS[$name]=running; write_json
  local t0=$SECONDS rc
  if [ "$FAKE" = "fail:$name" ]; then
    timeout -k $KILL "$limit" false > "$OUT/$name.log" 2>&1
  else
    timeout -k $KILL "$limit" "$@" > "$OUT/$name.log" 2>&1
  fi
  rc=$?
  RC[$name]=$rc; SECS[$name]=$((SECONDS - t0))
  case $rc in
    0) STATUS[$name]=ok ;;
    124|137) STATUS[$name]=timeout ;;
    *) STATUS[$name]=failed ;;
  esac
  write_json
  echo "[$name] ${STATUS[$name]} (exit $rc, ${SECS[$name]} s, limit $limit s); last lines of $OUT/$name.log:"
  tail -5 "$OUT/$name.log" | sed 's/^/    /'
}

# shellcheck disable=SC2086  # the pytest selection is a list of words
run_stage tests "$PY" -m pytest -q -p no:cacheprovider $PYTEST_ARGS --junitxml="$OUT/test_fused.xml"
run_stage bench "$PY" -m lstm_ref.bench_gpu "${DEV[@]}" "${BENCH[@]}" --out "$OUT/bench_gpu.json"
run_stage compiled "$PY" -m lstm_ref.bench_gpu "${DEV[@]}" "${COMPILED[@]}" --out "$OUT/bench_gpu_compiled.json"
run_stage charlm "$PY" -m lstm_ref.train.charlm "${DEV[@]}" "${CHARLM[@]}" --sample-len 0 --out "$OUT/charlm" --force

MESSAGE="$MESSAGE; finished in $((SECONDS - START)) s"
write_json
echo "summary: $OUT/gpu_check.json ($((SECONDS - START)) s)"
for s in "${STAGES[@]}"; do
  [[ "$OPTIONAL" == *" $s "* ]] && continue
  case ${STATUS[$s]} in ok|skipped) ;; *) exit 1 ;; esac
done
exit 0
