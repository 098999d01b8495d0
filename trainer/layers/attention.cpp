// The `attn` sub-layer: q, k, v projections (optional biases, Qwen2), optional per-head RMSNorm of q
// and k (Qwen3), RoPE on q and k (optionally Llama-3.1 frequency scaling; none with attn.rope = false,
// Granite's NoPE), a score scale (attn.score_scale, else 1/sqrt(Dh)), causal attention with
// grouped KV heads and an optional sliding window, output projection (docs/model.md). Packed rows
// (RowDocuments): RoPE at each token's own position, attention within its document only. The
// pre-norm and the residual belong to the model (trainer/model.cpp).
#include <cmath>
#include <memory>
#include <tuple>

#include "trainer/kernels/kernels.h"
#include "trainer/layers/attention_rope.h"
#include "trainer/layers/layer.h"

namespace trainer {

namespace {

class AttnLayer final : public Layer {
 public:
  AttnLayer(const ModelConfig& c, const LayerShape& s)
      : B_(s.batch), T_(s.seq_len), D_(c.d_model), H_(c.attn.n_heads), Hkv_(c.kv_heads()), Dh_(c.head_dim()),
        rot_(c.rotary_dim()), window_(c.attn.window), theta_(c.attn.rope_theta), rope_scaling_(rope_scaling_of(c.attn)),
        qkv_bias_(c.attn.qkv_bias), qk_norm_(c.attn.qk_norm), rope_(c.attn.rope),
        q_factor_(c.attn.score_scale > 0 ? c.attn.score_scale * std::sqrt(static_cast<float>(Dh_)) : 1.0f),
        eps_(c.norm_eps), threads_(s.max_threads), training_(s.training) {}

  LayerKind kind() const override { return LayerKind::kAttn; }

  void list_tensors(std::vector<TensorSpec>* out) const override {
    const int64_t B = B_, T = T_, D = D_, qd = int64_t{H_} * Dh_, kvd = int64_t{Hkv_} * Dh_;
    auto add = [&](const char* name, std::vector<int64_t> shape, TensorRole role, TensorInit init, bool decay) {
      TensorSpec t;
      t.name = name;
      t.shape = std::move(shape);
      t.role = role;
      t.init = init;
      t.decay = decay;
      t.linear = role == TensorRole::kWeight && t.shape.size() == 2;  // the four projections (Linear)
      out->push_back(std::move(t));
    };
    const auto W = TensorRole::kWeight, A = TensorRole::kActivation, S = TensorRole::kScratch;
    const auto normal = TensorInit::kNormal, none = TensorInit::kNone;
    add("q.weight", {qd, D}, W, normal, true);
    add("k.weight", {kvd, D}, W, normal, true);
    add("v.weight", {kvd, D}, W, normal, true);
    add("o.weight", {D, qd}, W, normal, true);
    if (qkv_bias_) {
      add("q.bias", {qd}, W, TensorInit::kZeros, false);
      add("k.bias", {kvd}, W, TensorInit::kZeros, false);
      add("v.bias", {kvd}, W, TensorInit::kZeros, false);
    }
    if (qk_norm_) {
      add("q_norm.weight", {Dh_}, W, TensorInit::kOnes, false);
      add("k_norm.weight", {Dh_}, W, TensorInit::kOnes, false);
      add("q_raw", {B, T, qd}, A, none, false);    // projected (+ bias), before the norm
      add("k_raw", {B, T, kvd}, A, none, false);
      add("q_rstd", {B, T, H_}, A, none, false);   // per head
      add("k_rstd", {B, T, Hkv_}, A, none, false);
    }
    add("q", {B, T, qd}, A, none, false);          // after RoPE
    add("k", {B, T, kvd}, A, none, false);         // after RoPE
    add("v", {B, T, kvd}, A, none, false);
    add("probs", {B, H_, T, T}, A, none, false);   // softmax weights
    add("att", {B, T, qd}, A, none, false);        // heads concatenated, before o
    add("rope_cos", {T, rot_ / 2}, S, none, false);
    add("rope_sin", {T, rot_ / 2}, S, none, false);
    if (training_) {
      add("dq", {B, T, qd}, S, none, false);
      add("dk", {B, T, kvd}, S, none, false);
      add("dv", {B, T, kvd}, S, none, false);
      add("datt", {B, T, qd}, S, none, false);
      add("dprobs", {threads_, T, T}, S, none, false);
      if (qk_norm_) add("dk_raw", {B, T, kvd}, S, none, false);  // dq_raw reuses datt
    }
  }

