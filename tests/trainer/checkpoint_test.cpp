// Tests for trainer/checkpoint: resuming gives the same losses and the same weight bits as not
// stopping; damaged, truncated, partial and unfinished checkpoints are detected, named and skipped
// for the newest valid one; pruning keeps the newest valid ones; a write that runs out of file size
// leaves the previous checkpoint valid; the model config survives a TOML round trip.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/log.h"
#include "trainer/formats/checkpoint.h"
#include "trainer/formats/checksum.h"
#include "trainer/model_config_toml.h"
#include "trainer/run_shape.h"
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

// Every trainable weight's bytes, in layout order.
std::vector<uint8_t> weight_bytes(const trainer::Model& m) {
  std::vector<uint8_t> out;
  const trainer::TensorStore& store = m.tensors();
  for (size_t i = 0; i < store.specs().size(); ++i) {
    if (store.specs()[i].role != trainer::TensorRole::kWeight) continue;
    const auto* p = static_cast<const uint8_t*>(store.data(i));
    out.insert(out.end(), p, p + store.specs()[i].bytes);
  }
  return out;
}

TEST(Checkpoint, ResumeGivesTheSameLosses) {
  const RunShape shape = trainer_test::run_shape(2, 8);
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
  const std::vector<uint8_t> weights_a = weight_bytes((*a)->model());

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
  // Exact resume: the same loss bits at every step and the same weight bits at the end.
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(resumed[i], expected[i]) << i;
  EXPECT_TRUE(weight_bytes((*b)->model()) == weights_a);
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
    // state.json only: the files are damaged below, after this read, so load must check them.
    auto got = trainer::read_checkpoint_dir(dir_ + "/checkpoints/step-00000005");
    ASSERT_TRUE(got.ok());
    EXPECT_FALSE(got->files_verified);
    info_ = *got;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string weights() const { return info_.dir + "/model.safetensors"; }

  RunShape shape_ = trainer_test::run_shape(1, 4);
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
  auto m = trainer::Model::create(model(), trainer_test::run_shape(1, 4));
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

// Collects the warnings sent to the log sink while it lives.
class WarningCapture {
 public:
  WarningCapture() {
    old_ = common::set_log_sink([this](common::LogLevel level, const std::string& m) {
      if (level == common::LogLevel::kWarning) lines.push_back(m);
    });
  }
  ~WarningCapture() { common::set_log_sink(old_); }
  bool any_contains(const std::string& needle) const {
    for (const std::string& l : lines)
      if (l.find(needle) != std::string::npos) return true;
    return false;
  }
  std::vector<std::string> lines;

 private:
  common::LogFn old_;
};

void flip_byte(const std::string& path, std::streamoff from_end) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(-from_end, std::ios::end);
  const char c = static_cast<char>(f.get());
  f.seekp(-from_end, std::ios::end);
  f.put(static_cast<char>(c ^ 0x5a));
}

// A run directory with checkpoints at steps 10, 20 and 30, each holding weights initialised from
// its step number, so which one was loaded is visible in the weights.
class CheckpointStore : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_dir("store");
    auto m = trainer::Model::create(model(), shape_);
    ASSERT_TRUE(m.ok());
    model_ = std::move(*m);
    for (int step : {10, 20, 30}) save(step);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void save(int step, int keep = 0) {
    model_->init_weights(static_cast<uint64_t>(step));
    trainer::CheckpointInfo info;
    info.step = step;
    info.shape = shape_;
    Status s = trainer::save_checkpoint(dir_, *model_, info, keep);
    ASSERT_TRUE(s.ok()) << s.to_string();
  }
  std::string ckpt(int step) const {
    char name[32];
    std::snprintf(name, sizeof name, "step-%08d", step);
    return dir_ + "/checkpoints/" + name;
  }
  // The weights a checkpoint of `step` holds.
  std::vector<uint8_t> weights_of(int step) {
    model_->init_weights(static_cast<uint64_t>(step));
    return weight_bytes(*model_);
  }
  // Reads the newest valid checkpoint and checks it is `step` and loads `step`'s weights.
  void expect_resumes_from(int step) {
    auto got = trainer::read_latest_checkpoint(dir_);
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    EXPECT_EQ(got->step, step);
    EXPECT_TRUE(got->files_verified);
    const std::vector<uint8_t> want = weights_of(step);
    model_->init_weights(12345);
    Status s = trainer::load_checkpoint_tensors(*got, *model_, true);
    ASSERT_TRUE(s.ok()) << s.to_string();
    EXPECT_TRUE(weight_bytes(*model_) == want) << "the weights are not those of step " << step;
  }

  using Status = common::Status;
  RunShape shape_ = trainer_test::run_shape(1, 4);
  std::string dir_;
  std::unique_ptr<trainer::Model> model_;
};

