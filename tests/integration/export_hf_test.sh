#!/usr/bin/env bash
# ctest: long (minutes of training and cross-checks; started among the first)
# Results for Hugging Face: `export-adapter --format peft`, `train --adapter`, `export --format hf`
# and `merge`, checked against an independent implementation. A random-weight llama in real layouts
# (tests/reference/llamacpp/model_fixture.py, with the Llama 2 SentencePiece vocabulary written as
# a tokenizer.json by tests/reference/gguf_vocab_fixture.py) is fine-tuned with lora on tinyshakespeare:
#   (a) its PEFT adapter (HF module names, target_modules, lora_alpha, base_model_name_or_path) applied
#       by tests/reference/hf_llama_ref.py — a PyTorch llama built from config.json + safetensors by HF
#       names, the adapter applied by its keys as PEFT does — gives nightshift eval's loss on held-out
#       windows and sample's greedy continuation; the adapter of a lora run over the GGUF of the same
#       weights (q/k permuted there) applies to the HF directory as it is (no permutation in PEFT);
#   (b) `train --adapter DIR` starts from that adapter: the same loss, the same factors exported again;
#       an adapter of another base is refused (one line, exit 2);
#   (c) `export --format hf` of the lora run (merged) and of a full run re-import (`eval DIR`) to the
#       run's loss, and the reference agrees; --max-shard-size writes shards with the index; qwen2 and
#       mamba adapters carry their HF names and their HF exports re-import too;
#   (d) gpt-tiny: a lora run's adapter merged with `merge` is a run directory that sample, eval and
#       export accept, with the lora run's loss; gpt-tiny exports as a `llama` config the reference
#       reads; a model with moe blocks is refused (one line, exit 2, nothing left).
source "$(dirname "$0")/train_lib.sh"
SRC=${NS_LLAMACPP_SRC:-}
TEXT=${NS_TEST_DATA_DIR:-}/tinyshakespeare.txt
REF=$(cd "$(dirname "$0")/../reference" && pwd)
if [ -z "$SRC" ] || [ ! -f "$SRC/gguf-py/gguf/__init__.py" ]; then
  echo "SKIP: llama.cpp's gguf-py is not installed (scripts/setup.sh)"; exit 77
fi
if [ ! -f "$TEXT" ]; then echo "SKIP: $TEXT is missing (NS_TEST_DATA_DIR)"; exit 77; fi
$PY -c "import torch" 2> /dev/null || { echo "SKIP: /usr/bin/python3 has no torch (python3-torch)"; exit 77; }
head -c 200000 "$TEXT" > "$work/text.txt"
printf '%s' "$(tail -c 1500 "$TEXT")" > "$work/held.txt"   # held-out text, no trailing newline (== a --prompt)

PYTHONPATH="$SRC/gguf-py" REF="$REF" $PY - "$SRC/models/ggml-vocab-llama-spm.gguf" "$work/tok" <<'PY' || fail "tokenizer.json fixture"
import os, sys
sys.path.insert(0, os.environ["REF"])
import gguf_vocab_fixture as G
d = G.vocab_data(G.read_gguf_metadata(sys.argv[1]))
os.makedirs(sys.argv[2], exist_ok=True)
G.write_json(os.path.join(sys.argv[2], "tokenizer.json"), G.hf_sentencepiece(d, False))
PY
fixture() {  # fixture DIR D
  PYTHONPATH="$SRC/gguf-py" $PY "$REF/llamacpp/model_fixture.py" llama "$1" --vocab "$SRC/models/ggml-vocab-llama-spm.gguf" \
    --hf-tokenizer "$work/tok" --d "$2" --ff 128 --heads 4 --kv-heads 2 --layers 2 > /dev/null || fail "model_fixture.py"
}
fixture "$work/m" 64
COMMON=(--data "$work/text.txt" --batch 4 --seq 32 --threads 2 --eval-every 0 --eval-batches 2 --thermal none)

