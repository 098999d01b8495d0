# The checks every imported architecture passes against llama.cpp itself, sourced by
# <arch>_test.sh after train_lib.sh. arch_check writes a random-weight fixture of the architecture
# with llama's SentencePiece vocabulary and tied embeddings (tests/reference/llamacpp/model_fixture.py,
# llama.cpp's gguf-py as its converter writes the architecture) and checks:
#   - inspect names the architecture and its config has the wanted lines;
#   - eval --seq over real text: the mean NLL within 1e-3 relative of llama.cpp's over the same windows;
#   - greedy sample (by the recurrent state and by re-running the forward) is llama.cpp's greedy
#     continuation token for token;
#   - the Hugging Face directory of the same weights evaluates to the same loss and greedy tokens;
#   - train --base lowers the validation loss in full mode (the F32 GGUF) and in qlora mode (over the
#     fixture quantized to Q4_K_M by llama.cpp), and the runs sample with their recurrent state (the
#     same greedy tokens as re-running the forward);
#   - export --format gguf of the full run and export-adapter --format gguf of the qlora run give
#     llama.cpp nightshift's NLL (2e-3 relative), the f32 export also its greedy continuation.
# Afterwards $work/full and $work/qlora are the runs, $work/tok the HF tokenizer files, $work/held.txt
# the held-out text and $m the fixture directory, for checks of the caller's own.
# arch_check_skip_unless_ready exits 77 without the llama.cpp reference or the test text.
# Sizes (environment, for a quicker check): ARCH_CHECK_EVAL_BYTES of text scored against llama.cpp
# window by window (3000, at least 8 windows of 16 tokens), ARCH_CHECK_HELD_BYTES of held-out text
# for the exports (1400). ARCH_CHECK_ADAPTER_RTOL: the relative NLL difference allowed for the GGUF
# adapter over the Q4_K_M base (2e-3), where llama.cpp adds the F32 adapter to a matmul it runs on
# 8-bit activations. ARCH_CHECK_FIXTURE: the fixture's architecture when its GGUF is another's (bamba's
# GGUF is a granitehybrid).
SRC=${NS_LLAMACPP_SRC:-}
HARNESS=${NS_LLAMACPP_HARNESS:-}
TEXT=${NS_TEST_DATA_DIR:-}/tinyshakespeare.txt
field() { $PY -c "import json,sys; v=json.load(open(sys.argv[1]))$2; print(json.dumps(v) if isinstance(v,(list,dict)) else v)" "$1"; }
ids_csv() { $PY -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))$2)))" "$1"; }

arch_check_skip_unless_ready() {
  if [ -z "$HARNESS" ] || [ ! -x "$HARNESS" ]; then
    echo "skip: the llama.cpp harness is not built (run scripts/setup.sh, then reconfigure with cmake)"; exit 77
  fi
  if ! PYTHONPATH="$SRC/gguf-py" $PY -c 'import numpy, gguf' 2>/dev/null; then
    echo "skip: python3 cannot import numpy and llama.cpp's gguf-py (run scripts/setup.sh)"; exit 77
  fi
  if [ ! -f "$TEXT" ]; then echo "skip: $TEXT is missing (NS_TEST_DATA_DIR)"; exit 77; fi
}

