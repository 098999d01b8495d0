// Step-by-step generation with recurrent state (trainer/generator.h) against the full forward:
// for every prefix of a sequence, the logits of the generator's step equal the model's logits at
// that position — for a hybrid (ssm, sliding-window attn+moe, ssm+moe), a pure ssm model and an
// attention model with bridges and an untied head; reset() starts a fresh sequence.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "trainer/model.h"
#include "trainer/generator.h"

namespace {

using trainer::LayerKind;
using trainer::Model;
using trainer::ModelConfig;
using trainer::RecurrentGenerator;

ModelConfig hybrid() {
  ModelConfig c;
  c.vocab_size = 17;
  c.d_model = 16;
  c.init_std = 0.2f;
  c.blocks = {{{LayerKind::kSsm}}, {{LayerKind::kAttn, LayerKind::kMoe}}, {{LayerKind::kSsm, LayerKind::kMoe}}};
  c.attn.n_heads = 4;
  c.attn.n_kv_heads = 2;
  c.attn.window = 4;  // shorter than the sequence: the KV ring wraps
  c.ssm.d_state = 8;
  c.ssm.d_conv = 4;
  c.moe.n_experts = 4;
  c.moe.top_k = 2;
  c.moe.d_expert = 12;
  c.moe.d_shared = 8;
  return c;
}

ModelConfig mamba() {
  ModelConfig c = hybrid();
  c.blocks = {{{LayerKind::kSsm}}, {{LayerKind::kSsm}}, {{LayerKind::kSsm}}};
  return c;
}

ModelConfig gpt_with_bridges() {
  ModelConfig c = hybrid();
  c.d_embed = 12;
  c.tied_embedding = false;
  c.attn.window = 0;
  c.mlp.d_ff = 20;
  c.blocks = {{{LayerKind::kAttn, LayerKind::kMlp}}, {{LayerKind::kAttn, LayerKind::kMoe}}};
  return c;
}

// Full-forward logits (T, V) of `tokens` and the generator's logits for the same positions.
void expect_generation_matches_forward(const ModelConfig& c) {
  const int T = 11;
  trainer::RunShape shape;
  shape.batch = 1;
  shape.seq_len = T;
  shape.training = false;
  auto m = Model::create(c, shape);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  Model& model = **m;
  model.init_weights(5);
  std::vector<int32_t> tokens(T);
  trainer::Rng rng(9);
  for (int32_t& t : tokens) t = static_cast<int32_t>(rng.below(c.vocab_size));
  model.forward(tokens.data(), nullptr);
  const std::vector<float> full(model.logits(), model.logits() + static_cast<size_t>(T) * c.vocab_size);

  auto lookup = [&](const std::string& name) { return static_cast<const float*>(model.tensors().find(name)); };
  auto gen = RecurrentGenerator::create(c, lookup, T);
  ASSERT_TRUE(gen.ok()) << gen.status().to_string();
  for (int round = 0; round < 2; ++round) {  // the second round checks reset()
    (*gen)->reset();
    double worst = 0.0;
    for (int t = 0; t < T; ++t) {
      const float* logits = (*gen)->step(tokens[t]);
      for (int v = 0; v < c.vocab_size; ++v) {
        const float ref = full[static_cast<size_t>(t) * c.vocab_size + v];
        worst = std::max(worst, static_cast<double>(std::fabs(logits[v] - ref)));
        ASSERT_NEAR(logits[v], ref, 2e-4 * (1.0 + std::fabs(ref))) << "position " << t << " token " << v;
      }
    }
    EXPECT_EQ((*gen)->position(), T);
    EXPECT_LT(worst, 2e-4);
  }
}

TEST(HybridGenerate, HybridMatchesFullForward) { expect_generation_matches_forward(hybrid()); }
TEST(HybridGenerate, MambaMatchesFullForward) { expect_generation_matches_forward(mamba()); }
TEST(HybridGenerate, AttentionWithBridgesMatchesFullForward) { expect_generation_matches_forward(gpt_with_bridges()); }

TEST(HybridGenerate, StateSizeDoesNotGrowWithContextForSsmAndWindows) {
  // Only full-attention layers scale with max_context.
  const ModelConfig c = hybrid();
  auto lookup_zero = [](const std::string&) -> const float* {
    static std::vector<float> zeros(1 << 16, 0.0f);
    return zeros.data();
  };
  auto a = RecurrentGenerator::create(c, lookup_zero, 16);
  auto b = RecurrentGenerator::create(c, lookup_zero, 4096);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*a)->state_bytes(), (*b)->state_bytes());
  // conv (K-1)·Di + scan Di·N per ssm layer, 2·window·Hkv·Dh for the attn layer.
  const size_t Di = 32, ssm = 2 * (3 * Di + Di * 8), attn = 2 * 4 * 2 * 4;
  EXPECT_EQ((*a)->state_bytes(), (ssm + attn) * sizeof(float));
}

TEST(HybridGenerate, MissingWeightIsNamed) {
  auto gen = RecurrentGenerator::create(hybrid(), [](const std::string&) -> const float* { return nullptr; }, 8);
  ASSERT_FALSE(gen.ok());
  EXPECT_NE(gen.status().message().find("embed.weight"), std::string::npos) << gen.status().message();
}

}  // namespace