  void bind(const TensorBinding& t) override {
    const int64_t qd = int64_t{H_} * Dh_, kvd = int64_t{Hkv_} * Dh_;
    lq_ = t.linear("q.weight", qd, D_);
    lk_ = t.linear("k.weight", kvd, D_);
    lv_ = t.linear("v.weight", kvd, D_);
    lo_ = t.linear("o.weight", D_, qd);
    q_ = t.f32("q");
    k_ = t.f32("k");
    v_ = t.f32("v");
    probs_ = t.f32("probs");
    att_ = t.f32("att");
    cos_ = t.f32("rope_cos");
    sin_ = t.f32("rope_sin");
    rope_tables(cos_, sin_, T_, rot_, theta_, rope_scaling_);
    if (qkv_bias_) {
      for (auto [w, g, n] : {std::tuple{&bq_, &dbq_, "q.bias"}, {&bk_, &dbk_, "k.bias"}, {&bv_, &dbv_, "v.bias"}}) {
        *w = t.f32(n);
        *g = t.grad(n);  // null when frozen (lora/qlora) or not training
      }
    }
    if (qk_norm_) {
      qnw_ = t.f32("q_norm.weight");
      knw_ = t.f32("k_norm.weight");
      dqnw_ = t.grad("q_norm.weight");
      dknw_ = t.grad("k_norm.weight");
      q_raw_ = t.f32("q_raw");
      k_raw_ = t.f32("k_raw");
      q_rstd_ = t.f32("q_rstd");
      k_rstd_ = t.f32("k_rstd");
    }
    if (training_) {
      dq_ = t.f32("dq");
      dk_ = t.f32("dk");
      dv_ = t.f32("dv");
      datt_ = t.f32("datt");
      dprobs_ = t.f32("dprobs");
      if (qk_norm_) dk_raw_ = t.f32("dk_raw");
    }
  }

  void set_documents(const RowDocuments* docs) override { docs_ = docs; }

  void forward(float* out, const float* xn) override {
    const int N = B_ * T_;
    // With qk_norm the projections land in q_raw, k_raw and the norms write q, k.
    float* qp = qk_norm_ ? q_raw_ : q_;
    float* kp = qk_norm_ ? k_raw_ : k_;
    lq_.forward(qp, xn, N, false);
    lk_.forward(kp, xn, N, false);
    lv_.forward(v_, xn, N, false);
    if (qkv_bias_) {
      bias_forward(qp, bq_, N, H_ * Dh_);
      bias_forward(kp, bk_, N, Hkv_ * Dh_);
      bias_forward(v_, bv_, N, Hkv_ * Dh_);
    }
    if (qk_norm_) {  // each head vector (Dh) is one row
      rmsnorm_forward(q_, q_rstd_, q_raw_, qnw_, N * H_, Dh_, eps_);
      rmsnorm_forward(k_, k_rstd_, k_raw_, knw_, N * Hkv_, Dh_, eps_);
    }
    if (rope_) {
      rope_forward(q_, cos_, sin_, B_, T_, H_, Dh_, docs_->rope_pos, rot_);
      rope_forward(k_, cos_, sin_, B_, T_, Hkv_, Dh_, docs_->rope_pos, rot_);
    }
    // A score scale other than 1/sqrt(Dh) as q times q_factor (the kernel divides by sqrt(Dh)).
    if (q_factor_ != 1.0f) scale_in_place(q_, int64_t{N} * H_ * Dh_, q_factor_);
    attention_forward(att_, probs_, q_, k_, v_, B_, T_, H_, Hkv_, Dh_, window_, docs_->doc_start);
    lo_.forward(out, att_, N, true);
  }

