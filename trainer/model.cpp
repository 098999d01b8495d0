// Model: binding of arenas to sub-layers, weight init, and the whole-model forward and backward
// (docs/model.md). Residual stream: res_out = res_in + layer(rmsnorm(res_in) * norm_w).
#include "trainer/model.h"

#include <cmath>
#include <cstring>
#include <unordered_map>

#include "common/check.h"
#include "trainer/kernels/kernels.h"
#include "trainer/rng.h"
#include "trainer/weight_init.h"

namespace trainer {

using common::Result;

namespace {

class SubLayerBinding final : public TensorBinding {
 public:
  SubLayerBinding(const TensorStore& store, const SubLayerPlan& plan, LoraRegistry* lora)
      : store_(store), plan_(plan), lora_(lora) {}
  float* f32(const std::string& local_name) const override {
    for (const auto& [local, full] : plan_.names) {
      if (local == local_name) return store_.f32(full);
    }
    CHECK_MSG(false, ("layer asked for a tensor it did not list: " + local_name).c_str());
    return nullptr;
  }
  std::vector<int64_t> shape(const std::string& local_name) const override {
    for (const auto& [local, full] : plan_.names) {
      if (local == local_name) return store_.find_spec(full)->shape;
    }
    CHECK_MSG(false, ("layer asked for a tensor it did not list: " + local_name).c_str());
    return {};
  }
  float* grad(const std::string& local_name) const override {
    for (const auto& [local, full] : plan_.grads) {
      if (local == local_name) return store_.f32(full);
    }
    return nullptr;
  }
  Linear linear(const std::string& local_name, int64_t out, int64_t in) const override {
    if (lora_ == nullptr) return TensorBinding::linear(local_name, out, in);
    for (const auto& [local, full] : plan_.names) {
      if (local == local_name) return lora_->bind(*this, full, local_name, out, in, store_.find(full));
    }
    CHECK_MSG(false, ("layer asked for a linear weight it did not list: " + local_name).c_str());
    return Linear();
  }

 private:
  const TensorStore& store_;
  const SubLayerPlan& plan_;
  LoraRegistry* lora_;
};

float* maybe_f32(const TensorStore& s, const std::string& name) { return static_cast<float*>(s.find(name)); }

// x *= f (the µP multipliers; f == 1 leaves x as it is).
void scale_floats(float* x, int64_t n, float f) {
  if (f == 1.0f) return;
  for (int64_t i = 0; i < n; ++i) x[i] *= f;
}

}  // namespace

Result<std::unique_ptr<Model>> Model::create(const ModelConfig& config, const RunShape& shape) {
  NS_ASSIGN_OR_RETURN(RunPlan plan, make_run_plan(config, shape));
  std::unique_ptr<Model> m(new Model());
  m->config_ = config;
  m->shape_ = shape;
  m->shape_.max_threads = plan.max_threads;
  NS_ASSIGN_OR_RETURN(m->store_, TensorStore::create(plan.specs));
  m->plan_ = std::move(plan);
  m->shared_internals_ = shape.grad_checkpoint || !shape.training;
  m->aux_weight_ = config.has_layer(LayerKind::kMoe) ? config.moe.aux_loss_weight : 0.0f;
  const TensorStore& s = *m->store_;
  if (shape.mode != TrainMode::kFull) m->lora_ = std::make_unique<LoraRegistry>(m->shape_);

  m->tokens_ = s.i32("act.tokens");
  m->targets_ = s.i32("act.targets");
  m->doc_start_ = s.i32("act.doc_start");
  m->rope_pos_ = s.i32("act.rope_pos");
  m->embed_ = s.f32("embed.weight");
  m->dembed_ = maybe_f32(s, "grad.embed.weight");
  m->embed_out_ = maybe_f32(s, "act.embed");
  m->bridge_in_ = maybe_f32(s, "bridge_in.weight");
  m->dbridge_in_ = maybe_f32(s, "grad.bridge_in.weight");
  m->bridge_out_ = maybe_f32(s, "bridge_out.weight");
  m->dbridge_out_ = maybe_f32(s, "grad.bridge_out.weight");
  m->bridge_act_ = maybe_f32(s, "act.bridge_out");
  m->head_ = config.tied_embedding ? m->embed_ : s.f32("lm_head.weight");
  m->dhead_ = config.tied_embedding ? m->dembed_ : maybe_f32(s, "grad.lm_head.weight");
  m->final_w_ = s.f32("final_norm.weight");
  m->dfinal_w_ = maybe_f32(s, "grad.final_norm.weight");
  m->final_rstd_ = s.f32("act.final_norm.rstd");
  m->final_out_ = s.f32("act.final_norm.out");
  m->logits_ = s.f32("act.logits");
  m->lse_ = s.f32("act.lse");
  if (const int C = head_chunk_rows(shape, config.vocab_size); C > 0) {
    m->head_chunk_.capacity = C;
    m->head_chunk_.logits = m->logits_;
    m->head_chunk_.lse = m->lse_;
    m->head_chunk_.rows = s.f32("act.head.rows");
    m->head_chunk_.index = s.i32("act.head.index");
    m->head_chunk_.targets = s.i32("act.head.targets");
    m->head_chunk_.drows = maybe_f32(s, "scratch.head.drows");
  }
  m->dres_ = maybe_f32(s, "scratch.dres");
  m->dxn_ = maybe_f32(s, "scratch.dxn");
  m->dhead_in_ = config.has_bridge() ? maybe_f32(s, "scratch.dhead") : m->dxn_;

  for (SubLayerPlan& sp : m->plan_.sublayers) {
    SubLayerViews v;
    v.norm_w = s.f32(sp.norm_weight);
    v.dnorm_w = maybe_f32(s, "grad." + sp.norm_weight);
    v.rstd = s.f32(sp.norm_rstd);
    v.xn = s.f32(sp.norm_out);
    v.res_in = s.f32(sp.res_in);
    v.res_out = s.f32(sp.res_out);
    m->views_.push_back(v);
    sp.layer->bind(SubLayerBinding(s, sp, m->lora_.get()));
    sp.layer->set_documents(&m->docs_);
  }
  const std::vector<TensorSpec>& specs = s.specs();
  for (size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].role != TensorRole::kWeight) continue;
    ParamRef p;
    p.spec = &specs[i];
    p.weight = static_cast<float*>(s.data(i));
    p.grad = maybe_f32(s, "grad." + specs[i].name);
    p.m = maybe_f32(s, "adam_m." + specs[i].name);
    p.v = maybe_f32(s, "adam_v." + specs[i].name);
    p.numel = specs[i].numel();
    m->params_.push_back(p);
  }
  if (m->lora_) m->lora_->attach_moments(m->params_);
  return m;
}

