// The `mamba2` sub-layer's decode step: mamba2_block_forward at B = T = 1 carrying the conv history
// of xBC and the (H, P, N) scan state from token to token, so a token costs the same at any position.
#include <algorithm>
#include <vector>

#include "trainer/layers/kind.h"
#include "trainer/layers/mamba2_block.h"

namespace trainer {

namespace {

class Mamba2Decoder final : public LayerDecoder {
 public:
  explicit Mamba2Decoder(const ModelConfig& c) : d_(mamba2_dims(c, 1, 1)) {
    act_.assign(mamba2_point_activations(&a_, nullptr, d_), 0.0f);
    mamba2_point_activations(&a_, act_.data(), d_);
    state_.assign(mamba2_point_state(&s_, nullptr, d_), 0.0f);
    mamba2_point_state(&s_, state_.data(), d_);
  }

  common::Status bind(const WeightByName& weights, const std::string& p) {
    const float* in = nullptr;
    const float* out = nullptr;
    const struct {
      const float** slot;
      const char* name;
    } names[] = {{&in, ".in_proj.weight"},     {&w_.conv_w, ".conv.weight"}, {&w_.conv_b, ".conv.bias"},
                 {&w_.dt_bias, ".dt_bias"},    {&w_.A_log, ".A_log"},        {&w_.D, ".D"},
                 {&w_.norm_w, ".norm.weight"}, {&out, ".out_proj.weight"}};
    for (const auto& n : names) {
      *n.slot = weights(p + n.name);
      if (*n.slot == nullptr) return common::Status::NotFound("weight '" + p + n.name + "' is missing");
    }
    w_.in_proj = Linear::plain(in, nullptr, d_.in_width(), d_.D);
    w_.out_proj = Linear::plain(out, nullptr, d_.D, d_.Di);
    return common::Status::Ok();
  }

  void reset() override { std::fill(state_.begin(), state_.end(), 0.0f); }
  std::size_t state_bytes() const override { return state_.size() * sizeof(float); }
  void step(float* out, const float* xn, int /*pos*/) override { mamba2_block_forward(out, a_, xn, w_, &s_, d_); }

 private:
  Mamba2Dims d_;
  Mamba2Weights w_;
  std::vector<float> act_, state_;
  Mamba2Activations a_;
  Mamba2State s_;
};

}  // namespace

common::Result<std::unique_ptr<LayerDecoder>> make_mamba2_decoder(const ModelConfig& config,
                                                                  const WeightByName& weights,
                                                                  const std::string& prefix, int /*max_context*/) {
  auto d = std::make_unique<Mamba2Decoder>(config);
  NS_RETURN_IF_ERROR(d->bind(weights, prefix));
  return std::unique_ptr<LayerDecoder>(std::move(d));
}

}  // namespace trainer
