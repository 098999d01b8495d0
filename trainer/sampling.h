// Next-token sampling from logits: greedy, temperature, top-k (as in GPT-2's sample.py and llm.c).
// Pure; the caller owns the Rng.
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/rng.h"

namespace trainer {

// temperature <= 0 picks the argmax (lowest index on ties). Otherwise samples from
// softmax(logits / temperature) restricted to the top_k largest logits (top_k <= 0: all V).
// `scratch` is reused between calls to avoid allocating.
int32_t sample_next_token(const float* logits, int V, float temperature, int top_k, Rng& rng,
                          std::vector<float>* scratch);

}  // namespace trainer
