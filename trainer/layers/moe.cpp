// The `moe` sub-layer (docs/model.md): the Layer adapter around moe_block.h — lists the tensors,
// binds them (router and every expert matrix as Linear maps, so lora/qlora can freeze, quantize
// and adapt them), runs forward/backward, reports the aux loss and the per-expert load. The
// pre-norm and the residual belong to the model; the math lives in moe_block.cpp.
#include <memory>

#include "common/check.h"
#include "trainer/layers/layer.h"
#include "trainer/layers/moe_block.h"
#include "trainer/layers/moe_layer.h"

namespace trainer {

namespace {

class MoeLayer final : public Layer, public ExpertLoadSource {
 public:
  MoeLayer(const ModelConfig& c, const LayerShape& s)
      : B_(s.batch), T_(s.seq_len), d_(moe_dims(c, s.batch * s.seq_len)), training_(s.training),
        counts_(d_.X, 0) {}

  LayerKind kind() const override { return LayerKind::kMoe; }

  void list_tensors(std::vector<TensorSpec>* out) const override {
    const int64_t B = B_, T = T_, D = d_.D, X = d_.X, k = d_.k, Fe = d_.Fe, Fs = d_.Fs, A = int64_t{B_} * T_ * k;
    auto add = [&](const std::string& name, std::vector<int64_t> shape, TensorRole role, TensorInit init = TensorInit::kNone,
                   bool matrix = false) {
      TensorSpec t;
      t.name = name;
      t.shape = std::move(shape);
      t.role = role;
      t.init = init;
      t.decay = matrix;
      t.linear = matrix;
      out->push_back(std::move(t));
    };
    const auto W = TensorRole::kWeight, Act = TensorRole::kActivation, S = TensorRole::kScratch;
    const auto normal = TensorInit::kNormal;
    add("router.weight", {X, D}, W, normal, true);
    for (int e = 0; e < d_.X; ++e) {
      const std::string p = "experts." + std::to_string(e) + ".";
      add(p + "gate.weight", {Fe, D}, W, normal, true);
      add(p + "up.weight", {Fe, D}, W, normal, true);
      add(p + "down.weight", {D, Fe}, W, normal, true);
    }
    if (Fs > 0) {
      add("shared.gate.weight", {Fs, D}, W, normal, true);
      add("shared.up.weight", {Fs, D}, W, normal, true);
      add("shared.down.weight", {D, Fs}, W, normal, true);
    }
    // Activations (moe_block.h order). topk, slot_row, row_token and offset hold int32 values in
    // F32-listed buffers (the same 4 bytes per element; the binding hands out float pointers).
    add("probs", {B, T, X}, Act);
    add("topk", {B, T, k}, Act);
    add("gates", {B, T, k}, Act);
    add("slot_row", {B, T, k}, Act);
    add("row_token", {A}, Act);
    add("offset", {X + 1}, Act);
    add("xg", {A, D}, Act);
    add("h_gate", {A, Fe}, Act);
    add("h_up", {A, Fe}, Act);
    add("h", {A, Fe}, Act);
    add("y", {A, D}, Act);
    if (Fs > 0) {
      add("s_gate", {B, T, Fs}, Act);
      add("s_up", {B, T, Fs}, Act);
      add("s_h", {B, T, Fs}, Act);
    }
    if (training_) {
      add("dy", {A, D}, S);
      add("dh", {A, Fe}, S);
      add("dh_gate", {A, Fe}, S);
      add("dh_up", {A, Fe}, S);
      add("dxg", {A, D}, S);
      add("dprobs", {B, T, X}, S);
      add("dgates", {B, T, k}, S);
      if (Fs > 0) {
        add("ds_h", {B, T, Fs}, S);
        add("ds_gate", {B, T, Fs}, S);
        add("ds_up", {B, T, Fs}, S);
      }
    }
  }

  void bind(const TensorBinding& t) override {
    const int64_t D = d_.D;
    auto swiglu = [&](const std::string& p, int64_t F) {
      SwigluLinears l;
      l.gate = t.linear(p + "gate.weight", F, D);
      l.up = t.linear(p + "up.weight", F, D);
      l.down = t.linear(p + "down.weight", D, F);
      return l;
    };
    w_.router = t.linear("router.weight", d_.X, D);
    w_.experts.clear();
    for (int e = 0; e < d_.X; ++e) w_.experts.push_back(swiglu("experts." + std::to_string(e) + ".", d_.Fe));
    if (d_.Fs > 0) w_.shared = swiglu("shared.", d_.Fs);
    auto i32 = [&](const char* name) { return reinterpret_cast<std::int32_t*>(t.f32(name)); };
    act_.probs = t.f32("probs");
    act_.topk = i32("topk");
    act_.gates = t.f32("gates");
    act_.slot_row = i32("slot_row");
    act_.row_token = i32("row_token");
    act_.offset = i32("offset");
    act_.xg = t.f32("xg");
    act_.h_gate = t.f32("h_gate");
    act_.h_up = t.f32("h_up");
    act_.h = t.f32("h");
    act_.y = t.f32("y");
    if (d_.Fs > 0) {
      act_.s_gate = t.f32("s_gate");
      act_.s_up = t.f32("s_up");
      act_.s_h = t.f32("s_h");
    }
    if (training_) {
      scratch_.dy = t.f32("dy");
      scratch_.dh = t.f32("dh");
      scratch_.dh_gate = t.f32("dh_gate");
      scratch_.dh_up = t.f32("dh_up");
      scratch_.dxg = t.f32("dxg");
      scratch_.dprobs = t.f32("dprobs");
      scratch_.dgates = t.f32("dgates");
      if (d_.Fs > 0) {
        scratch_.ds_h = t.f32("ds_h");
        scratch_.ds_gate = t.f32("ds_gate");
        scratch_.ds_up = t.f32("ds_up");
      }
    }
  }

  void forward(float* out, const float* xn) override {
    aux_ = moe_block_forward(out, act_, xn, w_, d_);
    moe_expert_counts(act_, d_, counts_.data());
  }

  void backward(float* dxn, const float* dout, const float* xn, float aux_grad_scale) override {
    moe_block_backward(dxn, dout, xn, aux_grad_scale, act_, w_, scratch_, d_);
  }

  float aux_loss() const override { return aux_; }

  double forward_flops() const override { return moe_block_forward_flops(d_); }

  std::span<const std::int64_t> expert_load() const override { return counts_; }

 private:
  int B_, T_;
  MoeDims d_;
  bool training_;
  MoeWeights w_;
  MoeActivations act_;
  MoeScratch scratch_;
  float aux_ = 0.0f;
  std::vector<std::int64_t> counts_;  // (X) assignments per expert in the last forward
};

}  // namespace

std::unique_ptr<Layer> make_moe_layer(const ModelConfig& config, const LayerShape& shape) {
  return std::make_unique<MoeLayer>(config, shape);
}

std::span<const std::int64_t> expert_load_of(const Layer& layer) {
  const auto* source = dynamic_cast<const ExpertLoadSource*>(&layer);
  return source ? source->expert_load() : std::span<const std::int64_t>();
}

}  // namespace trainer
