#!/usr/bin/env bash
# Mamba-2 end to end against llama.cpp itself: a random-weight mamba2 (4 layers of the Mamba-2 mixer,
# 8 heads of 16 sharing B and C in 2 groups, state 16) at reduced width with llama's SentencePiece
# vocabulary and tied embeddings (tests/reference/llamacpp/model_fixture.py, written with llama.cpp's
# gguf-py as its converter writes Mamba-2). Checked:
#   - eval --seq over real text: the mean NLL within 1e-3 relative of llama.cpp's over the same windows;
#   - greedy sample (by the recurrent conv and scan state and by re-running the forward) is llama.cpp's
#     greedy continuation token for token;
#   - the Hugging Face directory of the same weights evaluates to the same loss;
#   - train --base lowers the validation loss in full mode (the F32 GGUF) and in qlora mode (over the
#     fixture quantized to Q4_K_M by llama.cpp), and the runs sample with their recurrent state (the
#     same greedy tokens as re-running the forward);
#   - export --format gguf of the full run and export-adapter --format gguf of the qlora run give
#     llama.cpp nightshift's NLL (2e-3 relative), the f32 export also its greedy continuation.
# Skipped (77) without the llama.cpp reference or the test text (scripts/setup.sh).
source "$(dirname "$0")/train_lib.sh"
SRC=${NS_LLAMACPP_SRC:-}
HARNESS=${NS_LLAMACPP_HARNESS:-}
TEXT=${NS_TEST_DATA_DIR:-}/tinyshakespeare.txt
if [ -z "$HARNESS" ] || [ ! -x "$HARNESS" ]; then
  echo "skip: the llama.cpp harness is not built (run scripts/setup.sh, then reconfigure with cmake)"; exit 77
fi
if ! PYTHONPATH="$SRC/gguf-py" $PY -c 'import numpy, gguf' 2>/dev/null; then
  echo "skip: python3 cannot import numpy and llama.cpp's gguf-py (run scripts/setup.sh)"; exit 77
fi
if [ ! -f "$TEXT" ]; then echo "skip: $TEXT is missing (NS_TEST_DATA_DIR)"; exit 77; fi
head -c 300000 "$TEXT" > "$work/text.txt"
head -c 3000 "$TEXT" > "$work/short.txt"
field() { $PY -c "import json,sys; v=json.load(open(sys.argv[1]))$2; print(json.dumps(v) if isinstance(v,(list,dict)) else v)" "$1"; }
ids_csv() { $PY -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))$2)))" "$1"; }

# The HF directory's tokenizer.json: the same SentencePiece vocabulary in transformers' format.
PYTHONPATH="$SRC/gguf-py" REF="$NS_SOURCE_DIR/tests/reference" $PY - "$SRC/models/ggml-vocab-llama-spm.gguf" "$work/tok" <<'PYEOF' ||
import os, sys
sys.path.insert(0, os.environ["REF"])
import gguf_vocab_fixture as G
d = G.vocab_data(G.read_gguf_metadata(sys.argv[1]))
os.makedirs(sys.argv[2], exist_ok=True)
G.write_json(os.path.join(sys.argv[2], "tokenizer.json"), G.hf_sentencepiece(d, False))
PYEOF
  fail "the tokenizer.json fixture failed"
echo '{"add_bos_token": true, "bos_token": "<s>", "eos_token": "</s>"}' > "$work/tok/tokenizer_config.json"
m="$work/m"
PYTHONPATH="$SRC/gguf-py" $PY "$NS_SOURCE_DIR/tests/reference/llamacpp/model_fixture.py" mamba2 "$m" --tied \
  --hf-tokenizer "$work/tok" --vocab "$SRC/models/ggml-vocab-llama-spm.gguf" --layers 4 --d 64 \
  > "$work/fixture.log" || fail "the mamba2 fixture script failed"
gguf="$m/model.gguf"
"$BIN" inspect "$gguf" --json > "$work/inspect.json" || fail "inspect of the mamba2 GGUF failed"
$PY - "$work/inspect.json" <<'PYEOF' || fail "inspect: $(cat "$work/inspect.json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["architecture"] == "mamba2", j["architecture"]
cfg = j["config"]
for want in ("block = 'mamba2'", "repeat = 4", "d_inner = 128", "head_dim = 16", "d_state = 16", "n_groups = 2",
             "tied_embedding = true"):
    assert want in cfg, (want, cfg)
print("ok   inspect: mamba2, 4 mamba2 blocks, d_inner 128, heads of 16, state 16, 2 groups")
PYEOF

# eval --seq 16: the mean of llama.cpp's NLL over the same windows of the same token ids.
SEQ=16
"$BIN" eval "$gguf" --data "$work/short.txt" --seq $SEQ --json > "$work/eval.json" 2> "$work/eval.log" ||
  fail "eval of the mamba2 GGUF failed"
