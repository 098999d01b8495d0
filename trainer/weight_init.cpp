// init_weight (the per-tensor rule of Model::init_weights) and InitialWeights (weight_init.h).
#include "trainer/weight_init.h"

#include <algorithm>
#include <cstring>

#include "common/check.h"

namespace trainer {

using common::Result;
using common::Status;

namespace {

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + ")";
}

}  // namespace

InitOwners init_owners(const std::vector<SubLayerPlan>& sublayers) {
  InitOwners owners;
  for (const SubLayerPlan& sp : sublayers) {
    for (const auto& [local, full] : sp.names) owners[full] = {sp.layer.get(), local};
  }
  return owners;
}

void init_weight(const TensorSpec& t, void* data, Rng& rng, const InitOwners& owners, float init_std) {
  float* w = static_cast<float*>(data);
  const int64_t n = t.numel();
  switch (t.init) {
    case TensorInit::kNormal:
      for (int64_t j = 0; j < n; ++j) w[j] = static_cast<float>(rng.normal() * init_std);
      break;
    case TensorInit::kOnes:
      for (int64_t j = 0; j < n; ++j) w[j] = 1.0f;
      break;
    case TensorInit::kZeros:
    case TensorInit::kNone:
      std::memset(data, 0, t.bytes);  // bytes, not floats: a frozen base may be stored in 1 or 2 bytes
      break;
    case TensorInit::kCustom: {
      auto it = owners.find(t.name);
      CHECK_MSG(it != owners.end(), t.name.c_str());
      it->second.first->init_custom(it->second.second, w, n, rng);
      break;
    }
  }
}

Result<std::unique_ptr<InitialWeights>> InitialWeights::create(const ModelConfig& config, uint64_t seed) {
  RunShape full;  // the weights of a full-mode model; no activations worth speaking of
  full.batch = 1;
  full.seq_len = 1;
  full.training = false;
  full.max_threads = 1;
  std::unique_ptr<InitialWeights> w(new InitialWeights());
  NS_ASSIGN_OR_RETURN(w->plan_, make_run_plan(config, full));
  w->seed_ = seed;
  w->init_std_ = config.init_std;
  w->owners_ = init_owners(w->plan_.sublayers);
  for (const TensorSpec& t : w->plan_.specs) {
    if (t.role != TensorRole::kWeight && t.role != TensorRole::kFrozenWeight) continue;
    w->index_[t.name] = w->weights_.size();
    w->weights_.push_back(t);
    w->largest_bytes_ = std::max(w->largest_bytes_, t.bytes);
  }
  w->rng_.reseed(seed);
  return w;
}

Result<const float*> InitialWeights::get(const std::string& name, const std::vector<int64_t>& shape) {
  auto it = index_.find(name);
  if (it == index_.end()) return Status::NotFound("the model has no weight " + name);
  const TensorSpec& want = weights_[it->second];
  if (want.shape != shape)
    return Status::InvalidArgument(name + " has shape " + shape_text(want.shape) + ", expected " + shape_text(shape));
  if (it->second < next_) {  // an earlier weight: draw the stream again from the start
    rng_.reseed(seed_);
    next_ = 0;
  }
  buffer_.resize(static_cast<size_t>(largest_bytes_ / sizeof(float)) + 1);
  // The weights before it are drawn too (into the same buffer), so the stream is where
  // Model::init_weights has it when it reaches this weight.
  for (; next_ <= it->second; ++next_) init_weight(weights_[next_], buffer_.data(), rng_, owners_, init_std_);
  return buffer_.data();
}

WeightLookup InitialWeights::lookup() {
  return [this](const std::string& name, const std::vector<int64_t>& shape) { return get(name, shape); };
}

}  // namespace trainer
