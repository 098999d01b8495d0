// Next-token sampling from logits: greedy, temperature, top-k (as in GPT-2's sample.py and llm.c),
// top-p (nucleus, Holtzman et al. 2019) and a repetition penalty over recent tokens (CTRL, Keskar
// et al. 2019, as llama.cpp applies it). Pure; the caller owns the Rng.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "trainer/rng.h"

namespace trainer {

struct SamplingSettings {
  float temperature = 0.8f;        // <= 0: greedy (argmax, lowest index on ties)
  int top_k = 40;                  // keep the K largest logits; <= 0: all
  float top_p = 1.0f;              // keep the smallest set of most likely tokens whose mass >= p; 1: all
  float repetition_penalty = 1.0f; // > 1 discourages the recent tokens: logit / p if > 0, else logit * p
  int repeat_last_n = 64;          // how many recent tokens the penalty looks at
};

// temperature <= 0 picks the argmax (lowest index on ties). Otherwise samples from
// softmax(logits / temperature) restricted to the top_k largest logits (top_k <= 0: all V).
// `scratch` is reused between calls to avoid allocating.
int32_t sample_next_token(const float* logits, int V, float temperature, int top_k, Rng& rng,
                          std::vector<float>* scratch);

// The same with every setting: the repetition penalty is applied to the logits of the tokens in
// the last repeat_last_n entries of `recent` (each token once), then greedy or top-k, then top-p
// over the softmax of what is left. With top_p >= 1 and no penalty it draws exactly what the
// function above draws for the same Rng state.
int32_t sample_next_token(const float* logits, int V, const SamplingSettings& settings,
                          std::span<const int32_t> recent, Rng& rng, std::vector<float>* scratch);

}  // namespace trainer