# expect_bad NAME NEEDLE CMD...: exit code 2 and one "nightshift:" line naming NEEDLE.
expect_bad() {
  local name=$1 needle=$2; shift 2
  set +e
  "$@" > "$work/$name.out" 2> "$work/$name.err"
  local rc=$?
  set -e
  [ $rc -eq 2 ] || fail "$name: exit code $rc, expected 2: $(cat "$work/$name.err")"
  [ "$(grep -c '^nightshift:' "$work/$name.err")" -eq 1 ] || fail "$name: expected one error line: $(cat "$work/$name.err")"
  grep '^nightshift:' "$work/$name.err" | grep -qF -- "$needle" || fail "$name: error does not name $needle: $(cat "$work/$name.err")"
}
# ids MODEL OUT: the held-out text's ids as the model tokenizes it (BOS first where it adds one).
ids() {
  "$BIN" sample "$1" --prompt "$(cat "$work/held.txt")" --tokens 1 --temperature 0 --json > "$work/ids.json" || fail "sample $1"
  $PY -c "import json,sys; print(' '.join(map(str, json.load(open(sys.argv[1]))['prompt_ids'])))" "$work/ids.json" > "$2"
}
evaljson() { "$BIN" eval "$1" --data "$work/held.txt" --seq 32 --json > "$2" || fail "eval $1"; }
# agree NAME A.json B.json TOL: the "loss" of both within TOL relative (same windows), printed.
agree() {
  $PY - "$@" <<'PY' || fail "$1: losses disagree"
import json, sys
name, a, b, tol = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3])), float(sys.argv[4])
assert a["windows"] == b["windows"] > 0 and a["tokens"] == b["tokens"], (a, b)
rel = abs(a["loss"] - b["loss"]) / abs(b["loss"])
print(f"{name}: {a['loss']:.7f} vs {b['loss']:.7f}, relative difference {rel:.2e} ({a['tokens']} targets, tolerance {tol:g})")
assert rel <= tol, rel
PY
}

# --- (a) the PEFT adapter of a lora run over the HF directory ---------------------------------------
"$BIN" train --base "$work/m/hf" --mode lora --rank 4 --alpha 8 --steps 30 --lr 3e-3 "${COMMON[@]}" --out "$work/lora" \
  2> "$work/lora.log" || fail "lora over the HF directory"
"$BIN" export-adapter "$work/lora" --out "$work/peft" > "$work/peft.out" || fail "export-adapter"
$PY - "$work/peft" <<'PY' || fail "the adapter is not in PEFT's conventions"
import json, os, sys
sys.path.insert(0, os.environ.get("REF", ""))
d = sys.argv[1]
c = json.load(open(d + "/adapter_config.json"))
assert c["peft_type"] == "LORA" and c["task_type"] == "CAUSAL_LM", c
assert c["r"] == 4 and c["lora_alpha"] == 8, c
assert sorted(c["target_modules"]) == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"], c
assert c["base_model_name_or_path"] == "hf", c  # the base's directory name (its config.json has no _name_or_path)
assert "nightshift_layout" not in c, c
PY
REF="$REF" $PY - "$work/peft/adapter_model.safetensors" <<'PY' || fail "adapter keys"
import os, sys
sys.path.insert(0, os.environ["REF"])
import st_io
t = st_io.read(sys.argv[1])
assert len(t) == 2 * 7 * 2, sorted(t)
assert t["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"].shape == (4, 64)
assert t["base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"].shape == (64, 4)
assert t["base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight"].shape == (32, 4)
print("adapter: HF module names, target_modules q_proj..down_proj, r 4, lora_alpha 8, base 'hf'")
PY
ids "$work/lora" "$work/ids.txt"
evaljson "$work/lora" "$work/ev_lora.json"
evaljson "$work/m/hf" "$work/ev_base.json"
$PY -c "import json,sys; j=json.load(open(sys.argv[1])); n=len(open(sys.argv[2]).read().split()); assert j['text_tokens']==n,(j,n)" \
  "$work/ev_lora.json" "$work/ids.txt" || fail "sample's prompt ids are not eval's ids"
