// The planner's inference items for a Granite-4.0-H-shaped model (trainer/arch/granite_hybrid.cpp):
// each Mamba-2 layer's scan state and conv history, the attention layers' KV cache growing with the
// context (NoPE attention has no window), as the kinds report them.
#include <gtest/gtest.h>

#include "budget/planner.h"
#include "budget/run_tensors.h"
#include "trainer/model_config.h"

namespace budget {
namespace {

trainer::ModelConfig granite_like() {
  trainer::ModelConfig c;
  c.name = "granite-h-like";
  c.vocab_size = 1000;
  c.d_model = 256;
  const trainer::BlockSpec mamba{{trainer::LayerKind::kMamba2, trainer::LayerKind::kMlp}};
  const trainer::BlockSpec attn{{trainer::LayerKind::kAttn, trainer::LayerKind::kMlp}};
  for (int i = 0; i < 20; ++i) c.blocks.push_back(i % 10 == 9 ? attn : mamba);  // nine Mamba, one attention
  c.attn.n_heads = 4;
  c.attn.n_kv_heads = 2;
  c.attn.rope = false;
  c.attn.score_scale = 0.01f;
  c.mamba2.d_inner = 512;
  c.mamba2.head_dim = 64;
  c.mamba2.d_state = 128;
  c.mamba2.n_groups = 1;
  c.mamba2.d_conv = 4;
  c.embedding_scale = 12.0f;
  c.residual_scale = 0.22f;
  c.logit_scale = 8.0f;
  return c;
}

TEST(GranitePlan, CountsTheMamba2StateAndTheKvCache) {
  const trainer::ModelConfig c = granite_like();
  common::Result<InferencePlan> p = plan_inference(c);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->n_ssm_layers, 18);
  EXPECT_EQ(p->n_attn_layers, 2);
  EXPECT_EQ(p->ssm_state_bytes, 18ull * 512 * 128 * 4);                 // (H·P, N) f32 per layer
  EXPECT_EQ(p->conv_state_bytes, 18ull * (512 + 2 * 1 * 128) * 3 * 4);  // xBC history of K-1 tokens
  const uint64_t per_token = 2ull * 2 * 2 * 64 * 2;                     // 2 layers x K,V x 2 heads x 64 x f16
  EXPECT_EQ(p->kv_plain_bytes[0], per_token * 1024);
  EXPECT_EQ(p->kv_plain_bytes[4], per_token * 65536);
}

// The inference weights in a chosen precision are the matrices: the Mamba-2 projections, not the
// grouped RMSNorm's 2-D scale (f32 in GGUF files, as every norm) nor the conv taps.
TEST(GranitePlan, Mamba2NormAndConvAreNotMatrices) {
  common::Result<RunTensors> t = list_forward_tensors(granite_like(), 1, 1);
  ASSERT_TRUE(t.ok()) << t.status().message();
  int matrices = 0, norms = 0;
  for (const trainer::TensorSpec& s : t->specs) {
    if (s.name.find(".mamba2.") == std::string::npos || s.role != trainer::TensorRole::kWeight) continue;
    if (s.name.ends_with(".norm.weight")) {
      ++norms;
      EXPECT_EQ(s.shape.size(), 2u) << s.name;
      EXPECT_FALSE(is_linear_matrix(s)) << s.name;
    } else if (s.name.ends_with("_proj.weight")) {
      ++matrices;
      EXPECT_TRUE(is_linear_matrix(s)) << s.name;
    } else if (s.name.ends_with(".conv.weight")) {
      EXPECT_FALSE(is_linear_matrix(s)) << s.name;
    }
  }
  EXPECT_EQ(norms, 18);
  EXPECT_EQ(matrices, 2 * 18);
}

}  // namespace
}  // namespace budget
