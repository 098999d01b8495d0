// Bamba (trainer/arch/bamba.cpp) and the partial rotary it brought (attn.rope_dim): Bamba-9B's
// config.json read (attn_layer_indices, attn_rotary_emb, "auto" head size), its HF names, its GGUF
// written as granitehybrid, and in a model of mamba2+mlp and attn+mlp blocks whose attention rotates
// half of each head: each weight's gradient against finite differences, the decode step against the
// full forward, packed documents and the TOML round trip. The weights' round trip against llama.cpp
// is tests/integration/bamba_test.sh; the partial rotary kernel's is kernels_grad_test.cpp.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "trainer/arch/architecture.h"
#include "trainer/block_fixture.h"
#include "trainer/formats/gguf_export.h"
#include "trainer/model_config_toml.h"

namespace {

using trainer::BlockSpec;
using trainer::LayerKind;
using trainer::ModelConfig;

const char* kBamba9B = R"({"model_type": "bamba", "architectures": ["BambaForCausalLM"], "vocab_size": 128256,
  "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
  "num_key_value_heads": 8, "attn_layer_indices": [9, 18, 27], "attn_rotary_emb": 64, "mamba_n_heads": 128,
  "mamba_d_head": "auto", "mamba_n_groups": 1, "mamba_d_state": 128, "mamba_d_conv": 4, "mamba_expand": 2,
  "mamba_chunk_size": 256, "mamba_conv_bias": true, "mamba_proj_bias": false, "hidden_act": "silu",
  "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "tie_word_embeddings": false})";

common::Result<ModelConfig> read_bamba(const std::string& text, const trainer::Architecture** arch_out = nullptr) {
  auto hf = trainer::HfConfig::parse(text, "config.json");
  if (!hf.ok()) return hf.status();
  auto arch = trainer::architecture_for_hf(*hf);
  if (!arch.ok()) return arch.status();
  EXPECT_EQ(std::string((*arch)->name), "bamba");
  if (arch_out != nullptr) *arch_out = *arch;
  return (*arch)->from_hf(*hf);
}

TEST(BambaArch, ReadsBamba9B) {
  const trainer::Architecture* arch = nullptr;
  auto c = read_bamba(kBamba9B, &arch);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->blocks.size(), 32u);
  for (size_t i = 0; i < 32; ++i) {
    const bool attn = i == 9 || i == 18 || i == 27;
    EXPECT_EQ(c->blocks[i], (BlockSpec{{attn ? LayerKind::kAttn : LayerKind::kMamba2, LayerKind::kMlp}})) << i;
  }
  EXPECT_TRUE(c->attn.rope);
  EXPECT_EQ(c->head_dim(), 128);
  EXPECT_EQ(c->rotary_dim(), 64);
  EXPECT_EQ(c->mamba2.head_dim, 64);  // "auto": 8192 inner / 128 heads
  EXPECT_EQ(c->mamba2.d_state, 128);
  EXPECT_EQ(c->ff_dim(), 14336);
  EXPECT_FALSE(c->tied_embedding);
  EXPECT_EQ(c->embedding_scale, 1.0f);
  // HF names of transformers' Bamba; the GGUF is llama.cpp's granitehybrid with the rotated rows paired.
  bool pre_ff = false, final_norm = false, rotary = false;
  for (const trainer::TensorMapping& m : arch->hf_tensors(*c)) {
    pre_ff |= m.ours == "blocks.9.mlp_norm.weight" && m.theirs.front() == "model.layers.9.pre_ff_layernorm.weight";
    final_norm |= m.ours == "final_norm.weight" && m.theirs.front() == "model.final_layernorm.weight";
  }
  for (const trainer::TensorMapping& m : arch->gguf_tensors(*c))
    rotary |= m.ours == "blocks.18.attn.k.weight" && m.theirs.front() == "blk.18.attn_k.weight" && m.rotary == 64;
  EXPECT_TRUE(pre_ff && final_norm && rotary);
  auto a = trainer::gguf_export_architecture(*c, "runs/x", "bamba");
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(std::string((*a)->name), "granitehybrid");
}

TEST(BambaArch, PartialRotaryFactorAndBadInput) {
  std::string text = kBamba9B;
  text.replace(text.find("\"attn_rotary_emb\": 64"), 21, "\"partial_rotary_factor\": 0.25");
  auto c = read_bamba(text);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->rotary_dim(), 32);
  std::string bad = kBamba9B;
  bad.replace(bad.find("[9, 18, 27]"), 11, "[9, 18, 32]");
  auto refused = read_bamba(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("attn_layer_indices names layer 32"), std::string::npos)
      << refused.status().message();
  ModelConfig odd = *c;
  odd.attn.rope_dim = 31;
  EXPECT_FALSE(trainer::validate_model_config(odd, "model.toml").ok());
}

// Bamba at toy width: mamba2+mlp, then attn+mlp with half of each head rotating.
ModelConfig bamba_toy() {
  ModelConfig c;
  c.name = "bamba-test";
  c.vocab_size = 13;
  c.d_model = 8;
  c.init_std = 0.3f;
  const BlockSpec m{{LayerKind::kMamba2, LayerKind::kMlp}}, attn{{LayerKind::kAttn, LayerKind::kMlp}};
  c.blocks = {m, attn};
  c.attn.n_heads = 2;
  c.attn.n_kv_heads = 1;
  c.attn.rope_dim = 2;
  c.mlp.d_ff = 12;
  c.mamba2.d_inner = 16;
  c.mamba2.head_dim = 4;
  c.mamba2.d_state = 4;
  c.mamba2.n_groups = 2;
  c.mamba2.chunk = 4;
  return c;
}

TEST(BambaModel, GradientsMatchFiniteDifferences) {
  EXPECT_FALSE(trainer_test::expect_model_gradients_match_finite_differences(bamba_toy()).empty());
}

TEST(BambaModel, DecodeStepMatchesFullForward) { trainer_test::expect_decode_matches_forward(bamba_toy(), 11); }

TEST(BambaModel, PackedDocumentsRestartTheState) { trainer_test::expect_packed_documents_restart(bamba_toy(), 13, 6); }

TEST(BambaModel, TomlRoundTrip) {
  auto back = trainer::parse_model_config_toml(trainer::model_config_to_toml(bamba_toy()), "model.toml");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->attn.rope_dim, 2);
}

}  // namespace
