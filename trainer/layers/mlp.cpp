// The `mlp` sub-layer: SwiGLU feed-forward, down(silu(x·gateᵀ) * (x·upᵀ)) (docs/model.md). No biases.
// The pre-norm and the residual belong to the model (trainer/model.cpp).
#include <memory>

#include "trainer/kernels/kernels.h"
#include "trainer/layers/layer.h"

namespace trainer {

namespace {

class MlpLayer final : public Layer {
 public:
  MlpLayer(const ModelConfig& c, const LayerShape& s)
      : B_(s.batch), T_(s.seq_len), D_(c.d_model), F_(c.ff_dim()), training_(s.training) {}

  LayerKind kind() const override { return LayerKind::kMlp; }

  void list_tensors(std::vector<TensorSpec>* out) const override {
    const int64_t B = B_, T = T_, D = D_, F = F_;
    auto add = [&](const char* name, std::vector<int64_t> shape, TensorRole role, TensorInit init, bool decay) {
      TensorSpec t;
      t.name = name;
      t.shape = std::move(shape);
      t.role = role;
      t.init = init;
      t.decay = decay;
      t.linear = role == TensorRole::kWeight;  // gate, up, down are projections (Linear)
      out->push_back(std::move(t));
    };
    const auto W = TensorRole::kWeight, A = TensorRole::kActivation, S = TensorRole::kScratch;
    add("gate.weight", {F, D}, W, TensorInit::kNormal, true);
    add("up.weight", {F, D}, W, TensorInit::kNormal, true);
    add("down.weight", {D, F}, W, TensorInit::kNormal, true);
    add("gate", {B, T, F}, A, TensorInit::kNone, false);  // x·gateᵀ, before SiLU
    add("up", {B, T, F}, A, TensorInit::kNone, false);    // x·upᵀ
    add("h", {B, T, F}, A, TensorInit::kNone, false);     // silu(gate) * up
    if (training_) {
      add("dh", {B, T, F}, S, TensorInit::kNone, false);
      add("dgate", {B, T, F}, S, TensorInit::kNone, false);
      add("dup", {B, T, F}, S, TensorInit::kNone, false);
    }
  }

  void bind(const TensorBinding& t) override {
    lg_ = t.linear("gate.weight", F_, D_);
    lu_ = t.linear("up.weight", F_, D_);
    ld_ = t.linear("down.weight", D_, F_);
    gate_ = t.f32("gate");
    up_ = t.f32("up");
    h_ = t.f32("h");
    if (training_) {
      dh_ = t.f32("dh");
      dgate_ = t.f32("dgate");
      dup_ = t.f32("dup");
    }
  }

  void forward(float* out, const float* xn) override {
    const int N = B_ * T_;
    lg_.forward(gate_, xn, N, false);
    lu_.forward(up_, xn, N, false);
    swiglu_forward(h_, gate_, up_, int64_t{N} * F_);
    ld_.forward(out, h_, N, true);
  }

  void backward(float* dxn, const float* dout, const float* xn, float /*aux_grad_scale*/) override {
    const int N = B_ * T_;
    const int64_t n = int64_t{N} * F_;
    zero_floats(dh_, n);
    ld_.backward(dh_, dout, h_, N);
    zero_floats(dgate_, n);
    zero_floats(dup_, n);
    swiglu_backward(dgate_, dup_, dh_, gate_, up_, n);
    lg_.backward(dxn, dgate_, xn, N);
    lu_.backward(dxn, dup_, xn, N);
  }

  double forward_flops() const override { return 2.0 * B_ * T_ * 3.0 * D_ * F_; }

 private:
  int B_, T_, D_, F_;
  bool training_;
  Linear lg_, lu_, ld_;                                       // gate, up (F, D); down (D, F)
  float *gate_ = nullptr, *up_ = nullptr, *h_ = nullptr;      // (B, T, F)
  float *dh_ = nullptr, *dgate_ = nullptr, *dup_ = nullptr;   // (B, T, F)
};

}  // namespace

std::unique_ptr<Layer> make_mlp_layer(const ModelConfig& config, const LayerShape& shape) {
  return std::make_unique<MlpLayer>(config, shape);
}

}  // namespace trainer
