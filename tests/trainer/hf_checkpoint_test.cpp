// HfCheckpoint: single-file and sharded Hugging Face weights, F32/F16/BF16 read as fp32, and the
// damaged directories a user may have (a shard missing, an index that lies, no weights at all).
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "trainer/formats/hf_checkpoint.h"
#include "trainer/quant/format.h"

namespace trainer {
namespace {

namespace fs = std::filesystem;

class HfCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ns_hf_ckpt_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    for (int i = 0; i < 6; ++i) a_.push_back(0.25f * static_cast<float>(i) - 0.5f);
    for (float x : a_) {
      h_.push_back(f32_to_f16(x));
      b_.push_back(f32_to_bf16(x));
    }
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const char* name) const { return (dir_ / name).string(); }
  void write_index(const std::string& json) const { std::ofstream(dir_ / "model.safetensors.index.json") << json; }
  void write_shards() const {
    ASSERT_TRUE(write_safetensors(path("model-00001-of-00002.safetensors"),
                                  {{"a", DType::kF32, {2, 3}, a_.data(), a_.size() * 4},
                                   {"h", DType::kF16, {6}, h_.data(), h_.size() * 2}})
                    .ok());
    ASSERT_TRUE(write_safetensors(path("model-00002-of-00002.safetensors"),
                                  {{"b", DType::kBF16, {3, 2}, b_.data(), b_.size() * 2}})
                    .ok());
  }

  fs::path dir_;
  std::vector<float> a_;
  std::vector<uint16_t> h_, b_;
};

TEST_F(HfCheckpointTest, ShardedWeightsReadAsFp32) {
  write_shards();
  write_index(R"({"metadata": {"total_size": 36}, "weight_map": {"a": "model-00001-of-00002.safetensors",
      "h": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})");
  auto c = HfCheckpoint::open(dir_.string());
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ((*c)->tensors().size(), 3u);
  std::vector<float> out(6);
  for (const char* name : {"a", "h", "b"}) {
    ASSERT_TRUE((*c)->read_f32(name, out.data(), 6).ok()) << name;
    EXPECT_EQ(out, a_) << name;  // these values are exact in f16 and bf16
  }
  const common::Status wrong = (*c)->read_f32("a", out.data(), 5);
  EXPECT_FALSE(wrong.ok());
  EXPECT_NE(wrong.message().find("has 6 elements"), std::string::npos);
  EXPECT_EQ((*c)->read_f32("nope", out.data(), 6).code(), common::StatusCode::kNotFound);
}

TEST_F(HfCheckpointTest, SingleFile) {
  ASSERT_TRUE(write_safetensors(path("model.safetensors"), {{"a", DType::kF32, {2, 3}, a_.data(), 24}}).ok());
  auto c = HfCheckpoint::open(dir_.string());
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE((*c)->has("a"));
}

TEST_F(HfCheckpointTest, DamagedDirectoriesNameTheFile) {
  auto none = HfCheckpoint::open(dir_.string());
  EXPECT_EQ(none.status().code(), common::StatusCode::kNotFound);
  EXPECT_NE(none.status().message().find("no model.safetensors"), std::string::npos);

  write_index(R"({"weight_map": {"a": "model-00001-of-00002.safetensors"}})");
  auto missing = HfCheckpoint::open(dir_.string());
  EXPECT_EQ(missing.status().code(), common::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("model-00001-of-00002.safetensors: shard listed in the index is missing"),
            std::string::npos);

  write_shards();
  write_index(R"({"weight_map": {"a": "model-00002-of-00002.safetensors"}})");
  auto lies = HfCheckpoint::open(dir_.string());
  EXPECT_FALSE(lies.ok());
  EXPECT_NE(lies.status().message().find("lists a here but the shard lacks it"), std::string::npos);

  write_index(R"({"weight_map": {"a": "../elsewhere.safetensors"}})");
  EXPECT_FALSE(HfCheckpoint::open(dir_.string()).ok());
  write_index("{ not json");
  auto bad = HfCheckpoint::open(dir_.string());
  EXPECT_NE(bad.status().message().find("not a safetensors index"), std::string::npos);
}

}  // namespace
}  // namespace trainer
