// The `attn` sub-layer's decode step: one query at position pos against a KV cache ring. The q, k, v
// projections (+ biases), the per-head q/k norms and the RoPE rotation at pos use the training kernels
// and the same RoPE frequencies (docs/model.md); the new k, v go to ring slot
// pos % cap; softmax over the last min(pos + 1, cap) positions, where cap is the sliding window or,
// for full attention, the generator's context.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "trainer/kernels/kernels.h"
#include "trainer/layers/attention_rope.h"
#include "trainer/layers/kind.h"

namespace trainer {

namespace {

class AttnDecoder final : public LayerDecoder {
 public:
  AttnDecoder(const ModelConfig& c, int max_context)
      : D_(c.d_model), H_(c.attn.n_heads), Hkv_(c.kv_heads()), Dh_(c.head_dim()), rot_(c.rotary_dim()),
        theta_(c.attn.rope_theta),
        rope_scaling_(rope_scaling_of(c.attn)), qkv_bias_(c.attn.qkv_bias), qk_norm_(c.attn.qk_norm),
        rope_(c.attn.rope),
        scale_(c.attn.score_scale > 0 ? c.attn.score_scale : 1.0f / std::sqrt(static_cast<float>(c.head_dim()))),
        eps_(c.norm_eps), cap_(c.attn.window > 0 ? c.attn.window : max_context) {
    const size_t qd = size_t(H_) * Dh_, kvd = size_t(Hkv_) * Dh_;
    kc_.assign(size_t(cap_) * kvd, 0.0f);
    vc_.assign(size_t(cap_) * kvd, 0.0f);
    q_.assign(qd, 0.0f);
    att_.assign(qd, 0.0f);
    k_.assign(kvd, 0.0f);
    v_.assign(kvd, 0.0f);
    scores_.assign(cap_, 0.0f);
    cos_.assign(rot_ / 2, 0.0f);
    sin_.assign(rot_ / 2, 0.0f);
    if (qk_norm_) {
      q_raw_.assign(qd, 0.0f);
      k_raw_.assign(kvd, 0.0f);
      rstd_.assign(H_, 0.0f);
    }
  }

  common::Status bind(const WeightByName& weights, const std::string& p) {
    wq_ = weights(p + ".q.weight");
    wk_ = weights(p + ".k.weight");
    wv_ = weights(p + ".v.weight");
    wo_ = weights(p + ".o.weight");
    for (auto [w, n] : {std::pair{wq_, "q"}, {wk_, "k"}, {wv_, "v"}, {wo_, "o"}}) {
      if (w == nullptr) return common::Status::NotFound("weight '" + p + "." + n + ".weight' is missing");
    }
    auto need = [&](const float** w, const char* local) {
      *w = weights(p + "." + local);
      if (*w == nullptr) return common::Status::NotFound("weight '" + p + "." + local + "' is missing");
      return common::Status::Ok();
    };
    if (qkv_bias_) {
      NS_RETURN_IF_ERROR(need(&bq_, "q.bias"));
      NS_RETURN_IF_ERROR(need(&bk_, "k.bias"));
      NS_RETURN_IF_ERROR(need(&bv_, "v.bias"));
    }
    if (qk_norm_) {
      NS_RETURN_IF_ERROR(need(&qnw_, "q_norm.weight"));
      NS_RETURN_IF_ERROR(need(&knw_, "k_norm.weight"));
    }
    return common::Status::Ok();
  }

  void reset() override {
    std::fill(kc_.begin(), kc_.end(), 0.0f);
    std::fill(vc_.begin(), vc_.end(), 0.0f);
  }

  std::size_t state_bytes() const override { return (kc_.size() + vc_.size()) * sizeof(float); }

