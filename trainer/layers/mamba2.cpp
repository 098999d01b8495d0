// The `mamba2` sub-layer (the Mamba-2 mixer, docs/model.md): the Layer adapter around
// mamba2_block.h — lists the tensors, binds them (in_proj and out_proj as Linear maps, so lora/qlora
// can freeze, quantize and adapt them), runs forward/backward with packed documents, and initialises
// A_log, dt_bias and the conv. The pre-norm and the residual belong to the model.
#include <memory>

#include "common/check.h"
#include "trainer/layers/layer.h"
#include "trainer/layers/mamba2_block.h"

namespace trainer {

namespace {

class Mamba2Layer final : public Layer {
 public:
  Mamba2Layer(const ModelConfig& c, const LayerShape& s)
      : d_(mamba2_dims(c, s.batch, s.seq_len)), training_(s.training) {}

  LayerKind kind() const override { return LayerKind::kMamba2; }

  void list_tensors(std::vector<TensorSpec>* out) const override {
    const int64_t B = d_.B, T = d_.T, D = d_.D, Di = d_.Di, H = d_.H, Cx = d_.xbc_width();
    auto add = [&](const std::string& name, std::vector<int64_t> shape, TensorRole role, TensorInit init, bool decay,
                   bool linear) {
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
    add("in_proj.weight", {d_.in_width(), D}, W, TensorInit::kNormal, true, true);
    add("conv.weight", {Cx, d_.K}, W, TensorInit::kCustom, false, false);
    add("conv.bias", {Cx}, W, TensorInit::kZeros, false, false);
    add("dt_bias", {H}, W, TensorInit::kCustom, false, false);
    // A_log and D as (H, 1) and the gated norm's weight as (G, Di/G): the shapes GGUF files give them.
    add("A_log", {H, 1}, W, TensorInit::kCustom, false, false);
    add("D", {H, 1}, W, TensorInit::kOnes, false, false);
    add("norm.weight", {d_.G, Di / d_.G}, W, TensorInit::kOnes, false, false);
    add("out_proj.weight", {D, Di}, W, TensorInit::kNormal, true, true);
    Mamba2BufferSpec acts[kMamba2ActivationCount];
    mamba2_activation_specs(d_, acts);
    for (const Mamba2BufferSpec& a : acts)
      add(a.name, {B, T, static_cast<int64_t>(a.floats) / (B * T)}, TensorRole::kActivation, none, false, false);
    if (training_) {
      Mamba2BufferSpec scratch[kMamba2ScratchCount];
      mamba2_scratch_specs(d_, scratch);
      for (const Mamba2BufferSpec& s : scratch) {
        std::vector<int64_t> shape = {B, T, static_cast<int64_t>(s.floats) / (B * T)};
        if (std::string(s.name) == "scan") shape = {static_cast<int64_t>(s.floats)};  // chunk states, partials
        add(s.name, std::move(shape), TensorRole::kScratch, none, false, false);
      }
    }
  }

  void bind(const TensorBinding& t) override {
    w_.in_proj = t.linear("in_proj.weight", d_.in_width(), d_.D);
    w_.out_proj = t.linear("out_proj.weight", d_.D, d_.Di);
    w_.conv_w = t.f32("conv.weight");
    w_.conv_b = t.f32("conv.bias");
    w_.dt_bias = t.f32("dt_bias");
    w_.A_log = t.f32("A_log");
    w_.D = t.f32("D");
    w_.norm_w = t.f32("norm.weight");
    w_.dconv_w = t.grad("conv.weight");
    w_.dconv_b = t.grad("conv.bias");
    w_.ddt_bias = t.grad("dt_bias");
    w_.dA_log = t.grad("A_log");
    w_.dD = t.grad("D");
    w_.dnorm_w = t.grad("norm.weight");
    Mamba2BufferSpec acts[kMamba2ActivationCount];
    mamba2_activation_specs(d_, acts);
    float** fields[] = {&act_.zxbcdt, &act_.conv_pre, &act_.xbc,  &act_.dt,
                        &act_.y,      &act_.gated,    &act_.rstd, &act_.normed};
    for (int i = 0; i < kMamba2ActivationCount; ++i) *fields[i] = t.f32(acts[i].name);
    if (training_) {
      scratch_.dnormed = t.f32("dnormed");
      scratch_.dzxbcdt = t.f32("dzxbcdt");
      scratch_.dxbc = t.f32("dxbc");
      scratch_.ddt = t.f32("ddt");
      scratch_.scan = t.f32("scan");
    }
  }

  void init_custom(const std::string& local_name, float* data, int64_t /*numel*/, Rng& rng) const override {
    CHECK_MSG(mamba2_init_tensor(local_name, data, d_, rng),
              ("mamba2 layer has no init rule for " + local_name).c_str());
  }

  // Training starts every row (and, packed, every document) from a zero conv and scan state.
  void set_documents(const RowDocuments* docs) override { docs_ = docs; }

  void forward(float* out, const float* xn) override {
    mamba2_block_forward(out, act_, xn, w_, nullptr, d_, docs_ ? docs_->doc_start : nullptr);
  }

  void backward(float* dxn, const float* dout, const float* xn, float /*aux_grad_scale*/) override {
    mamba2_block_backward(dxn, dout, xn, act_, w_, scratch_, d_, docs_ ? docs_->doc_start : nullptr);
  }

  double forward_flops() const override { return mamba2_block_forward_flops(d_); }

 private:
  Mamba2Dims d_;
  bool training_;
  Mamba2Weights w_;
  Mamba2Activations act_;
  Mamba2Scratch scratch_;
  const RowDocuments* docs_ = nullptr;
};

}  // namespace

std::unique_ptr<Layer> make_mamba2_layer(const ModelConfig& config, const LayerShape& shape) {
  return std::make_unique<Mamba2Layer>(config, shape);
}

}  // namespace trainer
