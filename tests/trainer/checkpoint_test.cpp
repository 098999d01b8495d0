// Tests for trainer/checkpoint: resuming gives the same losses as not stopping, damaged files are
// detected and named, old checkpoints are pruned, and the model config survives a TOML round trip.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "trainer/checkpoint.h"
#include "trainer/config_io.h"
#include "trainer/synthetic_source.h"

namespace {

namespace fs = std::filesystem;
using trainer::LayerKind;
using trainer::ModelConfig;
using trainer::RunShape;
using trainer::TrainOptions;

ModelConfig model() {
  ModelConfig c;
  c.name = "ckpt-test";
  c.vocab_size = 16;
  c.d_model = 16;
  c.tied_embedding = false;
  c.blocks = {{{LayerKind::kAttn, LayerKind::kMlp}}};
  c.attn.n_heads = 2;
  c.mlp.d_ff = 24;
  return c;
}

std::string temp_dir(const std::string& name) {
  fs::path p = fs::path(testing::TempDir()) / ("ns_ckpt_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p.string();
}

trainer::CheckpointInfo info_for(const trainer::Trainer& t, const RunShape& shape) {
  trainer::CheckpointInfo info;
  info.step = t.steps_done();
  info.options = t.options();
  info.shape = shape;
  info.model_toml = trainer::model_config_to_toml(t.model().config());
  info.tokenizer_spec = "byte";
  info.run_json = R"({"data": {"path": "x.txt"}})";
  return info;
}

TEST(Checkpoint, ResumeGivesTheSameLosses) {
  const RunShape shape{2, 8};
  TrainOptions o;
  o.steps = 6;
  o.warmup = 2;
  o.lr = 5e-3f;
  trainer_test::MarkovSource src_a(16, 3, 2, 8, 1, 1), src_b(16, 3, 2, 8, 1, 1);
  auto a = trainer::Trainer::create(model(), shape, o, &src_a, nullptr);
  ASSERT_TRUE(a.ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*a)->step().ok());
  const std::string dir = temp_dir("resume");
  trainer::CheckpointInfo info = info_for(**a, shape);
  info.train_position = src_a.position();
  ASSERT_TRUE(trainer::save_checkpoint(dir, (*a)->model(), info).ok());
  std::vector<float> expected;
  while (!(*a)->done()) expected.push_back((*a)->step()->loss);

  TrainOptions ob = o;
  ob.seed = 999;  // different init: everything must come from the checkpoint
  auto b = trainer::Trainer::create(model(), shape, ob, &src_b, nullptr);
  ASSERT_TRUE(b.ok());
  auto got = trainer::read_latest_checkpoint(dir);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(got->step, 3);
  EXPECT_EQ(got->tokenizer_spec, "byte");
  EXPECT_EQ(got->options.lr, o.lr);
  EXPECT_NE(got->run_json.find("x.txt"), std::string::npos);
  ASSERT_TRUE(trainer::load_checkpoint_tensors(*got, (*b)->model(), true).ok());
  (*b)->restore_progress(got->step, got->train_position);
  std::vector<float> resumed;
  while (!(*b)->done()) resumed.push_back((*b)->step()->loss);
  ASSERT_EQ(resumed.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_FLOAT_EQ(resumed[i], expected[i]) << i;
  fs::remove_all(dir);
}

class CheckpointDamage : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_dir("damage");
    auto m = trainer::Model::create(model(), shape_);
    ASSERT_TRUE(m.ok());
    model_ = std::move(*m);
    model_->init_weights(1);
    trainer::CheckpointInfo info;
    info.step = 5;
    info.shape = shape_;
    ASSERT_TRUE(trainer::save_checkpoint(dir_, *model_, info).ok());
    auto got = trainer::read_latest_checkpoint(dir_);
    ASSERT_TRUE(got.ok());
    info_ = *got;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string weights() const { return info_.dir + "/model.safetensors"; }

  RunShape shape_{1, 4};
  std::string dir_;
  std::unique_ptr<trainer::Model> model_;
  trainer::CheckpointInfo info_;
};

TEST_F(CheckpointDamage, FlippedByteIsACorruptionNamingTheFile) {
  {
    std::fstream f(weights(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-3, std::ios::end);
    f.put('\x7f');
  }
  auto s = trainer::load_checkpoint_tensors(info_, *model_, true);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), common::StatusCode::kCorruption);
  EXPECT_NE(s.message().find("model.safetensors"), std::string::npos) << s.message();
}

TEST_F(CheckpointDamage, TruncatedFileIsACorruptionNamingTheFile) {
  fs::resize_file(info_.dir + "/optimizer.safetensors", 100);
  auto s = trainer::load_checkpoint_tensors(info_, *model_, true);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), common::StatusCode::kCorruption);
  EXPECT_NE(s.message().find("optimizer.safetensors"), std::string::npos) << s.message();
  // Weights alone still load.
  EXPECT_TRUE(trainer::load_checkpoint_tensors(info_, *model_, false).ok());
}

TEST_F(CheckpointDamage, BrokenStateJsonIsNamed) {
  std::ofstream(info_.dir + "/state.json") << "{\"format\": \"nightshift-checkpoint\", \"vers";
  auto got = trainer::read_latest_checkpoint(dir_);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), common::StatusCode::kCorruption);
  EXPECT_NE(got.status().message().find("state.json"), std::string::npos);
}

TEST(Checkpoint, MissingIsNotFoundAndOldOnesArePruned) {
  const std::string dir = temp_dir("prune");
  EXPECT_EQ(trainer::read_latest_checkpoint(dir).status().code(), common::StatusCode::kNotFound);
  EXPECT_FALSE(trainer::has_checkpoint(dir));
  auto m = trainer::Model::create(model(), RunShape{1, 4});
  ASSERT_TRUE(m.ok());
  for (int step : {10, 20, 30}) {
    trainer::CheckpointInfo info;
    info.step = step;
    ASSERT_TRUE(trainer::save_checkpoint(dir, **m, info, 2).ok());
  }
  EXPECT_TRUE(trainer::has_checkpoint(dir));
  EXPECT_FALSE(fs::exists(dir + "/checkpoints/step-00000010"));
  EXPECT_TRUE(fs::exists(dir + "/checkpoints/step-00000020"));
  EXPECT_EQ(trainer::read_latest_checkpoint(dir)->step, 30);
  fs::remove_all(dir);
}

TEST(ConfigIo, TomlRoundTrip) {
  ModelConfig c = model();
  c.d_embed = 12;
  c.attn.window = 5;
  c.attn.n_kv_heads = 1;
  c.blocks.push_back(c.blocks[0]);
  c.blocks.push_back({{LayerKind::kMlp}});
  c.norm_eps = 1e-6f;
  const std::string text = trainer::model_config_to_toml(c);
  auto back = trainer::parse_model_config_toml(text, "roundtrip");
  ASSERT_TRUE(back.ok()) << back.status().to_string() << "\n" << text;
  EXPECT_EQ(back->blocks, c.blocks);
  EXPECT_EQ(back->d_embed, 12);
  EXPECT_EQ(back->attn.window, 5);
  EXPECT_EQ(back->norm_eps, c.norm_eps);
  EXPECT_EQ(back->init_std, c.init_std);
  EXPECT_FALSE(back->tied_embedding);
  EXPECT_EQ(trainer::model_config_to_toml(*back), text);
}

}  // namespace
