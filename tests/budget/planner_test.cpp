// The planner: sums the engine's own tensor list for runs the engine lays out; LoRA/QLoRA,
// checkpointing and batch change the items they should; the seed architectures plan at their
// documented sizes; the inference side (KV cache, SSM state) follows the formulas.
#include <algorithm>
#include <gtest/gtest.h>

#include "budget/planner.h"
#include "common/units.h"
#include "trainer/layout.h"

namespace budget {
namespace {

trainer::ModelConfig preset(const std::string& name) {
  common::Result<trainer::ModelConfig> m = trainer::model_preset(name);
  EXPECT_TRUE(m.ok()) << name << ": " << m.status().message();
  return *m;
}

RunConfig run(int seq, int batch, trainer::TrainMode mode = trainer::TrainMode::kFull, bool ckpt = false) {
  RunConfig r;
  r.seq_len = seq;
  r.micro_batch = batch;
  r.mode = mode;
  r.base_precision = default_base_precision(mode);
  r.grad_checkpoint = ckpt;
  r.threads = 2;
  return r;
}

TEST(Planner, FullRunSumsTheEngineTensorList) {
  const trainer::ModelConfig m = preset("gpt-tiny");
  const RunConfig r = run(64, 4);
  common::Result<MemoryPlan> p = plan_training(m, r, 1ull << 40);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->source, LayoutSource::kEngine);
  common::Result<std::vector<trainer::TensorSpec>> engine = trainer::list_run_tensors(m, run_shape(r));
  ASSERT_TRUE(engine.ok());
  const trainer::LayoutTotals totals = trainer::summarize_layout(*engine);
  // The runtime overhead grows with the widest product (OpenBLAS's packing): gpt-tiny's widest
  // linear output (its MLP) or its vocabulary.
  int64_t widest = m.vocab_size;
  for (const trainer::TensorSpec& t : *engine) {
    if (t.linear && t.shape.size() == 2) widest = std::max(widest, t.shape[0]);
  }
  EXPECT_EQ(p->item_bytes("runtime_overhead"), runtime_overhead_bytes(2, widest));
  EXPECT_GT(runtime_overhead_bytes(2, widest), runtime_overhead_bytes(2));
  EXPECT_EQ(p->total_bytes, totals.total_arena_bytes() + runtime_overhead_bytes(2, widest));
  EXPECT_EQ(p->item_bytes("weights"), totals.arena_bytes[int(trainer::TensorRole::kWeight)]);
  EXPECT_EQ(p->item_bytes("activations"), totals.arena_bytes[int(trainer::TensorRole::kActivation)]);
  EXPECT_EQ(p->trainable_params, totals.trainable_params);
  // AdamW: two moments per gradient.
  EXPECT_EQ(p->item_bytes("optimizer_moments"), 2 * p->item_bytes("gradients"));
  EXPECT_EQ(p->item_bytes("frozen_weights"), 0u);
}

TEST(Planner, ActivationsGrowWithBatchAndShrinkWithCheckpointing) {
  const trainer::ModelConfig m = preset("gpt-small");
  common::Result<MemoryPlan> b1 = plan_training(m, run(256, 1), 0);
  common::Result<MemoryPlan> b4 = plan_training(m, run(256, 4), 0);
  common::Result<MemoryPlan> ck = plan_training(m, run(256, 4, trainer::TrainMode::kFull, true), 0);
  ASSERT_TRUE(b1.ok() && b4.ok() && ck.ok());
  EXPECT_NEAR(double(b4->item_bytes("activations")) / b1->item_bytes("activations"), 4.0, 0.05);
  EXPECT_LT(ck->item_bytes("activations"), b4->item_bytes("activations") / 2);
  EXPECT_EQ(ck->item_bytes("weights"), b4->item_bytes("weights"));
  EXPECT_FALSE(b1->fits());
  EXPECT_LT(b1->margin_bytes(), 0);
}

TEST(Planner, LoraAndQloraFreezeTheBase) {
  const trainer::ModelConfig m = preset("gpt-small");
  common::Result<MemoryPlan> full = plan_training(m, run(128, 2), 0);
  common::Result<MemoryPlan> lora = plan_training(m, run(128, 2, trainer::TrainMode::kLora), 0);
  common::Result<MemoryPlan> qlora = plan_training(m, run(128, 2, trainer::TrainMode::kQlora), 0);
  ASSERT_TRUE(full.ok() && lora.ok() && qlora.ok()) << lora.status().message() << qlora.status().message();
  // The frozen base: f32 for lora, NF4 (~4.5 bits for the matrices) for qlora.
  EXPECT_EQ(lora->item_bytes("frozen_weights"), full->item_bytes("weights"));
  EXPECT_LT(qlora->item_bytes("frozen_weights"), full->item_bytes("weights") / 5);
  // Adapters only: rank 16 on q,k,v,o,gate,up,down of 6 blocks of width 384 (MLP 1536).
  const int64_t r = 16, D = 384, F = 1536;
  const int64_t per_block = 4 * r * (D + D) + 2 * r * (D + F) + r * (F + D);
  EXPECT_EQ(lora->trainable_params, 6 * per_block);
  EXPECT_EQ(lora->frozen_params, full->trainable_params);
  EXPECT_EQ(lora->item_bytes("optimizer_moments"), 2 * lora->item_bytes("gradients"));
  EXPECT_LT(lora->item_bytes("gradients"), full->item_bytes("gradients") / 10);
  EXPECT_LT(qlora->total_bytes, lora->total_bytes);
  EXPECT_LT(lora->total_bytes, full->total_bytes);
}

TEST(Planner, AMappedBaseIsResidentUnlessStreamed) {
  const trainer::ModelConfig m = preset("gpt-tiny");
  RunConfig r = run(64, 4, trainer::TrainMode::kLora);
  r.mapped_base = true;
  r.mapped_base_bytes = 300ull << 20;
  common::Result<MemoryPlan> resident = plan_training(m, r, 1ull << 40);
  ASSERT_TRUE(resident.ok()) << resident.status().message();
  r.stream_base = true;
  common::Result<MemoryPlan> streamed = plan_training(m, r, 1ull << 40);
  ASSERT_TRUE(streamed.ok()) << streamed.status().message();
  // The same run, its base counted resident or listed apart: the difference is exactly the base.
  EXPECT_EQ(resident->streamed_base_bytes, 0u);
  EXPECT_EQ(streamed->streamed_base_bytes, 300ull << 20);
  EXPECT_EQ(resident->total_bytes - streamed->total_bytes, 300ull << 20);
  EXPECT_EQ(resident->item_bytes("frozen_weights") - streamed->item_bytes("frozen_weights"), 300ull << 20);
  // The RunShape the trainer builds carries the choice both ways.
  const trainer::RunShape shape = run_shape(r);
  EXPECT_TRUE(shape.lora.stream_base);
  EXPECT_TRUE(run_config_of(shape, Optimizer::kAdamW).stream_base);
}

TEST(Planner, SgdHasNoMoments) {
  RunConfig r = run(64, 1);
  r.optimizer = Optimizer::kSgd;
  common::Result<MemoryPlan> p = plan_training(preset("gpt-tiny"), r, 0);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->item_bytes("optimizer_moments"), 0u);
  EXPECT_GT(p->item_bytes("gradients"), 0u);
}

