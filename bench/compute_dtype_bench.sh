#!/usr/bin/env bash
# bf16 compute for the frozen base (`train --compute-dtype`) in real qlora runs: the same run in fp32
# and in bf16, one after the other, with tokens/s after the first steps and the loss curve of each.
#   bash bench/compute_dtype_bench.sh BUILD_DIR [gpt-small] [qwen2.5-0.5b]   (default: both)
# gpt-small: an NF4 base from `nightshift init` (random weights), rank 16, B=4, T=256, 60 steps of
# tinyshakespeare. qwen2.5-0.5b: a Qwen2.5-0.5B-shaped Q4_K_M GGUF (tests/reference/llamacpp/
# model_fixture.py, quantized by llama.cpp's own quantizer), rank 16, B=1, T=512, 5 steps.
set -euo pipefail
BUILD=${1:?usage: bench/compute_dtype_bench.sh BUILD_DIR [gpt-small] [qwen2.5-0.5b]}
shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC=$ROOT/tests/reference/llamacpp/llama.cpp
BIN=$BUILD/app/nightshift
HARNESS=$BUILD/tests/llamacpp_harness
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(gpt-small qwen2.5-0.5b)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c 1000000 "$ROOT/../shared/data/tinyshakespeare.txt" >"$work/text.txt"

# run NAME BASE DTYPE STEPS SEQ BATCH: one qlora run; prints tokens/s after step 2 and the losses.
run() {
  local name=$1 base=$2 dtype=$3 steps=$4 seq=$5 batch=$6
  rm -rf "$work/run"
  "$BIN" train --base "$base" --mode qlora --rank 16 --data "$work/text.txt" --seq "$seq" --batch "$batch" \
    --steps "$steps" --lr 1e-3 --seed 1 --threads 2 --thermal none --eval-every 0 --checkpoint-every 0 \
    --log-every 1 --compute-dtype "$dtype" --out "$work/run" 2>"$work/log"
  "$BIN" log "$work/run" steps --format json | /usr/bin/python3 -c "
import json, sys
r = sorted(json.load(sys.stdin), key=lambda x: x['step'])
tokens = $seq * $batch
rate = tokens * (len(r) - 2) / (r[-1]['time'] - r[1]['time'])
picks = sorted({1, 2, 5, 10, 20, 30, 40, 50, len(r)} & {x['step'] for x in r})
losses = ' '.join('%d:%.4f' % (x['step'], x['loss']) for x in r if x['step'] in picks)
print('%-14s %-5s %8.1f tok/s | loss %s' % ('$name', '$dtype', rate, losses))"
}

for c in "${cases[@]}"; do
  case "$c" in
    gpt-small)
      "$BIN" init --preset gpt-small --format nf4 --out "$work/gs.safetensors" >/dev/null 2>&1
      for dtype in fp32 bf16; do run gpt-small "$work/gs.safetensors" "$dtype" 60 256 4; done ;;
    qwen2.5-0.5b)
      source "$ROOT/tests/reference/llamacpp/real_shapes.sh"
      make_real_q4km qwen2.5-0.5b "$SRC" "$HARNESS" "$work/qw.gguf"
      for dtype in fp32 bf16; do run qwen2.5-0.5b "$work/qw.gguf" "$dtype" 5 512 1; done ;;
    *) echo "unknown case $c" >&2; exit 2 ;;
  esac
done
