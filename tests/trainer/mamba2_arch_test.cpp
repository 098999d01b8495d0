// The mamba2 architecture's config.json reading (trainer/arch/mamba2.cpp): Mamba-Codestral-7B's
// transformers config (heads, groups, state, untied head), the vocabulary padded to
// pad_vocab_size_multiple, config errors naming the file and the key, and which models GGUF export
// writes as mamba2. The weights' round trip against llama.cpp is in import_test.cpp (Arch/Imported,
// "mamba2").
#include <gtest/gtest.h>

#include <string>

#include "trainer/arch/architecture.h"
#include "trainer/formats/gguf_export.h"
#include "trainer/layers/mamba2_block.h"

namespace {

using trainer::LayerKind;

// mistralai/Mamba-Codestral-7B-v0.1's config.json (the keys the architecture reads).
std::string codestral(const std::string& extra = "") {
  return R"({"model_type": "mamba2", "architectures": ["Mamba2ForCausalLM"], "hidden_size": 4096,
    "num_hidden_layers": 64, "state_size": 128, "expand": 2, "head_dim": 64, "num_heads": 128,
    "n_groups": 8, "conv_kernel": 4, "vocab_size": 32768, "chunk_size": 256, "tie_word_embeddings": false,
    "layer_norm_epsilon": 1e-05, "rms_norm": true, "use_bias": false, "use_conv_bias": true)" +
         extra + "}";
}

common::Result<trainer::ModelConfig> read(const std::string& text) {
  auto hf = trainer::HfConfig::parse(text, "config.json");
  EXPECT_TRUE(hf.ok()) << hf.status().message();
  auto arch = trainer::architecture_for_hf(*hf);
  EXPECT_TRUE(arch.ok()) << arch.status().message();
  EXPECT_EQ(std::string((*arch)->name), "mamba2");
  return (*arch)->from_hf(*hf);
}

TEST(Mamba2Arch, CodestralConfig) {
  auto c = read(codestral());
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->blocks.size(), 64u);
  for (const auto& b : c->blocks) EXPECT_EQ(b.layers, std::vector<LayerKind>{LayerKind::kMamba2});
  const trainer::Mamba2Dims d = trainer::mamba2_dims(*c, 1, 1);
  EXPECT_EQ(d.Di, 8192);
  EXPECT_EQ(d.H, 128);
  EXPECT_EQ(d.P, 64);
  EXPECT_EQ(d.G, 8);
  EXPECT_EQ(d.N, 128);
  EXPECT_EQ(d.K, 4);
  EXPECT_EQ(d.in_width(), 2 * 8192 + 2 * 8 * 128 + 128);  // Codestral's in_proj has 18560 rows
  EXPECT_EQ(c->vocab_size, 32768);
  EXPECT_FALSE(c->tied_embedding);
}

TEST(Mamba2Arch, VocabularyIsPaddedToTheMultiple) {
  auto c = read(codestral(R"(, "vocab_size": 50277, "pad_vocab_size_multiple": 16)"));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->vocab_size, 50288);
}

TEST(Mamba2Arch, BadConfigsAreRefusedNamingTheFile) {
  for (const std::string& extra : {std::string(R"(, "num_heads": 100)"), std::string(R"(, "n_groups": 3)"),
                                   std::string(R"(, "use_conv_bias": false)"), std::string(R"(, "rms_norm": false)")}) {
    auto c = read(codestral(extra));
    ASSERT_FALSE(c.ok()) << extra;
    EXPECT_NE(c.status().message().find("config.json"), std::string::npos) << c.status().message();
  }
}

// A model of mamba2 blocks is written as llama.cpp's mamba2; a mix with other kinds is refused.
TEST(Mamba2Arch, GgufExportWritesMamba2Models) {
  auto c = read(codestral());
  ASSERT_TRUE(c.ok());
  c->name = "my-run";
  auto a = trainer::gguf_export_architecture(*c, "runs/x");
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(std::string((*a)->name), "mamba2");
  trainer::ModelConfig mixed = *c;
  mixed.blocks[1] = trainer::BlockSpec{{LayerKind::kAttn, LayerKind::kMlp}};
  auto refused = trainer::gguf_export_architecture(mixed, "runs/x");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("every block mamba2"), std::string::npos) << refused.status().message();
}

}  // namespace
