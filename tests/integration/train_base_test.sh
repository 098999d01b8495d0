#!/usr/bin/env bash
# ctest: long (minutes of training and cross-checks; started among the first)
# `nightshift train --base MODEL`: fine-tuning a pretrained model of another tool. A random-weight
# llama in real layouts (tests/reference/llamacpp/model_fixture.py: a GGUF written by llama.cpp's
# gguf-py with the Llama 2 SentencePiece vocabulary, and the same weights as a Hugging Face
# directory), quantized to Q4_K_M by llama.cpp itself (llama_model_quantize). On real text:
#   - a full fine-tune from the GGUF lowers the validation loss;
#   - qlora over the Q4_K_M file learns while the base stays in the file (the checkpoints hold the
#     adapters and norms, not the base), and a run killed with SIGKILL resumes bit-identically;
#   - lora over the HF directory (mapped F32) and qlora over it (quantized to nf4, or encoded as
#     ggml's Q4_K, on load) learn;
#   - a truncated GGUF and an unsupported architecture are refused with one line naming the file.
source "$(dirname "$0")/train_lib.sh"
SRC=${NS_LLAMACPP_SRC:-}
HARNESS=${NS_LLAMACPP_HARNESS:-}
TEXT=${NS_TEST_DATA_DIR:-}/tinyshakespeare.txt
if [ -z "$SRC" ] || [ ! -f "$SRC/gguf-py/gguf/__init__.py" ]; then
  echo "SKIP: llama.cpp's gguf-py is not installed (scripts/setup.sh)"; exit 77
fi
if [ -z "$HARNESS" ] || [ ! -x "$HARNESS" ]; then echo "SKIP: the llama.cpp harness is not built (scripts/setup.sh)"; exit 77; fi
if [ ! -f "$TEXT" ]; then echo "SKIP: $TEXT is missing (NS_TEST_DATA_DIR)"; exit 77; fi
head -c 400000 "$TEXT" > "$work/text.txt"
head -c 60000 "$work/text.txt" > "$work/scored.txt"  # what eval scores: its first 60 KB (~250 windows of 64)

PYTHONPATH="$SRC/gguf-py" $PY "$(dirname "$0")/../reference/llamacpp/model_fixture.py" llama "$work/m" \
  --vocab "$SRC/models/ggml-vocab-llama-spm.gguf" --d 256 --ff 512 --heads 4 --kv-heads 2 --layers 2 \
  > "$work/fixture.log" || fail "model_fixture.py failed"
"$HARNESS" model-quantize --in "$work/m/model.gguf" --out "$work/m/q4km.gguf" --ftype Q4_K_M > /dev/null \
  || fail "llama.cpp could not quantize the fixture"

COMMON=(--data "$work/text.txt" --batch 4 --seq 64 --threads 2 --eval-every 10 --eval-batches 4
        --checkpoint-every 10 --lr 3e-3 --thermal none)

# The first logged step's loss and the last validation loss of a run's stderr log.
first_loss() { grep -m1 -oE "^step +1/[0-9]+ \| loss [0-9.]+" "$1" | awk '{print $NF}'; }
last_val() { grep -oE "val_loss [0-9.]+" "$1" | tail -1 | awk '{print $2}'; }
learned() {  # LOG NAME: the validation loss ends well below the first step's loss
  local a b
  a=$(first_loss "$1"); b=$(last_val "$1")
  [ -n "$a" ] && [ -n "$b" ] || fail "$2: no losses in the log"
  echo "$2: first step loss $a, final val_loss $b"
  awk -v a="$a" -v b="$b" 'BEGIN { exit !(b < a - 1.0) }' || fail "$2: did not learn ($a -> $b)"
}

"$BIN" train --base "$work/m/model.gguf" --mode full --steps 20 "${COMMON[@]}" --out "$work/full" \
  2> "$work/full.log" || fail "full fine-tune from the GGUF failed"
learned "$work/full.log" "full from GGUF"

# This run is also the uninterrupted reference of the SIGKILL check below (the same arguments).
"$BIN" train --base "$work/m/q4km.gguf" --mode qlora --rank 8 --steps 20 "${COMMON[@]}" --out "$work/qlora" \
  2> "$work/qlora.log" || fail "qlora over the Q4_K_M GGUF failed"
learned "$work/qlora.log" "qlora over Q4_K_M"
ck="$work/qlora/checkpoints/step-00000020/model.safetensors"
[ -f "$ck" ] || fail "no checkpoint at step 20"
$PY - "$ck" <<'PY' || fail "the checkpoint holds the base's linear weights"
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
linear = [k for k in header if k.endswith(("attn.q.weight", "attn.k.weight", "mlp.up.weight", "mlp.down.weight"))]
sizes = {k: header[k]["data_offsets"][1] - header[k]["data_offsets"][0] for k in linear}
assert linear and all(v == 0 for v in sizes.values()), sizes
print(f"qlora checkpoint: {len(raw)} bytes; the mapped linear weights hold 0 bytes in it ({len(linear)} checked)")
PY

