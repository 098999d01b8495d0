// RecurrentGenerator (see ssm_generate.h): the model's forward for one token at a time. The ssm
// and moe sub-layers run their blocks (ssm_block.h with a state, moe_block.h with M = 1); attn runs
// a single-query attention over its KV cache ring; mlp, norms, embedding and head use the engine's
// kernels with N = 1, so the numerics follow the training forward.
#include "trainer/generator.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/check.h"
#include "trainer/kernels/kernels.h"
#include "trainer/layers/moe_block.h"
#include "trainer/layers/ssm_block.h"

namespace trainer {

struct RecurrentGenerator::SubLayer {
  LayerKind kind = LayerKind::kAttn;
  const float* norm_w = nullptr;  // (D)
  // attn
  const float *wq = nullptr, *wk = nullptr, *wv = nullptr, *wo = nullptr;
  int cap = 0;                    // KV positions kept (ring)
  std::vector<float> kc, vc;      // (cap, Hkv·Dh)
  std::vector<float> q, k, v, att, scores;  // (H·Dh), (Hkv·Dh) x2, (H·Dh), (cap)
  // mlp
  const float *wg = nullptr, *wu = nullptr, *wd = nullptr;
  std::vector<float> g, u, hh;    // (F)
  // ssm
  SsmDims sd;
  SsmWeights sw;
  std::vector<float> s_act, s_state;
  SsmActivations sa;
  SsmState ss;
  // moe
  MoeDims md;
  MoeParams mp;
  MoeWeights mw;
  std::vector<float> m_act;
  MoeActivations ma;
};

RecurrentGenerator::~RecurrentGenerator() = default;

common::Result<std::unique_ptr<RecurrentGenerator>> RecurrentGenerator::create(const ModelConfig& c,
                                                                               const WeightLookup& weights,
                                                                               int max_context) {
  NS_RETURN_IF_ERROR(validate_model_config(c));
  if (max_context < 1) return common::Status::InvalidArgument("generation context must be at least 1 token");
  std::unique_ptr<RecurrentGenerator> g(new RecurrentGenerator());
  g->config_ = c;
  g->max_context_ = max_context;
  common::Status missing;
  auto need = [&](const std::string& name) -> const float* {
    const float* p = weights(name);
    if (p == nullptr && missing.ok()) missing = common::Status::NotFound("weight '" + name + "' is missing");
    return p;
  };
  const int D = c.d_model, E = c.embed_dim(), V = c.vocab_size;
  g->embed_ = need("embed.weight");
  g->head_ = c.tied_embedding ? g->embed_ : need("lm_head.weight");
  g->final_norm_ = need("final_norm.weight");
  if (c.has_bridge()) {
    g->bridge_in_ = need("bridge_in.weight");
    g->bridge_out_ = need("bridge_out.weight");
  }
  for (size_t i = 0; i < c.blocks.size(); ++i) {
    for (LayerKind kind : c.blocks[i].layers) {
      auto s = std::make_unique<SubLayer>();
      s->kind = kind;
      const std::string p = "blocks." + std::to_string(i) + "." + layer_kind_name(kind);
      s->norm_w = need(p + "_norm.weight");
      switch (kind) {
        case LayerKind::kAttn: {
          const int qd = c.attn.n_heads * c.head_dim(), kvd = c.kv_heads() * c.head_dim();
          s->wq = need(p + ".q.weight");
          s->wk = need(p + ".k.weight");
          s->wv = need(p + ".v.weight");
          s->wo = need(p + ".o.weight");
          s->cap = c.attn.window > 0 ? c.attn.window : max_context;
          s->kc.assign(static_cast<size_t>(s->cap) * kvd, 0.0f);
          s->vc.assign(static_cast<size_t>(s->cap) * kvd, 0.0f);
          s->q.assign(qd, 0.0f);
          s->att.assign(qd, 0.0f);
          s->k.assign(kvd, 0.0f);
          s->v.assign(kvd, 0.0f);
          s->scores.assign(s->cap, 0.0f);
          break;
        }
        case LayerKind::kMlp: {
          s->wg = need(p + ".gate.weight");
          s->wu = need(p + ".up.weight");
          s->wd = need(p + ".down.weight");
          s->g.assign(c.ff_dim(), 0.0f);
          s->u.assign(c.ff_dim(), 0.0f);
          s->hh.assign(c.ff_dim(), 0.0f);
          break;
        }
        case LayerKind::kSsm: {
          s->sd = ssm_dims(c, 1, 1);
          SsmParams w;
          w.in_proj = const_cast<float*>(need(p + ".in_proj.weight"));
          w.conv_w = const_cast<float*>(need(p + ".conv.weight"));
          w.conv_b = const_cast<float*>(need(p + ".conv.bias"));
          w.x_proj = const_cast<float*>(need(p + ".x_proj.weight"));
          w.dt_proj = const_cast<float*>(need(p + ".dt_proj.weight"));
          w.dt_bias = const_cast<float*>(need(p + ".dt_proj.bias"));
          w.A_log = const_cast<float*>(need(p + ".A_log"));
          w.D = const_cast<float*>(need(p + ".D"));
          w.out_proj = const_cast<float*>(need(p + ".out_proj.weight"));
          if (!missing.ok()) return missing;
          s->sw = ssm_weights_plain(w, nullptr, s->sd);
          s->s_act.assign(ssm_point_activations(&s->sa, nullptr, s->sd), 0.0f);
          ssm_point_activations(&s->sa, s->s_act.data(), s->sd);
          s->s_state.assign(ssm_point_state(&s->ss, nullptr, s->sd), 0.0f);
          ssm_point_state(&s->ss, s->s_state.data(), s->sd);
          break;
        }
        case LayerKind::kMoe: {
          s->md = moe_dims(c, 1);
          s->mp.router = const_cast<float*>(need(p + ".router.weight"));
          s->mp.experts.resize(s->md.X);
          auto swiglu = [&](const std::string& q) {
            return SwigluParams{const_cast<float*>(need(q + ".gate.weight")), const_cast<float*>(need(q + ".up.weight")),
                                const_cast<float*>(need(q + ".down.weight"))};
          };
          for (int e = 0; e < s->md.X; ++e) s->mp.experts[e] = swiglu(p + ".experts." + std::to_string(e));
          if (s->md.Fs > 0) s->mp.shared = swiglu(p + ".shared");
          if (!missing.ok()) return missing;
          s->mw = moe_weights_plain(s->mp, nullptr, s->md);
          s->m_act.assign(moe_point_activations(&s->ma, nullptr, s->md), 0.0f);
          moe_point_activations(&s->ma, s->m_act.data(), s->md);
          break;
        }
      }
      g->layers_.push_back(std::move(s));
    }
  }
  if (!missing.ok()) return missing;
  g->h_.assign(D, 0.0f);
  g->xn_.assign(D, 0.0f);
  g->e_.assign(E, 0.0f);
  g->f_.assign(E, 0.0f);
  g->logits_.assign(V, 0.0f);
  g->rstd_.assign(1, 0.0f);
  return g;
}

void RecurrentGenerator::reset() {
  pos_ = 0;
  for (auto& s : layers_) {
    std::fill(s->kc.begin(), s->kc.end(), 0.0f);
    std::fill(s->vc.begin(), s->vc.end(), 0.0f);
    std::fill(s->s_state.begin(), s->s_state.end(), 0.0f);
  }
}

std::size_t RecurrentGenerator::state_bytes() const {
  std::size_t n = 0;
  for (const auto& s : layers_) n += s->kc.size() + s->vc.size() + s->s_state.size();
  return n * sizeof(float);
}

// One query at position pos_ against the cached keys: q, k RoPE-rotated at pos_ (docs/model.md),
// the new k, v stored in ring slot pos_ % cap, softmax over the last min(pos_+1, window) positions.
void RecurrentGenerator::attn_step(SubLayer& s, const float* xn, float* out) {
  const ModelConfig& c = config_;
  const int D = c.d_model, H = c.attn.n_heads, Hkv = c.kv_heads(), Dh = c.head_dim(), half = Dh / 2;
  const int qd = H * Dh, kvd = Hkv * Dh;
  matmul_forward(s.q.data(), xn, s.wq, 1, D, qd, false);
  matmul_forward(s.k.data(), xn, s.wk, 1, D, kvd, false);
  matmul_forward(s.v.data(), xn, s.wv, 1, D, kvd, false);
  for (int i = 0; i < half; ++i) {
    const double angle = pos_ * std::pow(static_cast<double>(c.attn.rope_theta), -2.0 * i / Dh);
    const float cs = static_cast<float>(std::cos(angle)), sn = static_cast<float>(std::sin(angle));
    auto rotate = [&](float* x, int nh) {
      for (int h = 0; h < nh; ++h) {
        float* v = x + h * Dh;
        const float x1 = v[i], x2 = v[half + i];
        v[i] = x1 * cs - x2 * sn;
        v[half + i] = x2 * cs + x1 * sn;
      }
    };
    rotate(s.q.data(), H);
    rotate(s.k.data(), Hkv);
  }
  const int slot = pos_ % s.cap;
  std::memcpy(s.kc.data() + static_cast<size_t>(slot) * kvd, s.k.data(), sizeof(float) * kvd);
  std::memcpy(s.vc.data() + static_cast<size_t>(slot) * kvd, s.v.data(), sizeof(float) * kvd);
  const int seen = std::min(pos_ + 1, s.cap);  // positions pos_-seen+1 .. pos_
  const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
  for (int h = 0; h < H; ++h) {
    const int kvh = h / (H / Hkv);
    const float* qh = s.q.data() + h * Dh;
    float mx = -INFINITY;
    for (int j = 0; j < seen; ++j) {
      const int p = pos_ - j;
      const float* kr = s.kc.data() + static_cast<size_t>(p % s.cap) * kvd + kvh * Dh;
      float dot = 0.0f;
      for (int d = 0; d < Dh; ++d) dot += qh[d] * kr[d];
      s.scores[j] = dot * scale;
      mx = std::max(mx, s.scores[j]);
    }
    float sum = 0.0f;
    for (int j = 0; j < seen; ++j) sum += (s.scores[j] = std::exp(s.scores[j] - mx));
    float* ah = s.att.data() + h * Dh;
    std::fill(ah, ah + Dh, 0.0f);
    for (int j = 0; j < seen; ++j) {
      const int p = pos_ - j;
      const float* vr = s.vc.data() + static_cast<size_t>(p % s.cap) * kvd + kvh * Dh;
      const float w = s.scores[j] / sum;
      for (int d = 0; d < Dh; ++d) ah[d] += w * vr[d];
    }
  }
  matmul_forward(out, s.att.data(), s.wo, 1, qd, D, true);
}

const float* RecurrentGenerator::step(int32_t token) {
  const ModelConfig& c = config_;
  const int D = c.d_model, E = c.embed_dim(), V = c.vocab_size;
  CHECK(token >= 0 && token < V);
  if (bridge_in_) {
    std::memcpy(e_.data(), embed_ + static_cast<size_t>(token) * E, sizeof(float) * E);
    matmul_forward(h_.data(), e_.data(), bridge_in_, 1, E, D, false);
  } else {
    std::memcpy(h_.data(), embed_ + static_cast<size_t>(token) * D, sizeof(float) * D);
  }
  for (auto& sp : layers_) {
    SubLayer& s = *sp;
    rmsnorm_forward(xn_.data(), rstd_.data(), h_.data(), s.norm_w, 1, D, c.norm_eps);
    switch (s.kind) {
      case LayerKind::kAttn:
        attn_step(s, xn_.data(), h_.data());
        break;
      case LayerKind::kMlp: {
        const int F = c.ff_dim();
        matmul_forward(s.g.data(), xn_.data(), s.wg, 1, D, F, false);
        matmul_forward(s.u.data(), xn_.data(), s.wu, 1, D, F, false);
        swiglu_forward(s.hh.data(), s.g.data(), s.u.data(), F);
        matmul_forward(h_.data(), s.hh.data(), s.wd, 1, F, D, true);
        break;
      }
      case LayerKind::kSsm:
        ssm_block_forward(h_.data(), s.sa, xn_.data(), s.sw, &s.ss, s.sd);
        break;
      case LayerKind::kMoe:
        moe_block_forward(h_.data(), s.ma, xn_.data(), s.mw, s.md);
        break;
    }
  }
  rmsnorm_forward(xn_.data(), rstd_.data(), h_.data(), final_norm_, 1, D, c.norm_eps);
  const float* f = xn_.data();
  if (bridge_out_) {
    matmul_forward(f_.data(), xn_.data(), bridge_out_, 1, D, E, false);
    f = f_.data();
  }
  matmul_forward(logits_.data(), f, head_, 1, E, V, false);
  ++pos_;
  return logits_.data();
}

}  // namespace trainer