TEST_F(CheckpointStore, TheNewestValidOneIsReadWithoutWarnings) {
  WarningCapture w;
  expect_resumes_from(30);
  EXPECT_TRUE(w.lines.empty()) << w.lines[0];
}

TEST_F(CheckpointStore, AFlippedByteInTheNewestIsSkippedWithAWarningNamingTheFile) {
  flip_byte(ckpt(30) + "/model.safetensors", 5);
  WarningCapture w;
  expect_resumes_from(20);
  EXPECT_TRUE(w.any_contains("step-00000030/model.safetensors: checksum mismatch")) << ::testing::PrintToString(w.lines);
}

TEST_F(CheckpointStore, ATruncatedFileIsSkipped) {
  fs::resize_file(ckpt(30) + "/optimizer.safetensors", 100);
  WarningCapture w;
  expect_resumes_from(20);
  EXPECT_TRUE(w.any_contains("step-00000030/optimizer.safetensors: truncated")) << ::testing::PrintToString(w.lines);
}

TEST_F(CheckpointStore, AMissingFileIsSkipped) {
  fs::remove(ckpt(30) + "/model.safetensors");
  WarningCapture w;
  expect_resumes_from(20);
  EXPECT_TRUE(w.any_contains("step-00000030/model.safetensors: missing")) << ::testing::PrintToString(w.lines);
}

TEST_F(CheckpointStore, AFolderWithoutStateIsSkipped) {
  fs::create_directories(ckpt(40));
  fs::copy_file(ckpt(30) + "/model.safetensors", ckpt(40) + "/model.safetensors");
  WarningCapture w;
  expect_resumes_from(30);
  EXPECT_TRUE(w.any_contains("step-00000040/state.json")) << ::testing::PrintToString(w.lines);
}

TEST_F(CheckpointStore, ATruncatedStateIsSkipped) {
  fs::resize_file(ckpt(30) + "/state.json", 40);
  WarningCapture w;
  expect_resumes_from(20);
  EXPECT_TRUE(w.any_contains("step-00000030/state.json")) << ::testing::PrintToString(w.lines);
}

// Replaces the first `from` in a checkpoint's state.json by `to` (a bit flip in a value).
void edit_state(const std::string& dir, const std::string& from, const std::string& to) {
  const std::string path = dir + "/state.json";
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  text.replace(at, from.size(), to);
  std::ofstream(path, std::ios::trunc) << text;
}

// Issue 21, item 3: the checksum covers state.json too. '0' -> '8' is one flipped bit.
TEST_F(CheckpointStore, AFlippedBitInTheStateIsSkippedLikeDamagedWeights) {
  edit_state(ckpt(30), "\"step\": 30", "\"step\": 38");
  WarningCapture w;
  expect_resumes_from(20);
  EXPECT_TRUE(w.any_contains("step-00000030/state.json: checksum mismatch")) << ::testing::PrintToString(w.lines);
}

TEST_F(CheckpointStore, AFlippedDataPositionIsSkipped) {
  edit_state(ckpt(30), "\"train_position\": 0", "\"train_position\": 8");
  WarningCapture w;
  expect_resumes_from(20);
}

// Checkpoints of version 1 (before the state checksum) are still read, with a warning.
TEST_F(CheckpointStore, AnOldCheckpointWithoutStateChecksumIsReadWithAWarning) {
  for (int step : {10, 20, 30}) {
    edit_state(ckpt(step), "\"version\": 2", "\"version\": 1");
    edit_state(ckpt(step), "\"state_crc32\"", "\"unused_crc\"");
  }
  WarningCapture w;
  expect_resumes_from(30);
  EXPECT_TRUE(w.any_contains("step-00000030/state.json: an old checkpoint (version 1)")) << ::testing::PrintToString(w.lines);
}

// Checkpoints written before CRC-32 listed their files' FNV-1a 64 ("fnv1a64"): still verified.
void make_fnv_listed(const std::string& dir) {
  const std::string path = dir + "/state.json";
  std::ifstream in(path);
  nlohmann::json state = nlohmann::json::parse(in);
  for (auto& [name, entry] : state["files"].items()) {
    auto sums = trainer::file_sums(dir + "/" + name);
    ASSERT_TRUE(sums.ok()) << sums.status().to_string();
    entry = nlohmann::json{{"bytes", sums->bytes}, {"fnv1a64", trainer::hex64(sums->fnv1a64)}};
  }
  state["version"] = 1;
  state.erase("state_crc32");
  std::ofstream(path, std::ios::trunc) << state.dump(2);
}

