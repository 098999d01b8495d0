// RecurrentGenerator: token-by-token inference that carries state instead of re-running the
// prefix — the conv and scan state of every ssm layer, a KV cache for every attn layer (a ring of
// `window` positions for sliding-window attention) — so a token costs the same at position 10 and
// at position 10,000 for ssm and windowed-attention models. Works for every block kind (attn,
// mlp, ssm, moe) from fp32 weights looked up by their docs/model.md names; it does not train and
// does not apply LoRA adapters (merge them first). Not thread-safe; kernels use the OpenMP pool.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "trainer/layers/kind.h"
#include "trainer/model_config.h"

namespace trainer {

class RecurrentGenerator {
 public:
  // Returns the fp32 data of a weight (shape as in docs/model.md), or nullptr when absent.
  using WeightLookup = trainer::WeightByName;

  // Builds the state for one sequence. Full-attention layers (window 0) cache `max_context`
  // positions; past that they see the last max_context tokens (a window of that size).
  // InvalidArgument for a bad config or max_context < 1; NotFound naming a missing weight.
  static common::Result<std::unique_ptr<RecurrentGenerator>> create(const ModelConfig& config,
                                                                    const WeightLookup& weights,
                                                                    int max_context);
  ~RecurrentGenerator();
  RecurrentGenerator(const RecurrentGenerator&) = delete;
  RecurrentGenerator& operator=(const RecurrentGenerator&) = delete;

  // Forgets the sequence (zero state, position 0).
  void reset();
  // Feeds the token at the current position and advances it. Returns the logits (V) of the next
  // token, valid until the next call. `token` must be in [0, V) (CHECK).
  const float* step(int32_t token);
  int position() const { return pos_; }
  // Bytes of per-sequence state (KV caches, conv and scan states).
  std::size_t state_bytes() const;

 private:
  struct SubLayer;
  RecurrentGenerator() = default;

  ModelConfig config_;
  int max_context_ = 0;
  int pos_ = 0;
  const float* embed_ = nullptr;       // (V, E)
  const float* bridge_in_ = nullptr;   // (D, E) or null
  const float* bridge_out_ = nullptr;  // (E, D) or null
  const float* head_ = nullptr;        // (V, E)
  const float* final_norm_ = nullptr;  // (D)
  std::vector<std::unique_ptr<SubLayer>> layers_;
  std::vector<float> h_, xn_, e_, f_, logits_, rstd_;  // (D), (D), (E), (E), (V), (1)
};

}  // namespace trainer
