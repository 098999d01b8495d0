// Tests for trainer/layout: names and shapes per docs/model.md, roles, parameter counts, the effect of
// gradient checkpointing, and that a Model allocates exactly what the layout lists.
#include <gtest/gtest.h>

#include <map>

#include "trainer/layout.h"
#include "trainer/run_shape.h"
#include "trainer/model.h"

namespace {

using trainer::RunShape;
using trainer::TensorRole;
using trainer::TensorSpec;

std::map<std::string, TensorSpec> by_name(const std::vector<TensorSpec>& specs) {
  std::map<std::string, TensorSpec> m;
  for (const TensorSpec& s : specs) m[s.name] = s;
  return m;
}

TEST(Layout, GptTinyWeightsFollowDocsModelMd) {
  auto c = trainer::model_preset("gpt-tiny");
  ASSERT_TRUE(c.ok());
  RunShape shape = trainer_test::run_shape(12, 64);
  auto specs = trainer::list_run_tensors(*c, shape);
  ASSERT_TRUE(specs.ok()) << specs.status().to_string();
  auto m = by_name(*specs);
  ASSERT_TRUE(m.count("embed.weight"));
  EXPECT_EQ(m["embed.weight"].shape, (std::vector<int64_t>{256, 128}));
  EXPECT_EQ(m["blocks.3.attn.q.weight"].shape, (std::vector<int64_t>{128, 128}));
  EXPECT_EQ(m["blocks.0.mlp.down.weight"].shape, (std::vector<int64_t>{128, 512}));
  EXPECT_EQ(m["blocks.2.attn_norm.weight"].shape, (std::vector<int64_t>{128}));
  EXPECT_FALSE(m["blocks.2.attn_norm.weight"].decay);
  EXPECT_TRUE(m["blocks.2.mlp.up.weight"].decay);
  EXPECT_EQ(m.count("lm_head.weight"), 0u);  // tied
  EXPECT_EQ(m["act.logits"].shape, (std::vector<int64_t>{12, 64, 256}));
  EXPECT_EQ(m["act.blocks.1.attn.probs"].shape, (std::vector<int64_t>{12, 4, 64, 64}));
  EXPECT_EQ(m["act.tokens"].dtype, trainer::DType::kI32);
  // Packed rows: each token's document start and RoPE position, (B, T) int32 like the tokens, so
  // the planner (which sums this list) counts them.
  for (const char* name : {"act.doc_start", "act.rope_pos"}) {
    ASSERT_TRUE(m.count(name)) << name;
    EXPECT_EQ(m[name].dtype, trainer::DType::kI32);
    EXPECT_EQ(m[name].role, TensorRole::kActivation);
    EXPECT_EQ(m[name].bytes, 12u * 64u * 4u);
  }
  // Every trainable weight has a gradient and two moments of the same shape.
  for (const TensorSpec& s : *specs) {
    if (s.role != TensorRole::kWeight) continue;
    for (const char* p : {"grad.", "adam_m.", "adam_v."}) {
      ASSERT_TRUE(m.count(p + s.name)) << p << s.name;
      EXPECT_EQ(m[p + s.name].shape, s.shape);
    }
  }
  auto totals = trainer::summarize_layout(*specs);
  const int64_t per_block = 4 * 128 * 128 + 3 * 128 * 512 + 2 * 128;
  EXPECT_EQ(totals.trainable_params, 256 * 128 + 4 * per_block + 128);
  EXPECT_EQ(totals.bytes[static_cast<int>(TensorRole::kGradient)], totals.trainable_params * 4u);
  EXPECT_EQ(totals.bytes[static_cast<int>(TensorRole::kOptimizerMoment)], totals.trainable_params * 8u);
}

TEST(Layout, CheckpointingKeepsFewerActivations) {
  auto c = trainer::model_preset("gpt-small");
  ASSERT_TRUE(c.ok());
  RunShape plain = trainer_test::run_shape(4, 256);
  RunShape ckpt = plain;
  ckpt.grad_checkpoint = true;
  auto a = trainer::list_run_tensors(*c, plain);
  auto b = trainer::list_run_tensors(*c, ckpt);
  ASSERT_TRUE(a.ok() && b.ok());
  const int act = static_cast<int>(TensorRole::kActivation);
  const uint64_t plain_act = trainer::summarize_layout(*a).bytes[act];
  const uint64_t ckpt_act = trainer::summarize_layout(*b).bytes[act];
  EXPECT_LT(ckpt_act * 2, plain_act);
  auto mb = by_name(*b);
  EXPECT_TRUE(mb.count("act.block_in.0"));
  EXPECT_TRUE(mb.count("act.block_in.6"));
  EXPECT_TRUE(mb.count("act.recompute.attn+mlp.attn.probs"));
  EXPECT_FALSE(mb.count("act.blocks.0.attn.probs"));
}

TEST(Layout, InferenceHasNoGradientsOrMoments) {
  auto c = trainer::model_preset("gpt-tiny");
  ASSERT_TRUE(c.ok());
  RunShape shape = trainer_test::run_shape(1, 32);
  shape.training = false;
  auto specs = trainer::list_run_tensors(*c, shape);
  ASSERT_TRUE(specs.ok());
  auto t = trainer::summarize_layout(*specs);
  EXPECT_EQ(t.count[static_cast<int>(TensorRole::kGradient)], 0);
  EXPECT_EQ(t.count[static_cast<int>(TensorRole::kOptimizerMoment)], 0);
  auto n = trainer::count_parameters(*c);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, t.trainable_params);
}

TEST(Layout, BadShapeIsAnError) {
  auto c = trainer::model_preset("gpt-tiny");
  ASSERT_TRUE(c.ok());
  auto specs = trainer::list_run_tensors(*c, trainer_test::run_shape(0, 64));
  ASSERT_FALSE(specs.ok());
  EXPECT_EQ(specs.status().code(), common::StatusCode::kInvalidArgument);
}

TEST(Layout, ModelAllocatesExactlyTheListedArenas) {
  auto c = trainer::model_preset("gpt-tiny");
  ASSERT_TRUE(c.ok());
  RunShape shape = trainer_test::run_shape(2, 16);
  auto specs = trainer::list_run_tensors(*c, shape);
  auto model = trainer::Model::create(*c, shape);
  ASSERT_TRUE(specs.ok() && model.ok());
  auto totals = trainer::summarize_layout(*specs);
  for (int r = 0; r < trainer::kNumTensorRoles; ++r) {
    EXPECT_EQ((*model)->tensors().arena_bytes(static_cast<TensorRole>(r)), totals.arena_bytes[r]) << r;
  }
  EXPECT_EQ((*model)->tensors().total_bytes(), totals.total_arena_bytes());
}

}  // namespace
