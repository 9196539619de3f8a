#!/usr/bin/env bash
# Issues #4/#7 on one GPU machine, in one call of under 10 minutes: install the carried wheels, run the
# CUDA tests, and measure the 124m bf16 training step (MFU; SDPA-mask and flex_attention document masking
# vs the HF Trainer), the dedup GPU backend, and FP8 vs bf16 training on ~1B (speed and loss).
#
# Prepare here:   bash bench/fetch_gpu_wheels.sh          (-> .whl/, ~20 MB, git-ignored)
# Run there:      bash bench/gpu_check.sh                 (carry ".whl"; results under $OUT)
#
# Measured so far (bench/RESULTS.md): pytest_gpu ~175 s, dedup_gpu 147 s at 100k docs with --source parquet and
# --prep-workers 15 (session 10; memory source and no prep workers: ~90 s), train_124m ~25-30 s per default variant
# plus ~20 s for the HF baseline (tune-pointwise: +80 s of compile; max-autotune: +200 s), fp8 steps ~100 s
# each; install_wheels 37 s, environment 15 s; a machine start ~30 s.
# So the whole list does not fit one 600 s call: split it with GPU_CHECK_STEPS, e.g. call 1 "install_wheels
# environment dedup_gpu train_124m pytest_gpu", call 2 "install_wheels profile_124m fp8_1b_preset"; PYTEST_GPU_K
# narrows the CUDA tests (pytest -k).
#
# Every step has its own time box and the whole script a budget (GPU_CHECK_BUDGET seconds, default 580):
# a step that no longer fits is skipped and says so, a failing step does not stop the others;
# GPU_CHECK_STEPS="install_wheels dedup_gpu ..." runs only the steps named (a second, shorter call). Results
# (at most 8 files, the device tool's limit) go to $OUT (default bench/out/gpu_check):
#   summary.json (rc and seconds of every step), gpu_check.log (all output, with the environment report:
#   GPU, torch, SDPA kernels, optional packages), pytest_gpu.xml, train_124m.json, dedup_gpu.json,
#   fp8_1b_train.json, fp8_1b_preset.json, profile.txt (where the step time goes: bench/profile_step.py),
#   dedup_profile.txt (the dedup GPU path's profile), dedup_workers.json
set -uo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-bench/out/gpu_check}
PY=${PYTHON:-python3}
WHEELS=${WHEELS:-.whl}
BUDGET=${GPU_CHECK_BUDGET:-580}
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
: >"$LOG"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 DAGSTER_DISABLE_TELEMETRY=1
export TOKENIZERS_PARALLELISM=false
T0=$(date +%s)
SUMMARY=()

# step NAME LIMIT_SECONDS CMD...: run CMD under `timeout`, logging to $LOG; skip it if the budget is spent
step() {
  local name=$1 limit=$2 left start rc
  shift 2
  if [[ -n "${GPU_CHECK_STEPS:-}" && " $GPU_CHECK_STEPS " != *" $name "* ]]; then
    echo "== $name: not in GPU_CHECK_STEPS" | tee -a "$LOG"
    return
  fi
  left=$((BUDGET - ($(date +%s) - T0) - 5))
  if ((left < 20)); then
    echo "== $name: skipped, ${left}s of the budget left" | tee -a "$LOG"
    SUMMARY+=("$name skipped 0 $limit")
    return
  fi
  ((limit > left)) && limit=$left
  declare -F "$1" >/dev/null && set -- bash -c "$1"  # shell functions run in a child bash (exported below)
  echo "== $name (limit ${limit}s): $*" | tee -a "$LOG"
  start=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" >>"$LOG" 2>&1
  rc=$?
  echo "== $name: rc=$rc in $(($(date +%s) - start))s" | tee -a "$LOG"
  SUMMARY+=("$name $rc $(($(date +%s) - start)) $limit")
}

