// InitialWeights (trainer/weight_init.h) and write_base_file_streamed (trainer/quant/base_stream.h):
// tensor by tensor, the weights are Model::init_weights's bit for bit (in order and out of order, for
// presets with custom inits: SSM, conv, Mamba-2, MoE); a streamed base file is byte-identical to the
// one write_base_file writes from a model in memory, in every base format; a random nf4 base decodes
// to the init's statistics (linear weights normal(0, init_std), norms 1); errors name the tensor, and
// a failing write leaves nothing behind.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "trainer/model.h"
#include "trainer/model_config_toml.h"
#include "trainer/quant/base_file.h"
#include "trainer/quant/base_stream.h"
#include "trainer/quant/frozen_base.h"
#include "trainer/weight_init.h"

namespace trainer::weight_init_test {

namespace fs = std::filesystem;

ModelConfig small_preset(const std::string& name) {
  auto c = model_preset(name);
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return *c;
}

std::unique_ptr<Model> full_model(const ModelConfig& c, uint64_t seed) {
  RunShape s;
  s.batch = 1;
  s.seq_len = 4;
  s.training = false;
  auto m = Model::create(c, s);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  (*m)->init_weights(seed);
  return std::move(*m);
}

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class InitBaseFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ns-weight-init-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  BaseInfo info_of(const ModelConfig& c, QuantFormat format) const {
    BaseInfo info;
    info.format = format;
    info.double_quant = format == QuantFormat::kNF4;
    info.config = c;
    info.model_toml = model_config_to_toml(c);
    info.tokenizer = "byte";
    info.base_id = "0123456789abcdef";
    info.source = "test";
    return info;
  }
  fs::path dir_;
};

TEST(InitialWeights, EqualModelInitWeightsTensorByTensor) {
  for (const char* preset : {"gpt-tiny", "hybrid-tiny", "mamba-tiny"}) {
    SCOPED_TRACE(preset);
    const ModelConfig c = small_preset(preset);
    const auto model = full_model(c, 42);
    const WeightLookup in_model = lookup_in_model(*model);
    auto weights = InitialWeights::create(c, 42);
    ASSERT_TRUE(weights.ok()) << weights.status().to_string();
    ASSERT_FALSE((*weights)->weights().empty());
    auto same = [&](const TensorSpec& t) {
      auto want = in_model(t.name, t.shape);
      ASSERT_TRUE(want.ok()) << want.status().to_string();
      auto got = (*weights)->get(t.name, t.shape);
      ASSERT_TRUE(got.ok()) << got.status().to_string();
      EXPECT_EQ(0, std::memcmp(*want, *got, t.bytes)) << t.name;
    };
    for (const TensorSpec& t : (*weights)->weights()) same(t);
    // Out of order: the stream is drawn again from the seed.
    const std::vector<TensorSpec>& list = (*weights)->weights();
    same(list[list.size() / 2]);
    same(list[1]);
    same(list.back());
  }
}

TEST(InitialWeights, ErrorsNameTheTensor) {
  auto weights = InitialWeights::create(small_preset("gpt-tiny"), 1);
  ASSERT_TRUE(weights.ok());
  auto missing = (*weights)->get("blocks.99.attn.q.weight", {128, 128});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("blocks.99.attn.q.weight"), std::string::npos);
  auto shape = (*weights)->get("embed.weight", {3, 4});
  ASSERT_FALSE(shape.ok());
  EXPECT_NE(shape.status().message().find("embed.weight"), std::string::npos);
}

TEST_F(InitBaseFiles, StreamedFileIsWriteBaseFilesByteForByte) {
  const ModelConfig c = small_preset("hybrid-tiny");
  const auto model = full_model(c, 7);
  for (QuantFormat f : {QuantFormat::kNF4, QuantFormat::kQ8, QuantFormat::kF16, QuantFormat::kBF16, QuantFormat::kF32}) {
    SCOPED_TRACE(quant_format_name(f));
    const BaseInfo info = info_of(c, f);
    const fs::path whole = dir_ / "whole.safetensors", streamed = dir_ / "streamed.safetensors";
    ASSERT_TRUE(write_base_file(whole.string(), info, lookup_in_model(*model)).ok());
    auto weights = InitialWeights::create(c, 7);
    ASSERT_TRUE(weights.ok());
    const common::Status st = write_base_file_streamed(streamed.string(), info, (*weights)->lookup());
    ASSERT_TRUE(st.ok()) << st.to_string();
    EXPECT_EQ(file_bytes(whole), file_bytes(streamed));
    auto data = base_data_bytes(info);
    ASSERT_TRUE(data.ok());
    EXPECT_GT(fs::file_size(streamed), *data);
    EXPECT_LT(fs::file_size(streamed), *data + (64u << 10));
  }
}

TEST_F(InitBaseFiles, RandomNf4BaseHasTheInitsStatistics) {
  const ModelConfig c = small_preset("gpt-small");
  auto weights = InitialWeights::create(c, 3);
  ASSERT_TRUE(weights.ok());
  const fs::path path = dir_ / "nf4.safetensors";
  ASSERT_TRUE(write_base_file_streamed(path.string(), info_of(c, QuantFormat::kNF4), (*weights)->lookup()).ok());
  auto base = BaseSource::open(path.string());
  ASSERT_TRUE(base.ok()) << base.status().to_string();
  EXPECT_EQ((*base)->info().format, QuantFormat::kNF4);
  EXPECT_TRUE((*base)->info().double_quant);
  const WeightLookup decoded = (*base)->f32_lookup();
  int linear = 0, norms = 0;
  for (const TensorSpec& t : (*weights)->weights()) {
    auto v = decoded(t.name, t.shape);
    ASSERT_TRUE(v.ok()) << v.status().to_string();
    const int64_t n = t.numel();
    if (t.init == TensorInit::kOnes) {
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ((*v)[i], 1.0f) << t.name;
      ++norms;
    } else if (t.linear) {
      double sum = 0, sq = 0;
      for (int64_t i = 0; i < n; ++i) sum += (*v)[i], sq += double{(*v)[i]} * (*v)[i];
      const double mean = sum / static_cast<double>(n), sd = std::sqrt(sq / static_cast<double>(n) - mean * mean);
      // NF4's 16 levels keep the spread within a few percent of the drawn normal(0, init_std).
      EXPECT_NEAR(sd, c.init_std, 0.06 * c.init_std) << t.name;
      EXPECT_NEAR(mean, 0.0, 0.02 * c.init_std) << t.name;
      ++linear;
    }
  }
  EXPECT_GT(linear, 10);
  EXPECT_GT(norms, 4);
}

TEST_F(InitBaseFiles, AFailingWriteLeavesNothing) {
  const ModelConfig c = small_preset("gpt-tiny");
  const fs::path path = dir_ / "fails.safetensors";
  int calls = 0;
  const WeightLookup failing = [&](const std::string& name, const std::vector<int64_t>&) -> common::Result<const float*> {
    if (++calls == 3) return common::Status::NotFound("no weight " + name);
    static std::vector<float> zeros(1 << 20);
    return zeros.data();
  };
  const common::Status st = write_base_file_streamed(path.string(), info_of(c, QuantFormat::kNF4), failing);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("no weight"), std::string::npos);
  EXPECT_TRUE(fs::is_empty(dir_));
}

}  // namespace trainer::weight_init_test
