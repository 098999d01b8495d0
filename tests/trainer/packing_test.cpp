// Packed rows (Model::forward with positions): several documents in one row give each document
// the same loss, logits and gradients as running it alone — for attention (RoPE, grouped KV heads,
// sliding window), SSM (conv history and scan state restart), LFM2's short conv and a hybrid preset, in full and LoRA
// mode — including a row that starts inside a document (positions > 0 at the row start, within the
// RoPE tables and beyond them).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "trainer/model.h"
#include "trainer/model_config.h"
#include "trainer/rng.h"
#include "trainer/trainer.h"

namespace {

using trainer::LayerKind;
using trainer::Model;
using trainer::ModelConfig;
using trainer::RunShape;

struct Doc {
  int row, start, len, pos0;  // tokens [start, start + len) of `row`, positions pos0, pos0 + 1, ...
};

// Three rows of 16: documents of 6, 4, 6; a row starting inside a document at position 14 (beyond
// the tables for 5 tokens: rebased), then 11; one starting at position 3 (within them), then 9.
constexpr int kB = 3, kT = 16;
const std::vector<Doc> kDocs = {{0, 0, 6, 0}, {0, 6, 4, 0}, {0, 10, 6, 0}, {1, 0, 5, 14},
                                {1, 5, 11, 0}, {2, 0, 7, 3}, {2, 7, 9, 0}};

struct Batch {
  std::vector<int32_t> inputs, targets, positions;
};

Batch packed_batch(int V, uint64_t seed) {
  trainer::Rng rng(seed);
  Batch b;
  b.inputs.resize(kB * kT);
  b.targets.resize(kB * kT);
  b.positions.resize(kB * kT);
  for (int i = 0; i < kB * kT; ++i) {
    b.inputs[i] = static_cast<int32_t>(rng.below(V));
    b.targets[i] = static_cast<int32_t>(rng.below(V));
  }
  for (const Doc& d : kDocs)
    for (int t = 0; t < d.len; ++t) b.positions[d.row * kT + d.start + t] = d.pos0 + t;
  return b;
}

std::unique_ptr<Model> make_model(const ModelConfig& c, RunShape shape, uint64_t seed) {
  shape.max_threads = 2;
  auto m = Model::create(c, shape);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  if (!m.ok()) return nullptr;
  (*m)->init_weights(seed);
  return std::move(*m);
}

RunShape shape_of(int batch, int seq_len, bool lora) {
  RunShape s;
  s.batch = batch;
  s.seq_len = seq_len;
  if (lora) {
    s.mode = trainer::TrainMode::kLora;
    s.lora_rank = 4;
  }
  return s;
}

// LoRA's B starts at zero (so A gets no gradient); give every adapter weight a value instead.
void randomize_params(Model& m, uint64_t seed) {
  trainer::Rng rng(seed);
  for (const trainer::ParamRef& p : m.params())
    for (int64_t i = 0; i < p.numel; ++i) p.weight[i] = static_cast<float>(rng.normal() * 0.1);
}

void expect_packed_close(const float* a, const float* b, int64_t n, double rel, const std::string& what) {
  double scale = 0.0;
  for (int64_t i = 0; i < n; ++i) scale = std::max(scale, static_cast<double>(std::fabs(b[i])));
  // All zero alone (an expert no token of the document chose): then all zero packed too.
  int bad = 0;
  for (int64_t i = 0; i < n && bad < 3; ++i) {
    if (std::fabs(a[i] - b[i]) > rel * scale) {
      ADD_FAILURE() << what << "[" << i << "]: packed " << a[i] << " vs alone " << b[i] << " (scale " << scale << ")";
      ++bad;
    }
  }
}

// For every document: the packed batch with only that document's targets trained against the
// document alone in a (1, len) model with the same weights.
void check_documents_alone(ModelConfig c, bool lora) {
  c.init_std = 0.1f;
  if (c.has_layer(LayerKind::kMoe)) c.moe.aux_loss_weight = 0.0f;  // the aux loss is per batch, not per document
  const int V = c.vocab_size;
  auto packed = make_model(c, shape_of(kB, kT, lora), 5);
  ASSERT_TRUE(packed);
  if (lora) randomize_params(*packed, 6);
  const Batch batch = packed_batch(V, 11);
  for (size_t di = 0; di < kDocs.size(); ++di) {
    const Doc& d = kDocs[di];
    const std::string what = c.name + (lora ? " lora" : "") + " document " + std::to_string(di);
    std::vector<int32_t> targets(kB * kT, trainer::kIgnoreTarget);
    for (int t = 0; t < d.len; ++t) targets[d.row * kT + d.start + t] = batch.targets[d.row * kT + d.start + t];
    packed->zero_grad();
    const float loss_packed = packed->forward(batch.inputs.data(), targets.data(), batch.positions.data());
    std::vector<float> logits_packed(packed->logits() + static_cast<int64_t>(d.row * kT + d.start) * V,
                                     packed->logits() + static_cast<int64_t>(d.row * kT + d.start + d.len) * V);
    packed->backward(1.0f);
    EXPECT_EQ(packed->last_trained_tokens(), d.len) << what;

    auto alone = make_model(c, shape_of(1, d.len, lora), 5);
    ASSERT_TRUE(alone);
    if (lora) randomize_params(*alone, 6);
    ASSERT_EQ(alone->params().size(), packed->params().size());
    const int32_t* in = batch.inputs.data() + d.row * kT + d.start;
    const int32_t* tg = batch.targets.data() + d.row * kT + d.start;
    alone->zero_grad();
    const float loss_alone = alone->forward(in, tg);
    expect_packed_close(logits_packed.data(), alone->logits(), static_cast<int64_t>(d.len) * V, 2e-5, what + " logits");
    alone->backward(1.0f);
    EXPECT_NEAR(loss_packed, loss_alone, 1e-5 * loss_alone) << what;
    for (size_t i = 0; i < packed->params().size(); ++i) {
      const trainer::ParamRef& p = packed->params()[i];
      const trainer::ParamRef& q = alone->params()[i];
      ASSERT_EQ(p.spec->name, q.spec->name);
      for (int64_t j = 0; j < p.numel; ++j) ASSERT_EQ(p.weight[j], q.weight[j]) << p.spec->name;
      // (The other documents' tokens add nothing: their targets are masked and they are not seen.)
      expect_packed_close(p.grad, q.grad, p.numel, 1e-4, what + " grad " + p.spec->name);
    }
    if (::testing::Test::HasFailure()) return;
  }
}

ModelConfig preset(const std::string& name) {
  auto c = trainer::model_preset(name);
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return c.ok() ? *c : ModelConfig{};
}

// Attention with Qwen-style features: grouped KV heads, q/k norms, qkv biases, a sliding window
// shorter than the documents, Llama-3.1 RoPE scaling.
ModelConfig attention_features() {
  ModelConfig c = preset("gpt-tiny");
  c.name = "attn-features";
  c.d_model = 64;
  c.blocks = {{{LayerKind::kAttn, LayerKind::kMlp}}, {{LayerKind::kAttn, LayerKind::kMlp}}};
  c.attn.n_heads = 4;
  c.attn.n_kv_heads = 2;
  c.attn.window = 5;
  c.attn.qk_norm = true;
  c.attn.qkv_bias = true;
  c.attn.rope_scale_factor = 8.0f;
  c.attn.rope_original_context = 8;
  c.mlp.d_ff = 96;
  return c;
}

TEST(Packing, AttentionDocumentsGetTheSameGradientsAsAlone) { check_documents_alone(preset("gpt-tiny"), false); }
TEST(Packing, AttentionFeaturesDocumentsGetTheSameGradientsAsAlone) { check_documents_alone(attention_features(), false); }
TEST(Packing, SsmDocumentsGetTheSameGradientsAsAlone) { check_documents_alone(preset("mamba-tiny"), false); }
TEST(Packing, HybridDocumentsGetTheSameGradientsAsAlone) { check_documents_alone(preset("hybrid-tiny"), false); }
// LFM2's pattern: short-conv blocks (the conv history restarts per document) around attention with q/k norms.
ModelConfig short_conv_hybrid() {
  ModelConfig c = preset("gpt-tiny");
  c.name = "lfm2-like";
  c.d_model = 64;
  const trainer::BlockSpec conv{{LayerKind::kConv, LayerKind::kMlp}}, attn{{LayerKind::kAttn, LayerKind::kMlp}};
  c.blocks = {conv, attn, conv};
  c.attn.n_heads = 4;
  c.attn.n_kv_heads = 2;
  c.attn.qk_norm = true;
  c.mlp.d_ff = 96;
  return c;
}
TEST(Packing, ShortConvDocumentsGetTheSameGradientsAsAlone) {
  check_documents_alone(short_conv_hybrid(), false);
  check_documents_alone(short_conv_hybrid(), true);
}
// A Mamba-2 hybrid (the conv history and the chunked scan's state restart per document; chunks of 4
// so that document boundaries fall inside chunks) around attention.
ModelConfig mamba2_hybrid() {
  ModelConfig c = preset("gpt-tiny");
  c.name = "mamba2-like";
  c.d_model = 64;
  const trainer::BlockSpec m{{LayerKind::kMamba2}}, attn{{LayerKind::kAttn, LayerKind::kMlp}};
  c.blocks = {m, attn, m};
  c.attn.n_heads = 4;
  c.mlp.d_ff = 96;
  c.mamba2.head_dim = 16;
  c.mamba2.d_state = 8;
  c.mamba2.n_groups = 2;
  c.mamba2.chunk = 4;
  return c;
}
TEST(Packing, Mamba2DocumentsGetTheSameGradientsAsAlone) {
  check_documents_alone(mamba2_hybrid(), false);
  check_documents_alone(mamba2_hybrid(), true);
}
TEST(Packing, LoraDocumentsGetTheSameGradientsAsAlone) {
  check_documents_alone(preset("gpt-tiny"), true);
  check_documents_alone(preset("mamba-tiny"), true);
}

// Null positions and explicit 0 .. T-1 positions (one document per row) are the same computation.
TEST(Packing, OneDocumentPerRowIsBitIdenticalToUnpacked) {
  for (const char* name : {"gpt-tiny", "hybrid-tiny"}) {
    const ModelConfig c = preset(name);
    auto m = make_model(c, shape_of(kB, kT, false), 3);
    ASSERT_TRUE(m);
    Batch b = packed_batch(c.vocab_size, 4);
    for (int r = 0; r < kB; ++r)
      for (int t = 0; t < kT; ++t) b.positions[r * kT + t] = t;
    const float plain = m->forward(b.inputs.data(), b.targets.data());
    std::vector<float> logits(m->logits(), m->logits() + static_cast<int64_t>(kB) * kT * c.vocab_size);
    const float with_pos = m->forward(b.inputs.data(), b.targets.data(), b.positions.data());
    EXPECT_EQ(plain, with_pos) << name;
    for (size_t i = 0; i < logits.size(); ++i) ASSERT_EQ(logits[i], m->logits()[i]) << name << " logit " << i;
  }
}

// Packing changes the result: the same tokens as one document per row differ from the packed rows
// (the test above would pass if positions were ignored only when they are 0 .. T-1).
TEST(Packing, DocumentBoundariesChangeTheLogits) {
  for (const char* name : {"gpt-tiny", "mamba-tiny"}) {
    const ModelConfig c = preset(name);
    auto m = make_model(c, shape_of(kB, kT, false), 3);
    ASSERT_TRUE(m);
    const Batch b = packed_batch(c.vocab_size, 4);
    m->forward(b.inputs.data(), nullptr);
    std::vector<float> plain(m->logits(), m->logits() + static_cast<int64_t>(kB) * kT * c.vocab_size);
    m->forward(b.inputs.data(), nullptr, b.positions.data());
    // Row 0's first document is unaffected; its second document (from t = 6) is not.
    const int V = c.vocab_size;
    double first = 0.0, second = 0.0;
    for (int i = 0; i < 6 * V; ++i) first = std::max(first, double(std::fabs(plain[i] - m->logits()[i])));
    for (int i = 6 * V; i < 10 * V; ++i) second = std::max(second, double(std::fabs(plain[i] - m->logits()[i])));
    EXPECT_LT(first, 1e-5) << name;
    EXPECT_GT(second, 1e-3) << name;
  }
}

}  // namespace
