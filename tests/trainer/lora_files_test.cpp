// Base files, PEFT adapters and merging: a checkpoint quantized into a base file loads into a qlora
// model exactly as quantizing in memory does; a PEFT export has PEFT's names, shapes and config keys
// and loads back with bit-identical logits; merge(base, adapter) gives the logits of base + adapter;
// wrong formats, foreign adapters and mismatched shapes are clear errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "trainer/formats/checkpoint.h"
#include "trainer/model_config_toml.h"
#include "trainer/lora/merge.h"
#include "trainer/formats/peft.h"
#include "trainer/quant/base_file.h"

namespace trainer {
namespace {

namespace fs = std::filesystem;

ModelConfig config() {
  ModelConfig c;
  c.name = "files-test";
  c.vocab_size = 17;
  c.d_model = 16;
  c.tied_embedding = true;
  c.init_std = 0.2f;
  c.blocks = {{{LayerKind::kAttn, LayerKind::kMlp}}, {{LayerKind::kAttn, LayerKind::kMlp}}};
  c.attn.n_heads = 2;
  c.mlp.d_ff = 32;
  return c;
}

RunShape adapted_shape(QuantFormat format, int rank, double alpha) {
  RunShape s;
  s.batch = 2;
  s.seq_len = 5;
  s.mode = mode_for_base_format(format);
  s.lora_rank = rank;
  s.lora.rank_max = 8;
  s.lora.alpha = alpha;
  s.lora.base_format = format;
  s.lora.double_quant = format == QuantFormat::kNF4;
  return s;
}

class LoraFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ns_lora_files_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    RunShape s;
    s.batch = 2;
    s.seq_len = 5;
    auto m = Model::create(config(), s);
    ASSERT_TRUE(m.ok());
    full_ = std::move(*m);
    full_->init_weights(5);
    CheckpointInfo info;
    info.step = 10;
    info.shape = s;
    info.model_toml = model_config_to_toml(config());
    info.tokenizer_spec = "byte";
    ASSERT_TRUE(save_checkpoint((dir_ / "run").string(), *full_, info).ok());
    input_ = {1, 5, 3, 9, 16, 0, 2, 2, 7, 11};
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Model> adapted(const RunShape& s, const BaseSource& base) {
    auto m = Model::create(config(), s);
    EXPECT_TRUE(m.ok()) << m.status().to_string();
    (*m)->init_weights(9);
    const common::Status st = base.fill(**m);
    EXPECT_TRUE(st.ok()) << st.to_string();
    return std::move(*m);
  }
  std::vector<float> logits(Model& m) {
    m.forward(input_.data(), nullptr);
    return std::vector<float>(m.logits(), m.logits() + input_.size() * config().vocab_size);
  }
  static void train_adapters(Model& m) {  // stand-in for training: nonzero, reproducible B
    Rng rng(3);
    for (LoraAdapterEntry& e : m.lora()->adapters())
      for (int64_t i = 0; i < int64_t{e.t.rank} * e.t.out; ++i) e.t.bt[i] = static_cast<float>(rng.normal() * 0.2);
  }
  std::string base_file(QuantFormat format) {
    auto ck = BaseSource::open((dir_ / "run").string());
    EXPECT_TRUE(ck.ok()) << ck.status().to_string();
    BaseInfo info = (*ck)->info();
    info.format = format;
    info.double_quant = format == QuantFormat::kNF4;
    const std::string path = (dir_ / (std::string("base-") + quant_format_name(format) + ".safetensors")).string();
    const common::Status st = write_base_file(path, info, (*ck)->f32_lookup());
    EXPECT_TRUE(st.ok()) << st.to_string();
    return path;
  }