TEST_F(CheckpointStore, AnOldCheckpointListingFnvChecksumsIsVerifiedByThem) {
  for (int step : {10, 20, 30}) make_fnv_listed(ckpt(step));
  expect_resumes_from(30);
  flip_byte(ckpt(30) + "/model.safetensors", 5);
  WarningCapture w;
  expect_resumes_from(20);
  EXPECT_TRUE(w.any_contains("step-00000030/model.safetensors: checksum mismatch")) << ::testing::PrintToString(w.lines);
}

TEST_F(CheckpointStore, NewCheckpointsListCrc32) {
  std::ifstream in(ckpt(30) + "/state.json");
  const nlohmann::json state = nlohmann::json::parse(in);
  const auto sums = trainer::file_sums(ckpt(30) + "/model.safetensors");
  ASSERT_TRUE(sums.ok());
  EXPECT_EQ(state["files"]["model.safetensors"].value("crc32", ""), trainer::hex32(sums->crc32));
  EXPECT_FALSE(state["files"]["model.safetensors"].contains("fnv1a64"));
}

TEST_F(CheckpointStore, AnUnfinishedWriteIsIgnoredWithAWarning) {
  fs::copy(ckpt(30), ckpt(40) + ".tmp");
  fs::resize_file(ckpt(40) + ".tmp/model.safetensors", 10);
  WarningCapture w;
  expect_resumes_from(30);
  EXPECT_TRUE(w.any_contains("step-00000040.tmp: an unfinished checkpoint")) << ::testing::PrintToString(w.lines);
}

TEST_F(CheckpointStore, TheLatestPointerIsNotNeeded) {
  fs::remove(dir_ + "/checkpoints/latest");
  EXPECT_TRUE(trainer::has_checkpoint(dir_));
  expect_resumes_from(30);
  std::ofstream(dir_ + "/checkpoints/latest") << "step-00000010\n";  // stale: a crash before its update
  expect_resumes_from(30);
}

TEST_F(CheckpointStore, NoValidCheckpointIsACorruptionNamingTheNewestDamage) {
  for (int step : {10, 20, 30}) flip_byte(ckpt(step) + "/model.safetensors", 1);
  WarningCapture w;
  auto got = trainer::read_latest_checkpoint(dir_);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), common::StatusCode::kCorruption);
  EXPECT_NE(got.status().message().find("step-00000030/model.safetensors"), std::string::npos)
      << got.status().message();
  EXPECT_EQ(w.lines.size(), 3u) << ::testing::PrintToString(w.lines);
  EXPECT_TRUE(trainer::has_checkpoint(dir_));
}

TEST_F(CheckpointStore, PruneKeepsTheNewestValidOnesAndRemovesLeftovers) {
  save(40);
  flip_byte(ckpt(40) + "/model.safetensors", 2);  // newest, damaged: left for inspection
  flip_byte(ckpt(20) + "/model.safetensors", 2);  // damaged, superseded by 30: removed
  fs::create_directories(ckpt(50) + ".tmp");
  std::ofstream(dir_ + "/checkpoints/latest.tmp.99999") << "step-";
  ASSERT_TRUE(trainer::prune_checkpoints(dir_, 2).ok());
  EXPECT_TRUE(fs::exists(ckpt(40)));
  EXPECT_TRUE(fs::exists(ckpt(30)));
  EXPECT_FALSE(fs::exists(ckpt(20)));
  EXPECT_TRUE(fs::exists(ckpt(10)));
  EXPECT_FALSE(fs::exists(ckpt(50) + ".tmp"));
  EXPECT_FALSE(fs::exists(dir_ + "/checkpoints/latest.tmp.99999"));
  ASSERT_TRUE(trainer::prune_checkpoints(dir_, 1).ok());
  EXPECT_TRUE(fs::exists(ckpt(40)));
  EXPECT_TRUE(fs::exists(ckpt(30)));
  EXPECT_FALSE(fs::exists(ckpt(10)));
  expect_resumes_from(30);
}