$PY "$REF/hf_llama_ref.py" score "$work/m/hf" --ids "$work/ids.txt" --seq 32 --adapter "$work/peft" > "$work/ref_lora.json" \
  || fail "the reference could not apply the adapter"
$PY "$REF/hf_llama_ref.py" score "$work/m/hf" --ids "$work/ids.txt" --seq 32 > "$work/ref_base.json" || fail "reference (base)"
agree "base alone: nightshift eval vs reference" "$work/ev_base.json" "$work/ref_base.json" 1e-4
agree "base + PEFT adapter: nightshift eval of the lora run vs reference" "$work/ev_lora.json" "$work/ref_lora.json" 1e-4
$PY - "$work/ref_base.json" "$work/ref_lora.json" <<'PY' || fail "the adapter does not change the reference's loss"
import json, sys
b, l = (json.load(open(p))["loss"] for p in sys.argv[1:3])
print(f"reference: base {b:.4f}, with the adapter {l:.4f}")
assert l < b - 0.05, (b, l)
PY
"$BIN" sample "$work/lora" --prompt "ROMEO:" --tokens 8 --temperature 0 --json > "$work/greedy.json" || fail "sample"
$PY -c "import json,sys; print(' '.join(map(str, json.load(open(sys.argv[1]))['prompt_ids'])))" "$work/greedy.json" > "$work/prompt.txt"
want=$($PY -c "import json,sys; print(' '.join(map(str, json.load(open(sys.argv[1]))['ids'])))" "$work/greedy.json")
got=$($PY "$REF/hf_llama_ref.py" greedy "$work/m/hf" --ids "$work/prompt.txt" --tokens 8 --adapter "$work/peft")
[ "$want" = "$got" ] || fail "greedy continuation: nightshift '$want', reference '$got'"
echo "greedy continuation of 'ROMEO:' with the adapter: $got (nightshift = reference)"

# The same over the GGUF file (q/k rows permuted for llama.cpp; nightshift un-permutes them on load):
# the adapter's q/k factors are in HF's rotate-half order, so they apply to the HF directory of the
# same weights; its HF export (config.json built from the GGUF's metadata) reads in the reference.
"$BIN" train --base "$work/m/model.gguf" --mode lora --rank 4 --steps 10 --lr 3e-3 "${COMMON[@]}" --out "$work/glora" \
  2> "$work/glora.log" || fail "lora over the GGUF"
"$BIN" export-adapter "$work/glora" --out "$work/gpeft" > /dev/null || fail "export-adapter (GGUF base)"
"$BIN" export "$work/glora" --format hf --out "$work/ghf" > /dev/null 2> "$work/ghf.log" || fail "export --format hf (GGUF base)"
ids "$work/glora" "$work/gids.txt"
evaljson "$work/glora" "$work/ev_glora.json"
$PY "$REF/hf_llama_ref.py" score "$work/m/hf" --ids "$work/gids.txt" --seq 32 --adapter "$work/gpeft" > "$work/ref_glora.json" \
  || fail "the reference could not apply the adapter of the GGUF run"
agree "lora over the GGUF: its PEFT adapter on the HF directory (reference) vs nightshift eval" "$work/ev_glora.json" "$work/ref_glora.json" 1e-4
$PY "$REF/hf_llama_ref.py" score "$work/ghf" --ids "$work/gids.txt" --seq 32 > "$work/ref_ghf.json" || fail "reference (GGUF run, hf)"
agree "lora over the GGUF, export --format hf: reference vs nightshift eval" "$work/ev_glora.json" "$work/ref_ghf.json" 1e-4

# --- (b) train --adapter: the exported adapter is the starting point -------------------------------
"$BIN" train --base "$work/m/hf" --mode lora --adapter "$work/peft" --steps 1 --lr 1e-30 --min-lr 1e-30 --warmup 0 \
  "${COMMON[@]}" --out "$work/again" 2> "$work/again.log" || fail "train --adapter"
