// The memory watch's micro-batch change, through the real training loop: a run told to go from
// micro-batch 4 to 2 halfway (checkpoint, rebuild, reload) ends with the same weights and the same
// losses as a run that kept 4, up to float summation order, and its steps train the same tokens.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "app/loop/train_loop.h"
#include "app/train/trainer_holder.h"
#include "common/clock.h"
#include "trainer/model_config_toml.h"
#include "trainer/model_config.h"
#include "trainer/data/dataset.h"
#include "trainer/tokenizers/tokenizer.h"

namespace app {
namespace {

namespace fs = std::filesystem;

class AtStep final : public StepGovernor {
 public:
  AtStep(int64_t step, int micro_batch) : step_(step), micro_batch_(micro_batch) {}
  Directive before_step(const StepContext& c) override {
    Directive d;
    if (c.next_step == step_) d.micro_batch = micro_batch_;
    return d;
  }

 private:
  int64_t step_;
  int micro_batch_;
};

class Losses final : public LoopObserver {
 public:
  void on_step(const trainer::StepStats& s, const LoopProgress&) override {
    losses.push_back(s.loss);
    tokens.push_back(s.tokens);
  }
  std::vector<float> losses;
  std::vector<int64_t> tokens;
};

struct RunResult {
  std::vector<float> weights, losses;
  std::vector<int64_t> tokens;
  int final_batch = 0;
};

class TrainerHolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ns_holder_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    std::ofstream out(root_ / "corpus.txt");
    for (int i = 0; i < 300; ++i) out << "line " << i << ": the quick brown fox jumps over the lazy dog.\n";
  }
  void TearDown() override { fs::remove_all(root_); }

  RunResult train(const std::string& name, int change_at) {
    auto tok = trainer::make_tokenizer("byte");
    EXPECT_TRUE(tok.ok());
    trainer::DatasetOptions dopt;
    dopt.data_path = (root_ / "corpus.txt").string();
    dopt.cache_dir = (root_ / "cache").string();
    auto data = trainer::TokenDataset::open(dopt, **tok);
    EXPECT_TRUE(data.ok()) << data.status().to_string();
    auto config = trainer::parse_model_config_toml("name = \"h\"\nd_model = 32\nblocks = [\"attn+mlp\"]\n[attn]\nn_heads = 2\n",
                                                    "test");
    EXPECT_TRUE(config.ok()) << config.status().to_string();
    config->vocab_size = 256;
    trainer::RunShape shape;
    shape.batch = 4;
    shape.seq_len = 16;
    trainer::TrainOptions options;
    options.steps = 12;
    options.warmup = 2;
    options.threads = 1;
    options.seed = 7;
    TrainerHolder holder(*config, shape, options, **data, true);
    EXPECT_TRUE(holder.build().ok());
    LoopOptions lo;
    lo.run_dir = (root_ / name).string();
    lo.checkpoint_base.shape = shape;
    lo.checkpoint_base.model_toml = trainer::model_config_to_toml(*config);
    lo.checkpoint_base.tokenizer_spec = "byte";
    lo.checkpoint_base.run_json = "{}";
    lo.eval_at_end = false;
    lo.rebatch = [&holder](int b, const std::string& dir) { return holder.rebuild(b, dir); };
    AtStep governor(change_at, 2);
    Losses losses;
    common::FakeClock clock;
    auto outcome = run_train_loop(holder.trainer(), lo, &governor, {&losses}, clock);
    EXPECT_TRUE(outcome.ok()) << outcome.status().to_string();
    RunResult r;
    for (const trainer::ParamRef& p : holder.trainer().model().params()) r.weights.insert(r.weights.end(), p.weight, p.weight + p.numel);
    r.losses = losses.losses;
    r.tokens = losses.tokens;
    r.final_batch = holder.trainer().model().batch();
    return r;
  }

  fs::path root_;
};

