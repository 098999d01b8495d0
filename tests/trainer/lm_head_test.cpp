// The LM head fused with its cross-entropy (trainer/lm_head.h, RunShape::head_chunk): the same loss
// and the same gradient of every weight as the model that keeps the whole logits — for chunks that
// do and do not divide the batch, masked targets, a tied or untied head, bridges, lora (frozen head),
// gradient checkpointing and accumulation — finite differences of the fused model's own loss, a
// deliberately wrong gradient caught, and a layout that holds (chunk, V) logits, never (B, T, V).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "trainer/grad_check.h"
#include "trainer/layout.h"
#include "trainer/lm_head.h"
#include "trainer/model.h"
#include "trainer/run_shape.h"
#include "trainer/trainer.h"

namespace {

using trainer::kIgnoreTarget;
using trainer::LayerKind;
using trainer::Model;
using trainer::ModelConfig;
using trainer::RunShape;

ModelConfig attn_config(bool tied, int d_embed) {
  ModelConfig c;
  c.name = "head";
  c.vocab_size = 37;
  c.d_model = 8;
  c.d_embed = d_embed;
  c.tied_embedding = tied;
  c.init_std = 0.3f;
  c.blocks = {{{LayerKind::kAttn, LayerKind::kMlp}}, {{LayerKind::kAttn, LayerKind::kMlp}}};
  c.attn.n_heads = 2;
  c.attn.n_kv_heads = 1;
  c.mlp.d_ff = 12;
  return c;
}

struct Batch {
  std::vector<int32_t> inputs, targets;
  int trained = 0;
};

// B*T tokens; every `mask_every`-th target (0: none) is not trained.
Batch make_batch(int N, int V, int mask_every, uint64_t seed) {
  trainer::Rng rng(seed);
  Batch b;
  for (int n = 0; n < N; ++n) {
    b.inputs.push_back(static_cast<int32_t>(rng.below(V)));
    const bool masked = mask_every > 0 && n % mask_every == 1;
    b.targets.push_back(masked ? kIgnoreTarget : static_cast<int32_t>(rng.below(V)));
    b.trained += masked ? 0 : 1;
  }
  return b;
}

std::unique_ptr<Model> make_model(const ModelConfig& c, RunShape shape, uint64_t seed) {
  auto m = Model::create(c, shape);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  if (!m.ok()) return nullptr;
  (*m)->init_weights(seed);
  return std::move(*m);
}

// Two micro-batches accumulated as the Trainer does; returns the summed cross-entropy.
double accumulate(Model& m, const std::vector<Batch>& batches, bool fused_api) {
  int step_trained = 0;
  for (const Batch& b : batches) step_trained += b.trained;
  const float scale = 1.0f / static_cast<float>(step_trained);
  m.zero_grad();
  double ce = 0.0;
  for (const Batch& b : batches) {
    if (fused_api) {
      m.forward_train(b.inputs.data(), b.targets.data(), nullptr, scale);
    } else {
      m.forward(b.inputs.data(), b.targets.data());
    }
    ce += m.last_ce_sum();
    m.backward_scaled(scale, 0.5f);
  }
  return ce;
}

void expect_same_gradients(const Model& whole, const Model& fused, const std::string& what) {
  ASSERT_EQ(whole.params().size(), fused.params().size());
  for (size_t i = 0; i < whole.params().size(); ++i) {
    const trainer::ParamRef& a = whole.params()[i];
    const trainer::ParamRef& b = fused.params()[i];
    ASSERT_EQ(a.spec->name, b.spec->name);
    double diff = 0.0, norm = 0.0;
    for (int64_t j = 0; j < a.numel; ++j) {
      diff += (double(a.grad[j]) - b.grad[j]) * (double(a.grad[j]) - b.grad[j]);
      norm += double(a.grad[j]) * a.grad[j];
    }
    EXPECT_LE(std::sqrt(diff), 1e-5 * std::sqrt(norm) + 1e-12) << what << ": " << a.spec->name;
  }
}

struct Case {
  std::string name;
  ModelConfig config;
  trainer::TrainMode mode = trainer::TrainMode::kFull;
  bool checkpoint = false;
};

std::vector<Case> cases() {
  std::vector<Case> out{{"tied", attn_config(true, 0)},
                        {"untied", attn_config(false, 0)},
                        {"bridges", attn_config(false, 12)},
                        {"lora", attn_config(false, 0), trainer::TrainMode::kLora},
                        {"checkpointed", attn_config(true, 0), trainer::TrainMode::kFull, true}};
  return out;
}

RunShape shape_for(const Case& k, int B, int T, int head_chunk) {
  RunShape s = trainer_test::run_shape(B, T);
  s.grad_checkpoint = k.checkpoint;
  s.mode = k.mode;
  if (k.mode != trainer::TrainMode::kFull) s.lora_rank = 2;
  s.head_chunk = head_chunk;
  return s;
}

TEST(LmHead, FusedGivesTheLossAndGradientsOfTheWholeLogits) {
  const int B = 2, T = 9, N = B * T;
  for (const Case& k : cases()) {
    const std::vector<Batch> batches{make_batch(N, k.config.vocab_size, 3, 5),
                                     make_batch(N, k.config.vocab_size, 4, 6)};
    auto whole = make_model(k.config, shape_for(k, B, T, 0), 9);
    ASSERT_TRUE(whole);
    const double ce_whole = accumulate(*whole, batches, false);
    for (int chunk : {1, 4, 7, N, 64, trainer::kHeadChunkAuto}) {
      const std::string what = k.name + " chunk " + std::to_string(chunk);
      auto fused = make_model(k.config, shape_for(k, B, T, chunk), 9);
      ASSERT_TRUE(fused);
      const double ce_fused = accumulate(*fused, batches, true);
      EXPECT_NEAR(ce_fused, ce_whole, 1e-5 * ce_whole) << what;
      EXPECT_EQ(fused->logits(), nullptr) << what;
      expect_same_gradients(*whole, *fused, what);
      // A loss-only forward (evaluation) gives the same loss and leaves the gradients alone.
      const std::vector<float> before(fused->params()[0].grad, fused->params()[0].grad + fused->params()[0].numel);
      fused->forward(batches[0].inputs.data(), batches[0].targets.data());
      whole->forward(batches[0].inputs.data(), batches[0].targets.data());
      EXPECT_NEAR(fused->last_ce_sum(), whole->last_ce_sum(), 1e-5 * whole->last_ce_sum()) << what;
      EXPECT_EQ(fused->last_trained_tokens(), batches[0].trained) << what;
      EXPECT_TRUE(std::equal(before.begin(), before.end(), fused->params()[0].grad)) << what;
    }
  }
}

TEST(LmHead, NothingTrainedIsZeroLossAndZeroGradient) {
  const Case k = cases()[1];
  auto m = make_model(k.config, shape_for(k, 2, 5, 3), 2);
  ASSERT_TRUE(m);
  Batch b = make_batch(10, k.config.vocab_size, 0, 3);
  std::fill(b.targets.begin(), b.targets.end(), kIgnoreTarget);
  m->zero_grad();
  EXPECT_EQ(m->forward_train(b.inputs.data(), b.targets.data(), nullptr, 0.0f), 0.0f);
  m->backward_scaled(0.0f, 1.0f);
  for (const trainer::ParamRef& p : m->params()) {
    for (int64_t j = 0; j < p.numel; ++j) ASSERT_EQ(p.grad[j], 0.0f) << p.spec->name;
  }
}

// The fused model's loss is a function of its weights alone; its analytic gradient must match
// central differences of that loss. A gradient scaled by 1.02 must fail the same check.
TEST(LmHead, FusedGradientMatchesFiniteDifferences) {
  const int B = 2, T = 6, N = B * T;
  const Case k = cases()[2];  // bridges: every head-side weight is in play
  auto m = make_model(k.config, shape_for(k, B, T, 5), 4);
  ASSERT_TRUE(m);
  const Batch b = make_batch(N, k.config.vocab_size, 3, 8);
  const float scale = 1.0f / static_cast<float>(b.trained);
  m->zero_grad();
  m->forward_train(b.inputs.data(), b.targets.data(), nullptr, scale);
  m->backward_scaled(scale, 1.0f);
  auto loss = [&] {
    m->forward(b.inputs.data(), b.targets.data());
    return m->last_ce_sum() / b.trained;
  };
  for (const trainer::ParamRef& p : m->params()) {
    const std::string& n = p.spec->name;
    if (n != "lm_head.weight" && n != "bridge_out.weight" && n != "final_norm.weight" && n != "embed.weight" &&
        n != "blocks.1.mlp.down.weight") {
      continue;
    }
    const std::vector<float> analytic(p.grad, p.grad + p.numel);
    trainer_test::expect_gradient(n, p.weight, static_cast<size_t>(p.numel), analytic.data(), loss);
    if (n == "lm_head.weight") {
      std::vector<float> wrong = analytic;
      for (float& g : wrong) g *= 1.02f;
      const trainer_test::GradCheckReport r =
          trainer_test::check_gradient(n, p.weight, static_cast<size_t>(p.numel), wrong.data(), loss);
      EXPECT_FALSE(r.ok()) << "a head gradient 2% too large passed the check";
    }
  }
}

TEST(LmHead, LayoutHoldsAChunkOfLogitsNeverTheWholeBatch) {
  ModelConfig c = attn_config(false, 0);
  c.vocab_size = 50257;
  RunShape s = trainer_test::run_shape(2, 256);
  s.head_chunk = trainer::kHeadChunkAuto;
  const int C = trainer::head_chunk_rows(s, c.vocab_size);
  EXPECT_EQ(C, 320);  // 64 MiB / (4 * 50257) = 333 rows, down to a multiple of 64
  auto specs = trainer::list_run_tensors(c, s);
  ASSERT_TRUE(specs.ok()) << specs.status().to_string();
  bool saw_logits = false;
  for (const trainer::TensorSpec& t : *specs) {
    EXPECT_FALSE(t.numel() >= int64_t{2} * 256 * 50257) << t.name << " holds a (B, T, V) tensor";
    if (t.name == "act.logits") {
      saw_logits = true;
      EXPECT_EQ(t.shape, (std::vector<int64_t>{C, 50257}));
    }
  }
  EXPECT_TRUE(saw_logits);
  // Small vocabularies: at least 128 rows, never more than B*T; an explicit chunk is taken as given.
  EXPECT_EQ(trainer::head_chunk_rows(s, 256), 2 * 256);
  EXPECT_EQ(trainer::head_chunk_rows(s, 151936), 128);
  s.head_chunk = 0;
  EXPECT_EQ(trainer::head_chunk_rows(s, 50257), 0);
  s.head_chunk = 100;
  EXPECT_EQ(trainer::head_chunk_rows(s, 50257), 100);
  s.head_chunk = -2;
  EXPECT_FALSE(trainer::list_run_tensors(c, s).ok());
}

}  // namespace
