// The planner's items for a Jamba-shaped model (trainer/arch/jamba.cpp): each Mamba-1 layer's scan
// state and conv history, the attention layers' KV cache (no RoPE, no window), the dt/B/C norms'
// weights as vectors rather than matrices, and the parameters a token visits when only top_k of the
// experts of the MoE layers run.
#include <gtest/gtest.h>

#include "budget/planner.h"
#include "budget/run_tensors.h"
#include "trainer/model_config.h"

namespace budget {
namespace {

// Jamba's pattern at reduced width: attention every 8th layer from 4, experts every 2nd from 1.
trainer::ModelConfig jamba_like() {
  trainer::ModelConfig c;
  c.name = "jamba-like";
  c.vocab_size = 1000;
  c.d_model = 256;
  for (int i = 0; i < 16; ++i)
    c.blocks.push_back(trainer::BlockSpec{{i % 8 == 4 ? trainer::LayerKind::kAttn : trainer::LayerKind::kSsm,
                                           i % 2 == 1 ? trainer::LayerKind::kMoe : trainer::LayerKind::kMlp}});
  c.attn.n_heads = 4;
  c.attn.n_kv_heads = 2;
  c.attn.rope = false;
  c.mlp.d_ff = 512;
  c.ssm.d_state = 16;
  c.ssm.dt_rank = 16;
  c.ssm.dt_bc_norm = true;
  c.moe.n_experts = 8;
  c.moe.top_k = 2;
  c.moe.d_expert = 512;
  c.moe.shared_expert = false;
  c.moe.renormalize = false;
  return c;
}

TEST(JambaPlan, CountsTheMamba1StateAndTheKvCache) {
  common::Result<InferencePlan> p = plan_inference(jamba_like());
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->n_ssm_layers, 14);
  EXPECT_EQ(p->n_attn_layers, 2);
  EXPECT_EQ(p->ssm_state_bytes, 14ull * 512 * 16 * 4);   // (Di, N) f32 per layer
  EXPECT_EQ(p->conv_state_bytes, 14ull * 512 * 3 * 4);   // Di channels of K-1 tokens
  const uint64_t per_token = 2ull * 2 * 2 * 64 * 2;      // 2 layers x K,V x 2 heads x 64 x f16
  EXPECT_EQ(p->kv_plain_bytes[0], per_token * 1024);
}

TEST(JambaPlan, NormsAreVectorsAndTokensVisitTopKExperts) {
  common::Result<RunTensors> t = list_forward_tensors(jamba_like(), 1, 1);
  ASSERT_TRUE(t.ok()) << t.status().message();
  int norms = 0;
  for (const trainer::TensorSpec& s : t->specs) {
    if (s.role != trainer::TensorRole::kWeight || !s.name.ends_with("_norm.weight") ||
        s.name.find(".ssm.") == std::string::npos)
      continue;
    ++norms;
    EXPECT_FALSE(is_linear_matrix(s)) << s.name;
  }
  EXPECT_EQ(norms, 3 * 14);  // dt, B and C norms of each Mamba layer
  common::Result<ParamBreakdown> b = count_params_by_component(jamba_like());
  ASSERT_TRUE(b.ok()) << b.status().message();
  const int64_t experts = 8ll * 8 * 3 * 512 * 256;  // 8 MoE layers x 8 experts x gate/up/down
  EXPECT_EQ(b->total - b->active_per_token, experts * 6 / 8);
}

}  // namespace
}  // namespace budget
