// Granite-4.0-H (trainer/arch/granite_hybrid.cpp) and the numerics it brought: config.json reading
// (layer_types, the mamba_* keys, NoPE, the µP multipliers, the MoE variant and its experts as blocks
// of the fused tensors), LoRA targets by Granite's
// module names, the GGUF export architecture, and in a model of mamba2+mlp and attn+mlp blocks with
// every multiplier set: each weight's gradient against finite differences, the decode step against the
// full forward, packed documents, logits divided by logit_scale, attention without RoPE blind to
// token order, and the TOML round trip of the new keys. The weights' round trip against llama.cpp is
// tests/integration/granitehybrid_test.sh.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "trainer/arch/architecture.h"
#include "trainer/block_fixture.h"
#include "trainer/formats/gguf_export.h"
#include "trainer/grad_check.h"
#include "trainer/lora/plan.h"
#include "trainer/model_config_toml.h"
#include "trainer/model_loss.h"

namespace {

using trainer::LayerKind;
using trainer::ModelConfig;
using trainer_test::random_tokens;

// A config.json with Granite-4.0-H's keys: 40 layers of nine Mamba-2 layers then one attention layer.
std::string granite_h() {
  std::string types;
  for (int i = 0; i < 40; ++i) types += std::string(i ? ", " : "") + (i % 10 == 9 ? "\"attention\"" : "\"mamba\"");
  return R"({"model_type": "granitemoehybrid", "architectures": ["GraniteMoeHybridForCausalLM"],
    "vocab_size": 100352, "hidden_size": 2048, "num_hidden_layers": 40, "num_attention_heads": 32,
    "num_key_value_heads": 8, "intermediate_size": 8192, "shared_intermediate_size": 8192,
    "num_local_experts": 0, "position_embedding_type": "nope", "mamba_n_heads": 64, "mamba_d_head": 64,
    "mamba_d_state": 128, "mamba_n_groups": 1, "mamba_d_conv": 4, "mamba_expand": 2, "mamba_chunk_size": 256,
    "mamba_conv_bias": true, "mamba_proj_bias": false, "attention_bias": false, "rms_norm_eps": 1e-05,
    "embedding_multiplier": 12.0, "attention_multiplier": 0.0078125, "residual_multiplier": 0.22,
    "logits_scaling": 8.0, "tie_word_embeddings": true, "layer_types": [)" +
         types + "]}";
}

common::Result<ModelConfig> read(const std::string& text) {
  auto hf = trainer::HfConfig::parse(text, "config.json");
  if (!hf.ok()) return hf.status();
  auto arch = trainer::architecture_for_hf(*hf);
  if (!arch.ok()) return arch.status();
  EXPECT_EQ(std::string((*arch)->name), "granitehybrid");
  return (*arch)->from_hf(*hf);
}

TEST(GraniteHybridArch, ReadsTheConfig) {
  auto c = read(granite_h());
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->blocks.size(), 40u);
  const trainer::BlockSpec mamba{{LayerKind::kMamba2, LayerKind::kMlp}}, attn{{LayerKind::kAttn, LayerKind::kMlp}};
  for (size_t i = 0; i < 40; ++i) EXPECT_EQ(c->blocks[i], i % 10 == 9 ? attn : mamba) << "layer " << i;
  EXPECT_FALSE(c->attn.rope);
  EXPECT_FLOAT_EQ(c->attn.score_scale, 0.0078125f);
  EXPECT_EQ(c->kv_heads(), 8);
  EXPECT_EQ(c->head_dim(), 64);
  EXPECT_FLOAT_EQ(c->embedding_scale, 12.0f);
  EXPECT_FLOAT_EQ(c->residual_scale, 0.22f);
  EXPECT_FLOAT_EQ(c->logit_scale, 8.0f);
  EXPECT_EQ(c->ff_dim(), 8192);
  EXPECT_EQ(c->mamba2.d_inner, 4096);
  EXPECT_EQ(c->mamba2.head_dim, 64);
  EXPECT_EQ(c->mamba2.d_state, 128);
  EXPECT_EQ(c->mamba2.chunk, 64);  // a speed setting: capped
  EXPECT_TRUE(c->tied_embedding);
}