install_wheels() {
  if ! ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    echo "no wheels in $WHEELS: run bench/fetch_gpu_wheels.sh here and carry .whl"
    return 1
  fi
  # resolve against what the image has; if a pin there conflicts, install the carried set as-is
  "$PY" -m pip install -q --no-index --find-links "$WHEELS" $(bash bench/fetch_gpu_wheels.sh --top-level) ||
    "$PY" -m pip install -q --no-index --no-deps "$WHEELS"/*.whl
  "$PY" -m pip check || true
  "$PY" -c "import dagster, pydantic, torchao; print('dagster', dagster.__version__, 'torchao', torchao.__version__)"
}

environment() {
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv || true
  "$PY" - <<'EOF'
import json
import torch
from llm_pipeline_assets.gpu.fp8 import available_fp8_recipes
from llm_pipeline_assets.gpu.kernels import kernel_report
report = kernel_report("cuda" if torch.cuda.is_available() else "cpu")
report["fp8_recipes"] = available_fp8_recipes()
print(json.dumps(report, indent=1))
EOF
}

export -f install_wheels environment
export PY WHEELS OUT
step install_wheels 60 install_wheels
step environment 30 environment
step dedup_gpu 200 "$PY" bench/dedup_gpu.py --docs ${DEDUP_DOCS:-100000} --device cuda --cpu-workers 16 --prep-workers ${PREP_WORKERS:-0} --sign-workers ${SIGN_WORKERS:-4,8} --repeat 1 --memory-budget-mb ${DEDUP_BUDGET_MB:-256} --gpu-batch ${DEDUP_GPU_BATCH:-5000,20000} --source ${DEDUP_SOURCE:-parquet} --profile "$OUT/dedup_profile.txt" --out "$OUT/dedup_gpu.json"
# the dedup_index stage itself: dedup.workers device processes (started inside the timing, as the asset does) vs in-process
step dedup_workers 150 "$PY" bench/dedup_workers.py --docs ${DEDUP_DOCS:-100000} --device cuda --workers ${STAGE_WORKERS:-8} --batch-docs 20000 --json "$OUT/dedup_workers.json"
# 124m with the GPU defaults (flex, regional compile, compiled loss, bf16 residual, sync_every 10) and torch_varlen;
# other variants: TRAIN_124M_RUNS (bench/train_throughput.py --runs), e.g. "attn=flex_attention,sync=1,loss=eager"
RUNS_124M=${TRAIN_124M_RUNS:-"attn=flex_attention,sync=10,residual=bf16;attn=flex_attention,sync=10,residual=bf16,batch=64;attn=flex_attention,sync=10,residual=bf16,batch=64,accum=4"}
step train_124m 300 "$PY" bench/train_throughput.py --shape 124m --seq-len 1024 --steps 25 --skip 5 --batch 32 --docs 4000 --vocab 32000 --runs "$RUNS_124M" --json "$OUT/train_124m.json"
# the CUDA tests after the benches: the benches' own identity checks come first when time is short
step pytest_gpu 240 "$PY" -m pytest -q -p no:cacheprovider -m gpu -k "${PYTEST_GPU_K:-}" --confcutdir=llm_pipeline_tests/gpu --junit-xml="$OUT/pytest_gpu.xml" llm_pipeline_tests/gpu
step profile_124m 90 "$PY" bench/profile_step.py --shape 124m --seq-len 1024 --batch 32 --docs 2000 --vocab 32000 --attn ${PROFILE_ATTN:-flex_attention} --residual ${PROFILE_RESIDUAL:-bf16} --compile-mode ${PROFILE_MODE:-default} --liger ${PROFILE_LIGER:-0} --fuse ${PROFILE_FUSE:-0} --sync-every 10 --warmup 6 --steps 4 --out "$OUT/profile.txt"
step fp8_1b_train 200 "$PY" bench/fp8_train.py --shape 1b --vocab 32000 --seq-len 2048 --batch ${FP8_BATCH:-12} --steps 30 --skip 5 --lr 1.5e-3 --compile regional --profile 3 --profile-out "$OUT/profile.txt" --json "$OUT/fp8_1b_train.json"
# the 1b preset's own setting: micro-batch 16 x 2048 with gradient checkpointing (results appended to the profile)
step fp8_1b_preset 200 "$PY" bench/fp8_train.py --shape 1b --vocab 32000 --seq-len 2048 --batch 16 --steps 20 --skip 5 --lr 1.5e-3 --compile regional --gradient-checkpointing --json "$OUT/fp8_1b_preset.json"

printf '%s\n' "${SUMMARY[@]}" | "$PY" -c '
import json, sys
steps = {}
for line in sys.stdin:
    name, rc, seconds, limit = line.split()
    steps[name] = {"rc": None if rc == "skipped" else int(rc), "skipped": rc == "skipped",
                   "seconds": int(seconds), "limit": int(limit), "timed_out": rc in ("124", "137")}
print(json.dumps(steps, indent=1))
json.dump(steps, open(sys.argv[1], "w"), indent=1)
' "$OUT/summary.json"
echo "total $(($(date +%s) - T0))s; results in $OUT"
