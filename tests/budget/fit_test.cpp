// The fit search and the train-time verdict: limits are tight (the limit fits, the next step does
// not), the recommendation fits and keeps what it can, check_fits explains a refusal.
#include <gtest/gtest.h>

#include "budget/fit.h"
#include "common/units.h"

namespace budget {
namespace {

trainer::ModelConfig preset_config(const std::string& name) { return *trainer::model_preset(name); }

RunConfig base_run(trainer::TrainMode mode, int seq, int batch) {
  RunConfig r;
  r.mode = mode;
  r.base_precision = default_base_precision(mode);
  r.seq_len = seq;
  r.micro_batch = batch;
  r.threads = 2;
  return r;
}

uint64_t total(const trainer::ModelConfig& m, RunConfig r) { return plan_training(m, r, 0)->total_bytes; }

TEST(Fit, LimitsAreTight) {
  const trainer::ModelConfig m = preset_config("gpt-small");
  const RunConfig r = base_run(trainer::TrainMode::kFull, 256, 4);
  const uint64_t avail = 600 * common::kMiB;
  common::Result<FitResult> f = find_fit(m, r, avail);
  ASSERT_TRUE(f.ok()) << f.status().message();
  const int b = f->max_micro_batch.without_checkpoint;
  ASSERT_GT(b, 0);
  RunConfig at = r, over = r;
  at.micro_batch = b;
  over.micro_batch = b + 1;
  EXPECT_LE(total(m, at), avail);
  EXPECT_GT(total(m, over), avail);
  EXPECT_GE(f->max_micro_batch.with_checkpoint, b);  // checkpointing frees activations

  const int s = f->max_seq_len.without_checkpoint;
  ASSERT_GT(s, 0);
  at = r;
  over = r;
  at.seq_len = s;
  over.seq_len = 2 * s;
  EXPECT_LE(total(m, at), avail);
  if (s < kFitMaxSeqLen) {
    EXPECT_GT(total(m, over), avail);
  }
}

TEST(Fit, RecommendationFitsAndPrefersNoCheckpointing) {
  const trainer::ModelConfig m = preset_config("gpt-small");
  common::Result<FitResult> f = find_fit(m, base_run(trainer::TrainMode::kFull, 256, 1), 2 * common::kGiB);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->found);
  EXPECT_TRUE(f->recommended_plan.fits());
  EXPECT_FALSE(f->recommended.grad_checkpoint);
  EXPECT_EQ(f->recommended.seq_len, 256);
  EXPECT_GT(f->recommended.micro_batch, 1);
  EXPECT_LE(f->recommended.micro_batch, kFitUsefulMicroBatch);
}

TEST(Fit, QloraOnTheMacbookAirKeepsRankWithCheckpointing) {
  // bit-axon-3b QLoRA at seq 512 does not fit in ~7.8 GiB without checkpointing; with it, it does.
  const trainer::ModelConfig m = preset_config("bit-axon-3b");
  RunConfig r = base_run(trainer::TrainMode::kQlora, 512, 1);
  r.threads = 10;
  const uint64_t avail = 7984 * common::kMiB;
  common::Result<FitResult> f = find_fit(m, r, avail);
  ASSERT_TRUE(f.ok()) << f.status().message();
  ASSERT_TRUE(f->found) << f->why;
  EXPECT_TRUE(f->recommended_plan.fits());
  EXPECT_EQ(f->recommended.lora_rank, 16);
  EXPECT_EQ(f->recommended.seq_len, 512);
  EXPECT_GT(f->max_lora_rank.with_checkpoint, f->max_lora_rank.without_checkpoint);
}

TEST(Fit, NothingFitsInATinyBudget) {
  common::Result<FitResult> f = find_fit(preset_config("gpt-small"), base_run(trainer::TrainMode::kFull, 256, 1), common::kMiB);
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->found);
  EXPECT_EQ(f->max_seq_len.best(), 0);
  common::Result<MemoryPlan> near = nearest_fit(preset_config("gpt-small"), base_run(trainer::TrainMode::kFull, 256, 1),
                                                common::kMiB);
  EXPECT_EQ(near.status().code(), common::StatusCode::kNotFound);
}

TEST(CheckFits, OkWhenItFits) {
  common::Result<MemoryPlan> p = plan_training(preset_config("gpt-tiny"), base_run(trainer::TrainMode::kFull, 64, 1), 0);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(check_fits(*p, p->total_bytes).ok());
}

TEST(CheckFits, RefusalItemizesAndProposesASmallerMicroBatch) {
  const trainer::ModelConfig m = preset_config("gpt-small");
  common::Result<MemoryPlan> p = plan_training(m, base_run(trainer::TrainMode::kFull, 256, 16), 0);
  ASSERT_TRUE(p.ok());
  // Enough for micro-batch 4 but not 16: the nearest fit keeps everything else and accumulates.
  RunConfig four = p->run;
  four.micro_batch = 4;
  const uint64_t avail = total(m, four) + 1;
  common::Status s = check_fits(*p, avail);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), common::StatusCode::kResourceExhausted);
  for (const char* part : {"short by", "activations", "gradients", "total", "nearest configuration that fits",
                           "--batch 4", "accumulate 4"}) {
    EXPECT_NE(s.message().find(part), std::string::npos) << part << "\n" << s.message();
  }
  common::Result<MemoryPlan> near = nearest_fit(m, p->run, avail);
  ASSERT_TRUE(near.ok());
  EXPECT_TRUE(near->fits());
  EXPECT_EQ(near->run.micro_batch, 4);
  EXPECT_FALSE(near->run.grad_checkpoint);
}

TEST(CheckFits, FullThatCannotFitProposesAdapters) {
  const trainer::ModelConfig m = preset_config("magellano-1b");
  const RunConfig r = base_run(trainer::TrainMode::kFull, 256, 1);
  common::Result<MemoryPlan> near = nearest_fit(m, r, 4 * common::kGiB);
  ASSERT_TRUE(near.ok()) << near.status().message();
  EXPECT_NE(near->run.mode, trainer::TrainMode::kFull);
  EXPECT_TRUE(near->fits());
}

TEST(RunFlags, NameTheRun) {
  RunConfig r = base_run(trainer::TrainMode::kQlora, 1024, 2);
  r.grad_checkpoint = true;
  EXPECT_EQ(run_flags(r), "--mode qlora --rank 16 --seq 1024 --batch 2 --grad-checkpoint");
}

}  // namespace
}  // namespace budget
