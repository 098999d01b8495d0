#!/usr/bin/env bash
# The hybrid architectures beside Llama at the same size: time per step and peak memory of
# `nightshift train --base` (full, and qlora over llama.cpp's own Q4_K_M quantization) on random-weight
# models (tests/reference/llamacpp/model_fixture.py) of 16 layers (mamba2: 36, having no MLP) at d 512
# (8 heads / 4 KV heads, vocabulary 16384, tied):
#   llama          every layer attention + SwiGLU 2304
#   lfm2           LFM2-350M's pattern (attention at 2, 5, 8, 10, 12, 14, short-conv elsewhere) + SwiGLU 2304
#   mamba2         36 layers of the Mamba-2 mixer (inner 1024, heads of 16 in 2 groups, state 16), no MLP
#   granitehybrid  Granite-4.0-H's kind of pattern (Mamba-2 layers, attention at 7 and 15) + SwiGLU 2304
#   granite-moe    the same layers, each with 8 experts of width 576 (2 per token) beside a shared MLP of 576
#   bamba          granitehybrid's layers with partial RoPE (half of each head) and no µP multipliers
#   jamba          Jamba's pattern (attention at 4 and 12, Mamba-1 with the dt/B/C norms elsewhere), MoE
#                  (4 experts of width 2304, 2 per token, plain softmax gates) at the odd layers, SwiGLU 2304
# Usage: bench/hybrid_bench.sh [BUILD_DIR] [STEPS] [SEQ] [ARCH...]   (needs scripts/setup.sh's llama.cpp pieces)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}; steps=${2:-6}; seq=${3:-256}
shift $(( $# < 3 ? $# : 3 ))
archs=("$@"); [ ${#archs[@]} -gt 0 ] || archs=(llama lfm2 mamba2 granitehybrid granite-moe bamba jamba)
src=tests/reference/llamacpp/llama.cpp
harness=$build/tests/llamacpp_harness
[[ -x $harness && -f $src/gguf-py/gguf/__init__.py ]] || { echo "needs the llama.cpp harness and gguf-py (scripts/setup.sh)" >&2; exit 2; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
head -c 2000000 "${NS_TEST_DATA_DIR:-../shared/data}/tinyshakespeare.txt" > "$work/text.txt"
shape=(--d 512 --heads 8 --kv-heads 4 --tied --n-vocab 16384 --ctx 2048)
granite=mamba,mamba,mamba,mamba,mamba,mamba,mamba,attn,mamba,mamba,mamba,mamba,mamba,mamba,mamba,attn
for name in "${archs[@]}"; do
  case $name in
    llama) arch=llama; extra=(--layers 16 --ff 2304) ;;
    lfm2) arch=lfm2; extra=(--ff 2304 --pattern conv,conv,attn,conv,conv,attn,conv,conv,attn,conv,attn,conv,attn,conv,attn,conv) ;;
    mamba2) arch=mamba2; extra=(--layers 36) ;;
    granitehybrid) arch=granitehybrid; extra=(--ff 2304 --pattern $granite) ;;
    granite-moe) arch=granitehybrid; extra=(--ff 576 --pattern $granite --experts 8 --top-k 2) ;;
    bamba) arch=bamba; extra=(--ff 2304 --pattern $granite) ;;
    jamba) arch=jamba; extra=(--ff 2304 --experts 4 --top-k 2
             --pattern mamba,mamba,mamba,mamba,attn,mamba,mamba,mamba,mamba,mamba,mamba,mamba,attn,mamba,mamba,mamba) ;;
    *) echo "unknown architecture $name" >&2; exit 2 ;;
  esac
  PYTHONPATH=$src/gguf-py /usr/bin/python3 tests/reference/llamacpp/model_fixture.py $arch "$work/$name" "${shape[@]}" \
    "${extra[@]}" --gguf-only > /dev/null 2>&1
  "$harness" model-quantize --in "$work/$name/model.gguf" --out "$work/$name/q4km.gguf" --ftype Q4_K_M > /dev/null
  params=$("$build/app/nightshift" inspect "$work/$name/model.gguf" --json | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['parameters'])")
  for mode in full qlora; do
    base="$work/$name/model.gguf"; lora=()
    [ $mode = qlora ] && { base="$work/$name/q4km.gguf"; lora=(--rank 16); }
    /usr/bin/time -f "%M" -o "$work/rss" "$build/app/nightshift" train --base "$base" --mode $mode "${lora[@]}" \
      --tokenizer byte --data "$work/text.txt" --steps "$steps" --batch 4 --seq "$seq" --threads 2 \
      --eval-every 0 --checkpoint-every 0 --checkpoint-minutes 0 --thermal none --out "$work/run_${name}_$mode" \
      2> "$work/log"
    rate=$(grep -oE "\| [0-9.]+K? tok/s" "$work/log" | tail -1 | tr -d '|')
    echo "$name ($params parameters) $mode, batch 4 x seq $seq, 2 threads: $rate (last logged step), peak RSS $(( $(cat "$work/rss") / 1024 )) MiB"
  done
  rm -rf "$work/$name" "$work"/run_"$name"_*
done
