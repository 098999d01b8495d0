#!/usr/bin/env bash
# LFM2 beside Llama at the same size: time per step and peak memory of `nightshift train --base`
# (full, and qlora over llama.cpp's own Q4_K_M quantization) on random-weight models of LFM2-350M's
# layer pattern (16 layers, attention at 2, 5, 8, 10, 12, 14, the rest short-conv) at half its width
# (d 512, 8 heads / 4 KV heads, SwiGLU 2304, vocabulary 16384, tied) and on a Llama of the same
# widths and depth (every layer attention).
# Usage: bench/lfm2_bench.sh [BUILD_DIR] [STEPS] [SEQ]   (needs scripts/setup.sh's llama.cpp pieces)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}; steps=${2:-6}; seq=${3:-256}
src=tests/reference/llamacpp/llama.cpp
harness=$build/tests/llamacpp_harness
[[ -x $harness && -f $src/gguf-py/gguf/__init__.py ]] || { echo "needs the llama.cpp harness and gguf-py (scripts/setup.sh)" >&2; exit 2; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
head -c 2000000 "${NS_TEST_DATA_DIR:-../shared/data}/tinyshakespeare.txt" > "$work/text.txt"
shape=(--d 512 --ff 2304 --heads 8 --kv-heads 4 --layers 16 --tied --n-vocab 16384 --ctx 2048)
pattern=conv,conv,attn,conv,conv,attn,conv,conv,attn,conv,attn,conv,attn,conv,attn,conv
for arch in llama lfm2; do
  extra=(); [ $arch = lfm2 ] && extra=(--pattern $pattern)
  PYTHONPATH=$src/gguf-py /usr/bin/python3 tests/reference/llamacpp/model_fixture.py $arch "$work/$arch" "${shape[@]}" \
    "${extra[@]}" > /dev/null
  "$harness" model-quantize --in "$work/$arch/model.gguf" --out "$work/$arch/q4km.gguf" --ftype Q4_K_M > /dev/null
  params=$("$build/app/nightshift" inspect "$work/$arch/model.gguf" --json | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['parameters'])")
  for mode in full qlora; do
    base="$work/$arch/model.gguf"; lora=()
    [ $mode = qlora ] && { base="$work/$arch/q4km.gguf"; lora=(--rank 16); }
    /usr/bin/time -f "%M" -o "$work/rss" "$build/app/nightshift" train --base "$base" --mode $mode "${lora[@]}" \
      --tokenizer byte --data "$work/text.txt" --steps "$steps" --batch 4 --seq "$seq" --threads 2 \
      --eval-every 0 --checkpoint-every 0 --checkpoint-minutes 0 --thermal none --out "$work/run_${arch}_$mode" \
      2> "$work/log"
    rate=$(grep -oE "\| [0-9.]+K? tok/s" "$work/log" | tail -1 | tr -d '|')
    echo "$arch ($params parameters) $mode, batch 4 x seq $seq, 2 threads: $rate (last logged step), peak RSS $(( $(cat "$work/rss") / 1024 )) MiB"
  done
done
