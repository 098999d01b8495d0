// Architectures: Hugging Face config.json files of real models (the published values of SmolLM2-135M,
// Mistral-7B and mamba-130m) give the ModelConfig the reference implementations describe; unsupported
// or broken configs fail naming the file; the GGUF q/k row permutation is llama.cpp's and inverts.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "trainer/arch/architecture.h"

namespace trainer {
namespace {

ModelConfig from_json(const std::string& json) {
  auto hf = HfConfig::parse(json, "config.json");
  EXPECT_TRUE(hf.ok()) << hf.status().message();
  auto arch = architecture_for_hf(*hf);
  EXPECT_TRUE(arch.ok()) << arch.status().message();
  auto c = (*arch)->from_hf(*hf);
  EXPECT_TRUE(c.ok()) << c.status().message();
  return *c;
}

TEST(Arch, SmolLm2ConfigIsALlamaWithGqaAndTiedEmbeddings) {
  const ModelConfig c = from_json(R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
      "hidden_act": "silu", "hidden_size": 576, "intermediate_size": 1536, "num_attention_heads": 9,
      "num_hidden_layers": 30, "num_key_value_heads": 3, "rms_norm_eps": 1e-05, "rope_theta": 100000,
      "rope_scaling": null, "tie_word_embeddings": true, "vocab_size": 49152})");
  EXPECT_EQ(c.d_model, 576);
  EXPECT_EQ(c.blocks.size(), 30u);
  EXPECT_EQ(block_spec_to_string(c.blocks[0]), "attn+mlp");
  EXPECT_EQ(c.attn.n_heads, 9);
  EXPECT_EQ(c.kv_heads(), 3);
  EXPECT_EQ(c.head_dim(), 64);
  EXPECT_EQ(c.ff_dim(), 1536);
  EXPECT_EQ(c.vocab_size, 49152);
  EXPECT_TRUE(c.tied_embedding);
  EXPECT_FLOAT_EQ(c.attn.rope_theta, 100000.0f);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
  EXPECT_EQ(c.attn.window, 0);
}

TEST(Arch, MistralKeepsItsSlidingWindowAndUntiedHead) {
  const ModelConfig c = from_json(R"({"model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336,
      "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
      "rope_theta": 10000.0, "sliding_window": 4096, "tie_word_embeddings": false, "vocab_size": 32000})");
  EXPECT_EQ(c.attn.window, 4096);
  EXPECT_FALSE(c.tied_embedding);
  const auto names = (*architecture_for_hf(*HfConfig::parse(R"({"model_type": "mistral"})", "x")))->gguf_tensors(c);
  EXPECT_EQ(names.back().ours, "lm_head.weight");
  EXPECT_EQ(names.back().theirs[0], "output.weight");
}

TEST(Arch, MambaConfigOfEitherKeyStylePadsTheVocabulary) {
  const ModelConfig a = from_json(R"({"model_type": "mamba", "hidden_size": 768, "num_hidden_layers": 24,
      "state_size": 16, "conv_kernel": 4, "expand": 2, "time_step_rank": 48, "vocab_size": 50280,
      "layer_norm_epsilon": 1e-05, "pad_vocab_size_multiple": 8, "use_bias": false, "use_conv_bias": true})");
  EXPECT_EQ(block_spec_to_string(a.blocks[0]), "ssm");
  EXPECT_EQ(a.blocks.size(), 24u);
  EXPECT_EQ(a.inner_dim(), 1536);
  EXPECT_EQ(a.dt_rank(), 48);
  EXPECT_TRUE(a.tied_embedding);
  const ModelConfig b = from_json(R"({"model_type": "mamba", "d_model": 768, "n_layer": 24, "vocab_size": 50277,
      "pad_vocab_size_multiple": 8, "time_step_rank": "auto"})");
  EXPECT_EQ(b.vocab_size, 50280);
  EXPECT_EQ(b.dt_rank(), 48);  // ceil(768 / 16)
}