# arch_check ARCH WANTS DESCRIPTION FIXTURE_OPTION...
#   WANTS: the lines inspect's config must contain, separated by '|'; DESCRIPTION: the ok line's text.
arch_check() {
  local arch=$1 wants=$2 what=$3
  shift 3
  head -c 300000 "$TEXT" > "$work/text.txt"
  head -c "${ARCH_CHECK_EVAL_BYTES:-3000}" "$TEXT" > "$work/short.txt"
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
  PYTHONPATH="$SRC/gguf-py" $PY "$NS_SOURCE_DIR/tests/reference/llamacpp/model_fixture.py" "${ARCH_CHECK_FIXTURE:-$arch}" "$m" --tied \
    --hf-tokenizer "$work/tok" --vocab "$SRC/models/ggml-vocab-llama-spm.gguf" "$@" \
    > "$work/fixture.log" || fail "the $arch fixture script failed"
  gguf="$m/model.gguf"
  "$BIN" inspect "$gguf" --json > "$work/inspect.json" || fail "inspect of the $arch GGUF failed"
  $PY - "$work/inspect.json" "$arch" "$wants" "$what" <<'PYEOF' || fail "inspect: $(cat "$work/inspect.json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["architecture"] == sys.argv[2], j["architecture"]
cfg = j["config"]
for want in sys.argv[3].split("|"):
    assert want in cfg, (want, cfg)
print(f"ok   inspect: {sys.argv[2]}, {sys.argv[4]}")
PYEOF

  # eval --seq 16: the mean of llama.cpp's NLL over the same windows of the same token ids.
  local SEQ=16
  "$BIN" eval "$gguf" --data "$work/short.txt" --seq $SEQ --json > "$work/eval.json" 2> "$work/eval.log" ||
    fail "eval of the $arch GGUF failed"
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

  # Greedy continuation: llama.cpp's, by the recurrent state and by re-running the forward.
  local how
  for how in "" "--recompute"; do
    "$BIN" sample "$gguf" --prompt "The quick brown fox" --tokens 12 --temperature 0 --json $how \
      > "$work/sample.json" 2> "$work/sample.log" || fail "sample $how failed"
    "$HARNESS" eval --model "$gguf" --ids "$(ids_csv "$work/sample.json" "['prompt_ids']")" --greedy 12 > "$work/greedy.json"
    [ "$(field "$work/sample.json" "['ids']")" = "$(field "$work/greedy.json" "['greedy']")" ] ||
      fail "sample $how: greedy ids $(field "$work/sample.json" "['ids']") vs llama.cpp's $(field "$work/greedy.json" "['greedy']")"
    echo "ok   sample $how --temperature 0: $(field "$work/sample.json" "['ids']") = llama.cpp's greedy"
  done

  # The Hugging Face directory (the architecture's config.json, safetensors with the transformers
  # names, the vocabulary as tokenizer.json) scores the same text.
  "$BIN" eval "$m/hf" --data "$work/short.txt" --seq $SEQ --json > "$work/eval_hf.json" 2> "$work/eval_hf.log" ||
    fail "eval of the $arch HF directory failed"
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
  local COMMON=(--data "$work/text.txt" --batch 4 --seq 64 --threads 2 --eval-every 10 --eval-batches 4
                --checkpoint-every 20 --lr 3e-3 --thermal none)
  "$BIN" train --base "$gguf" --mode full --steps 40 "${COMMON[@]}" --out "$work/full" 2> "$work/full.log" ||
    fail "full fine-tune of the $arch GGUF failed"
  arch_check_learned "$work/full.log" "$arch full fine-tune"
  # qlora over the fixture quantized by llama.cpp itself (Q4_K_M: rows of 64 fall back to Q5_0 / Q8_0 as
  # llama-quantize does); the base stays mapped in its own types.
  "$HARNESS" model-quantize --in "$gguf" --out "$m/q4km.gguf" --ftype Q4_K_M > /dev/null ||
    fail "llama.cpp could not quantize the $arch fixture"
  "$BIN" train --base "$m/q4km.gguf" --mode qlora --rank 8 --steps 40 "${COMMON[@]}" --out "$work/qlora" 2> "$work/qlora.log" ||
    fail "qlora over the Q4_K_M $arch GGUF failed"
  arch_check_learned "$work/qlora.log" "$arch qlora"

  # The runs sample with their recurrent state: the greedy tokens of re-running the forward.
  local run
  for run in full qlora; do
    for how in "" "--recompute"; do
      "$BIN" sample "$work/$run" --prompt "ROMEO:" --tokens 10 --temperature 0 --json $how \
        > "$work/s_$run$how.json" 2> "$work/s_$run.log" || fail "sample of the $run run $how failed"
    done
    [ "$(field "$work/s_$run.json" "['ids']")" = "$(field "$work/s_$run--recompute.json" "['ids']")" ] ||
      fail "$run run: recurrent greedy $(field "$work/s_$run.json" "['ids']") vs recomputed $(field "$work/s_$run--recompute.json" "['ids']")"
    echo "ok   sample of the $run run: $(field "$work/s_$run.json" "['ids']") (recurrent = recomputed)"
  done
  # Export: the full run as a GGUF of the architecture and the qlora run's adapter as a GGUF LoRA (over
  # the fixture) give llama.cpp nightshift's NLL on held-out text, the full one also its greedy continuation.
  printf '%s' "$(tail -c "${ARCH_CHECK_HELD_BYTES:-1400}" "$TEXT")" > "$work/held.txt"
  "$BIN" export "$work/full" --format gguf --out "$work/full.gguf" > "$work/export.log" || fail "export --format gguf failed"
  "$BIN" export-adapter "$work/qlora" --format gguf --out "$work/adapter.gguf" > "$work/export_adapter.log" ||
    fail "export-adapter --format gguf failed"
  local model lora
  for run in full qlora; do
    if [ $run = full ]; then model="$work/full.gguf"; lora=""; else model="$m/q4km.gguf"; lora="$work/adapter.gguf"; fi
    "$BIN" sample "$work/$run" --prompt "$(cat "$work/held.txt")" --tokens 0 --temperature 0 --json > "$work/held_$run.json" 2>/dev/null
    "$BIN" eval "$work/$run" --data "$work/held.txt" --seq 64 --json > "$work/held_eval_$run.json" 2> "$work/held_eval.log" ||
      fail "eval of the $run run on the held-out text"
    $PY - "$work/held_$run.json" "$work/held_eval_$run.json" "$HARNESS" "$model" "$lora" "${ARCH_CHECK_ADAPTER_RTOL:-2e-3}" <<'PYEOF' || fail "$run export: llama.cpp's NLL differs"
import json, subprocess, sys
ids = json.load(open(sys.argv[1]))["prompt_ids"]
ours = json.load(open(sys.argv[2]))["loss"]
harness, model, lora, T = sys.argv[3], sys.argv[4], sys.argv[5], 64
tolerance = float(sys.argv[6]) if lora else 2e-3
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
assert rel < tolerance, rel
PYEOF
    # Token for token only in f32: over the quantized base llama.cpp also rounds the activations to 8 bits.
    [ $run = full ] || continue
    "$HARNESS" eval --model "$model" --ids "$(ids_csv "$work/s_$run.json" "['prompt_ids']")" --greedy 10 > "$work/greedy_$run.json"
    [ "$(field "$work/s_$run.json" "['ids']")" = "$(field "$work/greedy_$run.json" "['greedy']")" ] ||
      fail "$run export: greedy $(field "$work/s_$run.json" "['ids']") vs llama.cpp's $(field "$work/greedy_$run.json" "['greedy']")"
    echo "ok   $run export: llama.cpp's greedy continuation of 'ROMEO:' is nightshift's"
  done
}