// Issue 21, item 11: `export` (or eval, sample) pins the checkpoint it reads; a prune of the
// training run meanwhile leaves it in place, and removes it once it is released.
TEST_F(CheckpointStore, APinnedCheckpointSurvivesPruningUntilReleased) {
  {
    auto pin = trainer::CheckpointPin::pin(ckpt(10));
    ASSERT_TRUE(pin.ok()) << pin.status().to_string();
    ASSERT_TRUE(trainer::prune_checkpoints(dir_, 1).ok());
    EXPECT_TRUE(fs::exists(ckpt(10) + "/model.safetensors")) << "a pinned checkpoint was pruned";
    EXPECT_FALSE(fs::exists(ckpt(20)));
    EXPECT_TRUE(fs::exists(ckpt(30)));
  }
  ASSERT_TRUE(trainer::prune_checkpoints(dir_, 1).ok());
  EXPECT_FALSE(fs::exists(ckpt(10)));
  EXPECT_TRUE(fs::exists(ckpt(30)));
}

TEST_F(CheckpointStore, ReadingPinnedHoldsTheNewestAgainstASaveThatPrunes) {
  trainer::CheckpointPin pin;
  auto info = trainer::read_latest_checkpoint_pinned(dir_, &pin);
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_EQ(info->step, 30);
  EXPECT_TRUE(pin.pinned());
  save(40, 1);  // the run goes on and keeps only its newest checkpoint
  save(50, 1);
  EXPECT_TRUE(fs::exists(ckpt(30) + "/model.safetensors"));
  const std::vector<uint8_t> want = weights_of(30);
  model_->init_weights(12345);
  ASSERT_TRUE(trainer::load_checkpoint_tensors(*info, *model_, true).ok());
  EXPECT_TRUE(weight_bytes(*model_) == want);
  EXPECT_FALSE(trainer::CheckpointPin::pin(ckpt(20)).ok());  // pruned: nothing to pin
}

TEST_F(CheckpointStore, KeepZeroKeepsEveryCheckpoint) {
  fs::create_directories(ckpt(40) + ".tmp");
  ASSERT_TRUE(trainer::prune_checkpoints(dir_, 0).ok());
  for (int step : {10, 20, 30}) EXPECT_TRUE(fs::exists(ckpt(step))) << step;
  EXPECT_FALSE(fs::exists(ckpt(40) + ".tmp"));
  EXPECT_TRUE(trainer::prune_checkpoints(dir_ + "/does-not-exist", 2).ok());
}

TEST_F(CheckpointStore, SavingWithKeepPrunes) {
  save(40, /*keep=*/2);
  EXPECT_TRUE(fs::exists(ckpt(40)));
  EXPECT_TRUE(fs::exists(ckpt(30)));
  EXPECT_FALSE(fs::exists(ckpt(20)));
  EXPECT_FALSE(fs::exists(ckpt(10)));
}

TEST_F(CheckpointStore, SavingAStepAgainReplacesItWithoutLeftovers) {
  flip_byte(ckpt(30) + "/model.safetensors", 3);
  model_->init_weights(77);
  const std::vector<uint8_t> want = weight_bytes(*model_);
  trainer::CheckpointInfo info;
  info.step = 30;
  info.shape = shape_;
  ASSERT_TRUE(trainer::save_checkpoint(dir_, *model_, info, 0).ok());
  EXPECT_FALSE(fs::exists(ckpt(30) + ".tmp"));
  auto got = trainer::read_latest_checkpoint(dir_);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(got->step, 30);
  model_->init_weights(1);
  ASSERT_TRUE(trainer::load_checkpoint_tensors(*got, *model_, true).ok());
  EXPECT_TRUE(weight_bytes(*model_) == want);
}

// A checkpoint write that runs out of space (here: the file-size limit, with SIGXFSZ ignored so that
// write() fails with EFBIG as it fails with ENOSPC on a full disk) is an IOError; no step-40 folder or
// unfinished write is left and step 30 is still the newest valid checkpoint.
TEST_F(CheckpointStore, AFailedWriteLeavesThePreviousCheckpointValid) {
  struct rlimit old_limit {};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  struct rlimit small = old_limit;
  small.rlim_cur = 4096;  // smaller than the weights file
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  model_->init_weights(40);
  trainer::CheckpointInfo info;
  info.step = 40;
  info.shape = shape_;
  const Status s = trainer::save_checkpoint(dir_, *model_, info, 2);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  std::signal(SIGXFSZ, old_handler);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), common::StatusCode::kIOError);
  EXPECT_NE(s.message().find("step 40 not written"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("model.safetensors"), std::string::npos) << s.message();
  EXPECT_FALSE(fs::exists(ckpt(40)));
  EXPECT_FALSE(fs::exists(ckpt(40) + ".tmp"));
  WarningCapture w;
  expect_resumes_from(30);
  EXPECT_TRUE(w.lines.empty());
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
