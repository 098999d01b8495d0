// Whole-model gradient checks: every weight tensor against finite differences of the model loss
// (grouped KV heads, sliding window, tied and untied heads, bridges), and gradient checkpointing
// giving the same gradients as a plain run.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "trainer/grad_check.h"
#include "trainer/model.h"

namespace {

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

std::vector<int32_t> tokens(int n, int V, uint64_t seed) {
  trainer::Rng rng(seed);
  std::vector<int32_t> t(n);
  for (int32_t& x : t) x = static_cast<int32_t>(rng.below(V));
  return t;
}

void check_model_gradients(const ModelConfig& c, bool checkpoint) {
  RunShape shape;
  shape.batch = 2;
  shape.seq_len = 5;
  shape.grad_checkpoint = checkpoint;
  auto m = Model::create(c, shape);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  Model& model = **m;
  model.init_weights(42);
  const int N = shape.batch * shape.seq_len;
  const auto in = tokens(N, c.vocab_size, 1), tgt = tokens(N, c.vocab_size, 2);
  model.zero_grad();
  model.forward(in.data(), tgt.data());
  model.backward(1.0f);
  auto loss = [&] { return static_cast<double>(model.forward(in.data(), tgt.data())); };
  trainer_test::GradCheckOptions o;
  o.max_checks = 24;
  o.eps = 3e-3f;  // weights are ~0.3 and pass through RMSNorm: larger steps leave the linear regime
  for (const trainer::ParamRef& p : model.params()) {
    std::vector<float> analytic(p.grad, p.grad + p.numel);
    trainer_test::expect_gradient(p.spec->name, p.weight, p.numel, analytic.data(), loss, o);
  }
}

TEST(ModelGrad, UntiedGroupedKvWindow) { check_model_gradients(small_config(false, 0), false); }
TEST(ModelGrad, TiedWithBridges) { check_model_gradients(small_config(true, 6), false); }
TEST(ModelGrad, CheckpointedUntiedWithBridges) { check_model_gradients(small_config(false, 6), true); }

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
  const auto in = tokens(18, c.vocab_size, 3), tgt = tokens(18, c.vocab_size, 4);
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
  const auto in = tokens(10, c.vocab_size, 5), tgt = tokens(10, c.vocab_size, 6);
  EXPECT_NEAR((*m)->forward(in.data(), tgt.data()), std::log(11.0), 0.05);
}

}  // namespace