TEST(Planner, RejectsAbsurdRuns) {
  for (RunConfig r : {run(0, 1), run(64, -1), run(kMaxSeqLen + 1, 1), run(64, kMaxMicroBatch + 1)}) {
    common::Result<MemoryPlan> p = plan_training(preset("gpt-tiny"), r, 0);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.status().code(), common::StatusCode::kInvalidArgument);
  }
  RunConfig q = run(64, 1, trainer::TrainMode::kQlora);
  q.lora_rank = 0;
  EXPECT_FALSE(plan_training(preset("gpt-tiny"), q, 0).ok());
  q.lora_rank = 8;
  q.lora_targets = {"qq"};
  EXPECT_NE(plan_training(preset("gpt-tiny"), q, 0).status().message().find("unknown LoRA target"), std::string::npos);
}

TEST(SeedPresets, ParameterCountsMatchTheirDocumentation) {
  struct Case {
    const char* name;
    double total_b, active_b;
  };
  for (const Case& c : {Case{"bit-axon-3b", 5.806, 2.786}, Case{"magellano-3b", 3.048, 1.434},
                        Case{"magellano-1b", 1.168, 0}, Case{"magellano-150m", 0.161, 0},
                        Case{"mamba-moe-300m", 0.313, 0}}) {
    common::Result<ParamBreakdown> b = count_params_by_component(preset(c.name));
    ASSERT_TRUE(b.ok()) << c.name << ": " << b.status().message();
    EXPECT_NEAR(b->total / 1e9, c.total_b, 0.002) << c.name;
    if (c.active_b > 0) {
      EXPECT_NEAR(b->active_per_token / 1e9, c.active_b, 0.002) << c.name;
    }
    int64_t sum = 0;
    for (const auto& comp : b->components) sum += comp.second;
    EXPECT_EQ(sum, b->total);
  }
}

