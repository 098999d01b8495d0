// Writing for Hugging Face (trainer/arch/hf_layout.h, trainer/formats/hf_export.h): the config.json
// written for each architecture reads back (through the same architecture's from_hf) to the model
// it was written from; nightshift's presets get a `llama` or `mamba` layout exactly when those
// express them; every weight gets one HF name; sizes parse as transformers' max_shard_size does; a
// PEFT adapter of an imported model carries HF module names and reads back into nightshift's.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "trainer/arch/architecture.h"
#include "trainer/arch/hf_layout.h"
#include "trainer/formats/hf_export.h"

namespace trainer {
namespace {

ModelConfig read_back(const std::string& json_text) {
  auto hf = HfConfig::parse(json_text, "config.json");
  EXPECT_TRUE(hf.ok()) << hf.status().message();
  auto arch = architecture_for_hf(*hf);
  EXPECT_TRUE(arch.ok()) << arch.status().message();
  auto c = (*arch)->from_hf(*hf);
  EXPECT_TRUE(c.ok()) << c.status().message();
  return c.ok() ? *c : ModelConfig{};
}

// The fields a config.json carries, compared after a write and a read.
void expect_same_model(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.d_model, b.d_model);
  EXPECT_EQ(a.blocks, b.blocks);
  EXPECT_EQ(a.tied_embedding, b.tied_embedding);
  EXPECT_FLOAT_EQ(a.norm_eps, b.norm_eps);
  if (a.has_layer(LayerKind::kAttn)) {
    EXPECT_EQ(a.attn.n_heads, b.attn.n_heads);
    EXPECT_EQ(a.kv_heads(), b.kv_heads());
    EXPECT_EQ(a.head_dim(), b.head_dim());
    EXPECT_EQ(a.attn.window, b.attn.window);
    EXPECT_EQ(a.attn.qkv_bias, b.attn.qkv_bias);
    EXPECT_EQ(a.attn.qk_norm, b.attn.qk_norm);
    EXPECT_FLOAT_EQ(a.attn.rope_theta, b.attn.rope_theta);
    EXPECT_FLOAT_EQ(a.attn.rope_scale_factor, b.attn.rope_scale_factor);
    EXPECT_EQ(a.attn.rope_original_context, b.attn.rope_original_context);
    EXPECT_EQ(a.ff_dim(), b.ff_dim());
  }
  if (a.has_layer(LayerKind::kSsm)) {
    EXPECT_EQ(a.ssm.expand, b.ssm.expand);
    EXPECT_EQ(a.ssm.d_state, b.ssm.d_state);
    EXPECT_EQ(a.ssm.d_conv, b.ssm.d_conv);
    EXPECT_EQ(a.dt_rank(), b.dt_rank());
  }
}

ModelConfig attn_model(const std::string& name) {
  ModelConfig c;
  c.name = name;
  c.vocab_size = 300;
  c.d_model = 64;
  c.tied_embedding = false;
  c.norm_eps = 1e-6f;
  c.blocks.assign(3, BlockSpec{{LayerKind::kAttn, LayerKind::kMlp}});
  c.attn.n_heads = 4;
  c.attn.n_kv_heads = 2;
  c.attn.head_dim = 24;
  c.attn.rope_theta = 500000.0f;
  c.mlp.d_ff = 96;
  return c;
}

// The architecture a config.json model_type is read with (as ImportedModel finds it).
const Architecture* arch_of(const std::string& model_type) {
  for (const Architecture* a : architectures())
    for (const char* t : a->hf_model_types)
      if (model_type == t) return a;
  return nullptr;
}

std::string config_of(const ModelConfig& c, const std::string& base = "") {
  const HfLayout l = hf_layout_of(c, arch_of(c.name), c.name);
  EXPECT_NE(l.arch, nullptr) << l.why_not;
  auto text = hf_config_json(c, l, base, "org/model");
  EXPECT_TRUE(text.ok()) << text.status().message();
  return text.ok() ? *text : "{}";
}

TEST(HfExport, ConfigsReadBackToTheSameModel) {
  ModelConfig llama = attn_model("llama");
  llama.attn.rope_scale_factor = 8.0f;
  llama.attn.rope_original_context = 256;
  expect_same_model(llama, read_back(config_of(llama)));
  ModelConfig mistral = attn_model("mistral");
  mistral.attn.window = 128;
  expect_same_model(mistral, read_back(config_of(mistral)));
  EXPECT_EQ(hf_layout_of(mistral, arch_of("llama")).model_type, "mistral");  // a GGUF llama with a window
  ModelConfig qwen2 = attn_model("qwen2");
  qwen2.attn.qkv_bias = true;
  qwen2.tied_embedding = true;
  expect_same_model(qwen2, read_back(config_of(qwen2)));
  ModelConfig qwen3 = attn_model("qwen3");
  qwen3.attn.qk_norm = true;
  expect_same_model(qwen3, read_back(config_of(qwen3)));
  ModelConfig mamba;
  mamba.name = "mamba";
  mamba.vocab_size = 260;  // not a multiple of 8: written so that it is not padded on the way back
  mamba.d_model = 48;
  mamba.blocks.assign(2, BlockSpec{{LayerKind::kSsm}});
  mamba.ssm.d_state = 8;
  mamba.ssm.dt_rank = 5;
  expect_same_model(mamba, read_back(config_of(mamba)));
}

TEST(HfExport, ConfigKeepsTheBaseKeysAndNamesTheModel) {
  const ModelConfig c = attn_model("llama");
  const auto j = nlohmann::json::parse(
      config_of(c, R"({"model_type": "llama", "bos_token_id": 1, "eos_token_id": 2, "max_position_embeddings": 4096,
             "hidden_size": 1, "quantization_config": {"bits": 4}})"));
  EXPECT_EQ(j["bos_token_id"], 1);
  EXPECT_EQ(j["max_position_embeddings"], 4096);
  EXPECT_EQ(j["hidden_size"], 64);                  // the model's value wins
  EXPECT_FALSE(j.contains("quantization_config"));  // the weights are plain F32
  EXPECT_EQ(j["torch_dtype"], "float32");
  EXPECT_EQ(j["architectures"], nlohmann::json::array({"LlamaForCausalLM"}));
  EXPECT_EQ(j["_name_or_path"], "org/model");
}

TEST(HfExport, PresetsAreLlamaOrMambaWhenExactlyExpressible) {
  auto tiny = model_preset("gpt-tiny");
  ASSERT_TRUE(tiny.ok());
  const HfLayout l = hf_layout_of(*tiny);
  ASSERT_NE(l.arch, nullptr) << l.why_not;
  EXPECT_EQ(l.model_type, "llama");
  EXPECT_FALSE(l.imported);
  EXPECT_EQ(l.hf_names.at("blocks.0.attn.q.weight"), "model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(l.hf_names.at("blocks.3.mlp.down.weight"), "model.layers.3.mlp.down_proj.weight");
  EXPECT_EQ(l.hf_names.at("embed.weight"), "model.embed_tokens.weight");
  EXPECT_FALSE(l.hf_names.count("lm_head.weight"));  // tied

  ModelConfig windowed = *tiny;
  windowed.attn.window = 16;
  EXPECT_EQ(hf_layout_of(windowed).arch, nullptr);
  EXPECT_NE(hf_layout_of(windowed).why_not.find("sliding window"), std::string::npos);
  ModelConfig bridged = *tiny;
  bridged.d_embed = 64;
  EXPECT_EQ(hf_layout_of(bridged).arch, nullptr);
  ModelConfig moe = *tiny;
  moe.blocks[1] = BlockSpec{{LayerKind::kAttn, LayerKind::kMoe}};
  const HfLayout refused = hf_layout_of(moe);
  EXPECT_EQ(refused.arch, nullptr);
  EXPECT_NE(refused.why_not.find("moe"), std::string::npos) << refused.why_not;

  ModelConfig ssm;
  ssm.name = "ssm-only";
  ssm.blocks.assign(2, BlockSpec{{LayerKind::kSsm}});
  const HfLayout m = hf_layout_of(ssm);
  ASSERT_NE(m.arch, nullptr) << m.why_not;
  EXPECT_EQ(m.model_type, "mamba");
  EXPECT_EQ(m.hf_names.at("blocks.1.ssm.A_log"), "backbone.layers.1.mixer.A_log");
}

TEST(HfExport, ImportedQwen2NamesItsBiases) {
  ModelConfig q = attn_model("Qwen2.5-0.5B");  // an imported model is named after its file
  q.attn.qkv_bias = true;
  EXPECT_EQ(hf_layout_of(q).arch, nullptr);  // as nightshift's own model: biases have no llama name
  const HfLayout l = hf_layout_of(q, arch_of("qwen2"));
  ASSERT_NE(l.arch, nullptr) << l.why_not;
  EXPECT_TRUE(l.imported);
  EXPECT_EQ(l.model_type, "qwen2");
  EXPECT_EQ(l.hf_names.at("blocks.2.attn.k.bias"), "model.layers.2.self_attn.k_proj.bias");
  EXPECT_EQ(hf_leaf_of(hf_module_of(l.hf_names.at("blocks.2.attn.k.weight"))), "k_proj");
}

TEST(HfExport, ShardSizesParseAsTransformersDoes) {
  EXPECT_EQ(*parse_byte_size("5GB"), 5'000'000'000u);
  EXPECT_EQ(*parse_byte_size("200MB"), 200'000'000u);
  EXPECT_EQ(*parse_byte_size("1.5GB"), 1'500'000'000u);
  EXPECT_EQ(*parse_byte_size("2GiB"), 2ull << 30);
  EXPECT_EQ(*parse_byte_size("64kib"), 65536u);
  EXPECT_EQ(*parse_byte_size("123"), 123u);
  EXPECT_EQ(*parse_byte_size("123B"), 123u);
  for (const char* bad : {"", "GB", "5XB", "-1GB", "0", "lots", "5 GB"}) EXPECT_FALSE(parse_byte_size(bad).ok()) << bad;
}

}  // namespace
}  // namespace trainer
