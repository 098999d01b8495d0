// RecurrentGenerator (see generator.h): the model's forward for one token at a time. Each sub-layer
// runs its kind's decode step (trainer/layers/<kind>_decode.cpp) with its own state; norms,
// embedding and head use the engine's kernels with N = 1, so the numerics follow the training forward.
#include "trainer/generator.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/check.h"
#include "trainer/kernels/kernels.h"
#include "trainer/layers/kind.h"

namespace trainer {

struct RecurrentGenerator::SubLayer {
  const float* norm_w = nullptr;          // (D)
  std::unique_ptr<LayerDecoder> decoder;  // the kind's decode step and its state
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
      const std::string p = "blocks." + std::to_string(i) + "." + layer_kind_name(kind);
      s->norm_w = need(p + "_norm.weight");
      if (!missing.ok()) return missing;
      NS_ASSIGN_OR_RETURN(s->decoder, layer_kind_info(kind).make_decoder(c, weights, p, max_context));
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
  for (auto& s : layers_) s->decoder->reset();
}

std::size_t RecurrentGenerator::state_bytes() const {
  std::size_t n = 0;
  for (const auto& s : layers_) n += s->decoder->state_bytes();
  return n;
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
  // The µP multipliers as the training forward applies them (trainer/model.cpp).
  auto scale = [](std::vector<float>& x, float f) {
    if (f != 1.0f)
      for (float& v : x) v *= f;
  };
  scale(h_, c.embedding_scale);
  for (auto& sp : layers_) {
    SubLayer& s = *sp;
    rmsnorm_forward(xn_.data(), rstd_.data(), h_.data(), s.norm_w, 1, D, c.norm_eps);
    scale(h_, 1.0f / c.residual_scale);
    s.decoder->step(h_.data(), xn_.data(), pos_);
    scale(h_, c.residual_scale);
  }
  rmsnorm_forward(xn_.data(), rstd_.data(), h_.data(), final_norm_, 1, D, c.norm_eps);
  scale(xn_, 1.0f / c.logit_scale);
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
