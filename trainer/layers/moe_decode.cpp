// The `moe` sub-layer's decode step: moe_block_forward for one token (M = 1): router, top-k experts
// and the shared expert (moe_block.h). Stateless.
#include <vector>

#include "trainer/layers/kind.h"
#include "trainer/layers/moe_block.h"

namespace trainer {

namespace {

class MoeDecoder final : public LayerDecoder {
 public:
  explicit MoeDecoder(const ModelConfig& c) : d_(moe_dims(c, 1)) {
    act_.assign(moe_point_activations(&a_, nullptr, d_), 0.0f);
    moe_point_activations(&a_, act_.data(), d_);
  }

  common::Status bind(const WeightByName& weights, const std::string& p) {
    common::Status missing;
    auto need = [&](const std::string& name) {
      const float* w = weights(name);
      if (w == nullptr && missing.ok()) missing = common::Status::NotFound("weight '" + name + "' is missing");
      return const_cast<float*>(w);
    };
    auto swiglu = [&](const std::string& q) {
      return SwigluParams{need(q + ".gate.weight"), need(q + ".up.weight"), need(q + ".down.weight")};
    };
    MoeParams params;
    params.router = need(p + ".router.weight");
    params.experts.resize(d_.X);
    for (int e = 0; e < d_.X; ++e) params.experts[e] = swiglu(p + ".experts." + std::to_string(e));
    if (d_.Fs > 0) params.shared = swiglu(p + ".shared");
    NS_RETURN_IF_ERROR(missing);
    w_ = moe_weights_plain(params, nullptr, d_);
    return common::Status::Ok();
  }

  void reset() override {}
  std::size_t state_bytes() const override { return 0; }
  void step(float* out, const float* xn, int /*pos*/) override { moe_block_forward(out, a_, xn, w_, d_); }

 private:
  MoeDims d_;
  MoeWeights w_;
  std::vector<float> act_;
  MoeActivations a_;
};

}  // namespace

common::Result<std::unique_ptr<LayerDecoder>> make_moe_decoder(const ModelConfig& config, const WeightByName& weights,
                                                               const std::string& prefix, int /*max_context*/) {
  auto d = std::make_unique<MoeDecoder>(config);
  NS_RETURN_IF_ERROR(d->bind(weights, prefix));
  return std::unique_ptr<LayerDecoder>(std::move(d));
}

}  // namespace trainer
