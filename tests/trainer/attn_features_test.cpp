// The attention options pretrained models need: q/k/v biases (Qwen2), per-head q/k RMSNorm (Qwen3) and
// Llama-3.1 RoPE frequency scaling. Finite-difference gradients of a model with all three on (the new
// weights and the inputs through them), generation against the full forward, the scaled frequencies
// against the llama.cpp form of the same rule, the [attn] keys through the TOML writer and validation,
// and the layout (the new weights, no decay, frozen under LoRA; nothing changes when the options are off).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include "trainer/arch/architecture.h"
#include "trainer/generator.h"
#include "trainer/grad_check.h"
#include "trainer/kernels/kernels.h"
#include "trainer/layout.h"
#include "trainer/model.h"
#include "trainer/model_config.h"
#include "trainer/model_config_toml.h"
#include "trainer/model_loss.h"
#include "trainer/test_values.h"

namespace {

using trainer_test::random_tokens;

using trainer::LayerKind;
using trainer::Model;
using trainer::ModelConfig;
using trainer::RunShape;
using trainer::TensorRole;

// Head dim 6 with d_model 8 and 2 heads (head_dim != d_model / n_heads, as Qwen3); theta 10000 gives
// wavelengths 6.3, 135 and 2920, so original_context 256 with factors 1 and 8 puts one pair of the
// head in each band of the Llama-3.1 rule (unchanged, blended, divided by the factor).
ModelConfig all_features(bool tied, int d_embed) {
  ModelConfig c;
  c.name = "attn-features";
  c.vocab_size = 11;
  c.d_model = 8;
  c.d_embed = d_embed;
  c.tied_embedding = tied;
  c.init_std = 0.3f;
  c.norm_eps = 1e-6f;
  c.blocks = {{{LayerKind::kAttn, LayerKind::kMlp}}, {{LayerKind::kAttn, LayerKind::kMlp}}};
  c.attn.n_heads = 2;
  c.attn.n_kv_heads = 1;
  c.attn.head_dim = 6;
  c.attn.window = 3;
  c.attn.qkv_bias = true;
  c.attn.qk_norm = true;
  c.attn.rope_scale_factor = 4.0f;
  c.attn.rope_low_freq_factor = 1.0f;
  c.attn.rope_high_freq_factor = 8.0f;
  c.attn.rope_original_context = 256;
  c.mlp.d_ff = 12;
  return c;
}

// Biases and q/k norm weights start at 0 and 1; random values make every path through them count.
void randomize_attn_extras(Model& m, uint64_t seed) {
  trainer::Rng rng(seed);
  int found = 0;
  for (const trainer::TensorSpec& s : m.tensors().specs()) {
    const bool bias =
        s.name.ends_with("attn.q.bias") || s.name.ends_with("attn.k.bias") || s.name.ends_with("attn.v.bias");
    const bool norm = s.name.ends_with("attn.q_norm.weight") || s.name.ends_with("attn.k_norm.weight");
    const bool weight = s.role == TensorRole::kWeight || s.role == TensorRole::kFrozenWeight;
    if (!weight || (!bias && !norm)) continue;
    float* w = static_cast<float*>(m.tensors().find(s.name));
    for (int64_t i = 0; i < s.numel(); ++i) w[i] = static_cast<float>((norm ? 1.0 : 0.0) + 0.3 * rng.normal());
    ++found;
  }
  EXPECT_EQ(found, 5 * m.config().n_layers_of(LayerKind::kAttn)) << "the five new weights of every attn layer";
}

void check_model_gradients(const ModelConfig& c, bool checkpoint) {
  RunShape shape;
  shape.batch = 2;
  shape.seq_len = 5;
  shape.grad_checkpoint = checkpoint;
  auto made = Model::create(c, shape);
  ASSERT_TRUE(made.ok()) << made.status().to_string();
  Model& m = **made;
  m.init_weights(42);
  randomize_attn_extras(m, 3);
  const int N = shape.batch * shape.seq_len;
  const auto in = random_tokens(N, c.vocab_size, 1), tgt = random_tokens(N, c.vocab_size, 2);
  m.zero_grad();
  m.forward(in.data(), tgt.data());
  m.backward(1.0f);
  trainer_test::GradCheckOptions o;
  o.max_checks = 24;
  o.eps = 4e-2f;
  auto loss = [&] { return trainer_test::model_loss_double(m, in.data(), tgt.data(), N); };
  int extras = 0;
  for (const trainer::ParamRef& p : m.params()) {
    const std::string& n = p.spec->name;
    extras += n.find(".bias") != std::string::npos || n.find("q_norm") != std::string::npos ||
              n.find("k_norm") != std::string::npos;
    std::vector<float> analytic(p.grad, p.grad + p.numel);
    trainer_test::expect_gradient(n, p.weight, p.numel, analytic.data(), loss, o);
  }
  EXPECT_EQ(extras, 10) << "q/k/v biases and q/k norms of both attn layers are trained";
}

// Every weight, the embedding (the inputs of the attention layers) included.
TEST(AttnFeaturesGrad, BiasQkNormScaledRopeUntied) { check_model_gradients(all_features(false, 0), false); }
TEST(AttnFeaturesGrad, BiasQkNormScaledRopeCheckpointedWithBridges) {
  check_model_gradients(all_features(true, 6), true);
}

// Generation (the decode step with its KV ring) gives the full forward's logits at every position.
void expect_generation_matches_forward(const ModelConfig& c) {
  const int T = 11;
  RunShape shape;
  shape.batch = 1;
  shape.seq_len = T;
  shape.training = false;
  auto made = Model::create(c, shape);
  ASSERT_TRUE(made.ok()) << made.status().to_string();
  Model& m = **made;
  m.init_weights(5);
  randomize_attn_extras(m, 6);
  const auto toks = random_tokens(T, c.vocab_size, 9);
  m.forward(toks.data(), nullptr);
  const std::vector<float> full(m.logits(), m.logits() + static_cast<size_t>(T) * c.vocab_size);
  auto lookup = [&](const std::string& name) { return static_cast<const float*>(m.tensors().find(name)); };
  auto gen = trainer::RecurrentGenerator::create(c, lookup, T);
  ASSERT_TRUE(gen.ok()) << gen.status().to_string();
  for (int t = 0; t < T; ++t) {
    const float* logits = (*gen)->step(toks[t]);
    for (int v = 0; v < c.vocab_size; ++v) {
      const float ref = full[static_cast<size_t>(t) * c.vocab_size + v];
      ASSERT_NEAR(logits[v], ref, 2e-4 * (1.0 + std::fabs(ref))) << "position " << t << " token " << v;
    }
  }
}

ModelConfig generation_config(int window) {
  ModelConfig c = all_features(false, 0);
  c.vocab_size = 17;
  c.d_model = 16;
  c.init_std = 0.2f;
  c.attn.n_heads = 4;
  c.attn.n_kv_heads = 2;
  c.attn.head_dim = 6;
  c.attn.window = window;
  c.attn.rope_theta = 100.0f;  // wavelengths 6.3, 29, 135: one per band with original_context 32
  c.attn.rope_original_context = 32;
  c.attn.rope_high_freq_factor = 4.0f;
  c.mlp.d_ff = 20;
  return c;
}

TEST(AttnFeaturesGenerate, FullAttentionMatchesFullForward) { expect_generation_matches_forward(generation_config(0)); }
TEST(AttnFeaturesGenerate, SlidingWindowMatchesFullForward) { expect_generation_matches_forward(generation_config(4)); }

TEST(AttnFeaturesGenerate, AMissingBiasOrNormIsNamed) {
  const ModelConfig c = generation_config(0);
  RunShape shape;
  shape.seq_len = 4;
  shape.training = false;
  auto m = Model::create(c, shape);
  ASSERT_TRUE(m.ok());
  for (const std::string missing : {"blocks.1.attn.v.bias", "blocks.0.attn.k_norm.weight"}) {
    auto lookup = [&](const std::string& name) -> const float* {
      return name == missing ? nullptr : static_cast<const float*>((*m)->tensors().find(name));
    };
    auto gen = trainer::RecurrentGenerator::create(c, lookup, 4);
    ASSERT_FALSE(gen.ok()) << missing;
    EXPECT_NE(gen.status().message().find(missing), std::string::npos) << gen.status().message();
  }
}

// The llama.cpp form of the rule (per-pair factors that divide the frequency: conversion of Llama 3.1
// writes them as rope_freqs) for Llama-3.1-8B's settings, against rope_inv_freq (Hugging Face's form).
TEST(AttnFeaturesRope, Llama31FrequenciesMatchTheRopeFactorForm) {
  const int Dh = 128;
  const float theta = 500000.0f;
  trainer::RopeScaling s;
  s.factor = 8.0f;
  s.low_freq_factor = 1.0f;
  s.high_freq_factor = 4.0f;
  s.original_context = 8192;
  const double low_wavelen = 8192.0 / 1.0, high_wavelen = 8192.0 / 4.0;
  int unchanged = 0, divided = 0, blended = 0;
  for (int i = 0; i < Dh / 2; ++i) {
    const double freq = 1.0 / std::pow(500000.0, 2.0 * i / Dh);
    const double wavelen = 2.0 * std::numbers::pi / freq;
    double rope_factor;
    if (wavelen < high_wavelen) {
      rope_factor = 1.0;
      ++unchanged;
    } else if (wavelen > low_wavelen) {
      rope_factor = 8.0;
      ++divided;
    } else {
      const double smooth = (8192.0 / wavelen - 1.0) / (4.0 - 1.0);
      rope_factor = 1.0 / ((1.0 - smooth) / 8.0 + smooth);
      ++blended;
    }
    EXPECT_NEAR(trainer::rope_inv_freq(i, Dh, theta, s), freq / rope_factor, 1e-12 * freq) << "pair " << i;
    EXPECT_NEAR(trainer::rope_inv_freq(i, Dh, theta), freq, 1e-12 * freq) << "unscaled, pair " << i;
  }
  EXPECT_GT(unchanged, 0);
  EXPECT_GT(divided, 0);
  EXPECT_GT(blended, 0);
  EXPECT_EQ(trainer::rope_inv_freq(0, Dh, theta, s), 1.0);
  EXPECT_NEAR(trainer::rope_inv_freq(Dh / 2 - 1, Dh, theta, s), std::pow(500000.0, -126.0 / 128.0) / 8.0, 1e-18);
}

// The decode step's rows and the training tables are the same angles.
TEST(AttnFeaturesRope, RowsOfGenerationEqualTheTrainingTables) {
  const int T = 40, Dh = 16, half = Dh / 2;
  trainer::RopeScaling s;
  s.factor = 8.0f;
  s.high_freq_factor = 4.0f;
  s.original_context = 64;
  std::vector<float> ct(T * half), st(T * half), cr(half), sr(half), plain(T * half), plain_s(T * half);
  trainer::rope_tables(ct.data(), st.data(), T, Dh, 1000.0f, s);
  trainer::rope_tables(plain.data(), plain_s.data(), T, Dh, 1000.0f);
  bool differs = false;
  for (int t = 0; t < T; ++t) {
    trainer::rope_row(cr.data(), sr.data(), t, Dh, 1000.0f, s);
    for (int i = 0; i < half; ++i) {
      ASSERT_EQ(cr[i], ct[t * half + i]) << t << " " << i;
      ASSERT_EQ(sr[i], st[t * half + i]) << t << " " << i;
      differs |= ct[t * half + i] != plain[t * half + i];
    }
  }
  EXPECT_TRUE(differs) << "the scaling changed no angle";
}

TEST(AttnFeaturesConfig, KeysRoundTripThroughTheModelToml) {
  auto c = trainer::parse_model_config_toml(
      "preset = \"gpt-tiny\"\n[attn]\nqkv_bias = true\nqk_norm = true\nhead_dim = 48\nrope_theta = 500000.0\n"
      "rope_scale_factor = 8.0\nrope_low_freq_factor = 1.5\nrope_high_freq_factor = 4.25\n"
      "rope_original_context = 8192\n",
      "qwen.toml");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_TRUE(c->attn.qkv_bias);
  EXPECT_TRUE(c->attn.qk_norm);
  EXPECT_EQ(c->attn.rope_scale_factor, 8.0f);
  EXPECT_EQ(c->attn.rope_low_freq_factor, 1.5f);
  EXPECT_EQ(c->attn.rope_high_freq_factor, 4.25f);
  EXPECT_EQ(c->attn.rope_original_context, 8192);
  const std::string text = trainer::model_config_to_toml(*c);
  EXPECT_NE(text.find("rope_high_freq_factor = 4.25"), std::string::npos) << text;
  EXPECT_NE(text.find("qk_norm = true"), std::string::npos) << text;
  auto back = trainer::parse_model_config_toml(text, "written.toml");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_TRUE(back->attn.qkv_bias);
  EXPECT_TRUE(back->attn.qk_norm);
  EXPECT_EQ(back->attn.rope_scale_factor, 8.0f);
  EXPECT_EQ(back->attn.rope_low_freq_factor, 1.5f);
  EXPECT_EQ(back->attn.rope_high_freq_factor, 4.25f);
  EXPECT_EQ(back->attn.rope_original_context, 8192);
  EXPECT_EQ(trainer::model_config_to_toml(*back), text);
  // A preset without the keys has them off.
  auto plain = trainer::model_preset("gpt-tiny");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->attn.qkv_bias);
  EXPECT_FALSE(plain->attn.qk_norm);
  EXPECT_EQ(plain->attn.rope_scale_factor, 0.0f);
}