// granite-4.0-h-tiny's shape: 64 experts of width 512, 6 per token, beside a shared MLP of 1024.
std::string granite_h_tiny() {
  std::string text = granite_h();
  text.replace(text.find("\"num_local_experts\": 0"), 22,
               "\"num_local_experts\": 64, \"num_experts_per_tok\": 6, \"router_aux_loss_coef\": 0.0");
  text.replace(text.find("\"intermediate_size\": 8192"), 25, "\"intermediate_size\": 512");
  text.replace(text.find("\"shared_intermediate_size\": 8192"), 32, "\"shared_intermediate_size\": 1024");
  return text;
}

TEST(GraniteHybridArch, ReadsTheMoeVariant) {
  auto c = read(granite_h_tiny());
  ASSERT_TRUE(c.ok()) << c.status().message();
  const trainer::BlockSpec mamba{{LayerKind::kMamba2, LayerKind::kMoe}}, attn{{LayerKind::kAttn, LayerKind::kMoe}};
  for (size_t i = 0; i < 40; ++i) EXPECT_EQ(c->blocks[i], i % 10 == 9 ? attn : mamba) << "layer " << i;
  EXPECT_EQ(c->moe.n_experts, 64);
  EXPECT_EQ(c->moe.top_k, 6);
  EXPECT_EQ(c->expert_dim(), 512);
  EXPECT_TRUE(c->moe.shared_expert);
  EXPECT_EQ(c->shared_dim(), 1024);
  EXPECT_FLOAT_EQ(c->moe.aux_loss_weight, 0.0f);
}

// Each expert is a block of the fused tensors: in HF's input_linear (X, 2F, D) expert e's gate is
// row block 2e and its up 2e+1; in GGUF's ffn_gate_exps (X, F, D) block e.
TEST(GraniteHybridArch, ExpertsAreBlocksOfTheFusedTensors) {
  auto c = read(granite_h_tiny());
  ASSERT_TRUE(c.ok()) << c.status().message();
  const trainer::Architecture* arch = *trainer::architecture_for_gguf("granitehybrid", "x.gguf");
  auto find = [](const std::vector<trainer::TensorMapping>& m, const std::string& ours) {
    for (const trainer::TensorMapping& t : m)
      if (t.ours == ours) return t;
    ADD_FAILURE() << "no mapping for " << ours;
    return trainer::TensorMapping{};
  };
  const auto hf = arch->hf_tensors(*c), gguf = arch->gguf_tensors(*c);
  const trainer::TensorMapping up = find(hf, "blocks.3.moe.experts.5.up.weight");
  EXPECT_EQ(up.theirs.front(), "model.layers.3.block_sparse_moe.input_linear.weight");
  EXPECT_EQ(up.slice, 11);
  EXPECT_EQ(up.slices, 128);
  EXPECT_EQ(up.whole, (std::vector<int64_t>{64, 1024, 2048}));
  const trainer::TensorMapping down = find(gguf, "blocks.3.moe.experts.5.down.weight");
  EXPECT_EQ(down.theirs.front(), "blk.3.ffn_down_exps.weight");
  EXPECT_EQ(down.slice, 5);
  EXPECT_EQ(down.slices, 64);
  EXPECT_EQ(find(gguf, "blocks.3.moe.shared.gate.weight").theirs.front(), "blk.3.ffn_gate_shexp.weight");
  const trainer::TensorMapping shared_up = find(hf, "blocks.3.moe.shared.up.weight");
  EXPECT_EQ(shared_up.theirs.front(), "model.layers.3.shared_mlp.input_linear.weight");
  EXPECT_EQ(shared_up.slice, 1);
  EXPECT_EQ(find(gguf, "blocks.3.moe.router.weight").theirs.front(), "blk.3.ffn_gate_inp.weight");
}

