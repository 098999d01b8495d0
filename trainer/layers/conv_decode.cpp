// The `conv` sub-layer's decode step: conv_block_forward at B = T = 1 carrying the last L-1 conv
// inputs from token to token (conv_block.h), so a token costs the same at any position.
#include <algorithm>
#include <vector>

#include "trainer/layers/conv_block.h"
#include "trainer/layers/kind.h"

namespace trainer {

namespace {

class ConvDecoder final : public LayerDecoder {
 public:
  explicit ConvDecoder(const ModelConfig& c)
      : d_{1, 1, c.d_model, c.conv.l_cache},
        bcx_(3 * static_cast<size_t>(d_.D)),
        bx_(d_.D),
        conv_(d_.D),
        y_(d_.D),
        history_(static_cast<size_t>(std::max(0, d_.L - 1)) * d_.D) {
    a_ = {bcx_.data(), bx_.data(), conv_.data(), y_.data()};
  }

  common::Status bind(const WeightByName& weights, const std::string& p) {
    const float* in = weights(p + ".in_proj.weight");
    const float* cw = weights(p + ".conv.weight");
    const float* out = weights(p + ".out_proj.weight");
    for (auto [w, n] : {std::pair{in, "in_proj.weight"}, {cw, "conv.weight"}, {out, "out_proj.weight"}}) {
      if (w == nullptr) return common::Status::NotFound("weight '" + p + "." + n + "' is missing");
    }
    w_.in_proj = Linear::plain(in, nullptr, 3 * d_.D, d_.D);
    w_.out_proj = Linear::plain(out, nullptr, d_.D, d_.D);
    w_.conv_w = cw;
    return common::Status::Ok();
  }

  void reset() override { std::fill(history_.begin(), history_.end(), 0.0f); }
  std::size_t state_bytes() const override { return history_.size() * sizeof(float); }
  void step(float* out, const float* xn, int /*pos*/) override {
    conv_block_forward(out, a_, xn, w_, history_.data(), d_);
  }

 private:
  ConvDims d_;
  ConvWeights w_;
  std::vector<float> bcx_, bx_, conv_, y_, history_;
  ConvActivations a_;
};

}  // namespace

common::Result<std::unique_ptr<LayerDecoder>> make_conv_decoder(const ModelConfig& config, const WeightByName& weights,
                                                                const std::string& prefix, int /*max_context*/) {
  auto d = std::make_unique<ConvDecoder>(config);
  NS_RETURN_IF_ERROR(d->bind(weights, prefix));
  return std::unique_ptr<LayerDecoder>(std::move(d));
}

}  // namespace trainer