void expect_rejected(const std::string& attn_table, const std::string& field) {
  auto c = trainer::parse_model_config_toml("preset = \"gpt-tiny\"\n[attn]\n" + attn_table, "bad.toml");
  ASSERT_FALSE(c.ok()) << "accepted: " << attn_table;
  const std::string& msg = c.status().message();
  EXPECT_NE(msg.find("bad.toml"), std::string::npos) << msg;
  EXPECT_NE(msg.find(field), std::string::npos) << "message does not name " << field << ": " << msg;
}

TEST(AttnFeaturesConfig, BadValuesAreRefusedNamingTheField) {
  expect_rejected("rope_scale_factor = -1.0\n", "attn.rope_scale_factor");
  expect_rejected("rope_scale_factor = 0.5\n", "attn.rope_scale_factor");  // HF: factor >= 1
  expect_rejected("rope_scale_factor = 8.0\nrope_low_freq_factor = 0.0\n", "attn.rope_low_freq_factor");
  expect_rejected("rope_scale_factor = 8.0\nrope_low_freq_factor = 4.0\nrope_high_freq_factor = 4.0\n",
                  "attn.rope_high_freq_factor");  // the blend divides by high - low
  expect_rejected("rope_scale_factor = 8.0\nrope_original_context = 0\n", "attn.rope_original_context");
  expect_rejected("qk_norm = \"true\"\n", "qk_norm");  // a bool, not a string
  expect_rejected("qkv_bias = \"yes\"\n", "qkv_bias");
  // The scaling's companions are not checked while it is off (their values are then unused).
  auto off =
      trainer::parse_model_config_toml("preset = \"gpt-tiny\"\n[attn]\nrope_high_freq_factor = 1.0\n", "ok.toml");
  EXPECT_TRUE(off.ok()) << off.status().to_string();
}

