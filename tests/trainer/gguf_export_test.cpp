// GGUF export (trainer/formats/gguf_export.h) read back by nightshift's own importer: a gpt-tiny
// model written as `llama` and a mamba-tiny written as `mamba` (f32) import as the same config with
// bit-identical weights (the export's transforms invert the import's: llama's q/k permutation,
// mamba's -exp(A_log) within float rounding); the tokenizer keys of the byte tokenizer; the choice of
// architecture and its refusals. The comparison with llama.cpp itself is
// tests/integration/export_gguf_test.sh.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "llamacpp_reference.h"
#include "trainer/arch/imported_model.h"
#include "trainer/formats/gguf_export.h"
#include "trainer/model.h"
#include "trainer/quant/frozen_base.h"

namespace {

using trainer::GgufOutType;

std::unique_ptr<trainer::Model> random_model(const trainer::ModelConfig& c) {
  trainer::RunShape shape;
  shape.batch = 1;
  shape.seq_len = 4;
  shape.training = false;
  auto model = trainer::Model::create(c, shape);
  EXPECT_TRUE(model.ok()) << model.status().message();
  (*model)->init_weights(7);
  return std::move(*model);
}

// Writes `c`'s random model as GGUF, imports it, and compares every weight.
void round_trip(const std::string& preset, const char* arch_name, float tol) {
  auto config = trainer::model_preset(preset);
  ASSERT_TRUE(config.ok());
  auto model = random_model(*config);
  auto arch = trainer::gguf_export_architecture(*config, preset);
  ASSERT_TRUE(arch.ok()) << arch.status().message();
  EXPECT_STREQ((*arch)->name, arch_name);
  trainer::GgufModelInfo info;
  info.arch = *arch;
  info.config = *config;
  info.name = preset;
  info.context_length = 256;
  auto tok = trainer::gguf_tokenizer_metadata("byte", config->vocab_size);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  info.tokenizer = *tok;
  llamacpp_ref::ScratchDir dir("gguf_export_" + preset);
  const std::string path = dir.file("m.gguf");
  const trainer::Model& m = *model;
  auto lookup = trainer::lookup_in_model(m);
  common::Status st = trainer::write_gguf_model(path, info, [&](const std::string& n, std::vector<int64_t>* shape) {
    const trainer::TensorSpec* s = m.tensors().find_spec(n);
    *shape = s->shape;
    const float* p = static_cast<const float*>(m.tensors().find(n));
    return common::Result<std::vector<float>>(std::vector<float>(p, p + s->numel()));
  });
  ASSERT_TRUE(st.ok()) << st.message();

  auto imported = trainer::ImportedModel::open(path);
  ASSERT_TRUE(imported.ok()) << imported.status().message();
  const trainer::ModelConfig& back = (*imported)->config();
  EXPECT_EQ(back.vocab_size, config->vocab_size);
  EXPECT_EQ(back.d_model, config->d_model);
  EXPECT_EQ(back.blocks, config->blocks);
  EXPECT_EQ(back.tied_embedding, config->tied_embedding);
  EXPECT_EQ(back.head_dim(), config->head_dim());
  EXPECT_EQ(back.ff_dim(), config->ff_dim());
  EXPECT_EQ(back.inner_dim(), config->inner_dim());
  EXPECT_EQ(back.dt_rank(), config->dt_rank());
  EXPECT_EQ((*imported)->tokenizer_spec(), "gguf:" + path);
  auto theirs = (*imported)->f32_lookup();
  for (const trainer::TensorSpec& s : m.tensors().specs()) {
    if (s.role != trainer::TensorRole::kWeight) continue;
    auto got = theirs(s.name, s.shape);
    ASSERT_TRUE(got.ok()) << got.status().message();
    const float* want = static_cast<const float*>(m.tensors().find(s.name));
    for (int64_t i = 0; i < s.numel(); ++i) {
      ASSERT_NEAR((*got)[i], want[i], tol * std::fabs(want[i])) << s.name << " [" << i << "]";
    }
  }
}

TEST(GgufExport, GptTinyRoundTripsAsLlamaBitExactly) { round_trip("gpt-tiny", "llama", 0.0f); }

// A_log goes out as -exp(A_log) and comes back through log(-x): float rounding only.
TEST(GgufExport, MambaTinyRoundTripsAsMamba) { round_trip("mamba-tiny", "mamba", 1e-6f); }

TEST(GgufExport, HybridAndMoePresetsAreRefusedNamingWhy) {
  for (const char* preset : {"hybrid-tiny", "mamba-moe-300m"}) {
    auto c = trainer::model_preset(preset);
    ASSERT_TRUE(c.ok());
    auto a = trainer::gguf_export_architecture(*c, "runs/x");
    ASSERT_FALSE(a.ok()) << preset;
    EXPECT_NE(a.status().message().find("runs/x"), std::string::npos) << a.status().message();
    EXPECT_NE(a.status().message().find("every block"), std::string::npos) << a.status().message();
  }
  auto c = trainer::model_preset("gpt-tiny");
  ASSERT_TRUE(c.ok());
  c->attn.window = 16;
  EXPECT_FALSE(trainer::gguf_export_architecture(*c, "x").ok());
  c->attn.window = 0;
  c->attn.qk_norm = true;
  // A model imported from a llama file cannot have grown q/k norms; without an origin, q/k norms
  // make it qwen3 and q/k/v biases qwen2.
  EXPECT_FALSE(trainer::gguf_export_architecture(*c, "x", "llama").ok());
  auto q3 = trainer::gguf_export_architecture(*c, "x");
  ASSERT_TRUE(q3.ok()) << q3.status().message();
  EXPECT_STREQ((*q3)->name, "qwen3");
  c->attn.qk_norm = false;
  c->attn.qkv_bias = true;
  auto q2 = trainer::gguf_export_architecture(*c, "x");
  ASSERT_TRUE(q2.ok()) << q2.status().message();
  EXPECT_STREQ((*q2)->name, "qwen2");
}

TEST(GgufExport, ByteTokenizerIsAByteLevelVocabularyWithoutMerges) {
  auto m = trainer::gguf_tokenizer_metadata("byte", 260);
  ASSERT_TRUE(m.ok()) << m.status().message();
  const trainer::formats::GgufValue* tokens = nullptr;
  const trainer::formats::GgufValue* merges = nullptr;
  for (const auto& [k, v] : *m) {
    if (k == "tokenizer.ggml.tokens") tokens = &v;
    if (k == "tokenizer.ggml.merges") merges = &v;
    if (k == "tokenizer.ggml.model") {
      EXPECT_EQ(v.str, "gpt2");
    }
  }
  ASSERT_NE(tokens, nullptr);
  ASSERT_NE(merges, nullptr);
  ASSERT_EQ(tokens->strings.size(), 260u);  // padded to the model's vocabulary
  EXPECT_EQ(tokens->strings['A'], "A");
  EXPECT_EQ(tokens->strings[' '], "\xC4\xA0");  // GPT-2's byte alphabet: U+0120 for the space
  EXPECT_TRUE(merges->strings.empty());
  EXPECT_FALSE(trainer::gguf_tokenizer_metadata("spm:tokenizer.model", 256).ok());
}

TEST(GgufExport, OuttypeNamesAndMixture) {
  EXPECT_EQ(*trainer::parse_gguf_outtype("Q4_K_M"), GgufOutType::kQ4_K_M);
  EXPECT_FALSE(trainer::parse_gguf_outtype("q3_k").ok());
  // Q4_K_M over 8 layers: attn_v / ffn_down of layers 0, 3, 6, 7 (use_more_bits) get Q6_K; the
  // untied output Q6_K; norms F32; rows of 96 values fall back to Q5_0.
  std::vector<std::pair<std::string, std::vector<int64_t>>> list;
  for (int i = 0; i < 8; ++i) list.push_back({"blk." + std::to_string(i) + ".attn_v.weight", {256, 256}});
  list.push_back({"output.weight", {256, 1000}});
  trainer::GgufTypeMixture mix(GgufOutType::kQ4_K_M, list, 8);
  std::vector<uint32_t> v;
  for (int i = 0; i < 8; ++i) v.push_back(mix.type_of("blk." + std::to_string(i) + ".attn_v.weight", {256, 256}));
  const uint32_t Q6 = trainer::quant::kGgmlQ6_K, Q4 = trainer::quant::kGgmlQ4_K;
  EXPECT_EQ(v, (std::vector<uint32_t>{Q6, Q4, Q4, Q6, Q4, Q4, Q6, Q6}));
  EXPECT_EQ(mix.type_of("output.weight", {256, 1000}), Q6);
  EXPECT_EQ(mix.type_of("blk.0.attn_norm.weight", {256}), trainer::quant::kGgmlF32);
  EXPECT_EQ(mix.type_of("blk.0.ffn_up.weight", {96, 256}), trainer::quant::kGgmlQ5_0);
  EXPECT_EQ(mix.type_of("blk.0.ffn_gate.weight", {8, 256}), trainer::quant::kGgmlF16);
}

}  // namespace