evaljson "$work/again" "$work/ev_again.json"
agree "train --adapter (one step at lr 1e-30) vs the run it came from" "$work/ev_again.json" "$work/ev_lora.json" 1e-6
"$BIN" export-adapter "$work/again" --out "$work/peft2" > /dev/null || fail "export-adapter of the --adapter run"
REF="$REF" $PY - "$work/peft/adapter_model.safetensors" "$work/peft2/adapter_model.safetensors" <<'PY' || fail "factors changed"
import os, sys
import numpy as np
sys.path.insert(0, os.environ["REF"])
import st_io
a, b = st_io.read(sys.argv[1]), st_io.read(sys.argv[2])
assert sorted(a) == sorted(b)
worst = max(float(np.abs(a[k] - b[k]).max()) for k in a)
print(f"the adapter loaded by train --adapter and exported again: {len(a)} tensors, largest difference {worst:.1e}")
assert worst < 1e-6, worst
PY
fixture "$work/m2" 32
expect_bad mismatch "$work/peft" "$BIN" train --base "$work/m2/hf" --mode lora --adapter "$work/peft" --steps 1 \
  "${COMMON[@]}" --out "$work/mismatch"
[ ! -e "$work/mismatch" ] || fail "a refused adapter left a run directory"

# --- (c) Hugging Face directories: merged lora run, full run, shards --------------------------------
"$BIN" export "$work/lora" --format hf --out "$work/hfx" > "$work/hfx.out" || fail "export --format hf (lora)"
$PY - "$work/hfx" <<'PY' || fail "config.json"
import json, os, sys
d = sys.argv[1]
c = json.load(open(d + "/config.json"))
assert c["model_type"] == "llama" and c["architectures"] == ["LlamaForCausalLM"], c
assert (c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"], c["num_key_value_heads"]) == (64, 2, 4, 2), c
assert c["intermediate_size"] == 128 and c["vocab_size"] == 32000 and c["tie_word_embeddings"] is False, c
assert c["torch_dtype"] == "float32" and c["_name_or_path"] == "hf", c
assert sorted(os.listdir(d)) == ["config.json", "model.safetensors", "tokenizer.json"], os.listdir(d)
PY
cmp "$work/hfx/tokenizer.json" "$work/m/hf/tokenizer.json" || fail "tokenizer.json not copied"
evaljson "$work/hfx" "$work/ev_hfx.json"
agree "export --format hf of the lora run, re-imported, vs the run" "$work/ev_hfx.json" "$work/ev_lora.json" 1e-5
$PY "$REF/hf_llama_ref.py" score "$work/hfx" --ids "$work/ids.txt" --seq 32 > "$work/ref_hfx.json" || fail "reference (hfx)"
agree "export --format hf: nightshift vs the reference reading the directory" "$work/ev_hfx.json" "$work/ref_hfx.json" 1e-4
"$BIN" export "$work/lora" --format hf --out "$work/shards" --max-shard-size 3MB > "$work/shards.out" || fail "sharded export"
n=$(ls "$work/shards" | grep -c '^model-0000[0-9]-of-0000[0-9].safetensors$' || true)
[ "$n" -ge 3 ] && [ -f "$work/shards/model.safetensors.index.json" ] && [ ! -e "$work/shards/model.safetensors" ] \
  || fail "--max-shard-size 3MB: $(ls "$work/shards")"
$PY - "$work/shards" <<'PY' || fail "index"
import json, os, sys
d = sys.argv[1]
idx = json.load(open(d + "/model.safetensors.index.json"))
files = set(idx["weight_map"].values())
assert files == {f for f in os.listdir(d) if f.startswith("model-")}, files
assert idx["metadata"]["total_size"] == sum(os.path.getsize(os.path.join(d, f)) for f in files) - sum(
    8 + int.from_bytes(open(os.path.join(d, f), "rb").read(8), "little") for f in files), idx["metadata"]
for f in files:  # each shard within the limit, or one tensor larger than it alone
    held = [k for k, v in idx["weight_map"].items() if v == f]
    assert os.path.getsize(os.path.join(d, f)) <= 3_000_000 + 100_000 or len(held) == 1, (f, held)
print(f"--max-shard-size 3MB: {len(files)} shards, {len(idx['weight_map'])} tensors in the index")
PY
evaljson "$work/shards" "$work/ev_shards.json"
agree "sharded export re-imported vs the single file" "$work/ev_shards.json" "$work/ev_hfx.json" 0
$PY "$REF/hf_llama_ref.py" score "$work/shards" --ids "$work/ids.txt" --seq 32 > "$work/ref_shards.json" || fail "reference (shards)"
agree "sharded export: reference vs reference of the single file" "$work/ref_shards.json" "$work/ref_hfx.json" 0
"$BIN" train --base "$work/m/hf" --mode full --steps 10 --lr 1e-3 "${COMMON[@]}" --out "$work/full" 2> "$work/full.log" \
  || fail "full fine-tune of the HF directory"
"$BIN" export "$work/full" --format hf --out "$work/hffull" > /dev/null || fail "export --format hf (full)"
evaljson "$work/full" "$work/ev_full.json"
evaljson "$work/hffull" "$work/ev_hffull.json"
agree "export --format hf of a full run, re-imported, vs the run" "$work/ev_hffull.json" "$work/ev_full.json" 1e-6
"$BIN" train --base "$work/hffull" --mode lora --rank 2 --steps 2 "${COMMON[@]}" --out "$work/onhf" 2> "$work/onhf.log" \
  || fail "train --base of the exported directory"
before=$(cd "$work/hfx" && sha256sum *)
expect_bad exists "$work/hfx" "$BIN" export "$work/lora" --format hf --out "$work/hfx"
expect_bad shard_size "--max-shard-size" "$BIN" export "$work/lora" --format hf --out "$work/x" --max-shard-size lots
[ "$(cd "$work/hfx" && sha256sum *)" = "$before" ] || fail "a refused export changed the directory"
"$BIN" export "$work/full" --format hf --out "$work/hfx" --force > /dev/null || fail "--force"
evaljson "$work/hfx" "$work/ev_forced.json"
agree "--force replaced the directory" "$work/ev_forced.json" "$work/ev_full.json" 1e-6

# qwen2 (q/k/v biases) and mamba: HF names in the adapter, and the HF export re-imports to the run's loss.
for arch in qwen2 mamba; do
  PYTHONPATH="$SRC/gguf-py" $PY "$REF/llamacpp/model_fixture.py" $arch "$work/$arch" --vocab "$SRC/models/ggml-vocab-llama-spm.gguf" \
    --hf-tokenizer "$work/tok" --d 64 --ff 128 --heads 4 --kv-heads 2 --layers 2 > /dev/null || fail "model_fixture.py $arch"
  "$BIN" train --base "$work/$arch/hf" --mode lora --rank 4 --steps 10 --lr 3e-3 "${COMMON[@]}" --out "$work/lora-$arch" \
    2> "$work/lora-$arch.log" || fail "lora over the $arch HF directory"
  "$BIN" export-adapter "$work/lora-$arch" --out "$work/peft-$arch" > /dev/null || fail "export-adapter ($arch)"
  want=$([ $arch = mamba ] && echo "in_proj out_proj" || echo "down_proj gate_proj k_proj o_proj q_proj up_proj v_proj")
  got=$($PY -c "import json,sys; print(' '.join(sorted(json.load(open(sys.argv[1]))['target_modules'])))" "$work/peft-$arch/adapter_config.json")
  [ "$got" = "$want" ] || fail "$arch target_modules: $got"
  "$BIN" export "$work/lora-$arch" --format hf --out "$work/hf-$arch" > /dev/null || fail "export --format hf ($arch)"
  $PY -c "import json,sys; c=json.load(open(sys.argv[1])); assert c['model_type']==sys.argv[2], c" "$work/hf-$arch/config.json" $arch \
    || fail "$arch config.json"
  evaljson "$work/lora-$arch" "$work/ev_lora_$arch.json"
  evaljson "$work/hf-$arch" "$work/ev_hf_$arch.json"
  agree "$arch: export --format hf re-imported vs the lora run" "$work/ev_hf_$arch.json" "$work/ev_lora_$arch.json" 1e-5
  "$BIN" train --base "$work/$arch/hf" --mode lora --adapter "$work/peft-$arch" --steps 1 --lr 1e-30 --min-lr 1e-30 --warmup 0 \
    "${COMMON[@]}" --out "$work/again-$arch" 2> "$work/again-$arch.log" || fail "train --adapter ($arch)"
  evaljson "$work/again-$arch" "$work/ev_again_$arch.json"
  agree "$arch: train --adapter vs the run it came from" "$work/ev_again_$arch.json" "$work/ev_lora_$arch.json" 1e-6
done

# --- (d) gpt-tiny: merge, sample/eval/export of the merged run; the llama config; refusals ------------
TINY=(--data "$work/text.txt" --batch 4 --seq 32 --threads 2 --eval-every 0 --eval-batches 2 --thermal none)
"$BIN" train --preset gpt-tiny --steps 20 --lr 3e-3 "${TINY[@]}" --out "$work/tiny" 2> "$work/tiny.log" || fail "gpt-tiny"
"$BIN" train --base "$work/tiny" --mode lora --rank 4 --alpha 8 --steps 10 --lr 1e-2 "${TINY[@]}" --out "$work/tlora" \
  2> "$work/tlora.log" || fail "gpt-tiny lora"
"$BIN" export-adapter "$work/tlora" --out "$work/tpeft" > /dev/null || fail "export-adapter (gpt-tiny)"
$PY -c "import json,sys; c=json.load(open(sys.argv[1])); assert 'nightshift_layout' in c and 'q' in c['target_modules'], c" \
  "$work/tpeft/adapter_config.json" || fail "gpt-tiny's adapter does not say it is in nightshift's names"
"$BIN" merge "$work/tiny" "$work/tpeft" --out "$work/tmerged" > /dev/null || fail "merge"
"$BIN" sample "$work/tmerged" --prompt "ROMEO:" --tokens 16 --temperature 0 > "$work/tsample.out" 2> "$work/tsample.log" \
  || fail "sample of the merged run"
"$BIN" eval "$work/tmerged" --json > "$work/tev.json" 2> "$work/tev.log" || fail "eval of the merged run"
evaljson "$work/tmerged" "$work/ev_tmerged.json"
evaljson "$work/tlora" "$work/ev_tlora.json"
agree "merge of gpt-tiny + adapter vs the lora run" "$work/ev_tmerged.json" "$work/ev_tlora.json" 1e-5
"$BIN" export "$work/tmerged" --format hf --out "$work/thf" > /dev/null || fail "export --format hf of the merged run"
$PY -c "import json,sys; c=json.load(open(sys.argv[1])); assert c['model_type']=='llama' and c['vocab_size']==256 and c['tie_word_embeddings'] is True, c" \
  "$work/thf/config.json" || fail "gpt-tiny's config.json"
ids "$work/tmerged" "$work/tids.txt"
$PY "$REF/hf_llama_ref.py" score "$work/thf" --ids "$work/tids.txt" --seq 32 > "$work/ref_thf.json" || fail "reference (gpt-tiny)"
agree "gpt-tiny merged, exported as llama: reference vs nightshift eval" "$work/ref_thf.json" "$work/ev_tmerged.json" 1e-4
printf 'name = "moe-micro"\nd_model = 32\nblocks = ["attn+moe"]\n[attn]\nn_heads = 2\n[moe]\nn_experts = 2\ntop_k = 1\n' > "$work/moe.toml"
"$BIN" train --model "$work/moe.toml" --steps 1 "${TINY[@]}" --out "$work/moe" 2> "$work/moe.log" || fail "moe micro"
expect_bad moe "moe" "$BIN" export "$work/moe" --format hf --out "$work/moehf"
[ ! -e "$work/moehf" ] && ! ls -a "$work" | grep -q '\.tmp' || fail "a refused export left files"
echo "PASS export_hf_test"