TEST(GraniteHybridArch, RefusesWhatItCannotRun) {
  std::string no_top_k = granite_h_tiny();
  no_top_k.replace(no_top_k.find("\"num_experts_per_tok\": 6, "), 26, "");
  auto moe = read(no_top_k);
  ASSERT_FALSE(moe.ok());
  EXPECT_NE(moe.status().message().find("num_experts_per_tok"), std::string::npos) << moe.status().message();
  std::string bad_type = granite_h();
  bad_type.replace(bad_type.find("\"attention\"]"), 11, "\"sliding\"");
  auto bad = read(bad_type);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("layer_types[39] is 'sliding'"), std::string::npos) << bad.status().message();
}

// input_linear is the fused gate and up of the shared MLP; output_linear its down projection.
TEST(GraniteHybridArch, LoraTargetsByHfNames) {
  auto t = trainer::parse_lora_targets("input_linear,output_linear,in_proj,q_proj");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(*t, (std::vector<std::string>{"gate", "up", "down", "in_proj", "q"}));
}

TEST(GraniteHybridArch, GgufExportWritesGraniteHybrid) {
  auto c = read(granite_h());
  ASSERT_TRUE(c.ok());
  c->name = "my-run";
  auto a = trainer::gguf_export_architecture(*c, "runs/x");
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(std::string((*a)->name), "granitehybrid");
  ModelConfig llama_like = *c;  // multipliers on an attention-only model: no llama.cpp architecture reads them
  llama_like.blocks.assign(2, trainer::BlockSpec{{LayerKind::kAttn, LayerKind::kMlp}});
  auto refused = trainer::gguf_export_architecture(llama_like, "runs/x");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("granitehybrid only"), std::string::npos) << refused.status().message();
  auto tiny = read(granite_h_tiny());
  ASSERT_TRUE(tiny.ok());
  EXPECT_TRUE(trainer::gguf_export_architecture(*tiny, "runs/x").ok());
  tiny->blocks[0] = trainer::BlockSpec{{LayerKind::kMamba2, LayerKind::kMlp}};  // MoE in some blocks only
  auto mixed = trainer::gguf_export_architecture(*tiny, "runs/x");
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.status().message().find("every block mamba2+moe or attn+moe"), std::string::npos)
      << mixed.status().message();
}

// Granite-4.0-H at toy width, every multiplier set: mamba2+mlp, attn+mlp (NoPE, score scale), mamba2+mlp.
ModelConfig granite_toy() {
  ModelConfig c;
  c.name = "granite-test";
  c.vocab_size = 13;
  c.d_model = 8;
  c.init_std = 0.3f;
  const trainer::BlockSpec m{{LayerKind::kMamba2, LayerKind::kMlp}}, attn{{LayerKind::kAttn, LayerKind::kMlp}};
  c.blocks = {m, attn, m};
  c.attn.n_heads = 2;
  c.attn.n_kv_heads = 1;
  c.attn.rope = false;
  c.attn.score_scale = 0.7f;
  c.mlp.d_ff = 12;
  c.mamba2.d_inner = 16;
  c.mamba2.head_dim = 4;
  c.mamba2.d_state = 4;
  c.mamba2.n_groups = 2;
  c.mamba2.chunk = 4;
  c.embedding_scale = 1.7f;
  c.residual_scale = 0.6f;
  c.logit_scale = 1.8f;
  return c;
}

TEST(GraniteHybridModel, GradientsMatchFiniteDifferences) {
  EXPECT_FALSE(trainer_test::expect_model_gradients_match_finite_differences(granite_toy()).empty());
}

// The MoE variant: 3 experts, 2 per token, beside the shared MLP, after the Mamba-2 mixer; then an
// attention block. With one MoE layer, first, a finite-difference step on a later weight cannot move
// a token to another expert (the discontinuity a check across kernel sets would trip on).
ModelConfig granite_moe_toy() {
  ModelConfig c = granite_toy();
  const trainer::BlockSpec m{{LayerKind::kMamba2, LayerKind::kMoe}}, attn{{LayerKind::kAttn, LayerKind::kMlp}};
  c.blocks = {m, attn};
  c.moe.n_experts = 3;
  c.moe.top_k = 2;
  c.moe.d_expert = 6;
  c.moe.d_shared = 10;
  return c;
}