TEST(Arch, UnsupportedAndBrokenConfigsNameTheFileAndTheProblem) {
  auto qwen = HfConfig::parse(R"({"model_type": "gpt_neox"})", "dir/config.json");
  ASSERT_TRUE(qwen.ok());
  auto arch = architecture_for_hf(*qwen);
  ASSERT_FALSE(arch.ok());
  EXPECT_NE(arch.status().message().find("dir/config.json: model_type 'gpt_neox' is not supported"), std::string::npos);
  EXPECT_NE(arch.status().message().find("llama, qwen2, qwen3, mamba"), std::string::npos);

  EXPECT_FALSE(HfConfig::parse("{not json", "c.json").ok());
  auto missing = HfConfig::parse(R"({"model_type": "llama", "hidden_size": 64})", "c.json");
  auto c = (*architecture_for_hf(*missing))->from_hf(*missing);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("c.json: missing"), std::string::npos);

  auto typed = HfConfig::parse(R"({"model_type": "llama", "vocab_size": "many"})", "c.json");
  auto t = (*architecture_for_hf(*typed))->from_hf(*typed);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("'vocab_size' must be an integer"), std::string::npos);

  auto scaled = HfConfig::parse(R"({"model_type": "llama", "rope_scaling": {"rope_type": "yarn"}})", "c.json");
  auto s = (*architecture_for_hf(*scaled))->from_hf(*scaled);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("yarn"), std::string::npos);
}

// llama.cpp's converter: w.reshape(heads, 2, Dh/2, cols).swapaxes(1, 2).reshape(w.shape).
TEST(Arch, RopePermutationIsLlamaCppsAndInverts) {
  const int heads = 2, dh = 4, cols = 3, rows = heads * dh;
  std::vector<float> hf(rows * cols);
  std::iota(hf.begin(), hf.end(), 0.0f);
  std::vector<float> gguf(hf.size()), back(hf.size());
  transform_to_theirs(TensorTransform::kRopePermute, heads, hf.data(), gguf.data(), rows, cols);
  // Head 0 rows in GGUF order: hf rows 0, 2, 1, 3 (pairs (x1_i, x2_i) adjacent); head 1: 4, 6, 5, 7.
  const int expect_rows[] = {0, 2, 1, 3, 4, 6, 5, 7};
  for (int r = 0; r < rows; ++r) {
    for (int k = 0; k < cols; ++k) EXPECT_EQ(gguf[r * cols + k], hf[expect_rows[r] * cols + k]) << r;
  }
  transform_to_ours(TensorTransform::kRopePermute, heads, gguf.data(), back.data(), rows, cols);
  EXPECT_EQ(back, hf);
}

// Partial rotary: only the first `rotary` rows of each head are paired for llama.cpp's RoPE.
TEST(Arch, PartialRopePermutationPairsOnlyTheRotatedRows) {
  const int heads = 2, dh = 8, rotary = 4, cols = 1, rows = heads * dh;
  std::vector<float> hf(rows * cols);
  std::iota(hf.begin(), hf.end(), 0.0f);
  std::vector<float> gguf(hf.size()), back(hf.size());
  transform_to_theirs(TensorTransform::kRopePermute, heads, hf.data(), gguf.data(), rows, cols, rotary);
  const float expect[] = {0, 2, 1, 3, 4, 5, 6, 7, 8, 10, 9, 11, 12, 13, 14, 15};
  for (int r = 0; r < rows; ++r) EXPECT_EQ(gguf[r], expect[r]) << r;
  transform_to_ours(TensorTransform::kRopePermute, heads, gguf.data(), back.data(), rows, cols, rotary);
  EXPECT_EQ(back, hf);
}

TEST(Arch, MambaAIsStoredAsMinusExpInGguf) {
  const float a_log[] = {0.0f, 1.0f, -2.0f};
  float a[3], back[3];
  transform_to_theirs(TensorTransform::kNegExp, 0, a_log, a, 1, 3);
  EXPECT_FLOAT_EQ(a[0], -1.0f);
  EXPECT_FLOAT_EQ(a[1], -std::exp(1.0f));
  transform_to_ours(TensorTransform::kNegExp, 0, a, back, 1, 3);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(back[i], a_log[i], 1e-6f);
}

}  // namespace
}  // namespace trainer
