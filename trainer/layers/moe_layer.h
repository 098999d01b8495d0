// What a moe sub-layer tells the rest of the trainer beyond the Layer interface: how many token
// assignments each expert received in the last forward (the load the balancing loss evens out),
// for logs, the dashboard and the learning tests. Not the layer itself (trainer/layers/moe.cpp).
#pragma once

#include <cstdint>
#include <span>

namespace trainer {

class Layer;

// Implemented by layers that route tokens to experts.
class ExpertLoadSource {
 public:
  virtual ~ExpertLoadSource() = default;
  // (X) assignments per expert in the last forward (B·T·top_k in total); valid until the next one.
  virtual std::span<const std::int64_t> expert_load() const = 0;
};

// The expert load of `layer`, or an empty span when it routes nothing (attn, mlp, ssm).
std::span<const std::int64_t> expert_load_of(const Layer& layer);

}  // namespace trainer
