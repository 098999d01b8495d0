#!/usr/bin/env bash
# QLoRA over a pretrained model's own quantized file: time per step and peak memory of
# `nightshift train --base MODEL.gguf --mode qlora` on a SmolLM2-135M-shaped model (d 576, 30 layers,
# 9 heads / 3 KV heads, SwiGLU 1536, vocabulary 49152, tied) with random weights, quantized to Q4_K_M
# by llama.cpp's own llama_model_quantize (rows of 576 fall back to Q5_0/Q8_0 as in the real file).
# The base stays memory-mapped: peak RSS counts its pages as they are read, the planner does not.
# Usage: bench/imported_qlora_bench.sh [BUILD_DIR] [STEPS] [SEQ]   (needs scripts/setup.sh's llama.cpp pieces)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}; steps=${2:-8}; seq=${3:-256}
src=tests/reference/llamacpp/llama.cpp
harness=$build/tests/llamacpp_harness
[[ -x $harness && -f $src/gguf-py/gguf/__init__.py ]] || { echo "needs the llama.cpp harness and gguf-py (scripts/setup.sh)" >&2; exit 2; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
PYTHONPATH=$src/gguf-py /usr/bin/python3 tests/reference/llamacpp/model_fixture.py llama "$work/m" --d 576 --ff 1536 \
  --heads 9 --kv-heads 3 --layers 30 --tied --n-vocab 49152 --ctx 2048 > /dev/null
"$harness" model-quantize --in "$work/m/model.gguf" --out "$work/q4km.gguf" --ftype Q4_K_M > /dev/null
head -c 2000000 "${NS_TEST_DATA_DIR:-../shared/data}/tinyshakespeare.txt" > "$work/text.txt"
echo "model: $(du -m "$work/m/model.gguf" | cut -f1) MiB F32, $(du -m "$work/q4km.gguf" | cut -f1) MiB Q4_K_M"
for threads in 1 2; do
  /usr/bin/time -f "%M" -o "$work/rss" "$build/app/nightshift" train --base "$work/q4km.gguf" --mode qlora --rank 16 \
    --tokenizer byte --data "$work/text.txt" --steps "$steps" --batch 4 --seq "$seq" --threads $threads \
    --eval-every 0 --checkpoint-every 0 --checkpoint-minutes 0 --thermal none --out "$work/run$threads" 2> "$work/log$threads"
  rate=$(grep -oE "\| [0-9.]+K? tok/s" "$work/log$threads" | tail -1 | tr -d '|')
  echo "qlora rank 16, batch 4 x seq $seq, $threads thread(s): $rate (last logged step), peak RSS $(( $(cat "$work/rss") / 1024 )) MiB"
  grep -E "planned|plan" "$work/log$threads" | head -2 || true
done
