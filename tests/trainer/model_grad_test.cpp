// Whole-model gradient checks: every weight tensor against finite differences of the model loss
// (grouped KV heads, sliding window, tied and untied heads, bridges), the check catching a wrong
// gradient, and gradient checkpointing giving the same gradients as a plain run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "trainer/grad_check.h"
#include "trainer/model_loss.h"
#include "trainer/model.h"
#include "trainer/test_values.h"

namespace {

using trainer_test::random_tokens;

using trainer::LayerKind;
using trainer::Model;
using trainer::ModelConfig;
using trainer::RunShape;

ModelConfig small_config(bool tied, int d_embed) {
  ModelConfig c;
  c.name = "grad-test";
  c.vocab_size = 11;
  c.d_model = 8;
  c.d_embed = d_embed;
  c.tied_embedding = tied;
  c.init_std = 0.3f;
  c.blocks = {{{LayerKind::kAttn, LayerKind::kMlp}}, {{LayerKind::kAttn, LayerKind::kMlp}}, {{LayerKind::kMlp}}};
  c.attn.n_heads = 2;
  c.attn.n_kv_heads = 1;
  c.attn.window = 3;
  c.mlp.d_ff = 12;
  return c;
}

// A model with its analytic gradients computed, and its loss (in double) for finite differences.
struct GradFixture {
  std::unique_ptr<Model> model;
  std::vector<int32_t> in, tgt;
  double loss() { return trainer_test::model_loss_double(*model, in.data(), tgt.data(), static_cast<int>(in.size())); }
};

GradFixture make_fixture(const ModelConfig& c, bool checkpoint) {
  RunShape shape;
  shape.batch = 2;
  shape.seq_len = 5;
  shape.grad_checkpoint = checkpoint;
  auto m = Model::create(c, shape);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  if (!m.ok()) return {};
  GradFixture f{std::move(*m), {}, {}};
  f.model->init_weights(42);
  const int N = shape.batch * shape.seq_len;
  f.in = random_tokens(N, c.vocab_size, 1);
  f.tgt = random_tokens(N, c.vocab_size, 2);
  f.model->zero_grad();
  f.model->forward(f.in.data(), f.tgt.data());
  f.model->backward(1.0f);
  return f;
}

trainer_test::GradCheckOptions model_check_options() {
  trainer_test::GradCheckOptions o;
  o.max_checks = 24;
  o.eps = 4e-2f;  // of each tensor's RMS: the step where noise and curvature are both small
  return o;
}

void check_model_gradients(const ModelConfig& c, bool checkpoint) {
  GradFixture f = make_fixture(c, checkpoint);
  ASSERT_TRUE(f.model);
  const auto o = model_check_options();
  for (const trainer::ParamRef& p : f.model->params()) {
    std::vector<float> analytic(p.grad, p.grad + p.numel);
    trainer_test::expect_gradient(p.spec->name, p.weight, p.numel, analytic.data(), [&] { return f.loss(); }, o);
  }
}

TEST(ModelGrad, UntiedGroupedKvWindow) { check_model_gradients(small_config(false, 0), false); }
TEST(ModelGrad, TiedWithBridges) { check_model_gradients(small_config(true, 6), false); }
TEST(ModelGrad, CheckpointedUntiedWithBridges) { check_model_gradients(small_config(false, 6), true); }

// The check must still fail: a whole tensor's gradient 5% off, or one entry off, is reported. The
// tensor is the one whose small entries sat under the old fixed tolerance's fp32 noise.
TEST(ModelGrad, CheckCatchesAWrongGradient) {
  GradFixture f = make_fixture(small_config(false, 6), true);
  ASSERT_TRUE(f.model);
  const auto o = model_check_options();
  int found = 0;
  for (const trainer::ParamRef& p : f.model->params()) {
    if (p.spec->name != "blocks.1.attn.k.weight") continue;
    ++found;
    std::vector<float> g(p.grad, p.grad + p.numel);
    auto loss = [&] { return f.loss(); };
    ASSERT_TRUE(trainer_test::check_gradient(p.spec->name, p.weight, p.numel, g.data(), loss, o).ok());
    std::vector<float> scaled = g;
    for (float& v : scaled) v *= 1.05f;
    EXPECT_FALSE(trainer_test::check_gradient(p.spec->name, p.weight, p.numel, scaled.data(), loss, o).ok())
        << "a gradient 5% too large passed";
    // One checked entry (index 0 is always checked) off by a tenth of the tensor's largest entry.
    float gmax = 0.0f;
    for (float v : g) gmax = std::max(gmax, std::fabs(v));
    std::vector<float> one = g;
    one[0] += 0.1f * gmax;
    const auto r = trainer_test::check_gradient(p.spec->name, p.weight, p.numel, one.data(), loss, o);
    ASSERT_FALSE(r.ok()) << "a gradient with one wrong entry passed";
    EXPECT_NE(r.failures[0].find("[0]"), std::string::npos) << r.failures[0];
    // The numeric side cannot be switched off: a loss that ignores the tensor is reported.
    EXPECT_FALSE(trainer_test::check_gradient(p.spec->name, p.weight, p.numel, g.data(), [] { return 1.0; }, o).ok());
  }
  EXPECT_EQ(found, 1);
}

TEST(ModelGrad, CheckpointingGivesTheSameGradients) {
  const ModelConfig c = small_config(true, 0);
  RunShape plain;
  plain.batch = 3;
  plain.seq_len = 6;
  RunShape ckpt = plain;
  ckpt.grad_checkpoint = true;
  auto a = Model::create(c, plain);
  auto b = Model::create(c, ckpt);
  ASSERT_TRUE(a.ok() && b.ok());
  (*a)->init_weights(7);
  (*b)->init_weights(7);
  const auto in = random_tokens(18, c.vocab_size, 3), tgt = random_tokens(18, c.vocab_size, 4);
  for (Model* m : {a->get(), b->get()}) {
    m->zero_grad();
    m->forward(in.data(), tgt.data());
    m->backward(0.5f);
  }
  EXPECT_FLOAT_EQ((*a)->last_ce_loss(), (*b)->last_ce_loss());
  const auto& pa = (*a)->params();
  const auto& pb = (*b)->params();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    for (int64_t j = 0; j < pa[i].numel; ++j) {
      ASSERT_NEAR(pa[i].grad[j], pb[i].grad[j], 1e-6 + 1e-5 * std::fabs(pa[i].grad[j])) << pa[i].spec->name;
    }
  }
}

TEST(ModelGrad, InitialLossIsNearLogVocab) {
  ModelConfig c = small_config(true, 0);
  c.init_std = 0.02f;
  RunShape shape;
  shape.batch = 2;
  shape.seq_len = 5;
  auto m = Model::create(c, shape);
  ASSERT_TRUE(m.ok());
  (*m)->init_weights(1);
  const auto in = random_tokens(10, c.vocab_size, 5), tgt = random_tokens(10, c.vocab_size, 6);
  EXPECT_NEAR((*m)->forward(in.data(), tgt.data()), std::log(11.0), 0.05);
}

}  // namespace
