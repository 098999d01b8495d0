// Bad hybrid configs (ssm, moe, sliding-window attention): every inconsistent dimension is rejected
// with a message naming the file and the field, and Model::create refuses them before allocating
// (a bad config with huge dimensions fails with the field's name, not an allocation failure).
#include <gtest/gtest.h>

#include <string>

#include "trainer/model.h"
#include "trainer/model_config.h"

namespace {

// A hybrid-tiny based model TOML with `extra` appended (tables override the preset's values).
std::string hybrid_with(const std::string& extra) { return "preset = \"hybrid-tiny\"\n" + extra; }

void expect_rejected(const std::string& toml, const std::string& field) {
  auto c = trainer::parse_model_config_toml(toml, "bad.toml");
  ASSERT_FALSE(c.ok()) << "accepted:\n" << toml;
  const std::string& msg = c.status().message();
  EXPECT_NE(msg.find("bad.toml"), std::string::npos) << msg;
  EXPECT_NE(msg.find(field), std::string::npos) << "message does not name " << field << ": " << msg;
}

TEST(HybridConfig, ThePresetsAreValid) {
  for (const char* name : {"hybrid-tiny", "mamba-tiny", "hybrid-small"}) {
    auto c = trainer::parse_model_config_toml(std::string("preset = \"") + name + "\"\n", "ok.toml");
    ASSERT_TRUE(c.ok()) << name << ": " << c.status().to_string();
  }
}

TEST(HybridConfig, AttentionDimensionsThatDoNotDivide) {
  expect_rejected(hybrid_with("[attn]\nn_heads = 3\n"), "attn.n_heads");          // 128 % 3 != 0
  expect_rejected(hybrid_with("[attn]\nn_heads = 4\nn_kv_heads = 3\n"), "attn.n_kv_heads");
  expect_rejected(hybrid_with("[attn]\nn_heads = 4\nn_kv_heads = 8\n"), "attn.n_kv_heads");
  expect_rejected(hybrid_with("[attn]\nn_heads = 0\n"), "attn.n_heads");
  expect_rejected(hybrid_with("[attn]\nhead_dim = 7\n"), "attn.head_dim");         // odd: no RoPE pairs
}

TEST(HybridConfig, WindowMustBePositive) {
  expect_rejected(hybrid_with("[attn]\nwindow = -1\n"), "attn.window");
  expect_rejected(hybrid_with("[attn]\nwindow = -32\n"), "attn.window");
  expect_rejected(hybrid_with("[attn]\nwindow = 2.5\n"), "window");
}

TEST(HybridConfig, SsmDimensions) {
  expect_rejected(hybrid_with("[ssm]\nexpand = 0\n"), "ssm.expand");
  expect_rejected(hybrid_with("[ssm]\nexpand = 1.5\n"), "expand");               // not an integer multiple
  expect_rejected(hybrid_with("[ssm]\nd_state = 0\n"), "ssm.d_state");
  expect_rejected(hybrid_with("[ssm]\nd_conv = 0\n"), "ssm.d_conv");
  expect_rejected(hybrid_with("[ssm]\ndt_rank = -2\n"), "ssm.dt_rank");
  expect_rejected("preset = \"mamba-tiny\"\n[ssm]\nexpand = -1\n", "ssm.expand");
}

TEST(HybridConfig, MoeTopKAndExperts) {
  expect_rejected(hybrid_with("[moe]\ntop_k = 9\n"), "moe.top_k");                // > 8 experts
  expect_rejected(hybrid_with("[moe]\nn_experts = 1\n"), "moe.top_k");            // top-2 of 1
  expect_rejected(hybrid_with("[moe]\ntop_k = 0\n"), "moe.top_k");
  expect_rejected(hybrid_with("[moe]\nn_experts = 0\n"), "moe.n_experts");
  expect_rejected(hybrid_with("[moe]\nd_expert = -4\n"), "moe.d_expert");
  expect_rejected(hybrid_with("[moe]\naux_loss_weight = -0.1\n"), "moe.aux_loss_weight");
}

TEST(HybridConfig, ModelCreateRejectsBeforeAllocating) {
  // Terabytes of weights if it got as far as allocating: the field error must come first.
  auto good = trainer::parse_model_config_toml(hybrid_with(""), "ok.toml");
  ASSERT_TRUE(good.ok());
  trainer::RunShape shape;
  shape.batch = 64;
  shape.seq_len = 4096;
  struct Case {
    const char* field;
    void (*spoil)(trainer::ModelConfig&);
  };
  const Case cases[] = {
      {"moe.top_k", [](trainer::ModelConfig& c) { c.moe.top_k = c.moe.n_experts + 1; }},
      {"attn.n_heads", [](trainer::ModelConfig& c) { c.attn.n_heads = 7; }},
      {"attn.window", [](trainer::ModelConfig& c) { c.attn.window = -4; }},
      {"ssm.expand", [](trainer::ModelConfig& c) { c.ssm.expand = 0; }},
  };
  for (const Case& k : cases) {
    trainer::ModelConfig c = *good;
    c.d_model = 1 << 16;
    c.vocab_size = 1 << 20;
    c.moe.n_experts = 4096;
    k.spoil(c);
    auto m = trainer::Model::create(c, shape);
    ASSERT_FALSE(m.ok()) << k.field;
    EXPECT_EQ(m.status().code(), common::StatusCode::kInvalidArgument) << m.status().to_string();
    EXPECT_NE(m.status().message().find(k.field), std::string::npos) << m.status().to_string();
  }
}

}  // namespace