const trainer::TensorSpec* find_spec(const std::vector<trainer::TensorSpec>& specs, const std::string& name) {
  for (const auto& s : specs)
    if (s.name == name) return &s;
  return nullptr;
}

TEST(AttnFeaturesLayout, NewWeightsAreCountedUndecayedAndFrozenUnderLora) {
  ModelConfig off = all_features(false, 0);
  off.attn.qkv_bias = false;
  off.attn.qk_norm = false;
  ModelConfig on = all_features(false, 0);
  auto n_off = trainer::count_parameters(off), n_on = trainer::count_parameters(on);
  ASSERT_TRUE(n_off.ok() && n_on.ok());
  const int64_t qd = 2 * 6, kvd = 1 * 6;
  EXPECT_EQ(*n_on - *n_off, 2 * ((qd + 2 * kvd) + 2 * 6)) << "per attn layer: q, k, v biases and two norms of Dh";

  RunShape full;
  full.batch = 1;
  full.seq_len = 4;
  auto specs = trainer::list_run_tensors(on, full);
  ASSERT_TRUE(specs.ok()) << specs.status().to_string();
  const struct {
    const char* name;
    int64_t numel;
  } want[] = {{"blocks.1.attn.q.bias", qd}, {"blocks.1.attn.k.bias", kvd}, {"blocks.1.attn.v.bias", kvd},
              {"blocks.1.attn.q_norm.weight", 6}, {"blocks.1.attn.k_norm.weight", 6}};
  for (const auto& w : want) {
    const trainer::TensorSpec* s = find_spec(*specs, w.name);
    ASSERT_NE(s, nullptr) << w.name;
    EXPECT_EQ(s->numel(), w.numel) << w.name;
    EXPECT_EQ(s->role, TensorRole::kWeight) << w.name;
    EXPECT_FALSE(s->decay) << w.name;
    EXPECT_FALSE(s->linear) << w.name;
    EXPECT_NE(find_spec(*specs, std::string("grad.") + w.name), nullptr) << w.name;
  }

  RunShape lora = full;
  lora.mode = trainer::TrainMode::kLora;
  lora.lora_rank = 2;
  auto lspecs = trainer::list_run_tensors(on, lora);
  ASSERT_TRUE(lspecs.ok()) << lspecs.status().to_string();
  for (const auto& w : want) {
    const trainer::TensorSpec* s = find_spec(*lspecs, w.name);
    ASSERT_NE(s, nullptr) << w.name;
    EXPECT_EQ(s->role, TensorRole::kFrozenWeight) << w.name;  // as the block norms
    EXPECT_EQ(find_spec(*lspecs, std::string("grad.") + w.name), nullptr) << w.name;
  }
  EXPECT_EQ(find_spec(*lspecs, "blocks.1.attn_norm.weight")->role, TensorRole::kFrozenWeight);
}