TEST(GraniteHybridModel, MoeGradientsMatchFiniteDifferences) {
  EXPECT_FALSE(trainer_test::expect_model_gradients_match_finite_differences(granite_moe_toy()).empty());
}

TEST(GraniteHybridModel, MoeDecodeStepMatchesFullForward) {
  trainer_test::expect_decode_matches_forward(granite_moe_toy(), 11);
}

TEST(GraniteHybridModel, DecodeStepMatchesFullForward) { trainer_test::expect_decode_matches_forward(granite_toy(), 11); }

TEST(GraniteHybridModel, PackedDocumentsRestartTheState) {
  trainer_test::expect_packed_documents_restart(granite_toy(), 13, 6);
}

// The same weights with logit_scale s give the logits of s = 1 divided by s.
TEST(GraniteHybridModel, LogitsAreDividedByLogitScale) {
  ModelConfig c = granite_toy();
  const int T = 6;
  const auto seq = random_tokens(T, c.vocab_size, 3);
  auto scaled = trainer_test::make_model(c, 1, T, false, 5);
  c.logit_scale = 1.0f;
  auto plain = trainer_test::make_model(c, 1, T, false, 5);
  ASSERT_TRUE(scaled && plain);
  scaled->forward(seq.data(), nullptr);
  plain->forward(seq.data(), nullptr);
  for (int i = 0; i < T * c.vocab_size; ++i)
    EXPECT_NEAR(scaled->logits()[i], plain->logits()[i] / 1.8f, 1e-5 * (1 + std::fabs(plain->logits()[i]))) << i;
}

// Without RoPE, one causal attention layer sees the earlier tokens as a set: the last position's
// logits do not change when they are reordered. With RoPE they do.
TEST(GraniteHybridModel, AttentionWithoutRopeIgnoresTokenOrder) {
  ModelConfig c = granite_toy();
  c.blocks = {{{LayerKind::kAttn, LayerKind::kMlp}}};
  const std::vector<int32_t> a = {3, 7, 1, 9, 4, 2}, b = {9, 1, 7, 3, 4, 2};
  for (bool rope : {false, true}) {
    c.attn.rope = rope;
    auto m = trainer_test::make_model(c, 1, 6, false, 5);
    ASSERT_TRUE(m);
    m->forward(a.data(), nullptr);
    const std::vector<float> last(m->logits() + 5 * c.vocab_size, m->logits() + 6 * c.vocab_size);
    m->forward(b.data(), nullptr);
    double diff = 0.0;
    for (int v = 0; v < c.vocab_size; ++v)
      diff = std::max(diff, static_cast<double>(std::fabs(m->logits()[5 * c.vocab_size + v] - last[v])));
    if (rope) {
      EXPECT_GT(diff, 1e-3);
    } else {
      EXPECT_LT(diff, 1e-5);
    }
  }
}

// The multipliers, rope and score_scale survive the model TOML of run directories.
TEST(GraniteHybridModel, TomlRoundTrip) {
  const ModelConfig c = granite_toy();
  const std::string text = trainer::model_config_to_toml(c);
  auto back = trainer::parse_model_config_toml(text, "model.toml");
  ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << text;
  EXPECT_EQ(back->embedding_scale, c.embedding_scale);
  EXPECT_EQ(back->residual_scale, c.residual_scale);
  EXPECT_EQ(back->logit_scale, c.logit_scale);
  EXPECT_EQ(back->attn.rope, false);
  EXPECT_EQ(back->attn.score_scale, c.attn.score_scale);
  EXPECT_EQ(trainer::model_config_to_toml(ModelConfig{}).find("embedding_scale"), std::string::npos);
}

}  // namespace
