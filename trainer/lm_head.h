// LM head fused with its cross-entropy: the output projection, softmax and loss over the trained
// targets, a chunk of rows at a time, so that no (B, T, V) logits tensor is ever held. Only rows whose
// target is trained are projected at all (a chat prompt's tokens cost nothing here). In training the
// head's gradient is taken in the same pass, while a chunk's logits are at hand: nothing is computed
// twice, and d(hidden) is left for the model's backward. The model uses it when its RunShape asks
// for a head chunk (layout.h); otherwise it keeps the whole logits (sampling, reference dumps).
#pragma once

#include <cstdint>

namespace trainer {

struct LmHeadChunk {
  float* rows = nullptr;       // (C, E) hidden rows of the chunk's trained targets, gathered
  float* logits = nullptr;     // (C, V)
  float* lse = nullptr;        // (C)
  int32_t* index = nullptr;    // (C) each gathered row's index in the batch
  int32_t* targets = nullptr;  // (C) its target
  float* drows = nullptr;      // (C, E) d(rows); training only
  int capacity = 0;            // C
};

// hidden (N, E), head (V, E), targets (N) with kIgnoreTarget (< 0) for rows that carry no loss.
// Returns Σ over trained rows of -log softmax(hidden·headᵀ)[target]. Without dhidden, that is all.
// With dhidden (N, E): dhidden = scale · d(Σ)/d(hidden) (overwritten; 0 on untrained rows) and, unless
// dhead is null (a frozen head), dhead (V, E) += scale · d(Σ)/d(head).
double lm_head_cross_entropy(const LmHeadChunk& chunk, const float* hidden, const float* head,
                             const int32_t* targets, int N, int E, int V, float scale = 0.0f,
                             float* dhidden = nullptr, float* dhead = nullptr);

}  // namespace trainer
