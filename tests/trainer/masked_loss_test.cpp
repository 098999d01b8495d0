// Loss masking (targets < 0 carry no loss) and packed rows through the model and the Trainer: the
// loss is the mean over trained targets; a batch with none trains nothing (loss 0, zero gradient);
// finite-difference gradients with positions and masked targets (attention with grouped KV heads and
// a window, SSM); a step with accumulation is the mean over all of its trained tokens; evaluation
// uses the same rule; packed sources reach the model through the Trainer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "trainer/grad_check.h"
#include "trainer/model.h"
#include "trainer/packed_source.h"
#include "trainer/run_shape.h"
#include "trainer/trainer.h"

namespace {

using trainer::kIgnoreTarget;
using trainer::LayerKind;
using trainer::Model;
using trainer::ModelConfig;

ModelConfig attn_config() {
  ModelConfig c;
  c.name = "mask-attn";
  c.vocab_size = 11;
  c.d_model = 8;
  c.init_std = 0.3f;
  c.blocks = {{{LayerKind::kAttn, LayerKind::kMlp}}, {{LayerKind::kAttn, LayerKind::kMlp}}};
  c.attn.n_heads = 2;
  c.attn.n_kv_heads = 1;
  c.attn.window = 4;
  c.mlp.d_ff = 12;
  return c;
}

ModelConfig ssm_moe_config() {
  ModelConfig c;
  c.name = "mask-ssm";
  c.vocab_size = 11;
  c.d_model = 8;
  c.init_std = 0.3f;
  c.blocks = {{{LayerKind::kSsm}}, {{LayerKind::kSsm, LayerKind::kMoe}}};
  c.ssm.expand = 2;
  c.ssm.d_state = 4;
  c.ssm.d_conv = 3;
  c.moe.n_experts = 3;
  c.moe.top_k = 2;
  c.moe.d_expert = 6;
  c.moe.aux_loss_weight = 0.01f;
  return c;
}

std::unique_ptr<Model> make_model(const ModelConfig& c, int B, int T, uint64_t seed) {
  auto m = Model::create(c, trainer_test::run_shape(B, T));
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  if (!m.ok()) return nullptr;
  (*m)->init_weights(seed);
  return std::move(*m);
}

// Two rows of 7: documents 3 + 4 and 2 (continuing one at position 5) + 5; every third target masked.
struct Batch {
  std::vector<int32_t> inputs, targets, positions;
};
Batch small_batch(int V) {
  Batch b;
  trainer::Rng rng(17);
  for (int i = 0; i < 14; ++i) {
    b.inputs.push_back(static_cast<int32_t>(rng.below(V)));
    b.targets.push_back(i % 3 == 1 ? kIgnoreTarget : static_cast<int32_t>(rng.below(V)));
  }
  b.positions = {0, 1, 2, 0, 1, 2, 3, 5, 6, 0, 1, 2, 3, 4};
  return b;
}

// The cross-entropy of the last forward over the trained targets, in double from the logits.
double trained_ce_sum(const Model& m, const int32_t* targets, int N, int* trained) {
  const int V = m.config().vocab_size;
  double ce = 0.0;
  *trained = 0;
  for (int n = 0; n < N; ++n) {
    if (targets[n] < 0) continue;
    const float* z = m.logits() + static_cast<int64_t>(n) * V;
    const double mx = *std::max_element(z, z + V);
    double sum = 0.0;
    for (int v = 0; v < V; ++v) sum += std::exp(static_cast<double>(z[v]) - mx);
    ce += mx + std::log(sum) - z[targets[n]];
    ++*trained;
  }
  return ce;
}

TEST(MaskedLoss, IsTheMeanOverTrainedTargets) {
  for (const ModelConfig& c : {attn_config(), ssm_moe_config()}) {
    auto m = make_model(c, 2, 7, 3);
    ASSERT_TRUE(m);
    const Batch b = small_batch(c.vocab_size);
    const float loss = m->forward(b.inputs.data(), b.targets.data(), b.positions.data());
    int trained = 0;
    const double ce = trained_ce_sum(*m, b.targets.data(), 14, &trained);
    EXPECT_EQ(trained, 9);
    EXPECT_EQ(m->last_trained_tokens(), trained);
    EXPECT_NEAR(m->last_ce_loss(), ce / trained, 1e-5 * ce / trained) << c.name;
    EXPECT_NEAR(m->last_ce_sum(), ce, 1e-5 * ce) << c.name;
    EXPECT_NEAR(loss, m->last_ce_loss() + m->aux_loss_weight() * m->last_aux_loss(), 1e-6) << c.name;
    // Changing a masked target changes nothing.
    std::vector<int32_t> other = b.targets;
    other[1] = kIgnoreTarget - 5;
    EXPECT_EQ(m->forward(b.inputs.data(), other.data(), b.positions.data()), loss) << c.name;
  }
}

TEST(MaskedLoss, AllMaskedGivesZeroLossAndZeroGradient) {
  ModelConfig c = attn_config();
  auto m = make_model(c, 2, 7, 3);
  ASSERT_TRUE(m);
  const Batch b = small_batch(c.vocab_size);
  const std::vector<int32_t> none(14, kIgnoreTarget);
  m->zero_grad();
  EXPECT_EQ(m->forward(b.inputs.data(), none.data(), b.positions.data()), 0.0f);
  EXPECT_EQ(m->last_trained_tokens(), 0);
  m->backward(1.0f);
  for (const trainer::ParamRef& p : m->params())
    for (int64_t i = 0; i < p.numel; ++i) ASSERT_EQ(p.grad[i], 0.0f) << p.spec->name << "[" << i << "]";
}

// Finite differences of the masked, packed loss (in double from the logits, plus the aux term).
void check_masked_packed_gradients(const ModelConfig& c) {
  auto m = make_model(c, 2, 7, 42);
  ASSERT_TRUE(m);
  const Batch b = small_batch(c.vocab_size);
  m->zero_grad();
  m->forward(b.inputs.data(), b.targets.data(), b.positions.data());
  m->backward(1.0f);
  auto loss = [&] {
    m->forward(b.inputs.data(), b.targets.data(), b.positions.data());
    int trained = 0;
    const double ce = trained_ce_sum(*m, b.targets.data(), 14, &trained);
    return ce / trained + static_cast<double>(m->aux_loss_weight()) * m->last_aux_loss();
  };
  trainer_test::GradCheckOptions o;
  o.max_checks = 24;
  o.eps = 4e-2f;
  // Some SSM tensors' gradients (A_log, dt_proj, x_proj: ~1e-7 here) are below what the fp32
  // logits resolve, with or without packing; those are listed, not failed, and the packed scan's
  // and conv's gradients of every tensor equal the document-by-document ones (packing_test.cpp).
  // Every other tensor must match, the conv weights among them.
  int resolved = 0, conv_resolved = 0;
  std::string unresolved;
  for (const trainer::ParamRef& p : m->params()) {
    std::vector<float> analytic(p.grad, p.grad + p.numel);
    const auto r = trainer_test::check_gradient(c.name + " " + p.spec->name, p.weight, p.numel, analytic.data(), loss, o);
    const bool cannot_resolve = !r.ok() && r.failures[0].find("cannot resolve") != std::string::npos;
    if (cannot_resolve && c.has_layer(LayerKind::kSsm)) {
      unresolved += " " + p.spec->name;
      continue;
    }
    for (const std::string& f : r.failures) ADD_FAILURE() << f;
    ++resolved;
    if (p.spec->name.ends_with("conv.weight")) ++conv_resolved;
  }
  if (!unresolved.empty()) std::printf("finite differences could not resolve:%s\n", unresolved.c_str());
  EXPECT_GE(resolved, static_cast<int>(m->params().size()) * 2 / 3) << "unresolved:" << unresolved;
  if (c.has_layer(LayerKind::kSsm)) {
    EXPECT_EQ(conv_resolved, 2) << "unresolved:" << unresolved;
  }
}

TEST(MaskedLoss, PackedAttentionGradMatchesFiniteDifferences) { check_masked_packed_gradients(attn_config()); }
// Without the MoE: its top-k routing is not differentiable where a perturbation flips an expert
// (hybrid_model_test.cpp handles that; routing is per token, so packing does not touch it).
TEST(MaskedLoss, PackedSsmGradMatchesFiniteDifferences) {
  ModelConfig c = ssm_moe_config();
  c.blocks = {{{LayerKind::kSsm}}, {{LayerKind::kSsm, LayerKind::kMlp}}};
  c.mlp.d_ff = 12;
  check_masked_packed_gradients(c);
}

// ---- the Trainer ----

ModelConfig trainer_config() {
  ModelConfig c = attn_config();
  c.vocab_size = 16;
  c.d_model = 16;
  c.blocks.push_back({{LayerKind::kSsm}});
  return c;
}

// With uneven masks, B=2 with two accumulated micro-batches gives the step B=4 gives: the mean over
// all the step's trained tokens (a mean of the micro-batches' means would differ).
TEST(MaskedLoss, PackedAccumulationHasTheSameGradientsAsALargerBatch) {
  const int T = 12;
  trainer_test::PackedSource big(16, 4, T, 9, 2, 7, 3), small(16, 2, T, 9, 2, 7, 3);
  trainer::TrainOptions o;
  o.steps = 2;
  o.warmup = 0;
  o.lr = 1e-2f;
  o.grad_clip = 0.0f;
  trainer::TrainOptions oa = o;
  oa.accum = 2;
  auto a = trainer::Trainer::create(trainer_config(), trainer_test::run_shape(4, T), o, &big, nullptr);
  auto b = trainer::Trainer::create(trainer_config(), trainer_test::run_shape(2, T), oa, &small, nullptr);
  ASSERT_TRUE(a.ok() && b.ok()) << a.status().to_string() << b.status().to_string();
  for (int s = 0; s < 2; ++s) {
    auto sa = (*a)->step();
    auto sb = (*b)->step();
    ASSERT_TRUE(sa.ok() && sb.ok());
    EXPECT_EQ(sa->tokens, 4 * T);
    EXPECT_EQ(sb->tokens, 4 * T);
    EXPECT_GT(sa->trained_tokens, 0);
    EXPECT_LT(sa->trained_tokens, sa->tokens);
    EXPECT_EQ(sa->trained_tokens, sb->trained_tokens);
    EXPECT_NEAR(sa->ce_loss, sb->ce_loss, 1e-5);
    EXPECT_NEAR(sa->grad_norm, sb->grad_norm, 1e-4 * sa->grad_norm);
    // The gradients of the step are left in place by the update.
    const auto& pa = (*a)->model().params();
    const auto& pb = (*b)->model().params();
    for (size_t i = 0; i < pa.size(); ++i) {
      double scale = 0.0;
      for (int64_t j = 0; j < pa[i].numel; ++j) scale = std::max(scale, double(std::fabs(pa[i].grad[j])));
      for (int64_t j = 0; j < pa[i].numel; ++j)
        ASSERT_NEAR(pa[i].grad[j], pb[i].grad[j], 1e-5 * scale + 1e-9) << pa[i].spec->name << " step " << s;
    }
  }
}

// The Trainer draws packed sources with next_packed and hands the positions to the model: its step
// loss is the model's loss on the same packed batch, not the unpacked one.
TEST(MaskedLoss, TrainerGivesPackedPositionsToTheModel) {
  const int B = 2, T = 12;
  trainer_test::PackedSource src(16, B, T, 5);
  trainer::TrainOptions o;
  o.steps = 1;
  o.warmup = 0;
  auto t = trainer::Trainer::create(trainer_config(), trainer_test::run_shape(B, T), o, &src, nullptr);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  auto ref = make_model(trainer_config(), B, T, o.seed);
  ASSERT_TRUE(ref);
  trainer_test::PackedSource copy(16, B, T, 5);
  std::vector<int32_t> in(B * T), tgt(B * T), pos(B * T);
  copy.next_packed(in.data(), tgt.data(), pos.data());
  const float packed = ref->forward(in.data(), tgt.data(), pos.data());
  const int64_t trained = ref->last_trained_tokens();
  const float unpacked = ref->forward(in.data(), tgt.data());
  ASSERT_GT(std::fabs(packed - unpacked), 1e-4) << "the test batch does not tell packed from unpacked";
  auto s = (*t)->step();
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_NEAR(s->ce_loss, packed, 1e-6);
  EXPECT_EQ(s->trained_tokens, trained);
}

// A step of nothing but masked targets trains nothing and stays finite.
TEST(MaskedLoss, AStepWithNoTrainedTokenIsFinite) {
  const int B = 2, T = 8;
  trainer_test::PackedSource src(16, B, T, 5, 3, 9, 2, /*all_masked=*/true);
  trainer::TrainOptions o;
  o.steps = 2;
  o.accum = 2;
  o.warmup = 0;
  o.weight_decay = 0.0f;
  auto t = trainer::Trainer::create(trainer_config(), trainer_test::run_shape(B, T), o, &src, nullptr);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  std::vector<float> before((*t)->model().params()[0].weight, (*t)->model().params()[0].weight + 16);
  auto s = (*t)->step();
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(s->trained_tokens, 0);
  EXPECT_EQ(s->ce_loss, 0.0f);
  EXPECT_EQ(s->grad_norm, 0.0f);
  for (int i = 0; i < 16; ++i) EXPECT_EQ((*t)->model().params()[0].weight[i], before[i]);
}

// Validation: the mean over all trained targets of the batches, with their positions.
TEST(MaskedLoss, EvaluationIsTheMeanOverTrainedTargets) {
  const int B = 2, T = 12;
  trainer_test::PackedSource train(16, B, T, 5), val(16, B, T, 77);
  val.set_batches_per_pass(3);
  trainer::TrainOptions o;
  o.steps = 1;
  auto t = trainer::Trainer::create(trainer_config(), trainer_test::run_shape(B, T), o, &train, &val);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  auto e = (*t)->evaluate(5);
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  EXPECT_EQ(e->batches, 3);
  auto ref = make_model(trainer_config(), B, T, o.seed);
  ASSERT_TRUE(ref);
  trainer_test::PackedSource copy(16, B, T, 77);
  std::vector<int32_t> in(B * T), tgt(B * T), pos(B * T);
  double sum = 0.0;
  int64_t trained = 0;
  for (int i = 0; i < 3; ++i) {
    copy.next_packed(in.data(), tgt.data(), pos.data());
    ref->forward(in.data(), tgt.data(), pos.data());
    sum += ref->last_ce_sum();
    trained += ref->last_trained_tokens();
  }
  EXPECT_EQ(e->trained_tokens, trained);
  EXPECT_NEAR(e->val_loss, sum / trained, 1e-6);
}

}  // namespace
