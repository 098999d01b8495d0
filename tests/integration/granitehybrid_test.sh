#!/usr/bin/env bash
# Granite-4.0-H (IBM's Mamba-2 + attention hybrid, dense variant) end to end against llama.cpp itself:
# a random-weight granitehybrid at reduced width in Granite-4.0-H's kind of layer pattern (Mamba-2
# layers with an attention layer between them: mamba,mamba,mamba,attn,mamba,mamba), attention without
# RoPE, the µP multipliers (embedding 0.3, attention 0.2, residual 1.3, logits divided by 1.25) and the
# shared MLP, whose fused input_linear the HF directory holds (tests/reference/llamacpp/model_fixture.py,
# written with llama.cpp's gguf-py as its converter writes Granite-4.0-H). The checks of
# tests/integration/arch_check_lib.sh: llama.cpp's NLL and greedy continuation, the HF directory's
# same logits, full and qlora fine-tuning, sampling with the recurrent state, GGUF model and adapter
# export into llama.cpp. Also: LoRA targets by Granite's HF module names (input_linear, output_linear)
# (the planner's state items: tests/trainer/granite_hybrid_test.cpp). Skipped (77) without the llama.cpp reference or the test text.
source "$(dirname "$0")/train_lib.sh"
source "$(dirname "$0")/arch_check_lib.sh"
arch_check_skip_unless_ready
# Less text scored window by window against llama.cpp than mamba2/lfm2 use (each window is a
# llama.cpp process): 12 windows of 16 tokens and 3 held-out windows of 64.
export ARCH_CHECK_EVAL_BYTES=700 ARCH_CHECK_HELD_BYTES=700
arch_check granitehybrid \
  "'mamba2+mlp', repeat = 3 }, 'attn+mlp', { block = 'mamba2+mlp', repeat = 2 }|embedding_scale = 0.3|residual_scale = 1.3|logit_scale = 1.25|rope = false|score_scale = 0.2|d_inner = 128|tied_embedding = true" \
  "mamba2+mlp and attn+mlp blocks, no RoPE, the µP multipliers" \
  --pattern mamba,mamba,mamba,attn,mamba,mamba --d 64 --ff 128 --heads 4 --kv-heads 2

# LoRA by Granite's module names: input_linear adapts the shared MLP's gate and up, output_linear its
# down projection, in_proj the Mamba-2 mixer's input.
"$BIN" train --base "$m/hf" --mode lora --rank 4 --targets input_linear,output_linear,in_proj --steps 1 \
  --data "$work/text.txt" --batch 2 --seq 32 --threads 2 --thermal none --out "$work/lora_hf" 2> "$work/lora_hf.log" ||
  fail "lora by HF module names failed: $(tail -3 "$work/lora_hf.log")"
"$BIN" export-adapter "$work/lora_hf" --format gguf --out "$work/lora_hf.gguf" > /dev/null ||
  fail "export-adapter of the HF-named lora run failed"
PYTHONPATH="$SRC/gguf-py" $PY - "$work/lora_hf.gguf" <<'PYEOF' || fail "the adapter's matrices"
import sys, gguf
names = {t.name for t in gguf.GGUFReader(sys.argv[1]).tensors}
want = {"blk.0.ffn_gate.weight.lora_a", "blk.0.ffn_up.weight.lora_a", "blk.3.ffn_down.weight.lora_b",
        "blk.0.ssm_in.weight.lora_a"}
assert want <= names, (sorted(want - names), sorted(names)[:12])
assert not any("attn_q" in n for n in names), sorted(names)
print(f"ok   lora --targets input_linear,output_linear,in_proj: {len(names)} adapter tensors, gate/up/down and ssm_in")
PYEOF

echo "PASS granitehybrid_test"
