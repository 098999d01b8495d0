#!/usr/bin/env bash
# ctest: long (minutes of training and cross-checks; started among the first)
# Plan vs reality for QLoRA over a real-shaped GGUF: a SmolLM2-135M-shaped llama (d 576, 30 layers,
# 9 heads / 3 KV heads, SwiGLU 1536, tied embeddings, StarCoder's 49,152-token vocabulary; random
# weights written by tests/reference/llamacpp/model_fixture.py) quantized to Q4_K_M by llama.cpp
# itself. `train --base q4km.gguf --mode qlora` at T=512 and 1024 (micro-batch 1, 2 threads): the
# peak resident memory (ru_maxrss) is within 3% of the plan train itself made (the run log's start
# event), and `budget-report --model q4km.gguf` gives that plan too. Larger shapes (Qwen2.5-0.5B,
# Llama-3.2-1B): bench/qlora_rss.sh.
source "$(dirname "$0")/train_lib.sh"
SRC=${NS_LLAMACPP_SRC:-}
HARNESS=${NS_LLAMACPP_HARNESS:-}
TEXT=${NS_TEST_DATA_DIR:-}/tinyshakespeare.txt
if [ -z "$HARNESS" ] || [ ! -x "$HARNESS" ]; then echo "SKIP: the llama.cpp harness is not built (scripts/setup.sh)"; exit 77; fi
if ! PYTHONPATH="$SRC/gguf-py" $PY -c 'import numpy, gguf' 2>/dev/null; then
  echo "SKIP: python3 cannot import numpy and llama.cpp's gguf-py (scripts/setup.sh)"; exit 77
fi
if [ ! -f "$TEXT" ]; then echo "SKIP: $TEXT is missing (NS_TEST_DATA_DIR)"; exit 77; fi
if [ ! -x /usr/bin/time ]; then echo "SKIP: GNU time (/usr/bin/time) is not installed (scripts/setup.sh)"; exit 77; fi
head -c 300000 "$TEXT" >"$work/text.txt"

PYTHONPATH="$SRC/gguf-py" $PY "$(dirname "$0")/../reference/llamacpp/model_fixture.py" llama "$work/m" \
  --vocab "$SRC/models/ggml-vocab-starcoder.gguf" --tied --d 576 --layers 30 --heads 9 --kv-heads 3 --ff 1536 \
  --ctx 2048 --gguf-only >"$work/fixture.log" || fail "model_fixture.py failed"
"$HARNESS" model-quantize --in "$work/m/model.gguf" --out "$work/q4km.gguf" --ftype Q4_K_M >/dev/null ||
  fail "llama.cpp could not quantize the fixture"
rm -rf "$work/m"

for T in 512 1024; do
  out="$work/run$T"
  /usr/bin/time -f "%M" -o "$work/peak$T" "$BIN" train --base "$work/q4km.gguf" --mode qlora --data "$work/text.txt" \
    --seq $T --batch 1 --steps 2 --threads 2 --thermal none --eval-every 0 --eval-batches 1 --checkpoint-every 0 \
    --out "$out" 2>"$work/train$T.log" || fail "qlora T=$T"
  planned=$("$BIN" log "$out" events | grep ",start," | grep -oE "planned [0-9.]+ MiB" | awk '{print $2}')
  [ -n "$planned" ] || fail "T=$T: no planned figure in the run log"
  report=$("$BIN" budget-report --model "$work/q4km.gguf" --mode qlora --seq $T --batch 1 --threads 2 --format json |
    $PY -c "import json,sys; t=json.load(sys.stdin)['training']; print(t['total_bytes'] / 2**20, t['base_precision'])")
  $PY - "$T" "$planned" "$(tail -1 "$work/peak$T")" $report <<'PY' || fail "T=$T: the plan is not within 3% of the peak RSS"
import sys
T, planned, peak_kib, report, base = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
measured = peak_kib / 1024
err = (planned - measured) / measured
print(f"ok   T={T}: planned {planned:.1f} MiB, peak RSS {measured:.1f} MiB ({100 * err:+.2f}%); budget-report {report:.1f} MiB, base {base}")
assert base == "mapped", f"budget-report plans the base as {base}, not in its file's types"
assert abs(report - planned) <= 0.002 * planned, f"budget-report plans {report:.1f} MiB, train {planned:.1f} MiB"
assert abs(err) <= 0.03, f"{100 * err:+.2f}%"
PY
done
echo "PASS"
