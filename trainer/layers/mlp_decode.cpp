// The `mlp` sub-layer's decode step: the SwiGLU feed-forward for one token, with the training
// kernels at N = 1. Stateless.
#include <vector>

#include "trainer/kernels/kernels.h"
#include "trainer/layers/kind.h"

namespace trainer {

namespace {

class MlpDecoder final : public LayerDecoder {
 public:
  explicit MlpDecoder(const ModelConfig& c) : D_(c.d_model), F_(c.ff_dim()), g_(F_), u_(F_), h_(F_) {}

  common::Status bind(const WeightByName& weights, const std::string& p) {
    wg_ = weights(p + ".gate.weight");
    wu_ = weights(p + ".up.weight");
    wd_ = weights(p + ".down.weight");
    for (auto [w, n] : {std::pair{wg_, "gate"}, {wu_, "up"}, {wd_, "down"}}) {
      if (w == nullptr) return common::Status::NotFound("weight '" + p + "." + n + ".weight' is missing");
    }
    return common::Status::Ok();
  }

  void reset() override {}
  std::size_t state_bytes() const override { return 0; }

  void step(float* out, const float* xn, int /*pos*/) override {
    matmul_forward(g_.data(), xn, wg_, 1, D_, F_, false);
    matmul_forward(u_.data(), xn, wu_, 1, D_, F_, false);
    swiglu_forward(h_.data(), g_.data(), u_.data(), F_);
    matmul_forward(out, h_.data(), wd_, 1, F_, D_, true);
  }

 private:
  int D_, F_;
  const float *wg_ = nullptr, *wu_ = nullptr, *wd_ = nullptr;
  std::vector<float> g_, u_, h_;  // (F)
};

}  // namespace

common::Result<std::unique_ptr<LayerDecoder>> make_mlp_decoder(const ModelConfig& config, const WeightByName& weights,
                                                               const std::string& prefix, int /*max_context*/) {
  auto d = std::make_unique<MlpDecoder>(config);
  NS_RETURN_IF_ERROR(d->bind(weights, prefix));
  return std::unique_ptr<LayerDecoder>(std::move(d));
}

}  // namespace trainer