  fs::path dir_;
  std::unique_ptr<Model> full_;
  std::vector<int32_t> input_;
};

TEST_F(LoraFilesTest, BaseFileLoadsExactlyAsQuantizingInMemory) {
  auto ck = BaseSource::open((dir_ / "run").string());
  ASSERT_TRUE(ck.ok()) << ck.status().to_string();
  EXPECT_TRUE((*ck)->is_checkpoint());
  EXPECT_EQ((*ck)->info().tokenizer, "byte");
  EXPECT_EQ((*ck)->info().base_id.size(), 16u);
  for (QuantFormat f : {QuantFormat::kNF4, QuantFormat::kQ8, QuantFormat::kF16, QuantFormat::kF32}) {
    const std::string path = base_file(f);
    auto base = BaseSource::open(path);
    ASSERT_TRUE(base.ok()) << base.status().to_string();
    EXPECT_FALSE((*base)->is_checkpoint());
    EXPECT_EQ((*base)->info().format, f);
    EXPECT_EQ((*base)->info().base_id, (*ck)->info().base_id);  // the identity follows the weights
    EXPECT_EQ((*base)->info().config.d_model, 16);
    const RunShape s = adapted_shape(f, 4, 8.0);
    auto from_file = adapted(s, **base);
    auto from_ckpt = adapted(s, **ck);
    EXPECT_EQ(logits(*from_file), logits(*from_ckpt)) << quant_format_name(f);
  }
  // An nf4 base is about 4.1/32 of the f32 one for the linear weights.
  EXPECT_LT(fs::file_size(base_file(QuantFormat::kNF4)), fs::file_size(base_file(QuantFormat::kF32)) / 2);
}

TEST_F(LoraFilesTest, WrongBaseFormatsAreClearErrors) {
  auto nf4 = BaseSource::open(base_file(QuantFormat::kNF4));
  ASSERT_TRUE(nf4.ok());
  auto m = Model::create(config(), adapted_shape(QuantFormat::kQ8, 4, 8.0));
  ASSERT_TRUE(m.ok());
  const common::Status st = (*nf4)->fill(**m);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("stored as nf4 (double quantized) but the run needs q8"), std::string::npos) << st.message();
  // Not a base file at all: a checkpoint's weights file given directly.
  auto plain = BaseSource::open((dir_ / "run/checkpoints/step-00000010/model.safetensors").string());
  ASSERT_FALSE(plain.ok());
  EXPECT_NE(plain.status().message().find("not a nightshift base file"), std::string::npos);
  auto missing = BaseSource::open((dir_ / "nothing").string());
  ASSERT_FALSE(missing.ok());
  // A truncated base file.
  const std::string path = base_file(QuantFormat::kQ8);
  fs::resize_file(path, fs::file_size(path) - 100);
  auto truncated = BaseSource::open(path);
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().message().find(path), std::string::npos);
}

TEST_F(LoraFilesTest, PeftExportHasPeftNamesShapesAndConfig) {
  auto base = BaseSource::open(base_file(QuantFormat::kNF4));
  ASSERT_TRUE(base.ok());
  RunShape s = adapted_shape(QuantFormat::kNF4, 4, 8.0);
  s.lora.targets = {"q", "v", "down"};
  auto m = adapted(s, **base);
  train_adapters(*m);
  const std::string out = (dir_ / "adapter").string();
  ASSERT_TRUE(export_peft_adapter(out, *m, "files-test", (*base)->info().base_id, (*base)->info().model_toml).ok());
  auto text = common::read_file(out + "/adapter_config.json");
  ASSERT_TRUE(text.ok());
  const auto j = nlohmann::json::parse(*text);
  EXPECT_EQ(j["peft_type"], "LORA");
  EXPECT_EQ(j["r"], 4);
  EXPECT_EQ(j["lora_alpha"], 8);  // integral: written as PEFT's int
  EXPECT_TRUE(j["lora_alpha"].is_number_integer());
  EXPECT_EQ(j["target_modules"], (std::vector<std::string>{"down", "q", "v"}));
  EXPECT_EQ(j["bias"], "none");
  EXPECT_EQ(j["task_type"], "CAUSAL_LM");
  auto st = SafetensorsFile::open(out + "/adapter_model.safetensors");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ((*st)->tensors().size(), 2u * 3u * 2u);
  EXPECT_TRUE((*st)->get("base_model.model.blocks.0.attn.q.lora_A.weight", DType::kF32, {4, 16}).ok());
  EXPECT_TRUE((*st)->get("base_model.model.blocks.1.attn.v.lora_B.weight", DType::kF32, {16, 4}).ok());  // (Out, r)
  EXPECT_TRUE((*st)->get("base_model.model.blocks.1.mlp.down.lora_B.weight", DType::kF32, {16, 4}).ok());
  EXPECT_EQ((*st)->metadata().at("format"), "pt");
}

TEST_F(LoraFilesTest, ExportedAdapterLoadsBackWithIdenticalLogits) {
  auto base = BaseSource::open(base_file(QuantFormat::kNF4));
  ASSERT_TRUE(base.ok());
  // alpha 7 with rank 3: a scale that is not a round number; then shrink to 2 so that lora_alpha
  // has to carry scale·r exactly.
  auto m = adapted(adapted_shape(QuantFormat::kNF4, 3, 7.0), **base);
  train_adapters(*m);
  ASSERT_TRUE(m->lora()->set_rank(2, 1).ok());
  const auto want = logits(*m);
  const std::string out = (dir_ / "adapter").string();
  ASSERT_TRUE(export_peft_adapter(out, *m, "b", (*base)->info().base_id, "").ok());
  auto peft = read_peft_adapter(out);
  ASSERT_TRUE(peft.ok()) << peft.status().to_string();
  EXPECT_EQ(peft->rank, 2);
  EXPECT_EQ(peft->base_id, (*base)->info().base_id);
  RunShape s = adapted_shape(QuantFormat::kNF4, peft->rank, peft->lora_alpha);
  auto back = adapted(s, **base);
  ASSERT_TRUE(load_peft_adapter(*peft, *back, out).ok());
  EXPECT_EQ(back->lora()->scale(), m->lora()->scale());
  EXPECT_EQ(logits(*back), want);
}

