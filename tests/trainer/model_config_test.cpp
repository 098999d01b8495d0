// Tests for trainer/model_config: presets, TOML parsing, validation messages.
#include <gtest/gtest.h>

#include "trainer/model_config.h"

namespace {

using trainer::LayerKind;

TEST(ModelConfig, GptTinyPresetHasFourAttnMlpBlocks) {
  auto c = trainer::model_preset("gpt-tiny");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->name, "gpt-tiny");
  EXPECT_EQ(c->d_model, 128);
  EXPECT_EQ(c->attn.n_heads, 4);
  ASSERT_EQ(c->blocks.size(), 4u);
  EXPECT_EQ(trainer::block_spec_to_string(c->blocks[0]), "attn+mlp");
  EXPECT_EQ(c->n_layers_of(LayerKind::kAttn), 4);
  EXPECT_EQ(c->head_dim(), 32);
}

TEST(ModelConfig, UnknownPresetListsKnownOnes) {
  auto c = trainer::model_preset("gpt-huge");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("gpt-tiny"), std::string::npos);
}

TEST(ModelConfig, PresetOverrideAndRepeat) {
  auto c = trainer::parse_model_config_toml(
      "[model]\npreset = \"gpt-tiny\"\nd_model = 64\nblocks = [\"ssm\", {block = \"attn+moe\", repeat = 2}]\n"
      "[model.attn]\nwindow = 16\n[model.moe]\nn_experts = 4\ntop_k = 2\n",
      "run.toml");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->d_model, 64);
  ASSERT_EQ(c->blocks.size(), 3u);
  EXPECT_EQ(trainer::block_spec_to_string(c->blocks[2]), "attn+moe");
  EXPECT_EQ(c->attn.window, 16);
  EXPECT_EQ(c->n_layers_of(LayerKind::kMoe), 2);
}

TEST(ModelConfig, RejectsBadInputNamingTheField) {
  auto unknown = trainer::parse_model_config_toml("d_model = 64\nblocks = [\"attn+foo\"]\n", "m.toml");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("m.toml:2"), std::string::npos) << unknown.status().message();
  EXPECT_NE(unknown.status().message().find("foo"), std::string::npos);

  auto heads = trainer::parse_model_config_toml("d_model = 100\nblocks = [\"attn\"]\n[attn]\nn_heads = 3\n", "m.toml");
  ASSERT_FALSE(heads.ok());
  EXPECT_NE(heads.status().message().find("attn.n_heads"), std::string::npos) << heads.status().message();

  auto topk = trainer::parse_model_config_toml("blocks = [\"moe\"]\n[moe]\nn_experts = 2\ntop_k = 3\n", "m.toml");
  ASSERT_FALSE(topk.ok());
  EXPECT_NE(topk.status().message().find("moe.top_k"), std::string::npos);

  auto window = trainer::parse_model_config_toml("blocks = [\"attn\"]\n[attn]\nwindow = -1\n", "m.toml");
  ASSERT_FALSE(window.ok());
  EXPECT_NE(window.status().message().find("attn.window"), std::string::npos);

  auto syntax = trainer::parse_model_config_toml("d_model = = 3\n", "m.toml");
  ASSERT_FALSE(syntax.ok());
  EXPECT_NE(syntax.status().message().find("m.toml:1:"), std::string::npos) << syntax.status().message();

  auto key = trainer::parse_model_config_toml("d_modle = 3\nblocks=[\"mlp\"]\n", "m.toml");
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.status().message().find("d_modle"), std::string::npos);
}

}  // namespace
