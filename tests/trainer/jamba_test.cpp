// Jamba (trainer/arch/jamba.cpp) and the numerics it brought: config.json reading (the layer kinds
// from attn_/expert_layer_period and offset, or the explicit lists), the GGUF export architecture,
// and in a model of ssm+mlp, ssm+moe and attn+mlp blocks with the dt/B/C norms (ssm.dt_bc_norm) and
// experts whose gates are not renormalized (moe.renormalize = false): the decode step against the
// full forward, packed documents, the gates themselves, and the TOML round trip of the new keys. The
// gradients of both against finite differences are tests/trainer/ssm_block_test.cpp's and
// moe_block_test.cpp's. The weights' round trip against llama.cpp is
// tests/integration/jamba_test.sh.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "trainer/arch/architecture.h"
#include "trainer/block_fixture.h"
#include "trainer/formats/gguf_export.h"
#include "trainer/layers/moe_routing.h"
#include "trainer/model_config_toml.h"

namespace {

using trainer::BlockSpec;
using trainer::LayerKind;
using trainer::ModelConfig;

// Jamba-v0.1's config.json: 32 layers, attention every 8th from layer 4, experts every 2nd from 1.
const char* kJambaV01 = R"({"model_type": "jamba", "architectures": ["JambaForCausalLM"], "vocab_size": 65536,
  "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
  "num_key_value_heads": 8, "hidden_act": "silu", "rms_norm_eps": 1e-06, "tie_word_embeddings": false,
  "num_experts": 16, "num_experts_per_tok": 2, "expert_layer_period": 2, "expert_layer_offset": 1,
  "attn_layer_period": 8, "attn_layer_offset": 4, "mamba_d_state": 16, "mamba_d_conv": 4, "mamba_expand": 2,
  "mamba_dt_rank": 256, "mamba_conv_bias": true, "mamba_proj_bias": false, "router_aux_loss_coef": 0.001})";

common::Result<ModelConfig> read_jamba(const std::string& text) {
  auto hf = trainer::HfConfig::parse(text, "config.json");
  if (!hf.ok()) return hf.status();
  auto arch = trainer::architecture_for_hf(*hf);
  if (!arch.ok()) return arch.status();
  EXPECT_EQ(std::string((*arch)->name), "jamba");
  return (*arch)->from_hf(*hf);
}

TEST(JambaArch, ReadsTheLayerKindsFromPeriodsAndOffsets) {
  auto c = read_jamba(kJambaV01);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->blocks.size(), 32u);
  for (size_t i = 0; i < 32; ++i) {
    const BlockSpec want{{i % 8 == 4 ? LayerKind::kAttn : LayerKind::kSsm, i % 2 == 1 ? LayerKind::kMoe : LayerKind::kMlp}};
    EXPECT_EQ(c->blocks[i], want) << "layer " << i;
  }
  EXPECT_TRUE(c->ssm.dt_bc_norm);
  EXPECT_EQ(c->dt_rank(), 256);
  EXPECT_EQ(c->inner_dim(), 8192);
  EXPECT_FALSE(c->attn.rope);
  EXPECT_EQ(c->kv_heads(), 8);
  EXPECT_EQ(c->moe.n_experts, 16);
  EXPECT_EQ(c->moe.top_k, 2);
  EXPECT_EQ(c->expert_dim(), 14336);
  EXPECT_FALSE(c->moe.renormalize);
  EXPECT_FALSE(c->moe.shared_expert);
  EXPECT_FLOAT_EQ(c->moe.aux_loss_weight, 0.001f);
  EXPECT_FALSE(c->tied_embedding);
  EXPECT_FLOAT_EQ(c->norm_eps, 1e-6f);
  auto a = trainer::gguf_export_architecture(*c, "runs/x");
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(std::string((*a)->name), "jamba");
}