TEST(SeedPresets, BitAxonShape) {
  const trainer::ModelConfig m = preset("bit-axon-3b");
  EXPECT_EQ(m.blocks.size(), 24u);
  EXPECT_EQ(m.n_layers_of(trainer::LayerKind::kSsm), 16);
  EXPECT_EQ(m.n_layers_of(trainer::LayerKind::kAttn), 8);
  EXPECT_EQ(m.n_layers_of(trainer::LayerKind::kMoe), 16);
  EXPECT_EQ(m.embed_dim(), 2048);
  EXPECT_EQ(m.d_model, 2560);
  EXPECT_EQ(m.head_dim(), 80);
  EXPECT_EQ(m.inner_dim(), 3 * 2560);
  const trainer::ModelConfig g = preset("magellano-3b");
  EXPECT_EQ(g.blocks.size(), 39u);
  EXPECT_EQ(g.n_layers_of(trainer::LayerKind::kSsm), 30);
  EXPECT_EQ(g.n_layers_of(trainer::LayerKind::kMoe), 9);
  EXPECT_EQ(g.vocab_size, 50257);
  EXPECT_EQ(preset("mamba-moe-300m").blocks.size(), 24u);
}

TEST(SeedPresets, PlanWithoutAllocating) {
  // A QLoRA plan of a 5.8B-parameter model is just a list: it must come back quickly and sensibly.
  common::Result<MemoryPlan> p = plan_training(preset("bit-axon-3b"), run(512, 1, trainer::TrainMode::kQlora), 0);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_GT(p->frozen_params, 5'000'000'000);
  // NF4 matrices with double-quantized scales (~4.13 bits) plus the f32 embedding (not a Linear).
  EXPECT_NEAR(double(p->item_bytes("frozen_weights")) / common::kGiB, 3.05, 0.01);
}

TEST(Inference, KvCacheFollowsTheWindowAndCompression) {
  common::Result<InferencePlan> p = plan_inference(preset("bit-axon-3b"));
  ASSERT_TRUE(p.ok()) << p.status().message();
  // 8 attention layers x 2 (K, V) x 32 heads x 80 x f16, window 4096.
  const uint64_t per_token = 8ull * 2 * 32 * 80 * 2;
  EXPECT_EQ(p->kv_plain_bytes[0], per_token * 1024);
  EXPECT_EQ(p->kv_plain_bytes[1], per_token * 4096);
  EXPECT_EQ(p->kv_plain_bytes[4], per_token * 4096);  // capped by the window
  EXPECT_NEAR(double(p->kv_3bit_bytes[1]) / p->kv_plain_bytes[1], 3.5 / 16, 0.001);
  // 16 ssm layers: state (7680 x 16) and conv history (3 x 7680), f32.
  EXPECT_EQ(p->ssm_state_bytes, 16ull * 7680 * 16 * 4);
  EXPECT_EQ(p->conv_state_bytes, 16ull * 7680 * 3 * 4);
  EXPECT_LT(p->weights_for(Precision::kNF4), p->weights_for(Precision::kQ8));
  EXPECT_LT(p->weights_for(Precision::kTernary), p->weights_for(Precision::kQ4));
  EXPECT_GT(p->total_bytes(Precision::kF16, 1), p->total_bytes(Precision::kF16, 0));

  common::Result<InferencePlan> ssm_only = plan_inference(preset("magellano-3b"));
  ASSERT_TRUE(ssm_only.ok());
  EXPECT_EQ(ssm_only->kv_plain_bytes[4], 0u);
  EXPECT_GT(ssm_only->ssm_state_bytes, 0u);

  common::Result<InferencePlan> gpt = plan_inference(preset("gpt-tiny"));
  ASSERT_TRUE(gpt.ok());
  EXPECT_EQ(gpt->kv_plain_bytes[2], 4ull * 2 * 128 * 2 * 16384);  // no window: grows with context
}

}  // namespace
}  // namespace budget
