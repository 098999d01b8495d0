#!/usr/bin/env bash
# LFM2 (Liquid AI's short-conv + attention hybrid) end to end against llama.cpp itself: a random-weight
# lfm2 in a real layer pattern (conv,conv,attn,conv,conv,attn) at reduced width with llama's
# SentencePiece vocabulary and tied embeddings (tests/reference/llamacpp/model_fixture.py, written
# with llama.cpp's gguf-py as its converter writes LFM2). Checked:
#   - eval --seq over real text: the mean NLL within 1e-3 relative of llama.cpp's over the same windows;
#   - greedy sample (by the recurrent conv state and by re-running the forward) is llama.cpp's greedy
#     continuation token for token;
#   - the Hugging Face directory of the same weights evaluates to the same loss;
#   - train --base lowers the validation loss in full mode (the F32 GGUF) and in qlora mode (over the
#     fixture quantized to Q4_K_M by llama.cpp), and the run
#     samples with its recurrent conv state (the same greedy tokens as re-running the forward);
#   - export --format gguf of the full run and export-adapter --format gguf of the qlora run give
#     llama.cpp nightshift's NLL (2e-3 relative), the f32 export also its greedy continuation; the PEFT adapter has the
#     transformers module names (model.layers.N.conv.in_proj, self_attn.out_proj, feed_forward.w1);
#   - export --format hf writes an Lfm2ForCausalLM directory that imports back with the run's loss.
# The shared checks are in tests/integration/arch_check_lib.sh.
# Skipped (77) without the llama.cpp reference or the test text (scripts/setup.sh).
source "$(dirname "$0")/train_lib.sh"
source "$(dirname "$0")/arch_check_lib.sh"
arch_check_skip_unless_ready
export ARCH_CHECK_EVAL_BYTES=700 ARCH_CHECK_HELD_BYTES=700
arch_check lfm2 "{ block = 'conv+mlp', repeat = 2 }, 'attn+mlp'|qk_norm = true|l_cache = 3|d_ff = 128|tied_embedding = true" \
  "conv+mlp and attn+mlp blocks, q/k norms, l_cache 3, d_ff 128" \
  --pattern conv,conv,attn,conv,conv,attn --d 64 --ff 128 --heads 4 --kv-heads 2
# The PEFT adapter of the qlora run carries the transformers module names.
"$BIN" export-adapter "$work/qlora" --out "$work/peft" > /dev/null || fail "export-adapter (PEFT) failed"
$PY - "$work/peft" <<'PYEOF' || fail "the PEFT adapter's names"
import json, os, struct, sys
cfg = json.load(open(os.path.join(sys.argv[1], "adapter_config.json")))
raw = open(os.path.join(sys.argv[1], "adapter_model.safetensors"), "rb").read()
names = set(json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])) - {"__metadata__"}
want = ["base_model.model.model.layers.0.conv.in_proj.lora_A.weight",
        "base_model.model.model.layers.0.conv.out_proj.lora_B.weight",
        "base_model.model.model.layers.2.self_attn.out_proj.lora_A.weight",
        "base_model.model.model.layers.2.feed_forward.w1.lora_A.weight"]
missing = [n for n in want if n not in names]
assert not missing, (missing, sorted(names)[:8])
assert {"in_proj", "out_proj", "q_proj", "w1"} <= set(cfg["target_modules"]), cfg["target_modules"]
print(f"ok   PEFT adapter: {len(names)} tensors with transformers' Lfm2 module names, targets {cfg['target_modules']}")
PYEOF
# export --format hf: an Lfm2ForCausalLM directory (layer_types, conv weight (D, 1, L)) that imports
# back with the run's loss (the GGUF base has no HF tokenizer files: the fixture's are added).
"$BIN" export "$work/full" --format hf --out "$work/full_hf" > "$work/export_hf.log" 2>&1 || fail "export --format hf failed"
cp "$work/tok/"* "$work/full_hf/"
"$BIN" eval "$work/full_hf" --data "$work/held.txt" --seq 64 --json > "$work/held_eval_hf.json" 2> "$work/held_eval.log" ||
  fail "eval of the exported HF directory failed"
$PY - "$work/held_eval_full.json" "$work/held_eval_hf.json" "$work/full_hf/config.json" <<'PYEOF' || fail "the HF export differs"
import json, sys
run, hf, cfg = (json.load(open(p)) for p in sys.argv[1:4])
assert cfg["model_type"] == "lfm2" and cfg["layer_types"][2] == "full_attention", cfg
rel = abs(run["loss"] - hf["loss"]) / run["loss"]
print(f"ok   export --format hf: re-imported loss {hf['loss']:.6f}, the run's {run['loss']:.6f} (relative {rel:.1e})")
assert rel < 1e-6, rel
PYEOF
arch_check_hf_export lfm2

echo "PASS lfm2_test"