// A lora model with the options on trains its adapters through the frozen biases and norms.
TEST(AttnFeaturesLayout, LoraStepRunsWithFrozenBiasAndNorms) {
  const ModelConfig c = all_features(false, 0);
  RunShape shape;
  shape.batch = 2;
  shape.seq_len = 5;
  shape.mode = trainer::TrainMode::kLora;
  shape.lora_rank = 2;
  auto made = Model::create(c, shape);
  ASSERT_TRUE(made.ok()) << made.status().to_string();
  Model& m = **made;
  m.init_weights(1);
  randomize_attn_extras(m, 2);
  const auto in = random_tokens(10, c.vocab_size, 3), tgt = random_tokens(10, c.vocab_size, 4);
  m.zero_grad();
  const float loss = m.forward(in.data(), tgt.data());
  m.backward(1.0f);
  EXPECT_TRUE(std::isfinite(loss));
  double gsum = 0.0;
  for (const trainer::ParamRef& p : m.params()) {
    EXPECT_EQ(p.spec->name.find(".bias"), std::string::npos) << p.spec->name << " is trained under LoRA";
    EXPECT_EQ(p.spec->name.find("_norm."), std::string::npos) << p.spec->name << " is trained under LoRA";
    for (int64_t i = 0; i < p.numel; ++i) gsum += std::fabs(p.grad[i]);
  }
  EXPECT_GT(gsum, 0.0) << "no adapter received a gradient";
}

