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
# The shared checks are in tests/integration/arch_check_lib.sh.
# Skipped (77) without the llama.cpp reference or the test text (scripts/setup.sh).
source "$(dirname "$0")/train_lib.sh"
source "$(dirname "$0")/arch_check_lib.sh"
arch_check_skip_unless_ready
export ARCH_CHECK_EVAL_BYTES=700 ARCH_CHECK_HELD_BYTES=700
arch_check mamba2 "block = 'mamba2'|repeat = 4|d_inner = 128|head_dim = 16|d_state = 16|n_groups = 2|tied_embedding = true" \
  "4 mamba2 blocks, d_inner 128, heads of 16, state 16, 2 groups" --layers 4 --d 64
arch_check_hf_export mamba2

echo "PASS mamba2_test"