# arch_check_learned LOG WHAT: the final val_loss at least 1.0 below the first step's loss.
arch_check_learned() {
  local a b
  a=$(grep -m1 -oE "^step +1/[0-9]+ \| loss [0-9.]+" "$1" | awk '{print $NF}')
  b=$(grep -oE "val_loss [0-9.]+" "$1" | tail -1 | awk '{print $2}')
  [ -n "$a" ] && [ -n "$b" ] || fail "$2: no losses in the log"
  echo "ok   $2: first step loss $a, final val_loss $b"
  awk -v a="$a" -v b="$b" 'BEGIN { exit !(b < a - 1.0) }' || fail "$2: did not learn ($a -> $b)"
}

# arch_check_hf_export ARCH [BASE]: `export --format hf` writes the fixture's own Hugging Face directory
# back. A run of one step at a learning rate of 1e-9 over BASE (the fixture's GGUF unless given; bamba
# passes its HF directory, as its GGUF is a granitehybrid) (its weights moved by ~1e-9)
# is exported; every tensor has the fixture's HF name and shape and its values within 1e-6 (fused
# tensors such as Granite's input_linear assembled from their blocks in order), config.json
# describes the same model (re-imported: the same config), and the export evaluates to the run's loss.
arch_check_hf_export() {
  local arch=$1 base=${2:-$m/model.gguf}
  "$BIN" train --base "$base" --mode full --steps 1 --lr 1e-9 --data "$work/text.txt" --batch 1 --seq 32 \
    --threads 2 --thermal none --out "$work/still" 2> "$work/still.log" || fail "the one-step $arch run failed"
  "$BIN" export "$work/still" --format hf --out "$work/still_hf" > "$work/still_export.log" 2>&1 ||
    fail "export --format hf of the $arch run: $(tail -2 "$work/still_export.log")"
  $PY - "$work/still_hf" "$m/hf" "$NS_SOURCE_DIR/tests/reference" <<'PYEOF' || fail "the $arch HF export differs from the fixture"
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[3])
import st_io
ours, want = st_io.read(sys.argv[1] + "/model.safetensors"), st_io.read(sys.argv[2] + "/model.safetensors")
assert set(ours) == set(want), sorted(set(ours) ^ set(want))
for k, v in want.items():
    assert ours[k].shape == v.shape, (k, ours[k].shape, v.shape)
worst, name = max((float(np.abs(ours[k] - v).max()), k) for k, v in want.items())
assert worst < 1e-6, (name, worst)
config = json.load(open(sys.argv[1] + "/config.json"))
print(f"ok   export --format hf: {len(want)} tensors with the fixture's names and shapes, values within "
      f"{worst:.1e} ({name}); model_type {config['model_type']}")