TEST_F(TrainerHolderTest, SmallerMicroBatchKeepsTheTraining) {
  RunResult planned = train("planned", -1);
  RunResult halved = train("halved", 7);
  EXPECT_EQ(planned.final_batch, 4);
  EXPECT_EQ(halved.final_batch, 2);
  ASSERT_EQ(planned.losses.size(), 12u);
  ASSERT_EQ(halved.losses.size(), 12u);
  for (size_t i = 0; i < 12; ++i) {
    EXPECT_NEAR(planned.losses[i], halved.losses[i], 1e-4 * std::fabs(planned.losses[i])) << "step " << i + 1;
    EXPECT_EQ(halved.tokens[i], 4 * 16) << "step " << i + 1;
  }
  ASSERT_EQ(planned.weights.size(), halved.weights.size());
  double diff = 0, norm = 0;
  for (size_t i = 0; i < planned.weights.size(); ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(planned.weights[i] - halved.weights[i])));
    norm = std::max(norm, static_cast<double>(std::fabs(planned.weights[i])));
  }
  EXPECT_LT(diff, 1e-4 * norm) << "weights drift after the micro-batch change";
  EXPECT_GT(diff, 0.0) << "the change did not happen (identical summation order)";
}

TEST(SubBatchSource, SlicesThePlannedBatchInOrder) {
  class Counting final : public trainer::BatchSource {
   public:
    void next(int32_t* in, int32_t* tg) override {
      for (int i = 0; i < 4 * 2; ++i) in[i] = tg[i] = static_cast<int32_t>(draws * 100 + i);
      ++draws;
    }
    uint64_t position() const override { return draws; }
    void seek(uint64_t p) override { draws = p; }
    int64_t batches_per_pass() const override { return 3; }
    uint64_t draws = 0;
  };
  SubBatchSource s(std::make_unique<Counting>(), 4, 2, 2);
  int32_t in[4], tg[4];
  s.next(in, tg);
  EXPECT_EQ(in[0], 0);
  EXPECT_EQ(in[3], 3);
  EXPECT_EQ(s.position(), 1u);
  s.next(in, tg);
  EXPECT_EQ(in[0], 4);
  EXPECT_EQ(tg[3], 7);
  s.next(in, tg);
  EXPECT_EQ(in[0], 100);
  EXPECT_EQ(s.batches_per_pass(), 6);
  s.seek(5);
  s.next(in, tg);
  EXPECT_EQ(in[0], 500);
}

// A packed inner source stays packed through the slicing, positions sliced with the rows.
TEST(SubBatchSource, ForwardsPackedRowsWithTheirPositions) {
  class Packed final : public trainer::BatchSource {
   public:
    bool packed() const override { return true; }
    void next(int32_t*, int32_t*) override { ADD_FAILURE() << "a packed source drawn with next()"; }
    void next_packed(int32_t* in, int32_t* tg, int32_t* pos) override {
      for (int i = 0; i < 4 * 2; ++i) {
        in[i] = static_cast<int32_t>(draws * 100 + i);
        tg[i] = i % 2 == 0 ? trainer::kIgnoreTarget : in[i];
        pos[i] = static_cast<int32_t>(1000 + draws * 100 + i);
      }
      ++draws;
    }
    uint64_t position() const override { return draws; }
    void seek(uint64_t p) override { draws = p; }
    uint64_t draws = 0;
  };
  SubBatchSource s(std::make_unique<Packed>(), 4, 2, 2);
  EXPECT_TRUE(s.packed());
  int32_t in[4], tg[4], pos[4];
  s.next_packed(in, tg, pos);
  EXPECT_EQ(in[3], 3);
  EXPECT_EQ(tg[0], trainer::kIgnoreTarget);
  EXPECT_EQ(pos[0], 1000);
  s.next_packed(in, tg, pos);
  EXPECT_EQ(in[0], 4);
  EXPECT_EQ(pos[3], 1007);
  s.next_packed(in, tg, pos);
  EXPECT_EQ(pos[0], 1100);
}

}  // namespace
}  // namespace app
