// The `conv` sub-layer (LFM2's short gated convolution, docs/model.md): the Layer adapter around
// conv_block.h — lists the tensors, binds them (in_proj and out_proj as Linear maps, so lora/qlora
// can freeze, quantize and adapt them), runs forward/backward with packed documents, and initialises
// the conv kernel. The pre-norm and the residual belong to the model.
#include <cmath>
#include <memory>

#include "common/check.h"
#include "trainer/layers/conv_block.h"
#include "trainer/layers/layer.h"

namespace trainer {

namespace {

class ConvLayer final : public Layer {
 public:
  ConvLayer(const ModelConfig& c, const LayerShape& s)
      : d_{s.batch, s.seq_len, c.d_model, c.conv.l_cache}, training_(s.training) {}

  LayerKind kind() const override { return LayerKind::kConv; }

  void list_tensors(std::vector<TensorSpec>* out) const override {
    const int64_t B = d_.B, T = d_.T, D = d_.D, L = d_.L;
    auto add = [&](const char* name, std::vector<int64_t> shape, TensorRole role, TensorInit init, bool decay,
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
    const auto W = TensorRole::kWeight, A = TensorRole::kActivation, S = TensorRole::kScratch;
    const auto none = TensorInit::kNone;
    add("in_proj.weight", {3 * D, D}, W, TensorInit::kNormal, true, true);
    add("conv.weight", {D, L}, W, TensorInit::kCustom, false, false);
    add("out_proj.weight", {D, D}, W, TensorInit::kNormal, true, true);
    add("bcx", {B, T, 3 * D}, A, none, false, false);
    add("bx", {B, T, D}, A, none, false, false);
    add("conv", {B, T, D}, A, none, false, false);
    add("y", {B, T, D}, A, none, false, false);
    if (training_) {
      add("dbcx", {B, T, 3 * D}, S, none, false, false);
      add("dy", {B, T, D}, S, none, false, false);
      add("dbx", {B, T, D}, S, none, false, false);
    }
  }

  void bind(const TensorBinding& t) override {
    w_.in_proj = t.linear("in_proj.weight", 3 * d_.D, d_.D);
    w_.out_proj = t.linear("out_proj.weight", d_.D, d_.D);
    w_.conv_w = t.f32("conv.weight");
    w_.dconv_w = t.grad("conv.weight");
    act_.bcx = t.f32("bcx");
    act_.bx = t.f32("bx");
    act_.conv = t.f32("conv");
    act_.y = t.f32("y");
    if (training_) {
      scratch_.dbcx = t.f32("dbcx");
      scratch_.dy = t.f32("dy");
      scratch_.dbx = t.f32("dbx");
    }
  }

  // conv.weight ~ U(±1/sqrt(L)): PyTorch's Conv1d default for a depthwise conv (fan-in L).
  void init_custom(const std::string& local_name, float* data, int64_t numel, Rng& rng) const override {
    CHECK_MSG(local_name == "conv.weight", ("conv layer has no init rule for " + local_name).c_str());
    const double bound = 1.0 / std::sqrt(static_cast<double>(d_.L));
    for (int64_t i = 0; i < numel; ++i) data[i] = static_cast<float>((2.0 * rng.uniform() - 1.0) * bound);
  }

  // Training starts every row (and, packed, every document) from an empty conv history.
  void set_documents(const RowDocuments* docs) override { docs_ = docs; }

  void forward(float* out, const float* xn) override {
    conv_block_forward(out, act_, xn, w_, nullptr, d_, docs_ ? docs_->doc_start : nullptr);
  }

  void backward(float* dxn, const float* dout, const float* xn, float /*aux_grad_scale*/) override {
    conv_block_backward(dxn, dout, xn, act_, w_, scratch_, d_, docs_ ? docs_->doc_start : nullptr);
  }

  double forward_flops() const override { return conv_block_forward_flops(d_); }

 private:
  ConvDims d_;
  bool training_;
  ConvWeights w_;
  ConvActivations act_;
  ConvScratch scratch_;
  const RowDocuments* docs_ = nullptr;
};

}  // namespace

std::unique_ptr<Layer> make_conv_layer(const ModelConfig& config, const LayerShape& shape) {
  return std::make_unique<ConvLayer>(config, shape);
}

}  // namespace trainer