// Llama 3.1's published config.json (8B): its rope_scaling becomes the [attn] scaling keys.
TEST(AttnFeaturesConfig, Llama31HfConfigCarriesItsRopeScaling) {
  auto hf = trainer::HfConfig::parse(R"({"model_type": "llama", "hidden_act": "silu", "hidden_size": 4096,
      "intermediate_size": 14336, "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
      "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "tie_word_embeddings": false, "vocab_size": 128256,
      "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                       "original_max_position_embeddings": 8192, "rope_type": "llama3"}})", "config.json");
  ASSERT_TRUE(hf.ok()) << hf.status().message();
  auto arch = trainer::architecture_for_hf(*hf);
  ASSERT_TRUE(arch.ok()) << arch.status().message();
  auto c = (*arch)->from_hf(*hf);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->attn.rope_scale_factor, 8.0f);
  EXPECT_EQ(c->attn.rope_low_freq_factor, 1.0f);
  EXPECT_EQ(c->attn.rope_high_freq_factor, 4.0f);
  EXPECT_EQ(c->attn.rope_original_context, 8192);
  EXPECT_FALSE(c->attn.qkv_bias);
  EXPECT_FALSE(c->attn.qk_norm);
  // Another scaling type is still refused, naming the file.
  auto yarn = trainer::HfConfig::parse(R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
      "num_attention_heads": 4, "num_hidden_layers": 1, "vocab_size": 10,
      "rope_scaling": {"factor": 4.0, "rope_type": "yarn"}})", "yarn.json");
  ASSERT_TRUE(yarn.ok());
  auto bad = (*trainer::architecture_for_hf(*yarn))->from_hf(*yarn);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("yarn.json"), std::string::npos) << bad.status().message();
}

}  // namespace