  void backward(float* dxn, const float* dout, const float* xn, float /*aux_grad_scale*/) override {
    const int N = B_ * T_, qd = H_ * Dh_, kvd = Hkv_ * Dh_;
    zero_floats(datt_, int64_t{N} * qd);
    lo_.backward(datt_, dout, att_, N);
    zero_floats(dq_, int64_t{N} * qd);
    zero_floats(dk_, int64_t{N} * kvd);
    zero_floats(dv_, int64_t{N} * kvd);
    attention_backward(dq_, dk_, dv_, probs_, dprobs_, threads_, datt_, q_, k_, v_, B_, T_, H_, Hkv_, Dh_, window_,
                       docs_->doc_start);
    if (q_factor_ != 1.0f) scale_in_place(dq_, int64_t{N} * qd, q_factor_);
    if (rope_) {
      rope_backward(dq_, cos_, sin_, B_, T_, H_, Dh_, docs_->rope_pos, rot_);
      rope_backward(dk_, cos_, sin_, B_, T_, Hkv_, Dh_, docs_->rope_pos, rot_);
    }
    float* dqp = dq_;  // dL/d(projection + bias)
    float* dkp = dk_;
    if (qk_norm_) {    // datt is spent: it takes dL/d(q_raw)
      dqp = datt_;
      dkp = dk_raw_;
      zero_floats(dqp, int64_t{N} * qd);
      zero_floats(dkp, int64_t{N} * kvd);
      rmsnorm_backward(dqp, dqnw_, dq_, q_raw_, q_rstd_, qnw_, N * H_, Dh_);
      rmsnorm_backward(dkp, dknw_, dk_, k_raw_, k_rstd_, knw_, N * Hkv_, Dh_);
    }
    if (dbq_ != nullptr) bias_backward(dbq_, dqp, N, qd);
    if (dbk_ != nullptr) bias_backward(dbk_, dkp, N, kvd);
    if (dbv_ != nullptr) bias_backward(dbv_, dv_, N, kvd);
    lq_.backward(dxn, dqp, xn, N);
    lk_.backward(dxn, dkp, xn, N);
    lv_.backward(dxn, dv_, xn, N);
  }

  // Projections 2·N·D·(2·H·Dh + 2·Hkv·Dh) plus scores and weighted sum 2·2·B·H·T·T·Dh (full square,
  // the usual MFU convention).
  double forward_flops() const override {
    const double N = static_cast<double>(B_) * T_;
    const double proj = 2.0 * N * D_ * (2.0 * H_ * Dh_ + 2.0 * Hkv_ * Dh_);
    const double attn = 4.0 * B_ * H_ * static_cast<double>(T_) * T_ * Dh_;
    return proj + attn;
  }

 private:
  int B_, T_, D_, H_, Hkv_, Dh_, rot_, window_;  // rot_: rotated dims of a head (partial rotary)
  float theta_;
  RopeScaling rope_scaling_;
  static void scale_in_place(float* x, int64_t n, float f) {
    for (int64_t i = 0; i < n; ++i) x[i] *= f;
  }
  bool qkv_bias_, qk_norm_;
  bool rope_;       // false: no rotation (NoPE)
  float q_factor_;  // score_scale * sqrt(Dh), or 1
  float eps_;  // of the q/k norms
  int threads_;
  bool training_;
  static constexpr RowDocuments kOneDocumentPerRow{};
  const RowDocuments* docs_ = &kOneDocumentPerRow;                       // packed rows (model-owned)
  Linear lq_, lk_, lv_, lo_;                                              // (qd|kvd, D), o (D, qd)
  float *q_ = nullptr, *k_ = nullptr, *v_ = nullptr;                      // (B, T, qd|kvd)
  float *probs_ = nullptr;                                                // (B, H, T, T)
  float *att_ = nullptr;                                                  // (B, T, qd)
  float *cos_ = nullptr, *sin_ = nullptr;                                 // (T, Dh/2)
  float *dq_ = nullptr, *dk_ = nullptr, *dv_ = nullptr, *datt_ = nullptr; // like q, k, v, att
  float *dprobs_ = nullptr;                                               // (threads, T, T)
  const float *bq_ = nullptr, *bk_ = nullptr, *bv_ = nullptr;             // (qd|kvd) with qkv_bias
  float *dbq_ = nullptr, *dbk_ = nullptr, *dbv_ = nullptr;                // null when frozen
  const float *qnw_ = nullptr, *knw_ = nullptr;                           // (Dh) with qk_norm
  float *dqnw_ = nullptr, *dknw_ = nullptr;                               // null when frozen
  float *q_raw_ = nullptr, *k_raw_ = nullptr;                             // (B, T, qd|kvd) before the norms
  float *q_rstd_ = nullptr, *k_rstd_ = nullptr;                           // (B, T, H|Hkv)
  float *dk_raw_ = nullptr;                                               // (B, T, kvd)
};

}  // namespace

std::unique_ptr<Layer> make_attn_layer(const ModelConfig& config, const LayerShape& shape) {
  return std::make_unique<AttnLayer>(config, shape);
}

}  // namespace trainer