PYEOF
  "$BIN" inspect "$work/still_hf" --json > "$work/still_hf.json" || fail "inspect of the $arch HF export"
  "$BIN" inspect "$m/hf" --json > "$work/fixture_hf.json" || fail "inspect of the $arch fixture's HF directory"
  # (but for its name, the directory's, and the MoE aux loss weight: a training setting the GGUF the
  # run started from does not carry)
  [ "$(field "$work/still_hf.json" "['config']" | grep -Ev "aux_loss_weight|^ *name = ")" = \
    "$(field "$work/fixture_hf.json" "['config']" | grep -Ev "aux_loss_weight|^ *name = ")" ] ||
    fail "the $arch HF export's config.json reads as another model: $(field "$work/still_hf.json" "['config']")"
  # The run's tokenizer is the GGUF's, which an HF directory cannot hold: the export says to add the
  # HF tokenizer files, as a user would.
  cp "$m/hf/tokenizer.json" "$m/hf/tokenizer_config.json" "$work/still_hf/"
  "$BIN" eval "$work/still" --data "$work/held.txt" --seq 64 --json > "$work/still_eval.json" 2>/dev/null &&
    "$BIN" eval "$work/still_hf" --data "$work/held.txt" --seq 64 --json > "$work/still_hf_eval.json" 2>/dev/null ||
    fail "eval of the $arch run or its HF export"
  $PY - "$work/still_eval.json" "$work/still_hf_eval.json" <<'PYEOF' || fail "the $arch HF export scores differently"
import json, sys
a, b = (json.load(open(p))["loss"] for p in sys.argv[1:3])
rel = abs(a - b) / abs(a)
print(f"ok   export --format hf re-imported: loss {b:.6f}, the run {a:.6f} (relative difference {rel:.1e}); "
      f"config.json reads as the same model")
assert rel < 1e-5, rel
PYEOF
}

# arch_check_peft RUN WANT_TARGETS: RUN (a lora run over the fixture's HF directory, by HF module names)
# exported for PEFT carries exactly WANT_TARGETS (comma-separated) as target_modules, and applied as
# PEFT applies it (W + lora_alpha/r · B·A per module, rank_pattern / alpha_pattern where a fused
# module's blocks share one adapter) to the base's tensors gives the merged model `export --format hf`
# writes.
arch_check_peft() {
  local run=$1 want=$2
  "$BIN" export-adapter "$run" --out "$run.peft" > /dev/null 2> "$run.peft.log" ||
    fail "export-adapter (PEFT) of $run: $(tail -2 "$run.peft.log")"
  "$BIN" export "$run" --format hf --out "$run.merged" > /dev/null 2>&1 || fail "export --format hf of $run"
  $PY - "$run.peft" "$m/hf" "$run.merged" "$NS_SOURCE_DIR/tests/reference" "$want" <<'PYEOF' || fail "the PEFT adapter of $run"
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[4])
import st_io
cfg = json.load(open(sys.argv[1] + "/adapter_config.json"))
ad = st_io.read(sys.argv[1] + "/adapter_model.safetensors")
base, merged = st_io.read(sys.argv[2] + "/model.safetensors"), st_io.read(sys.argv[3] + "/model.safetensors")
assert sorted(cfg["target_modules"]) == sorted(sys.argv[5].split(",")), cfg["target_modules"]
r, alpha = cfg["r"], cfg["lora_alpha"]
modules = sorted({k[len("base_model.model."):-len(".lora_A.weight")] for k in ad if k.endswith(".lora_A.weight")})
worst = 0.0
for mod in modules:
    A, B = ad[f"base_model.model.{mod}.lora_A.weight"], ad[f"base_model.model.{mod}.lora_B.weight"]
    rank, a = cfg["rank_pattern"].get(mod, r), cfg["alpha_pattern"].get(mod, alpha)
    assert A.shape[0] == rank and B.shape[1] == rank, (mod, A.shape, B.shape)
    want = base[mod + ".weight"] + (a / rank) * (B.astype(np.float64) @ A.astype(np.float64))
    worst = max(worst, float(np.abs(merged[mod + ".weight"] - want).max()))
assert worst < 1e-5, worst
fused = sorted(cfg["rank_pattern"])
print(f"ok   PEFT adapter by HF names ({', '.join(sorted(cfg['target_modules']))}): {len(modules)} modules"
      + (f", {len(fused)} fused of rank {cfg['rank_pattern'][fused[0]]}" if fused else "")
      + f"; base + alpha/r·B·A equals the merged export within {worst:.1e}")
PYEOF
}
