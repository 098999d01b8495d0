// The `ssm` sub-layer (Mamba-1 selective scan, docs/model.md): the Layer adapter around
// ssm_block.h — lists the tensors, binds them (the four projections as Linear maps, so lora/qlora
// can freeze, quantize and adapt them), runs forward/backward, and initialises A_log, D, dt and
// the conv. The pre-norm and the residual belong to the model; the math lives in ssm_block.cpp.
#include <memory>

#include "common/check.h"
#include "trainer/layers/layer.h"
#include "trainer/layers/ssm_block.h"

namespace trainer {

namespace {

class SsmLayer final : public Layer {
 public:
  SsmLayer(const ModelConfig& c, const LayerShape& s)
      : d_(ssm_dims(c, s.batch, s.seq_len)), training_(s.training) {}

  LayerKind kind() const override { return LayerKind::kSsm; }

  void list_tensors(std::vector<TensorSpec>* out) const override {
    const int64_t B = d_.B, T = d_.T, D = d_.D, Di = d_.Di, N = d_.N, R = d_.R, K = d_.K;
    auto add = [&](const std::string& name, std::vector<int64_t> shape, TensorRole role, TensorInit init,
                   bool decay, bool linear) {
      TensorSpec t;
      t.name = name;
      t.shape = std::move(shape);
      t.role = role;
      t.init = init;
      t.decay = decay;
      t.linear = linear;
      out->push_back(std::move(t));
    };
    const auto W = TensorRole::kWeight;
    const auto none = TensorInit::kNone;
    add("in_proj.weight", {2 * Di, D}, W, TensorInit::kNormal, true, true);
    add("conv.weight", {Di, K}, W, TensorInit::kCustom, false, false);
    add("conv.bias", {Di}, W, TensorInit::kZeros, false, false);
    add("x_proj.weight", {R + 2 * N, Di}, W, TensorInit::kNormal, true, true);
    add("dt_proj.weight", {Di, R}, W, TensorInit::kCustom, true, true);
    add("dt_proj.bias", {Di}, W, TensorInit::kCustom, false, false);
    add("A_log", {Di, N}, W, TensorInit::kCustom, false, false);
    add("D", {Di}, W, TensorInit::kOnes, false, false);
    add("out_proj.weight", {D, Di}, W, TensorInit::kNormal, true, true);
    if (d_.dbc_norm) {  // Jamba: the weights of the dt, B and C norms
      add("dt_norm.weight", {R}, W, TensorInit::kOnes, false, false);
      add("b_norm.weight", {N}, W, TensorInit::kOnes, false, false);
      add("c_norm.weight", {N}, W, TensorInit::kOnes, false, false);
    }
    // Activations (B, T, width), in ssm_block.h order (dbc_raw only with the norms).
    SsmBufferSpec acts[kSsmActivationCount];
    ssm_activation_specs(d_, acts);
    for (const SsmBufferSpec& a : acts)
      if (a.floats > 0)
        add(a.name, {B, T, static_cast<int64_t>(a.floats) / (B * T)}, TensorRole::kActivation, none, false, false);
    if (training_) {
      SsmBufferSpec scratch[kSsmScratchCount];
      ssm_scratch_specs(d_, scratch);
      for (const SsmBufferSpec& s : scratch) {
        std::vector<int64_t> shape = {B, T, static_cast<int64_t>(s.floats) / (B * T)};
        if (std::string(s.name) == "scan") shape = {static_cast<int64_t>(s.floats)};  // states + partial dB/dC
        add(std::string(s.name), std::move(shape), TensorRole::kScratch, none, false, false);
      }
    }
  }

  void bind(const TensorBinding& t) override {
    const int64_t D = d_.D, Di = d_.Di;
    w_.in_proj = t.linear("in_proj.weight", 2 * Di, D);
    w_.x_proj = t.linear("x_proj.weight", d_.dbc_width(), Di);
    w_.dt_proj = t.linear("dt_proj.weight", Di, d_.R);
    w_.out_proj = t.linear("out_proj.weight", D, Di);
    w_.conv_w = t.f32("conv.weight");
    w_.conv_b = t.f32("conv.bias");
    w_.dt_bias = t.f32("dt_proj.bias");
    w_.A_log = t.f32("A_log");
    w_.D = t.f32("D");
    w_.dconv_w = t.grad("conv.weight");
    w_.dconv_b = t.grad("conv.bias");
    w_.ddt_bias = t.grad("dt_proj.bias");
    w_.dA_log = t.grad("A_log");
    w_.dD = t.grad("D");
    act_.xz = t.f32("xz");
    act_.conv_pre = t.f32("conv_pre");
    act_.xc = t.f32("xc");
    act_.dbc = t.f32("dbc");
    act_.dt_low = t.f32("dt_low");
    act_.dt = t.f32("dt");
    act_.y = t.f32("y");
    act_.gated = t.f32("gated");
    if (d_.dbc_norm) {
      act_.dbc_raw = t.f32("dbc_raw");
      w_.dt_norm = t.f32("dt_norm.weight");
      w_.b_norm = t.f32("b_norm.weight");
      w_.c_norm = t.f32("c_norm.weight");
      w_.ddt_norm = t.grad("dt_norm.weight");
      w_.db_norm = t.grad("b_norm.weight");
      w_.dc_norm = t.grad("c_norm.weight");
    }
    if (training_) {
      scratch_.dgated = t.f32("dgated");
      scratch_.dxz = t.f32("dxz");
      scratch_.dxc = t.f32("dxc");
      scratch_.ddt = t.f32("ddt");
      scratch_.ddbc = t.f32("ddbc");
      scratch_.ddt_low = t.f32("ddt_low");
      scratch_.scan = t.f32("scan");
    }
  }

  void init_custom(const std::string& local_name, float* data, int64_t numel, Rng& rng) const override {
    CHECK_MSG(ssm_init_tensor(local_name, data, d_, rng), ("ssm layer has no init rule for " + local_name).c_str());
  }

  // Training and full-sequence forwards start from a zero state (generation carries the state
  // itself: trainer/generator.h).
  // Packed rows restart the conv history and the scan state at every document.
  void set_documents(const RowDocuments* docs) override { docs_ = docs; }

  void forward(float* out, const float* xn) override {
    ssm_block_forward(out, act_, xn, w_, nullptr, d_, docs_ ? docs_->doc_start : nullptr);
  }

  void backward(float* dxn, const float* dout, const float* xn, float /*aux_grad_scale*/) override {
    ssm_block_backward(dxn, dout, xn, act_, w_, scratch_, d_, docs_ ? docs_->doc_start : nullptr);
  }

  double forward_flops() const override { return ssm_block_forward_flops(d_); }

 private:
  SsmDims d_;
  bool training_;
  SsmWeights w_;
  SsmActivations act_;
  SsmScratch scratch_;
  const RowDocuments* docs_ = nullptr;
};

}  // namespace

std::unique_ptr<Layer> make_ssm_layer(const ModelConfig& config, const LayerShape& shape) {
  return std::make_unique<SsmLayer>(config, shape);
}

}  // namespace trainer