"$HARNESS" tokenize --model "$gguf" --text-file "$work/short.txt" --bos > "$work/ref_ids.json"
$PY - "$work/ref_ids.json" "$work/eval.json" "$HARNESS" "$gguf" $SEQ <<'PYEOF' || fail "eval differs from llama.cpp"
import json, subprocess, sys
ids = json.load(open(sys.argv[1]))["ids"]
ours = json.load(open(sys.argv[2]))
harness, gguf, T = sys.argv[3], sys.argv[4], int(sys.argv[5])
windows = (len(ids) - 1) // T
assert windows >= 8 and ours["windows"] == windows, (windows, ours)
nll = []
for w in range(windows):
    win = ids[w * T: w * T + T + 1]
    out = subprocess.run([harness, "eval", "--model", gguf, "--ids", ",".join(map(str, win)), "--threads", "2"],
                         check=True, capture_output=True, text=True).stdout
    nll.append(json.loads(out)["nll"])
ref = sum(nll) / len(nll)
rel = abs(ours["loss"] - ref) / abs(ref)
print(f"ok   eval --seq {T}: loss {ours['loss']:.6f}, llama.cpp {ref:.6f} over {windows} windows: relative "
      f"difference {rel:.2e}")
assert rel < 1e-3, f"relative difference {rel}"
PYEOF

# Greedy continuation: llama.cpp's, by the recurrent conv and scan state and by re-running the forward.
for how in "" "--recompute"; do
  "$BIN" sample "$gguf" --prompt "The quick brown fox" --tokens 12 --temperature 0 --json $how \
    > "$work/sample.json" 2> "$work/sample.log" || fail "sample $how failed"
  "$HARNESS" eval --model "$gguf" --ids "$(ids_csv "$work/sample.json" "['prompt_ids']")" --greedy 12 > "$work/greedy.json"
  [ "$(field "$work/sample.json" "['ids']")" = "$(field "$work/greedy.json" "['greedy']")" ] ||
    fail "sample $how: greedy ids $(field "$work/sample.json" "['ids']") vs llama.cpp's $(field "$work/greedy.json" "['greedy']")"
  echo "ok   sample $how --temperature 0: $(field "$work/sample.json" "['ids']") = llama.cpp's greedy"
done

# The Hugging Face directory (Mamba2ForCausalLM's config.json, safetensors with the transformers
# names, conv weight (Cx, 1, K), A_log and D per head, the vocabulary as tokenizer.json) scores the
# same text.
"$BIN" eval "$m/hf" --data "$work/short.txt" --seq $SEQ --json > "$work/eval_hf.json" 2> "$work/eval_hf.log" ||
  fail "eval of the mamba2 HF directory failed"
"$BIN" sample "$m/hf" --prompt "The quick brown fox" --tokens 12 --temperature 0 --json > "$work/sample_hf.json" \
  2> "$work/sample_hf.log" || fail "sample of the HF directory failed"
[ "$(field "$work/sample_hf.json" "['prompt_ids']")" = "$(field "$work/sample.json" "['prompt_ids']")" ] &&
  [ "$(field "$work/sample_hf.json" "['ids']")" = "$(field "$work/sample.json" "['ids']")" ] ||
  fail "HF directory greedy $(field "$work/sample_hf.json" "['ids']") vs the GGUF's $(field "$work/sample.json" "['ids']")"
echo "ok   HF directory: the GGUF's greedy continuation"
$PY - "$work/eval.json" "$work/eval_hf.json" <<'PYEOF' || fail "the HF directory scores differently from the GGUF"
import json, sys
g, h = (json.load(open(p)) for p in sys.argv[1:3])
assert g["windows"] == h["windows"], (g, h)
rel = abs(g["loss"] - h["loss"]) / abs(g["loss"])
print(f"ok   HF directory: loss {h['loss']:.6f}, GGUF {g['loss']:.6f} (relative difference {rel:.1e})")
assert rel < 1e-5, rel
PYEOF

# Fine-tuning from the GGUF lowers the validation loss, in full and in qlora mode.
COMMON=(--data "$work/text.txt" --batch 4 --seq 64 --threads 2 --eval-every 10 --eval-batches 4
        --checkpoint-every 20 --lr 3e-3 --thermal none)
first_loss() { grep -m1 -oE "^step +1/[0-9]+ \| loss [0-9.]+" "$1" | awk '{print $NF}'; }
last_val() { grep -oE "val_loss [0-9.]+" "$1" | tail -1 | awk '{print $2}'; }
learned() {
  local a b
  a=$(first_loss "$1"); b=$(last_val "$1")
  [ -n "$a" ] && [ -n "$b" ] || fail "$2: no losses in the log"
  echo "ok   $2: first step loss $a, final val_loss $b"
  awk -v a="$a" -v b="$b" 'BEGIN { exit !(b < a - 1.0) }' || fail "$2: did not learn ($a -> $b)"
}
"$BIN" train --base "$gguf" --mode full --steps 40 "${COMMON[@]}" --out "$work/full" 2> "$work/full.log" ||
  fail "full fine-tune of the mamba2 GGUF failed"