TEST(JambaArch, ExplicitListsAndBadInput) {
  std::string text = kJambaV01;
  text.replace(text.find("\"num_hidden_layers\": 32"), 23,
               "\"num_hidden_layers\": 3, \"layers_block_type\": [\"attention\", \"mamba\", \"mamba\"], "
               "\"layers_num_experts\": [1, 1, 16]");
  auto c = read_jamba(text);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->blocks, (std::vector<BlockSpec>{{{LayerKind::kAttn, LayerKind::kMlp}},
                                               {{LayerKind::kSsm, LayerKind::kMlp}},
                                               {{LayerKind::kSsm, LayerKind::kMoe}}}));
  std::string bad = text;
  bad.replace(bad.find("\"mamba\", \"mamba\"]"), 17, "\"mamba\", \"sliding\"]");
  auto refused = read_jamba(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("layers_block_type[2] is 'sliding'"), std::string::npos)
      << refused.status().message();
  std::string no_period = kJambaV01;
  no_period.replace(no_period.find("\"attn_layer_period\": 8, "), 24, "");
  auto missing = read_jamba(no_period);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("attn_layer_period"), std::string::npos) << missing.status().message();
}

// Jamba at toy width: ssm+mlp, ssm+moe, attn+mlp, with the dt/B/C norms and plain softmax gates.
ModelConfig jamba_toy() {
  ModelConfig c;
  c.name = "jamba-test";
  c.vocab_size = 13;
  c.d_model = 8;
  c.init_std = 0.3f;
  c.blocks = {BlockSpec{{LayerKind::kSsm, LayerKind::kMlp}}, BlockSpec{{LayerKind::kSsm, LayerKind::kMoe}},
              BlockSpec{{LayerKind::kAttn, LayerKind::kMlp}}};
  c.ssm.d_state = 6;
  c.ssm.dt_rank = 4;
  c.ssm.dt_bc_norm = true;
  c.attn.n_heads = 2;
  c.attn.n_kv_heads = 1;
  c.attn.rope = false;
  c.mlp.d_ff = 12;
  c.moe.n_experts = 3;
  c.moe.top_k = 2;
  c.moe.d_expert = 6;
  c.moe.shared_expert = false;
  c.moe.renormalize = false;
  c.norm_eps = 1e-6f;
  return c;
}

TEST(JambaModel, DecodeStepMatchesFullForward) { trainer_test::expect_decode_matches_forward(jamba_toy(), 11); }

// Without the aux loss, which balances experts over every token of the batch, the first document's
// tokens among them.
TEST(JambaModel, PackedDocumentsRestartTheState) {
  ModelConfig c = jamba_toy();
  c.moe.aux_loss_weight = 0.0f;
  trainer_test::expect_packed_documents_restart(c, 13, 6);
}

// Without renormalization a token's gates are its router probabilities: they sum to less than 1.
TEST(JambaModel, GatesAreTheRouterProbabilities) {
  const int M = 5, X = 4, k = 2;
  trainer::MoeDims d;
  d.M = M;
  d.X = X;
  d.k = k;
  d.renormalize = false;
  std::vector<float> probs = {0.3f, -1.0f, 2.0f, 0.1f, 1.0f, 1.0f, 0.0f, -2.0f, 0.5f, 0.4f,
                              0.3f, 0.2f,  -3.f, 0.0f, 3.0f, 1.0f, 2.0f, 1.5f,  0.2f, 0.1f};
  const std::vector<float> logits = probs;
  std::vector<std::int32_t> topk(M * k), slot(M * k), row(M * k), offset(X + 1);
  std::vector<float> gates(M * k);
  trainer::MoeActivations a;
  a.probs = probs.data();
  a.topk = topk.data();
  a.gates = gates.data();
  a.slot_row = slot.data();
  a.row_token = row.data();
  a.offset = offset.data();
  trainer::moe_route(a, d);
  for (int m = 0; m < M; ++m) {
    double z = 0;
    for (int e = 0; e < X; ++e) z += std::exp(logits[m * X + e]);
    for (int j = 0; j < k; ++j)
      EXPECT_NEAR(gates[m * k + j], std::exp(logits[m * X + topk[m * k + j]]) / z, 1e-6) << m << "," << j;
    EXPECT_LT(gates[m * k] + gates[m * k + 1], 1.0f);
  }
}

TEST(JambaModel, TomlRoundTrip) {
  const ModelConfig c = jamba_toy();
  const std::string text = trainer::model_config_to_toml(c);
  auto back = trainer::parse_model_config_toml(text, "model.toml");
  ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << text;
  EXPECT_TRUE(back->ssm.dt_bc_norm);
  EXPECT_FALSE(back->moe.renormalize);
  EXPECT_EQ(back->blocks, c.blocks);
}

}  // namespace
