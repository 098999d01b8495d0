// The `ssm` sub-layer's decode step: ssm_block_forward at B = T = 1 carrying the conv history and the
// scan state from token to token (ssm_block.h), so a token costs the same at any position.
#include <algorithm>
#include <vector>

#include "trainer/layers/kind.h"
#include "trainer/layers/ssm_block.h"

namespace trainer {

namespace {

class SsmDecoder final : public LayerDecoder {
 public:
  explicit SsmDecoder(const ModelConfig& c) : d_(ssm_dims(c, 1, 1)) {
    act_.assign(ssm_point_activations(&a_, nullptr, d_), 0.0f);
    ssm_point_activations(&a_, act_.data(), d_);
    state_.assign(ssm_point_state(&s_, nullptr, d_), 0.0f);
    ssm_point_state(&s_, state_.data(), d_);
  }

  common::Status bind(const WeightByName& weights, const std::string& p) {
    SsmParams w;
    const struct {
      float** slot;
      const char* name;
    } names[] = {{&w.in_proj, ".in_proj.weight"}, {&w.conv_w, ".conv.weight"},   {&w.conv_b, ".conv.bias"},
                 {&w.x_proj, ".x_proj.weight"},   {&w.dt_proj, ".dt_proj.weight"}, {&w.dt_bias, ".dt_proj.bias"},
                 {&w.A_log, ".A_log"},            {&w.D, ".D"},                   {&w.out_proj, ".out_proj.weight"}};
    for (const auto& n : names) {
      *n.slot = const_cast<float*>(weights(p + n.name));
      if (*n.slot == nullptr) return common::Status::NotFound("weight '" + p + n.name + "' is missing");
    }
    w_ = ssm_weights_plain(w, nullptr, d_);
    if (d_.dbc_norm) {  // Jamba's dt, B and C norms
      const float** norms[] = {&w_.dt_norm, &w_.b_norm, &w_.c_norm};
      const char* norm_names[] = {".dt_norm.weight", ".b_norm.weight", ".c_norm.weight"};
      for (int k = 0; k < 3; ++k) {
        *norms[k] = weights(p + norm_names[k]);
        if (*norms[k] == nullptr) return common::Status::NotFound("weight '" + p + norm_names[k] + "' is missing");
      }
    }
    return common::Status::Ok();
  }

  void reset() override { std::fill(state_.begin(), state_.end(), 0.0f); }
  std::size_t state_bytes() const override { return state_.size() * sizeof(float); }
  void step(float* out, const float* xn, int /*pos*/) override { ssm_block_forward(out, a_, xn, w_, &s_, d_); }

 private:
  SsmDims d_;
  SsmWeights w_;
  std::vector<float> act_, state_;
  SsmActivations a_;
  SsmState s_;
};

}  // namespace

common::Result<std::unique_ptr<LayerDecoder>> make_ssm_decoder(const ModelConfig& config, const WeightByName& weights,
                                                               const std::string& prefix, int /*max_context*/) {
  auto d = std::make_unique<SsmDecoder>(config);
  NS_RETURN_IF_ERROR(d->bind(weights, prefix));
  return std::unique_ptr<LayerDecoder>(std::move(d));
}

}  // namespace trainer
