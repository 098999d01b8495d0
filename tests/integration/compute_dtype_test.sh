#!/usr/bin/env bash
# `train --compute-dtype`: qlora over an NF4 base of gpt-tiny with the frozen base's products in
# bf16 (bf16 dot products accumulating in fp32) learns as the fp32 run does: its loss falls, and
# stays within a small distance of the fp32 run's at every logged step. The choice is printed at the
# start and kept in the run's settings: resuming with another dtype is refused. --compute-dtype is
# refused in full mode; where the CPU has no AVX512_BF16, bf16 is refused and auto computes in fp32.
source "$(dirname "$0")/train_lib.sh"

"$BIN" train --preset gpt-tiny --data "$work/corpus.txt" --batch 4 --seq 64 --threads 2 --steps 40 --lr 3e-3 \
  --thermal none --eval-every 0 --checkpoint-every 40 --out "$work/pre" 2> "$work/pre.log" || fail "pretraining"
"$BIN" quantize "$work/pre" --format nf4 --out "$work/base.safetensors" 2> "$work/quant.log" || fail "quantize"

# Full mode has no frozen base.
set +e
"$BIN" train --preset gpt-tiny --data "$work/corpus.txt" --compute-dtype bf16 --steps 1 --out "$work/full" \
  2> "$work/full.log"
rc=$?
set -e
[ "$rc" = 2 ] && grep -q "need --mode lora or qlora" "$work/full.log" || fail "--compute-dtype in full mode: exit $rc"

COMMON=(--mode qlora --base "$work/base.safetensors" --rank 8 --data "$work/corpus.txt" --batch 4 --seq 64
        --threads 2 --lr 3e-3 --seed 7 --thermal none --eval-every 0 --checkpoint-every 30 --log-every 1)

if ! grep -qw avx512_bf16 /proc/cpuinfo; then
  set +e
  "$BIN" train "${COMMON[@]}" --steps 30 --compute-dtype bf16 --out "$work/refused" 2> "$work/refused.log"
  rc=$?
  set -e
  [ "$rc" = 2 ] && grep -q "no AVX512_BF16" "$work/refused.log" || fail "bf16 without AVX512_BF16: exit $rc"
  "$BIN" train "${COMMON[@]}" --compute-dtype auto --steps 2 --out "$work/auto" 2> "$work/auto.log" || fail "auto"
  grep -q "base compute fp32" "$work/auto.log" || fail "auto did not choose fp32 on this CPU"
  echo "SKIP: this CPU has no AVX512_BF16 (bf16 refused and auto computing in fp32 checked)"; exit 77
fi

"$BIN" train "${COMMON[@]}" --steps 30 --out "$work/f32" 2> "$work/f32.log" || fail "qlora in fp32"
"$BIN" train "${COMMON[@]}" --steps 30 --compute-dtype bf16 --out "$work/bf16" 2> "$work/bf16.log" || fail "qlora in bf16"
grep -q "base compute fp32" "$work/f32.log" || fail "the fp32 run does not say so"
grep -q "base compute bf16" "$work/bf16.log" || fail "the bf16 run does not say so"

losses() { grep -oE "step +[0-9]+/[0-9]+ \| loss [0-9.]+" "$1" | awk '{print $NF}'; }
$PY - <(losses "$work/f32.log") <(losses "$work/bf16.log") <<'PY' || fail "bf16 losses differ from fp32"
import sys
f32 = [float(x) for x in open(sys.argv[1])]
bf16 = [float(x) for x in open(sys.argv[2])]
assert len(f32) == len(bf16) == 30, (len(f32), len(bf16))
worst = max(abs(a - b) / a for a, b in zip(f32, bf16))
print(f"loss fp32 {f32[0]:.4f} -> {f32[-1]:.4f}, bf16 {bf16[0]:.4f} -> {bf16[-1]:.4f}; largest relative gap {worst:.4f}")
assert bf16[-1] < bf16[0] - 0.2 and f32[-1] < f32[0] - 0.2, "did not learn"
assert worst < 0.02, worst
PY

# The dtype is part of the checkpoint and of the run's settings: resuming in fp32 is refused.
grep -qE '"compute_dtype": ?"bf16"' "$work/bf16/checkpoints/step-00000030/state.json" || fail "state.json lacks the dtype"
set +e
"$BIN" train "${COMMON[@]}" --steps 32 --out "$work/bf16" 2> "$work/resume.log"
rc=$?
set -e
[ "$rc" = 2 ] && grep -q "lora.compute_dtype" "$work/resume.log" || fail "resume with another dtype: exit $rc"
"$BIN" train "${COMMON[@]}" --compute-dtype bf16 --steps 32 --out "$work/bf16" 2> "$work/resume2.log" \
  || fail "resume with the same dtype"
echo "ok"