void Model::init_weights(uint64_t seed) {
  Rng rng(seed);
  const InitOwners owners = init_owners(plan_.sublayers);
  const std::vector<TensorSpec>& specs = store_->specs();
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorSpec& t = specs[i];
    if (t.role != TensorRole::kWeight && t.role != TensorRole::kFrozenWeight) continue;
    init_weight(t, store_->data(i), rng, owners, config_.init_std);
  }
  if (lora_) lora_->init_adapters(seed);
}

void Model::run_sublayer_forward(int s) {
  const int N = shape_.batch * shape_.seq_len, D = config_.d_model;
  const SubLayerViews& v = views_[s];
  rmsnorm_forward(v.xn, v.rstd, v.res_in, v.norm_w, N, D, config_.norm_eps);
  copy_floats(v.res_out, v.res_in, int64_t{N} * D);
  // res_out = res_in + r·layer(xn) with the layer adding into res_out: (res_in / r + layer) · r.
  const float r = config_.residual_scale;
  scale_floats(v.res_out, int64_t{N} * D, 1.0f / r);
  plan_.sublayers[s].layer->forward(v.res_out, v.xn);
  scale_floats(v.res_out, int64_t{N} * D, r);
}

void Model::recompute_block(int block) {
  for (int s = plan_.block_begin[block]; s < plan_.block_begin[block + 1]; ++s) run_sublayer_forward(s);
}

// Packed rows: doc_start and rope_pos from the positions (see forward in model.h); unpacked: null.
void Model::set_rows(const int32_t* positions) {
  if (positions == nullptr) {
    docs_ = RowDocuments{};
    return;
  }
  const int B = shape_.batch, T = shape_.seq_len;
  for (int b = 0; b < B; ++b) {
    const int32_t* pos = positions + int64_t{b} * T;
    int32_t* ds = doc_start_ + int64_t{b} * T;
    int32_t* rp = rope_pos_ + int64_t{b} * T;
    for (int t0 = 0; t0 < T;) {  // one document [t0, t1) at a time
      CHECK(pos[t0] >= 0);
      int t1 = t0 + 1;
      while (t1 < T && pos[t1] != 0) ++t1;
      // The given positions when they count up from pos[t0] inside the tables, else relative to t0.
      bool given = pos[t0] + (t1 - t0) <= T;
      for (int t = t0; t < t1 && given; ++t) given = pos[t] == pos[t0] + (t - t0);
      for (int t = t0; t < t1; ++t) {
        ds[t] = t0;
        rp[t] = given ? pos[t] : t - t0;
      }
      t0 = t1;
    }
  }
  docs_.doc_start = doc_start_;
  docs_.rope_pos = rope_pos_;
}

