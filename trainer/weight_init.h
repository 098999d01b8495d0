// The initial weights of a model: the rule Model::init_weights applies to each weight (normal(0,
// init_std), ones, zeros, or the owning layer's own rule), and the same values one tensor at a time
// without building the model (InitialWeights), for writers that never hold the whole model in fp32
// (`nightshift init`, trainer/quant/base_stream.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/status.h"
#include "trainer/layout.h"
#include "trainer/quant/frozen_base.h"  // WeightLookup
#include "trainer/rng.h"
#include "trainer/run_plan.h"

namespace trainer {

// Which sub-layer owns each weight, by full name (for TensorInit::kCustom): its layer and local name.
using InitOwners = std::unordered_map<std::string, std::pair<const Layer*, std::string>>;
InitOwners init_owners(const std::vector<SubLayerPlan>& sublayers);

// Writes weight t's initial values into `data` (t.bytes bytes), drawing from `rng` as
// Model::init_weights does: kNormal (normal(0, init_std)) and kCustom draw from `rng` in order, kOnes
// and kZeros/kNone draw nothing (zeros are t.bytes zero bytes: a frozen base may be stored in 1 or 2
// bytes).
void init_weight(const TensorSpec& t, void* data, Rng& rng, const InitOwners& owners, float init_std);

// The weights Model::init_weights(seed) gives a full-mode model of `config`, bit for bit, produced one
// tensor at a time into one reusable buffer (the largest weight's size): one Rng stream runs over the
// weights in the model's tensor order, so asking for the weights in that order (as a base file lists
// them) costs one pass; asking for an earlier one replays the stream from the seed.
class InitialWeights {
 public:
  // Errors as list_run_tensors (an invalid config).
  static common::Result<std::unique_ptr<InitialWeights>> create(const ModelConfig& config, uint64_t seed);
  InitialWeights(const InitialWeights&) = delete;
  InitialWeights& operator=(const InitialWeights&) = delete;

  // The fp32 values of weight `name` (which must have exactly `shape`), valid until the next call.
  // NotFound / InvalidArgument naming the tensor.
  common::Result<const float*> get(const std::string& name, const std::vector<int64_t>& shape);
  // get() as a WeightLookup (this object must outlive it).
  WeightLookup lookup();
  // The full-mode weights in order, and the bytes of the largest (the buffer's size).
  const std::vector<TensorSpec>& weights() const { return weights_; }
  uint64_t largest_weight_bytes() const { return largest_bytes_; }

 private:
  InitialWeights() = default;
  uint64_t seed_ = 0;
  float init_std_ = 0.0f;
  RunPlan plan_;                    // the layers (kCustom rules) and the full-mode tensor list
  std::vector<TensorSpec> weights_; // plan_'s weights, in order
  InitOwners owners_;
  std::unordered_map<std::string, size_t> index_;  // name -> position in weights_
  Rng rng_;
  size_t next_ = 0;                 // the weight the stream draws next
  std::vector<float> buffer_;
  uint64_t largest_bytes_ = 0;
};

}  // namespace trainer