# The run evaluates and samples with its base mapped again, and scores better than the base.
"$BIN" eval "$work/m/q4km.gguf" --data "$work/scored.txt" --seq 64 --json > "$work/eval_base.json" || fail "eval of the base"
"$BIN" eval "$work/qlora" --data "$work/scored.txt" --seq 64 --json > "$work/eval_run.json" || fail "eval of the qlora run"
$PY - "$work/eval_base.json" "$work/eval_run.json" <<'PY' || fail "the qlora run does not score better than its base"
import json, sys
base, run = (json.load(open(p)) for p in sys.argv[1:3])
assert base["windows"] == run["windows"] > 0, (base, run)
print(f"eval --seq 64 over the text's first 60 KB: base {base['loss']:.4f}, after qlora {run['loss']:.4f} ({run['tokens']} targets)")
assert run["loss"] < base["loss"] - 1.0, (base["loss"], run["loss"])
PY
"$BIN" sample "$work/qlora" --prompt "ROMEO:" --tokens 8 --temperature 0 --json > "$work/sample.json" 2> "$work/sample.log" \
  || fail "sample of the qlora run"
$PY -c "import json,sys; j=json.load(open(sys.argv[1])); assert len(j['ids']) == 8, j" "$work/sample.json" \
  || fail "sample --json: $(cat "$work/sample.json")"

# Killed with SIGKILL after its first checkpoint and resumed: bit-identical to the uninterrupted run
# (the qlora run above).
"$BIN" train --base "$work/m/q4km.gguf" --mode qlora --rank 8 --steps 20 "${COMMON[@]}" --out "$work/killed" \
  2> "$work/killed.log" &
pid=$!; pids+=("$pid")
wait_until 120 test -d "$work/killed/checkpoints/step-00000010" || fail "no checkpoint at step 10"
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
"$BIN" train --base "$work/m/q4km.gguf" --mode qlora --rank 8 --steps 20 "${COMMON[@]}" --out "$work/killed" \
  2> "$work/resumed.log" || fail "the resumed qlora run failed"
grep -q "resuming" "$work/resumed.log" || fail "the second process did not resume"
cmp "$work/qlora/checkpoints/step-00000020/model.safetensors" "$work/killed/checkpoints/step-00000020/model.safetensors" \
  || fail "the resumed run's weights differ from the uninterrupted run"
cmp "$work/qlora/checkpoints/step-00000020/optimizer.safetensors" "$work/killed/checkpoints/step-00000020/optimizer.safetensors" \
  || fail "the resumed run's optimizer moments differ"
echo "qlora over Q4_K_M: resumed after SIGKILL, bit-identical at step 20"

# The HF directory has no tokenizer.json: a run must name one (the GGUF's is the same vocabulary).
set +e
"$BIN" train --base "$work/m/hf" --mode lora --steps 5 "${COMMON[@]}" --out "$work/notok" 2> "$work/notok.err"
rc=$?
set -e
[ $rc -eq 2 ] && grep -q "no tokenizer" "$work/notok.err" || fail "an HF model without a tokenizer: exit $rc, $(cat "$work/notok.err")"
COMMON+=(--tokenizer "gguf:$work/m/model.gguf")
"$BIN" train --base "$work/m/hf" --mode lora --rank 8 --steps 30 "${COMMON[@]}" --out "$work/lora_hf" \
  2> "$work/lora_hf.log" || fail "lora over the HF directory failed"
learned "$work/lora_hf.log" "lora over HF (mapped)"
"$BIN" train --base "$work/m/hf" --mode qlora --quant nf4 --rank 8 --steps 30 "${COMMON[@]}" --out "$work/qlora_hf" \
  2> "$work/qlora_hf.log" || fail "qlora over the HF directory failed"
learned "$work/qlora_hf.log" "qlora over HF (nf4 on load)"
"$BIN" train --base "$work/m/hf" --mode qlora --quant q4_k --rank 8 --steps 30 "${COMMON[@]}" --out "$work/q4k_hf" \
  2> "$work/q4k_hf.log" || fail "qlora over the HF directory encoded as Q4_K failed"
learned "$work/q4k_hf.log" "qlora over HF (Q4_K on load)"
"$BIN" eval "$work/q4k_hf" --data "$work/scored.txt" --seq 64 --json > "$work/eval_q4k.json" || fail "eval of the Q4_K run"

# Bad input: one line naming the file, exit 2, no run directory.
head -c 100000 "$work/m/model.gguf" > "$work/truncated.gguf"
set +e
"$BIN" train --base "$work/truncated.gguf" --mode full --steps 5 "${COMMON[@]}" --out "$work/bad1" 2> "$work/bad1.err"
rc=$?
set -e
[ $rc -eq 2 ] || fail "a truncated GGUF: exit $rc, expected 2"
[ "$(wc -l < "$work/bad1.err")" -eq 1 ] && grep -q "truncated.gguf" "$work/bad1.err" || fail "message: $(cat "$work/bad1.err")"
[ ! -e "$work/bad1" ] || fail "a run directory was left for a refused base"
mkdir -p "$work/gpt2"
echo '{"model_type": "gpt2", "vocab_size": 100}' > "$work/gpt2/config.json"
set +e
"$BIN" train --base "$work/gpt2" --mode full --steps 5 "${COMMON[@]}" --out "$work/bad2" 2> "$work/bad2.err"
rc=$?
set -e
[ $rc -eq 2 ] || fail "an unsupported architecture: exit $rc, expected 2"
grep -q "gpt2.*not supported.*llama" "$work/bad2.err" || fail "message: $(cat "$work/bad2.err")"
echo "PASS train_base_test"