float Model::forward(const int32_t* inputs, const int32_t* targets, const int32_t* positions) {
  const int B = shape_.batch, T = shape_.seq_len, N = B * T;
  const int D = config_.d_model, E = config_.embed_dim(), V = config_.vocab_size;
  std::memcpy(tokens_, inputs, sizeof(int32_t) * N);
  for (int n = 0; n < N; ++n) CHECK(tokens_[n] >= 0 && tokens_[n] < V);
  set_rows(positions);
  float* res0 = views_[0].res_in;
  if (config_.has_bridge()) {
    embedding_forward(embed_out_, tokens_, embed_, N, E);
    matmul_forward(res0, embed_out_, bridge_in_, N, E, D, false);
  } else {
    embedding_forward(res0, tokens_, embed_, N, E);
  }
  scale_floats(res0, int64_t{N} * D, config_.embedding_scale);
  float aux = 0.0f;
  for (size_t s = 0; s < plan_.sublayers.size(); ++s) {
    run_sublayer_forward(static_cast<int>(s));
    aux += plan_.sublayers[s].layer->aux_loss();
  }
  const float* res_last = views_.back().res_out;
  rmsnorm_forward(final_out_, final_rstd_, res_last, final_w_, N, D, config_.norm_eps);
  // logits / logit_scale as the head's input divided by it.
  scale_floats(final_out_, int64_t{N} * D, 1.0f / config_.logit_scale);
  const float* hidden = final_out_;
  if (config_.has_bridge()) {
    matmul_forward(bridge_act_, final_out_, bridge_out_, N, D, E, false);
    hidden = bridge_act_;
  }
  aux_loss_ = aux;
  have_targets_ = targets != nullptr;
  head_grad_done_ = false;
  const bool fused = head_chunk_.capacity > 0;
  CHECK_MSG(targets || !fused, "a model with an LM-head chunk keeps no logits: forward needs targets");
  if (!fused) matmul_forward(logits_, hidden, head_, N, E, V, false);
  if (!targets) {
    ce_loss_ = 0.0f;
    ce_sum_ = 0.0;
    trained_tokens_ = 0;
    return 0.0f;
  }
  std::memcpy(targets_, targets, sizeof(int32_t) * N);
  trained_tokens_ = count_trained_targets(targets_, N);
  if (!fused) {
    ce_sum_ = crossentropy_forward(lse_, logits_, targets_, N, V);
  } else if (head_grad_wanted_) {  // forward_train: the head's gradient in the same pass
    ce_sum_ = lm_head_cross_entropy(head_chunk_, hidden, head_, targets_, N, E, V, head_grad_scale_, dhead_in_,
                                    dhead_);
    head_grad_done_ = true;
  } else {
    ce_sum_ = lm_head_cross_entropy(head_chunk_, hidden, head_, targets_, N, E, V);
  }
  ce_loss_ = trained_tokens_ > 0 ? static_cast<float>(ce_sum_ / static_cast<double>(trained_tokens_)) : 0.0f;
  return ce_loss_ + aux_weight_ * aux_loss_;
}

float Model::forward_train(const int32_t* inputs, const int32_t* targets, const int32_t* positions,
                           float ce_sum_scale) {
  CHECK_MSG(targets != nullptr, "forward_train needs targets");
  const bool fused = head_chunk_.capacity > 0 && shape_.training;
  head_grad_wanted_ = fused;
  head_grad_scale_ = ce_sum_scale;
  const float loss = forward(inputs, targets, positions);
  head_grad_wanted_ = false;
  return loss;
}

void Model::backward(float loss_scale) {
  const float ce_sum_scale = trained_tokens_ > 0 ? loss_scale / static_cast<float>(trained_tokens_) : 0.0f;
  backward_scaled(ce_sum_scale, loss_scale);
}

