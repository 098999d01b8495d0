// Tests for the optimizer (schedule, clipping, AdamW against a hand computation), gradient
// accumulation, and learning on a synthetic source of known entropy.
#include <gtest/gtest.h>

#include <cmath>

#include "trainer/optimizer.h"
#include "trainer/run_shape.h"
#include "trainer/synthetic_source.h"
#include "trainer/trainer.h"

namespace {

using trainer::LayerKind;
using trainer::ModelConfig;
using trainer::RunShape;
using trainer::TrainOptions;

TEST(Schedule, WarmupThenCosineToFloor) {
  trainer::LrSchedule s{1.0f, 0.1f, 10, 110};
  EXPECT_FLOAT_EQ(trainer::lr_at(s, 0), 0.1f);
  EXPECT_FLOAT_EQ(trainer::lr_at(s, 4), 0.5f);
  EXPECT_FLOAT_EQ(trainer::lr_at(s, 9), 1.0f);
  EXPECT_FLOAT_EQ(trainer::lr_at(s, 10), 1.0f);
  EXPECT_NEAR(trainer::lr_at(s, 60), 0.55f, 1e-6);  // half-way down the cosine
  EXPECT_NEAR(trainer::lr_at(s, 109), 0.1f, 1e-3);
  EXPECT_FLOAT_EQ(trainer::lr_at(s, 500), 0.1f);
}

TEST(Clip, FactorMatchesClipGradNorm) {
  EXPECT_FLOAT_EQ(trainer::clip_factor(0.5, 1.0f), 1.0f);
  EXPECT_NEAR(trainer::clip_factor(4.0, 1.0f), 0.25f, 1e-6);
  EXPECT_FLOAT_EQ(trainer::clip_factor(100.0, 0.0f), 1.0f);  // disabled
}

TEST(AdamW, OneStepByHand) {
  trainer::TensorSpec spec;
  spec.name = "x.weight";
  spec.decay = true;
  float w = 2.0f, g = 0.5f, m = 0.0f, v = 0.0f;
  trainer::ParamRef p{&spec, &w, &g, &m, &v, 1};
  trainer::AdamWConfig c{0.9f, 0.95f, 1e-8f, 0.1f};
  trainer::adamw_update({p}, c, 0.01f, 1, 1.0f);
  // decay: 2 * (1 - 0.001) = 1.998; m̂ = 0.5, v̂ = 0.25 → step 0.01 * 0.5 / 0.5 = 0.01.
  EXPECT_NEAR(w, 1.988f, 1e-6);
  EXPECT_NEAR(m, 0.05f, 1e-7);
  EXPECT_NEAR(v, 0.0125f, 1e-7);
  // Second step with a clip factor of 0.5 and no decay.
  spec.decay = false;
  trainer::adamw_update({p}, c, 0.01f, 2, 0.5f);
  const double m2 = 0.9 * 0.05 + 0.1 * 0.25, v2 = 0.95 * 0.0125 + 0.05 * 0.0625;
  const double mh = m2 / (1 - 0.81), vh = v2 / (1 - 0.9025);
  EXPECT_NEAR(w, 1.988 - 0.01 * mh / (std::sqrt(vh) + 1e-8), 1e-6);
}

ModelConfig tiny_model(int vocab) {
  ModelConfig c;
  c.name = "test-tiny";
  c.vocab_size = vocab;
  c.d_model = 32;
  c.blocks = {{{LayerKind::kAttn, LayerKind::kMlp}}, {{LayerKind::kAttn, LayerKind::kMlp}}};
  c.attn.n_heads = 2;
  c.mlp.d_ff = 64;
  return c;
}

TEST(Trainer, AccumulationMatchesALargerBatch) {
  const int T = 8, rows = 4;
  trainer::Rng rng(3);
  std::vector<int32_t> data(rows * (T + 1));
  for (int32_t& x : data) x = static_cast<int32_t>(rng.below(16));
  trainer_test::RowSource big(data, rows, 4, T), small(data, rows, 2, T);
  TrainOptions o;
  o.steps = 3;
  o.warmup = 0;
  o.lr = 1e-2f;
  o.grad_clip = 0.5f;
  TrainOptions oa = o;
  oa.accum = 2;
  auto a = trainer::Trainer::create(tiny_model(16), trainer_test::run_shape(4, T), o, &big, nullptr);
  auto b = trainer::Trainer::create(tiny_model(16), trainer_test::run_shape(2, T), oa, &small, nullptr);
  ASSERT_TRUE(a.ok() && b.ok()) << a.status().to_string() << b.status().to_string();
  for (int s = 0; s < 3; ++s) {
    auto sa = (*a)->step();
    auto sb = (*b)->step();
    ASSERT_TRUE(sa.ok() && sb.ok());
    EXPECT_NEAR(sa->loss, sb->loss, 1e-5);
    EXPECT_NEAR(sa->grad_norm, sb->grad_norm, 1e-4 * sa->grad_norm);
    EXPECT_EQ(sa->tokens, sb->tokens);
  }
  const auto& pa = (*a)->model().params();
  const auto& pb = (*b)->model().params();
  for (size_t i = 0; i < pa.size(); ++i) {
    for (int64_t j = 0; j < pa[i].numel; j += 7) ASSERT_NEAR(pa[i].weight[j], pb[i].weight[j], 2e-5);
  }
}

TEST(Trainer, RefusesToStepPastTheEnd) {
  trainer_test::MarkovSource src(16, 2, 2, 8, 1, 1);
  TrainOptions o;
  o.steps = 1;
  auto t = trainer::Trainer::create(tiny_model(16), trainer_test::run_shape(2, 8), o, &src, nullptr);
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE((*t)->step().ok());
  EXPECT_TRUE((*t)->done());
  EXPECT_FALSE((*t)->step().ok());
}

// Issue 21, item 9: a step of many micro-batches can be abandoned between two of them (a stop
// request, a deadline): nothing changes, and the step run afterwards is the one that would have run.
TEST(Trainer, AStepIsAbandonedBetweenMicroBatchesWithoutChangingAnything) {
  TrainOptions o;
  o.steps = 2;
  o.accum = 4;
  trainer_test::MarkovSource src(16, 2, 2, 8, 1, 1), ref_src(16, 2, 2, 8, 1, 1);
  auto t = trainer::Trainer::create(tiny_model(16), trainer_test::run_shape(2, 8), o, &src, nullptr);
  auto ref = trainer::Trainer::create(tiny_model(16), trainer_test::run_shape(2, 8), o, &ref_src, nullptr);
  ASSERT_TRUE(t.ok() && ref.ok());
  const uint64_t position = src.position();
  const std::vector<float> before((*t)->model().params()[0].weight, (*t)->model().params()[0].weight + 64);
  int checks = 0;
  (*t)->set_interrupt([&checks] { return ++checks >= 2; });
  auto abandoned = (*t)->step();
  ASSERT_TRUE(abandoned.ok()) << abandoned.status().to_string();
  EXPECT_TRUE(abandoned->interrupted);
  EXPECT_EQ(checks, 2);  // asked between micro-batches, and it stopped at once
  EXPECT_EQ((*t)->steps_done(), 0);
  EXPECT_EQ(src.position(), position);
  const std::vector<float> after((*t)->model().params()[0].weight, (*t)->model().params()[0].weight + 64);
  EXPECT_EQ(before, after);
  (*t)->set_interrupt(nullptr);
  auto s = (*t)->step();
  auto r = (*ref)->step();
  ASSERT_TRUE(s.ok() && r.ok());
  EXPECT_FALSE(s->interrupted);
  EXPECT_EQ(s->loss, r->loss);
  EXPECT_EQ((*t)->steps_done(), 1);
}

// Loss falls from ln(32) to close to the source's entropy ln(2).
TEST(Learning, MarkovSourceLossApproachesItsEntropy) {
  const int V = 32, B = 16, T = 32;
  trainer_test::MarkovSource train(V, 2, B, T, 11, 1), val(V, 2, B, T, 11, 2);
  TrainOptions o;
  o.steps = 150;
  o.warmup = 20;
  o.lr = 1e-2f;
  o.min_lr = 1e-3f;
  o.weight_decay = 0.0f;
  auto t = trainer::Trainer::create(tiny_model(V), trainer_test::run_shape(B, T), o, &train, &val);
  ASSERT_TRUE(t.ok());
  auto e0 = (*t)->evaluate(4);
  ASSERT_TRUE(e0.ok());
  EXPECT_NEAR(e0->val_loss, std::log(V), 0.15);
  while (!(*t)->done()) ASSERT_TRUE((*t)->step().ok());
  auto e = (*t)->evaluate(4);
  ASSERT_TRUE(e.ok());
  const double entropy = std::log(2.0);
  EXPECT_GT(e->val_loss, entropy - 0.02);  // cannot beat the source
  EXPECT_LT(e->val_loss, entropy + 0.08);
}

}  // namespace
