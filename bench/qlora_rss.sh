#!/usr/bin/env bash
# QLoRA over real-shaped Q4_K_M GGUF files: the plan `train` makes against the peak resident memory
# (ru_maxrss) it reaches, and seconds per step. Random weights in real shapes and real vocabularies
# (tests/reference/llamacpp/model_fixture.py with llama.cpp's models/ggml-vocab-*.gguf), quantized by
# llama.cpp itself. tests/integration/qlora_rss_test.sh checks the smallest shape in CI.
#   bash bench/qlora_rss.sh BUILD_DIR [SHAPE...] [--seq "512 1024"]
#   SHAPE: smollm2-135m | qwen2.5-0.5b | llama-3.2-1b (default: all three)
set -euo pipefail
BUILD=${1:?usage: bench/qlora_rss.sh BUILD_DIR [SHAPE...] [--seq \"512 1024\"]}
shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC=$ROOT/tests/reference/llamacpp/llama.cpp
BIN=$BUILD/app/nightshift
HARNESS=$BUILD/tests/llamacpp_harness
SEQS="512 1024"
shapes=()
while [ $# -gt 0 ]; do
  if [ "$1" = --seq ]; then SEQS=$2; shift 2; else shapes+=("$1"); shift; fi
done
[ ${#shapes[@]} -gt 0 ] || shapes=(smollm2-135m qwen2.5-0.5b llama-3.2-1b)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c 300000 "$ROOT/../shared/data/tinyshakespeare.txt" >"$work/text.txt"

source "$ROOT/tests/reference/llamacpp/real_shapes.sh"

printf '%-14s %5s %12s %12s %8s %10s\n' shape T "plan MiB" "peak MiB" error "s/step"
for shape in "${shapes[@]}"; do
  make_real_q4km "$shape" "$SRC" "$HARNESS" "$work/$shape.gguf"
  for T in $SEQS; do
    rm -rf "$work/run"
    start=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$work/peak" "$BIN" train --base "$work/$shape.gguf" --mode qlora --data "$work/text.txt" \
      --seq "$T" --batch 1 --steps 2 --threads 2 --thermal none --eval-every 0 --eval-batches 1 --checkpoint-every 0 \
      --log-every 1 --out "$work/run" 2>"$work/log"
    planned=$("$BIN" log "$work/run" events | grep ",start," | grep -oE "planned [0-9.]+ MiB" | awk '{print $2}')
    step_s=$("$BIN" log "$work/run" steps --format json | /usr/bin/python3 -c "
import json, sys
r = sorted(json.load(sys.stdin), key=lambda x: x['step'])
print('%.1f' % (r[-1]['time'] - r[0]['time']) if len(r) > 1 else '-')")
    /usr/bin/python3 -c "import sys; p, k = float(sys.argv[3]), int(sys.argv[4]) / 1024; print('%-14s %5s %12.1f %12.1f %+7.2f%% %10s' % (sys.argv[1], sys.argv[2], p, k, 100 * (p - k) / k, sys.argv[5]))" \
      "$shape" "$T" "$planned" "$(tail -1 "$work/peak")" "$step_s"
  done
  rm -f "$work/$shape.gguf"
done
