// Plan = allocation: a run resolved exactly as `nightshift train` resolves it (its flags parsed by the
// train command's own CLI definition, then resolve_train_run) gives one RunShape; the memory planner's
// bytes for every tensor role equal the bytes of the arenas the model allocates for that shape, at 1,
// 2 and all threads, for attention, hybrid and LoRA/QLoRA runs.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "app/train/resolve_run.h"
#include "budget/planner.h"
#include "trainer/model.h"
#include "trainer/model_config_toml.h"
#include "trainer/quant/base_file.h"

namespace app {
namespace {

namespace fs = std::filesystem;

// The item of the plan that sums one role.
const char* plan_key(trainer::TensorRole role) {
  switch (role) {
    case trainer::TensorRole::kWeight: return "weights";
    case trainer::TensorRole::kFrozenWeight: return "frozen_weights";
    case trainer::TensorRole::kGradient: return "gradients";
    case trainer::TensorRole::kOptimizerMoment: return "optimizer_moments";
    case trainer::TensorRole::kActivation: return "activations";
    case trainer::TensorRole::kScratch: return "scratch";
  }
  return "?";
}

class RunPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ns_run_plan_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "data.txt") << std::string(20000, 'a');
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Parses `args` with the train command's flags, as `nightshift train ARGS` would.
  ResolvedRun resolve(std::vector<std::string> args) {
    args.insert(args.end(), {"--data", (dir_ / "data.txt").string(), "--out", (dir_ / "run").string()});
    CLI::App cmd("train");
    TrainFlags flags;
    add_train_flags(&cmd, &flags);
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    cmd.parse(reversed);
    common::Result<ResolvedRun> run = resolve_train_run(flags);
    EXPECT_TRUE(run.ok()) << run.status().message();
    return std::move(*run);
  }

  // Builds the model of the resolved shape and compares every role with the plan of the same shape.
  void expect_plan_equals_arenas(const ResolvedRun& run) {
    const RunConfig& c = run.config;
    auto plan = budget::plan_training(c.model, c.shape, budget::Optimizer::kAdamW, 1ull << 40);
    ASSERT_TRUE(plan.ok()) << plan.status().message();
    auto model = trainer::Model::create(c.model, c.shape);
    ASSERT_TRUE(model.ok()) << model.status().message();
    for (int r = 0; r < trainer::kNumTensorRoles; ++r) {
      const auto role = static_cast<trainer::TensorRole>(r);
      EXPECT_EQ(plan->item_bytes(plan_key(role)), (*model)->tensors().arena_bytes(role))
          << trainer::tensor_role_name(role) << " with --threads " << c.train.threads;
    }
  }

  fs::path dir_;
};

TEST_F(RunPlanTest, FullRunsAtOneTwoAndAllThreads) {
  for (const char* preset : {"gpt-tiny", "hybrid-tiny"}) {
    for (const char* threads : {"1", "2", "0"}) {
      SCOPED_TRACE(std::string(preset) + " threads " + threads);
      ResolvedRun run = resolve({"--preset", preset, "--batch", "2", "--seq", "32", "--threads", threads});
      EXPECT_EQ(run.config.shape.max_threads, std::stoi(threads));
      expect_plan_equals_arenas(run);
    }
  }
}

TEST_F(RunPlanTest, CheckpointedRunMatchesToo) {
  ResolvedRun run = resolve({"--preset", "hybrid-tiny", "--batch", "2", "--seq", "32", "--threads", "2",
                             "--grad-checkpoint"});
  EXPECT_TRUE(run.config.shape.grad_checkpoint);
  expect_plan_equals_arenas(run);
}

TEST_F(RunPlanTest, QloraRunOverABaseFileMatches) {
  // A base file of hybrid-tiny with random weights, NF4.
  auto cfg = trainer::model_preset("hybrid-tiny");
  ASSERT_TRUE(cfg.ok());
  trainer::RunShape shape;
  shape.training = false;
  auto full = trainer::Model::create(*cfg, shape);
  ASSERT_TRUE(full.ok());
  (*full)->init_weights(1);
  trainer::BaseInfo info;
  info.format = trainer::QuantFormat::kNF4;
  info.config = *cfg;
  info.model_toml = trainer::model_config_to_toml(*cfg);
  info.tokenizer = "byte";
  const std::string base = (dir_ / "base.safetensors").string();
  ASSERT_TRUE(trainer::write_base_file(base, info, trainer::lookup_in_model(**full)).ok());
  for (const char* threads : {"1", "2", "0"}) {
    SCOPED_TRACE(std::string("threads ") + threads);
    ResolvedRun run = resolve({"--mode", "qlora", "--base", base, "--rank", "8", "--batch", "2", "--seq", "32",
                               "--threads", threads});
    EXPECT_EQ(run.config.shape.mode, trainer::TrainMode::kQlora);
    expect_plan_equals_arenas(run);
  }
}

}  // namespace
}  // namespace app