void Model::backward_scaled(float ce_sum_scale, float aux_scale_in) {
  CHECK_MSG(shape_.training, "backward on a model built with training = false");
  CHECK_MSG(have_targets_, "backward needs a forward with targets");
  have_targets_ = false;
  const int B = shape_.batch, T = shape_.seq_len, N = B * T;
  const int D = config_.d_model, E = config_.embed_dim(), V = config_.vocab_size;
  const float aux_scale = aux_scale_in * aux_weight_;

  if (head_chunk_.capacity > 0) {
    // The fused head took dhidden (in dhead_in_) and dhead in forward_train.
    CHECK_MSG(head_grad_done_, "a model with an LM-head chunk needs forward_train before backward");
    CHECK_MSG(ce_sum_scale == head_grad_scale_, "backward's ce_sum_scale differs from forward_train's");
    head_grad_done_ = false;
  } else {
    // LM head and cross-entropy: dlogits in place (0 on rows not trained), then dhidden (N, E) and dhead.
    crossentropy_backward_inplace(logits_, lse_, targets_, N, V, ce_sum_scale);
    const float* dlogits = logits_;
    const float* hidden = config_.has_bridge() ? bridge_act_ : final_out_;
    zero_floats(dhead_in_, int64_t{N} * E);
    matmul_backward(dhead_in_, dhead_, dlogits, hidden, head_, N, E, V);
  }
  if (config_.has_bridge()) {
    zero_floats(dxn_, int64_t{N} * D);
    matmul_backward(dxn_, dbridge_out_, dhead_in_, final_out_, bridge_out_, N, D, E);
  }
  // Final norm: dres = d(res_last).
  scale_floats(dxn_, int64_t{N} * D, 1.0f / config_.logit_scale);
  zero_floats(dres_, int64_t{N} * D);
  rmsnorm_backward(dres_, dfinal_w_, dxn_, views_.back().res_out, final_rstd_, final_w_, N, D);

  const int n_blocks = static_cast<int>(plan_.block_begin.size()) - 1;
  for (int b = n_blocks - 1; b >= 0; --b) {
    // With shared internals the last block's activations are still in place from the forward.
    if (shared_internals_ && b != n_blocks - 1) recompute_block(b);
    for (int s = plan_.block_begin[b + 1] - 1; s >= plan_.block_begin[b]; --s) {
      const SubLayerViews& v = views_[s];
      zero_floats(dxn_, int64_t{N} * D);
      // d(layer output) = r · dres; dres itself passes the residual unchanged.
      scale_floats(dres_, int64_t{N} * D, config_.residual_scale);
      plan_.sublayers[s].layer->backward(dxn_, dres_, v.xn, aux_scale);
      scale_floats(dres_, int64_t{N} * D, 1.0f / config_.residual_scale);
      // The residual passes dres through unchanged; the norm adds its part.
      rmsnorm_backward(dres_, v.dnorm_w, dxn_, v.res_in, v.rstd, v.norm_w, N, D);
    }
  }
  scale_floats(dres_, int64_t{N} * D, config_.embedding_scale);
  if (config_.has_bridge()) {
    zero_floats(dhead_in_, int64_t{N} * E);
    matmul_backward(dhead_in_, dbridge_in_, dres_, embed_out_, bridge_in_, N, E, D);
    if (dembed_) embedding_backward(dembed_, dhead_in_, tokens_, N, E);
  } else if (dembed_) {  // null when the embedding is frozen (lora/qlora)
    embedding_backward(dembed_, dres_, tokens_, N, E);
  }
}

void Model::zero_grad() {
  if (store_->arena(TensorRole::kGradient)) {
    zero_floats(reinterpret_cast<float*>(store_->arena(TensorRole::kGradient)),
                static_cast<int64_t>(store_->arena_bytes(TensorRole::kGradient) / sizeof(float)));
  }
}

int64_t Model::num_params() const {
  int64_t n = 0;
  for (const ParamRef& p : params_) n += p.numel;
  return n;
}

double Model::forward_flops() const {
  const double N = static_cast<double>(shape_.batch) * shape_.seq_len;
  double f = 0.0;
  for (const SubLayerPlan& sp : plan_.sublayers) f += sp.layer->forward_flops();
  f += 2.0 * N * config_.embed_dim() * config_.vocab_size;
  if (config_.has_bridge()) f += 2.0 * 2.0 * N * config_.embed_dim() * config_.d_model;
  return f;
}

}  // namespace trainer
