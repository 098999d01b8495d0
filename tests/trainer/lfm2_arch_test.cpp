// The lfm2 architecture's config.json reading (trainer/arch/lfm2.cpp): the layer pattern from
// layer_types or from full_attn_idxs, the MLP width LFM2 derives from block_ff_dim (LFM2-350M's
// config gives the 4608 llama.cpp files carry), tied embeddings by default, attention with q/k norms,
// config errors naming the file and the key, and which conv models GGUF export writes as lfm2. The weights' round trip
// against llama.cpp is in import_test.cpp (Arch/Imported, "lfm2").
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "trainer/arch/architecture.h"
#include "trainer/formats/gguf_export.h"
#include "trainer/lora/plan.h"

namespace {

using trainer::LayerKind;

// LFM2-350M's config.json, as published (the keys the architecture reads).
std::string lfm2_350m(const std::string& pattern_keys) {
  return R"({"model_type": "lfm2", "architectures": ["Lfm2ForCausalLM"], "vocab_size": 65536,
    "hidden_size": 1024, "num_hidden_layers": 16, "num_attention_heads": 16, "num_key_value_heads": 8,
    "block_ff_dim": 6656, "block_auto_adjust_ff_dim": true, "block_ffn_dim_multiplier": 1.0,
    "block_multiple_of": 256, "conv_L_cache": 3, "conv_bias": false, "norm_eps": 1e-05,
    "rope_theta": 1000000.0, )" +
         pattern_keys + "}";
}

const char* kAttnLayers[] = {"2", "5", "8", "10", "12", "14"};

trainer::ModelConfig read(const std::string& text) {
  auto hf = trainer::HfConfig::parse(text, "config.json");
  EXPECT_TRUE(hf.ok()) << hf.status().message();
  auto arch = trainer::architecture_for_hf(*hf);
  EXPECT_TRUE(arch.ok()) << arch.status().message();
  EXPECT_EQ(std::string((*arch)->name), "lfm2");
  auto c = (*arch)->from_hf(*hf);
  EXPECT_TRUE(c.ok()) << c.status().message();
  return c.ok() ? *c : trainer::ModelConfig{};
}

void expect_350m(const trainer::ModelConfig& c) {
  ASSERT_EQ(c.blocks.size(), 16u);
  for (int i = 0; i < 16; ++i) {
    bool attn = false;
    for (const char* a : kAttnLayers) attn = attn || std::to_string(i) == a;
    EXPECT_EQ(c.blocks[i].layers.front(), attn ? LayerKind::kAttn : LayerKind::kConv) << "layer " << i;
    EXPECT_EQ(c.blocks[i].layers.back(), LayerKind::kMlp);
  }
  EXPECT_EQ(c.mlp.d_ff, 4608);  // int(2 * 6656 / 3) = 4437, rounded up to a multiple of 256
  EXPECT_EQ(c.conv.l_cache, 3);
  EXPECT_TRUE(c.attn.qk_norm);
  EXPECT_EQ(c.attn.n_kv_heads, 8);
  EXPECT_EQ(c.head_dim(), 64);
  EXPECT_TRUE(c.tied_embedding);
  EXPECT_FLOAT_EQ(c.attn.rope_theta, 1e6f);
}

TEST(Lfm2Arch, LayerTypesGiveThePattern) {
  std::string types;
  for (int i = 0; i < 16; ++i) {
    bool attn = false;
    for (const char* a : kAttnLayers) attn = attn || std::to_string(i) == a;
    types += std::string(i ? ", " : "") + (attn ? "\"full_attention\"" : "\"conv\"");
  }
  expect_350m(read(lfm2_350m("\"layer_types\": [" + types + "]")));
}

TEST(Lfm2Arch, FullAttnIdxsGiveThePattern) {
  expect_350m(read(lfm2_350m("\"full_attn_idxs\": [2, 5, 8, 10, 12, 14]")));
}

TEST(Lfm2Arch, WithoutAutoAdjustTheWidthIsBlockFfDim) {
  const trainer::ModelConfig c =
      read(lfm2_350m("\"full_attn_idxs\": [2], \"block_auto_adjust_ff_dim\": false, \"tie_embedding\": false"));
  EXPECT_EQ(c.mlp.d_ff, 6656);
  EXPECT_FALSE(c.tied_embedding);
}

TEST(Lfm2Arch, BadPatternsAreRefusedNamingTheFile) {
  for (const std::string& keys : {std::string("\"layer_types\": [\"conv\", \"mamba\"]"),
                                  std::string("\"full_attn_idxs\": [16]"), std::string("\"conv_bias\": true")}) {
    auto hf = trainer::HfConfig::parse(lfm2_350m(keys), "config.json");
    ASSERT_TRUE(hf.ok());
    auto c = (*trainer::architecture_for_hf(*hf))->from_hf(*hf);
    ASSERT_FALSE(c.ok()) << keys;
    EXPECT_NE(c.status().message().find("config.json"), std::string::npos) << c.status().message();
  }
}

// A model of conv+mlp and attn+mlp blocks is written as llama.cpp's lfm2; other mixes are refused.
TEST(Lfm2Arch, GgufExportWritesConvModelsAsLfm2) {
  trainer::ModelConfig c = read(lfm2_350m("\"full_attn_idxs\": [2]"));
  c.name = "my-run";
  auto a = trainer::gguf_export_architecture(c, "runs/x");
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(std::string((*a)->name), "lfm2");
  trainer::ModelConfig mixed = c;
  mixed.blocks[1] = trainer::BlockSpec{{LayerKind::kSsm}};
  auto refused = trainer::gguf_export_architecture(mixed, "runs/x");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("conv+mlp or attn+mlp"), std::string::npos) << refused.status().message();
  trainer::ModelConfig no_norm = c;
  no_norm.attn.qk_norm = false;
  EXPECT_FALSE(trainer::gguf_export_architecture(no_norm, "runs/x").ok());
}

// LoRA targets by LFM2's Hugging Face module names: in_proj and out_proj are the conv kind's own;
// feed_forward.w1 / w3 / w2 are the mlp's gate, up and down.
TEST(Lfm2Arch, LoraTargetsByHfNames) {
  auto t = trainer::parse_lora_targets("in_proj,out_proj,w1,w3,w2,q_proj");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(*t, (std::vector<std::string>{"in_proj", "out_proj", "gate", "up", "down", "q"}));
}

}  // namespace
