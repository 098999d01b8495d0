#!/usr/bin/env bash
# Bamba (IBM's Mamba-2 + attention hybrid, Granite-4.0-H's predecessor) end to end against llama.cpp
# itself: a random-weight Bamba at reduced width (tests/reference/llamacpp/model_fixture.py bamba:
# Mamba-2 layers, an attention layer with partial RoPE (the first half of each head's dims rotate),
# SwiGLU MLPs), whose GGUF is a granitehybrid with rope.dimension_count set, as llama.cpp's converter
# writes Bamba, and whose HF directory has transformers' BambaForCausalLM names. The checks of
# tests/integration/arch_check_lib.sh: llama.cpp's NLL and greedy continuation, the HF directory's
# same logits, full and qlora fine-tuning, sampling with the recurrent state, GGUF model and adapter
# export into llama.cpp, and `export --format hf` writing the fixture's own HF tensors back.
# Skipped (77) without the llama.cpp reference or the test text.
source "$(dirname "$0")/train_lib.sh"
source "$(dirname "$0")/arch_check_lib.sh"
arch_check_skip_unless_ready
export ARCH_CHECK_EVAL_BYTES=700 ARCH_CHECK_HELD_BYTES=700
export ARCH_CHECK_ADAPTER_RTOL=6e-3 ARCH_CHECK_FIXTURE=bamba
arch_check granitehybrid \
  "'mamba2+mlp', repeat = 3 }, 'attn+mlp', { block = 'mamba2+mlp', repeat = 2 }|rope_dim = 8|rope = true" \
  "mamba2+mlp and attn+mlp blocks, partial RoPE (8 of 16 dims)" \
  --pattern mamba,mamba,mamba,attn,mamba,mamba --d 64 --ff 128 --heads 4 --kv-heads 2

# LoRA over the HF directory by Bamba's module names, and its adapter for PEFT.
"$BIN" train --base "$m/hf" --mode lora --rank 4 --targets in_proj,out_proj,q_proj,v_proj,gate_proj,down_proj --steps 4 --lr 3e-3 \
  --data "$work/text.txt" --batch 2 --seq 32 --threads 2 --thermal none --out "$work/lora_hf" 2> "$work/lora_hf.log" ||
  fail "lora by HF module names failed: $(tail -3 "$work/lora_hf.log")"
arch_check_peft "$work/lora_hf" in_proj,out_proj,q_proj,v_proj,gate_proj,down_proj

arch_check_hf_export bamba "$m/hf"

echo "PASS bamba_test"