learned "$work/full.log" "mamba2 full fine-tune"
# qlora over the fixture quantized by llama.cpp itself (Q4_K_M: rows of 64 fall back to Q5_0 / Q8_0 as
# llama-quantize does); the base stays mapped in its own types.
"$HARNESS" model-quantize --in "$gguf" --out "$m/q4km.gguf" --ftype Q4_K_M > /dev/null ||
  fail "llama.cpp could not quantize the mamba2 fixture"
"$BIN" train --base "$m/q4km.gguf" --mode qlora --rank 8 --steps 40 "${COMMON[@]}" --out "$work/qlora" 2> "$work/qlora.log" ||
  fail "qlora over the Q4_K_M mamba2 GGUF failed"
learned "$work/qlora.log" "mamba2 qlora"

# The runs sample with their recurrent conv and scan state: the greedy tokens of re-running the forward.
for run in full qlora; do
  for how in "" "--recompute"; do
    "$BIN" sample "$work/$run" --prompt "ROMEO:" --tokens 10 --temperature 0 --json $how \
      > "$work/s_$run$how.json" 2> "$work/s_$run.log" || fail "sample of the $run run $how failed"
  done
  [ "$(field "$work/s_$run.json" "['ids']")" = "$(field "$work/s_$run--recompute.json" "['ids']")" ] ||
    fail "$run run: recurrent greedy $(field "$work/s_$run.json" "['ids']") vs recomputed $(field "$work/s_$run--recompute.json" "['ids']")"
  echo "ok   sample of the $run run: $(field "$work/s_$run.json" "['ids']") (recurrent = recomputed)"
done
# Export: the full run as a mamba2 GGUF and the qlora run's adapter as a GGUF LoRA (over the fixture)
# give llama.cpp nightshift's NLL on held-out text, the full one also its greedy continuation.
printf '%s' "$(tail -c 1400 "$TEXT")" > "$work/held.txt"
"$BIN" export "$work/full" --format gguf --out "$work/full.gguf" > "$work/export.log" || fail "export --format gguf failed"
"$BIN" export-adapter "$work/qlora" --format gguf --out "$work/adapter.gguf" > "$work/export_adapter.log" ||
  fail "export-adapter --format gguf failed"
for run in full qlora; do
  if [ $run = full ]; then model="$work/full.gguf"; lora=""; else model="$m/q4km.gguf"; lora="$work/adapter.gguf"; fi
  "$BIN" sample "$work/$run" --prompt "$(cat "$work/held.txt")" --tokens 0 --temperature 0 --json > "$work/held_$run.json" 2>/dev/null
  "$BIN" eval "$work/$run" --data "$work/held.txt" --seq 64 --json > "$work/held_eval_$run.json" 2> "$work/held_eval.log" ||
    fail "eval of the $run run on the held-out text"
  $PY - "$work/held_$run.json" "$work/held_eval_$run.json" "$HARNESS" "$model" "$lora" <<'PYEOF' || fail "$run export: llama.cpp's NLL differs"
import json, subprocess, sys
ids = json.load(open(sys.argv[1]))["prompt_ids"]
ours = json.load(open(sys.argv[2]))["loss"]
harness, model, lora, T = sys.argv[3], sys.argv[4], sys.argv[5], 64
nll = []
for w in range((len(ids) - 1) // T):
    cmd = [harness, "eval", "--model", model, "--ids", ",".join(map(str, ids[w * T: w * T + T + 1])), "--threads", "2"]
    if lora:
        cmd += ["--lora", lora]
    nll.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)["nll"])
ref = sum(nll) / len(nll)
rel = abs(ours - ref) / abs(ref)
print(f"ok   {'GGUF export' if not lora else 'GGUF adapter over the base'} in llama.cpp: NLL {ref:.6f}, "
      f"nightshift {ours:.6f} over {len(nll)} windows, relative difference {rel:.2e}")
assert rel < 2e-3, rel
PYEOF
  # Token for token only in f32: over the quantized base llama.cpp also rounds the activations to 8 bits.
  [ $run = full ] || continue
  "$HARNESS" eval --model "$model" --ids "$(ids_csv "$work/s_$run.json" "['prompt_ids']")" --greedy 10 > "$work/greedy_$run.json"
  [ "$(field "$work/s_$run.json" "['ids']")" = "$(field "$work/greedy_$run.json" "['greedy']")" ] ||
    fail "$run export: greedy $(field "$work/s_$run.json" "['ids']") vs llama.cpp's $(field "$work/greedy_$run.json" "['greedy']")"
  echo "ok   $run export: llama.cpp's greedy continuation of 'ROMEO:' is nightshift's"
done
echo "PASS mamba2_test"