  void step(float* out, const float* xn, int pos) override {
    const int qd = H_ * Dh_, kvd = Hkv_ * Dh_;
    float* qp = qk_norm_ ? q_raw_.data() : q_.data();  // the projections, before the norms
    float* kp = qk_norm_ ? k_raw_.data() : k_.data();
    matmul_forward(qp, xn, wq_, 1, D_, qd, false);
    matmul_forward(kp, xn, wk_, 1, D_, kvd, false);
    matmul_forward(v_.data(), xn, wv_, 1, D_, kvd, false);
    if (qkv_bias_) {
      bias_forward(qp, bq_, 1, qd);
      bias_forward(kp, bk_, 1, kvd);
      bias_forward(v_.data(), bv_, 1, kvd);
    }
    if (qk_norm_) {
      rmsnorm_forward(q_.data(), rstd_.data(), qp, qnw_, H_, Dh_, eps_);
      rmsnorm_forward(k_.data(), rstd_.data(), kp, knw_, Hkv_, Dh_, eps_);
    }
    if (rope_) {
      rope_row(cos_.data(), sin_.data(), pos, rot_, theta_, rope_scaling_);
      rope_forward(q_.data(), cos_.data(), sin_.data(), 1, 1, H_, Dh_, nullptr, rot_);
      rope_forward(k_.data(), cos_.data(), sin_.data(), 1, 1, Hkv_, Dh_, nullptr, rot_);
    }
    const int slot = pos % cap_;
    std::memcpy(kc_.data() + size_t(slot) * kvd, k_.data(), sizeof(float) * kvd);
    std::memcpy(vc_.data() + size_t(slot) * kvd, v_.data(), sizeof(float) * kvd);
    const int seen = std::min(pos + 1, cap_);  // positions pos-seen+1 .. pos
    const float scale = scale_;
    for (int h = 0; h < H_; ++h) {
      const int kvh = h / (H_ / Hkv_);
      const float* qh = q_.data() + h * Dh_;
      float mx = -INFINITY;
      for (int j = 0; j < seen; ++j) {
        const float* kr = kc_.data() + size_t((pos - j) % cap_) * kvd + kvh * Dh_;
        float dot = 0.0f;
        for (int d = 0; d < Dh_; ++d) dot += qh[d] * kr[d];
        scores_[j] = dot * scale;
        mx = std::max(mx, scores_[j]);
      }
      float sum = 0.0f;
      for (int j = 0; j < seen; ++j) sum += (scores_[j] = std::exp(scores_[j] - mx));
      float* ah = att_.data() + h * Dh_;
      std::fill(ah, ah + Dh_, 0.0f);
      for (int j = 0; j < seen; ++j) {
        const float* vr = vc_.data() + size_t((pos - j) % cap_) * kvd + kvh * Dh_;
        const float w = scores_[j] / sum;
        for (int d = 0; d < Dh_; ++d) ah[d] += w * vr[d];
      }
    }
    matmul_forward(out, att_.data(), wo_, 1, qd, D_, true);
  }

 private:
  int D_, H_, Hkv_, Dh_, rot_;  // rot_: rotated dims of a head (partial rotary)
  float theta_;
  RopeScaling rope_scaling_;
  bool qkv_bias_, qk_norm_;
  bool rope_;                                            // false: no rotation (NoPE)
  float scale_;                                          // of q·k
  float eps_;                                            // of the q/k norms
  int cap_;                                              // KV positions kept (ring)
  const float *wq_ = nullptr, *wk_ = nullptr, *wv_ = nullptr, *wo_ = nullptr;
  std::vector<float> kc_, vc_;                           // (cap, Hkv·Dh)
  const float *bq_ = nullptr, *bk_ = nullptr, *bv_ = nullptr;      // with qkv_bias
  const float *qnw_ = nullptr, *knw_ = nullptr;                    // with qk_norm (Dh)
  std::vector<float> q_, k_, v_, att_, scores_, cos_, sin_;
  std::vector<float> q_raw_, k_raw_, rstd_;                        // with qk_norm
};

}  // namespace

common::Result<std::unique_ptr<LayerDecoder>> make_attn_decoder(const ModelConfig& config, const WeightByName& weights,
                                                                const std::string& prefix, int max_context) {
  auto d = std::make_unique<AttnDecoder>(config, max_context);
  NS_RETURN_IF_ERROR(d->bind(weights, prefix));
  return std::unique_ptr<LayerDecoder>(std::move(d));
}

}  // namespace trainer
