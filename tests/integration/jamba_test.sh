#!/usr/bin/env bash
# Jamba (AI21's Mamba-1 + attention + MoE hybrid) end to end against llama.cpp itself: a random-weight
# jamba at reduced width (tests/reference/llamacpp/model_fixture.py, written with llama.cpp's gguf-py as
# its converter writes Jamba): Mamba-1 layers whose dt, B and C are RMS-normalized, an attention layer
# without RoPE, and MoE layers (4 experts, 2 per token) whose gates are the softmax probabilities
# themselves, not renormalized over the chosen two, beside dense MLP layers. The checks of
# tests/integration/arch_check_lib.sh: llama.cpp's NLL and greedy continuation, the HF directory's same
# logits, full and qlora fine-tuning, sampling with the recurrent state, GGUF model and adapter export
# into llama.cpp, and `export --format hf` writing the fixture's own HF tensors back.
# Skipped (77) without the llama.cpp reference or the test text.
source "$(dirname "$0")/train_lib.sh"
source "$(dirname "$0")/arch_check_lib.sh"
arch_check_skip_unless_ready
export ARCH_CHECK_EVAL_BYTES=700 ARCH_CHECK_HELD_BYTES=700
export ARCH_CHECK_ADAPTER_RTOL=6e-3
arch_check jamba \
  "blocks = [ 'ssm+mlp', 'ssm+moe', 'attn+mlp', 'ssm+moe' ]|dt_bc_norm = true|renormalize = false|rope = false|shared_expert = false" \
  "ssm (dt/B/C norms), attn (no RoPE), mlp and moe (plain softmax gates) layers" \
  --pattern mamba,mamba,attn,mamba --d 64 --ff 64 --heads 4 --kv-heads 2 --experts 4 --top-k 2

# LoRA over the HF directory by Jamba's module names, and its adapter for PEFT.
"$BIN" train --base "$m/hf" --mode lora --rank 4 --targets in_proj,x_proj,dt_proj,out_proj,gate_proj,up_proj,down_proj --steps 4 --lr 3e-3 \
  --data "$work/text.txt" --batch 2 --seq 32 --threads 2 --thermal none --out "$work/lora_hf" 2> "$work/lora_hf.log" ||
  fail "lora by HF module names failed: $(tail -3 "$work/lora_hf.log")"
arch_check_peft "$work/lora_hf" in_proj,x_proj,dt_proj,out_proj,gate_proj,up_proj,down_proj

arch_check_hf_export jamba

echo "PASS jamba_test"
