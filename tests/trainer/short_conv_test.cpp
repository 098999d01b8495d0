// The `conv` kind (LFM2's short gated convolution) inside a model: every weight's gradient against
// finite differences (conv blocks beside attention with q/k norms), gradient checkpointing, the recurrent decode step
// against the full forward, and packed documents restarting the conv state at every boundary (the same logits and
// gradients as each document alone).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "trainer/generator.h"
#include "trainer/grad_check.h"
#include "trainer/model.h"
#include "trainer/model_loss.h"
#include "trainer/trainer.h"
#include "trainer/test_values.h"

namespace {

using trainer_test::random_tokens;
using trainer_test::expect_close;

using trainer::LayerKind;
using trainer::Model;
using trainer::ModelConfig;
using trainer::RunShape;

// LFM2's layer pattern at toy width: conv, conv, attn, conv (each with its SwiGLU MLP).
ModelConfig lfm2_like() {
  ModelConfig c;
  c.name = "lfm2-test";
  c.vocab_size = 13;
  c.d_model = 8;
  c.init_std = 0.3f;
  const trainer::BlockSpec conv{{LayerKind::kConv, LayerKind::kMlp}}, attn{{LayerKind::kAttn, LayerKind::kMlp}};
  c.blocks = {conv, conv, attn, conv};
  c.attn.n_heads = 2;
  c.attn.n_kv_heads = 1;
  c.attn.qk_norm = true;
  c.mlp.d_ff = 12;
  c.conv.l_cache = 3;
  return c;
}

std::unique_ptr<Model> make_model(const ModelConfig& c, int batch, int seq, bool training, uint64_t seed) {
  RunShape shape;
  shape.batch = batch;
  shape.seq_len = seq;
  shape.training = training;
  auto m = Model::create(c, shape);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  if (!m.ok()) return nullptr;
  (*m)->init_weights(seed);
  return std::move(*m);
}

TEST(ShortConv, ModelGradientsMatchFiniteDifferences) {
  const ModelConfig c = lfm2_like();
  auto m = make_model(c, 2, 6, true, 42);
  ASSERT_TRUE(m);
  const int N = 12;
  const auto in = random_tokens(N, c.vocab_size, 1), tgt = random_tokens(N, c.vocab_size, 2);
  m->zero_grad();
  m->forward(in.data(), tgt.data());
  m->backward(1.0f);
  trainer_test::GradCheckOptions o;
  o.max_checks = 24;
  o.eps = 1.5e-2f;  // of each tensor's RMS: the conv block is cubic in its input (B ⊙ x, then ⊙ C)
  int conv_tensors = 0;
  for (const trainer::ParamRef& p : m->params()) {
    conv_tensors += p.spec->name.find(".conv.") != std::string::npos;
    std::vector<float> analytic(p.grad, p.grad + p.numel);
    trainer_test::expect_gradient(
        p.spec->name, p.weight, p.numel, analytic.data(),
        [&] { return trainer_test::model_loss_double(*m, in.data(), tgt.data(), N); }, o);
  }
  EXPECT_EQ(conv_tensors, 3 * 3);  // in_proj, conv, out_proj of three conv blocks
}

// Gradient checkpointing re-runs the conv blocks' forward from their saved inputs: the same gradients.
TEST(ShortConv, CheckpointingGivesTheSameGradients) {
  const ModelConfig c = lfm2_like();
  const int N = 12;
  const auto in = random_tokens(N, c.vocab_size, 1), tgt = random_tokens(N, c.vocab_size, 2);
  std::vector<std::vector<float>> grads[2];
  for (int ck = 0; ck < 2; ++ck) {
    RunShape shape;
    shape.batch = 2;
    shape.seq_len = 6;
    shape.grad_checkpoint = ck == 1;
    auto m = Model::create(c, shape);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    (*m)->init_weights(42);
    (*m)->zero_grad();
    (*m)->forward(in.data(), tgt.data());
    (*m)->backward(1.0f);
    for (const trainer::ParamRef& p : (*m)->params()) grads[ck].emplace_back(p.grad, p.grad + p.numel);
  }
  ASSERT_EQ(grads[0].size(), grads[1].size());
  for (size_t i = 0; i < grads[0].size(); ++i) EXPECT_EQ(grads[0][i], grads[1][i]) << "parameter " << i;
}

TEST(ShortConv, DecodeStepMatchesFullForward) {
  const ModelConfig c = lfm2_like();
  const int T = 9;
  auto m = make_model(c, 1, T, false, 5);
  ASSERT_TRUE(m);
  const auto seq = random_tokens(T, c.vocab_size, 9);
  m->forward(seq.data(), nullptr);
  const std::vector<float> full(m->logits(), m->logits() + static_cast<size_t>(T) * c.vocab_size);
  auto lookup = [&](const std::string& name) { return static_cast<const float*>(m->tensors().find(name)); };
  auto gen = trainer::RecurrentGenerator::create(c, lookup, T);
  ASSERT_TRUE(gen.ok()) << gen.status().to_string();
  for (int round = 0; round < 2; ++round) {  // the second round checks reset()
    (*gen)->reset();
    for (int t = 0; t < T; ++t) {
      const float* logits = (*gen)->step(seq[t]);
      for (int v = 0; v < c.vocab_size; ++v) {
        const float ref = full[static_cast<size_t>(t) * c.vocab_size + v];
        ASSERT_NEAR(logits[v], ref, 2e-4 * (1.0 + std::fabs(ref))) << "position " << t << " token " << v;
      }
    }
  }
}

// One row of 12 holding documents of 5 and 7 tokens: the second document's logits and gradients
// equal those of the document alone, so no conv input crossed the boundary.
TEST(ShortConv, PackedDocumentsRestartTheConvState) {
  ModelConfig c = lfm2_like();
  c.blocks = {{{LayerKind::kConv, LayerKind::kMlp}}, {{LayerKind::kConv, LayerKind::kMlp}}};
  const int T = 12, first = 5, V = c.vocab_size;
  const auto in = random_tokens(T, V, 3), all_targets = random_tokens(T, V, 4);
  std::vector<int32_t> positions(T), targets(T, trainer::kIgnoreTarget);
  for (int t = 0; t < T; ++t) positions[t] = t < first ? t : t - first;
  for (int t = first; t < T; ++t) targets[t] = all_targets[t];

  auto packed = make_model(c, 1, T, true, 7);
  ASSERT_TRUE(packed);
  packed->zero_grad();
  packed->forward(in.data(), targets.data(), positions.data());
  const std::vector<float> logits(packed->logits() + first * V, packed->logits() + T * V);
  packed->backward(1.0f);

  auto alone = make_model(c, 1, T - first, true, 7);
  ASSERT_TRUE(alone);
  alone->zero_grad();
  alone->forward(in.data() + first, all_targets.data() + first);
  expect_close(logits.data(), alone->logits(), static_cast<int64_t>(T - first) * V, 2e-5, "logits");
  alone->backward(1.0f);
  ASSERT_EQ(packed->params().size(), alone->params().size());
  for (size_t i = 0; i < packed->params().size(); ++i) {
    const trainer::ParamRef& p = packed->params()[i];
    expect_close(p.grad, alone->params()[i].grad, p.numel, 1e-4, "grad " + p.spec->name);
  }

  // Without the boundary the second document reads the first one's conv inputs: other logits.
  packed->forward(in.data(), targets.data());
  double diff = 0.0;
  for (int i = 0; i < V; ++i)
    diff = std::max(diff, static_cast<double>(std::fabs(packed->logits()[first * V + i] - logits[i])));
  EXPECT_GT(diff, 1e-4);
}

}  // namespace
