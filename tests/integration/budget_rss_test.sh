#!/usr/bin/env bash
# ctest: long (minutes of training and cross-checks; started among the first)
# Plan vs reality: short real `nightshift train` runs (full, LoRA and QLoRA, gradient checkpointing off
# and on, two sequence lengths, plus a hybrid ssm/moe model) against `budget-report --format json` for the
# same configuration. The peak resident memory of each run (ru_maxrss = VmHWM, via GNU time or
# python) must be within 10% of the planned total. Prints the table of figures.
set -u
NS="${NIGHTSHIFT_BIN:?NIGHTSHIFT_BIN is not set}"
DATA="${NS_TEST_DATA_DIR:?}/tinyshakespeare.txt"
[ -f "$DATA" ] || { echo "skip: no $DATA"; exit 77; }
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
cp "$DATA" "$TMP/corpus.txt"
TOL="${NS_RSS_TOLERANCE:-0.10}"
BATCH=4
THREADS=2

# peak_kb CMD...: runs CMD, prints its peak RSS in KiB; the command's output goes to $TMP/log.
peak_kb() {
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -o "$TMP/time" -f "%M" "$@" >"$TMP/log" 2>&1 || return 1
    tail -1 "$TMP/time"
  else
    /usr/bin/python3 -c '
import resource, subprocess, sys
with open(sys.argv[1], "w") as log:
    rc = subprocess.call(sys.argv[2:], stdout=log, stderr=subprocess.STDOUT)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)' "$TMP/log" "$@" || return 1
  fi
}

planned_bytes() {  # planned_bytes BUDGET-REPORT-ARGS...
  "$NS" budget-report --profile host --threads "$THREADS" --batch "$BATCH" --format json "$@" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["training"]["total_bytes"])'
}

fail=0
rows=()
measure() {  # measure LABEL "BUDGET ARGS" TRAIN ARGS...
  local label="$1" budget_args="$2"
  shift 2
  local kb planned
  rm -rf "$TMP/run"
  if ! kb=$(peak_kb "$NS" train --data "$TMP/corpus.txt" --steps 1 --batch "$BATCH" --threads "$THREADS" \
                     --eval-batches 1 --log-every 1 --out "$TMP/run" "$@"); then
    echo "FAIL $label: train failed"; sed 's/^/  | /' "$TMP/log" | tail -15; fail=1; return
  fi
  # shellcheck disable=SC2086
  planned=$(planned_bytes $budget_args) || { echo "FAIL $label: budget-report failed"; fail=1; return; }
  local line
  line=$(/usr/bin/python3 -c '
import sys
label, kb, planned, tol = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
measured = kb * 1024
err = (planned - measured) / measured
print("%-34s %9.1f %9.1f %+7.1f%%  %s" % (label, planned / 2**20, measured / 2**20, 100 * err,
                                           "ok" if abs(err) <= tol else "FAIL"))' "$label" "$kb" "$planned" "$TOL")
  rows+=("$line")
  echo "$line"
  [[ "$line" == *FAIL ]] && fail=1
}

echo "config                              planned    VmHWM    error    (MiB, batch $BATCH, $THREADS threads)"
for seq in 128 256; do
  measure "gpt-small full T=$seq" "--model gpt-small --seq $seq" --preset gpt-small --seq "$seq"
  measure "gpt-small full T=$seq ckpt" "--model gpt-small --seq $seq --grad-checkpoint" \
    --preset gpt-small --seq "$seq" --grad-checkpoint
done

# LoRA and QLoRA need a frozen base: the checkpoint of the last full run, quantized to NF4 (double
# quant) or kept in fp32, or the run directory itself.
[ -d "$TMP/run" ] && mv "$TMP/run" "$TMP/full-run"
if [ -d "$TMP/full-run" ] && "$NS" quantize "$TMP/full-run" --format nf4 --out "$TMP/base.safetensors" >"$TMP/log" 2>&1; then
  for seq in 128 256; do
    measure "gpt-small qlora r16 T=$seq" "--model gpt-small --seq $seq --mode qlora --rank 16" \
      --mode qlora --base "$TMP/base.safetensors" --rank 16 --seq "$seq"
    measure "gpt-small qlora r16 T=$seq ckpt" "--model gpt-small --seq $seq --mode qlora --rank 16 --grad-checkpoint" \
      --mode qlora --base "$TMP/base.safetensors" --rank 16 --seq "$seq" --grad-checkpoint
  done
  # LoRA on an fp32 base file, and QLoRA quantizing the checkpoint directory itself while loading:
  # in both the base's file pages must not stay resident beside the model's copy.
  if "$NS" quantize "$TMP/full-run" --format f32 --out "$TMP/base-f32.safetensors" >"$TMP/log" 2>&1; then
    measure "gpt-small lora r16 T=256" "--model gpt-small --seq 256 --mode lora --rank 16" \
      --mode lora --base "$TMP/base-f32.safetensors" --rank 16 --seq 256
  else
    echo "FAIL quantize f32"; sed 's/^/  | /' "$TMP/log" | tail -10; fail=1
  fi
  measure "gpt-small qlora r16 T=256 from ckpt" "--model gpt-small --seq 256 --mode qlora --rank 16" \
    --mode qlora --base "$TMP/full-run" --rank 16 --seq 256
else
  echo "FAIL quantize"; sed 's/^/  | /' "$TMP/log" | tail -10; fail=1
fi

measure "hybrid-small full T=128" "--model hybrid-small --seq 128" --preset hybrid-small --seq 128
exit $fail