TEST_F(LoraFilesTest, MergedCheckpointGivesTheLogitsOfBasePlusAdapter) {
  for (QuantFormat f : {QuantFormat::kNF4, QuantFormat::kF32}) {
    auto base = BaseSource::open(base_file(f));
    ASSERT_TRUE(base.ok());
    auto m = adapted(adapted_shape(f, 4, 8.0), **base);
    train_adapters(*m);
    const auto want = logits(*m);
    const std::string out = (dir_ / "adapter").string();
    ASSERT_TRUE(export_peft_adapter(out, *m, "b", (*base)->info().base_id, "").ok());
    auto peft = read_peft_adapter(out);
    ASSERT_TRUE(peft.ok());
    RunShape fs_shape;
    fs_shape.batch = 2;
    fs_shape.seq_len = 5;
    auto merged = Model::create(config(), fs_shape);
    ASSERT_TRUE(merged.ok());
    ASSERT_TRUE(merge_adapter(**base, *peft, out, **merged).ok());
    const auto got = logits(**merged);
    const auto plain = logits(*full_);
    double max_diff = 0, spread = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      max_diff = std::max(max_diff, static_cast<double>(std::fabs(got[i] - want[i])));
      spread = std::max(spread, static_cast<double>(std::fabs(want[i] - plain[i])));
    }
    EXPECT_LT(max_diff, 2e-5) << quant_format_name(f);
    EXPECT_GT(spread, 1e-2);  // the adapter (and quantization) really changed the logits
  }
}

TEST_F(LoraFilesTest, ForeignOrMalformedAdaptersAreRejected) {
  auto base = BaseSource::open(base_file(QuantFormat::kNF4));
  ASSERT_TRUE(base.ok());
  auto m = adapted(adapted_shape(QuantFormat::kNF4, 4, 8.0), **base);
  train_adapters(*m);
  const std::string out = (dir_ / "adapter").string();
  ASSERT_TRUE(export_peft_adapter(out, *m, "b", (*base)->info().base_id, "").ok());
  auto peft = read_peft_adapter(out);
  ASSERT_TRUE(peft.ok());
  // Another base: same architecture, other weights.
  BaseInfo other = (*base)->info();
  other.base_id = "0123456789abcdef";
  auto st = check_adapter_matches_base(*peft, other, out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("was trained on base"), std::string::npos);
  // Another architecture: wider MLP.
  BaseInfo wider = (*base)->info();
  wider.base_id.clear();
  wider.config.mlp.d_ff = 48;
  st = check_adapter_matches_base(*peft, wider, out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("blocks.0.mlp.down is (16 x 32) in the adapter but (16 x 48) in the base"), std::string::npos)
      << st.message();
  // A model adapting fewer targets than the adapter holds.
  RunShape fewer = adapted_shape(QuantFormat::kNF4, 4, 8.0);
  fewer.lora.targets = {"q"};
  auto q_only = adapted(fewer, **base);
  st = load_peft_adapter(*peft, *q_only, out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("which this model does not adapt"), std::string::npos);
  // Scale mismatch.
  auto other_scale = adapted(adapted_shape(QuantFormat::kNF4, 4, 16.0), **base);
  st = load_peft_adapter(*peft, *other_scale, out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("scale"), std::string::npos);
  // Not LORA; lora_A without lora_B.
  auto text = common::read_file(out + "/adapter_config.json");
  ASSERT_TRUE(text.ok());
  auto j = nlohmann::json::parse(*text);
  j["peft_type"] = "IA3";
  ASSERT_TRUE(common::write_file_atomic(out + "/adapter_config.json", j.dump()).ok());
  auto bad = read_peft_adapter(out);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("expected 'LORA'"), std::string::npos);
  j["peft_type"] = "LORA";
  ASSERT_TRUE(common::write_file_atomic(out + "/adapter_config.json", j.dump()).ok());
  const std::vector<float> a(4 * 16, 0.0f);
  ASSERT_TRUE(write_safetensors(out + "/adapter_model.safetensors",
                                {{"base_model.model.blocks.0.attn.q.lora_A.weight", DType::kF32, {4, 16}, a.data(), a.size() * 4}})
                  .ok());
  bad = read_peft_adapter(out);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("has lora_A but no lora_B"), std::string::npos);
}

}  // namespace
}  // namespace trainer
