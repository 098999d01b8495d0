// config.json of a Hugging Face model directory (hf_config_json, hf_export.h): the architecture's
// class and the keys of transformers' config class for it (llama, mistral, qwen2, qwen3, mamba,
// lfm2, mamba2, granitemoehybrid, bamba, jamba), over the base's own config.json when there is one.
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "common/float_text.h"
#include "trainer/formats/hf_export.h"
#include "trainer/layers/mamba2_block.h"

namespace trainer {

using common::Result;
using common::Status;
using nlohmann::json;

namespace {

const char* hf_class_of(const std::string& model_type) {
  if (model_type == "llama") return "LlamaForCausalLM";
  if (model_type == "mistral") return "MistralForCausalLM";
  if (model_type == "qwen2") return "Qwen2ForCausalLM";
  if (model_type == "qwen3") return "Qwen3ForCausalLM";
  if (model_type == "mamba") return "MambaForCausalLM";
  if (model_type == "lfm2") return "Lfm2ForCausalLM";
  if (model_type == "mamba2") return "Mamba2ForCausalLM";
  if (model_type == "granitemoehybrid") return "GraniteMoeHybridForCausalLM";
  if (model_type == "jamba") return "JambaForCausalLM";
  if (model_type == "bamba") return "BambaForCausalLM";
  return nullptr;
}

// The keys of transformers' config classes that describe the model.
void set_attention_keys(const ModelConfig& c, const std::string& type, json& j) {
  j["hidden_size"] = c.d_model;
  j["intermediate_size"] = c.ff_dim();
  j["num_hidden_layers"] = c.blocks.size();
  j["num_attention_heads"] = c.attn.n_heads;
  j["num_key_value_heads"] = c.kv_heads();
  j["head_dim"] = c.head_dim();
  j["hidden_act"] = "silu";
  j["rms_norm_eps"] = common::float_as_decimal(c.norm_eps);
  j["rope_theta"] = common::float_as_decimal(c.attn.rope_theta);
  j["vocab_size"] = c.vocab_size;
  j["tie_word_embeddings"] = c.tied_embedding;
  if (!j.contains("max_position_embeddings")) j["max_position_embeddings"] = 2048;
  if (!j.contains("initializer_range")) j["initializer_range"] = common::float_as_decimal(c.init_std);
  if (c.attn.rope_scale_factor > 0) {
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", common::float_as_decimal(c.attn.rope_scale_factor)},
                         {"low_freq_factor", common::float_as_decimal(c.attn.rope_low_freq_factor)},
                         {"high_freq_factor", common::float_as_decimal(c.attn.rope_high_freq_factor)},
                         {"original_max_position_embeddings", c.attn.rope_original_context}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  if (type == "llama" || type == "mistral") {
    j["attention_bias"] = false;
    j["mlp_bias"] = false;
  }
  if (type == "qwen3") j["attention_bias"] = c.attn.qkv_bias;
  if (type == "mistral" || type == "qwen2" || type == "qwen3") {
    j["sliding_window"] = c.attn.window > 0 ? json(c.attn.window) : json(nullptr);
    if (type != "mistral") {
      j["use_sliding_window"] = c.attn.window > 0;
      if (c.attn.window > 0) j["max_window_layers"] = c.blocks.size();
    }
  }
}

void set_mamba_keys(const ModelConfig& c, json& j) {
  j["hidden_size"] = c.d_model;
  j["num_hidden_layers"] = c.blocks.size();
  j["state_size"] = c.ssm.d_state;
  j["expand"] = c.ssm.expand;
  j["intermediate_size"] = c.inner_dim();
  j["conv_kernel"] = c.ssm.d_conv;
  j["time_step_rank"] = c.dt_rank();
  j["layer_norm_epsilon"] = common::float_as_decimal(c.norm_eps);
  j["use_bias"] = false;
  j["use_conv_bias"] = true;
  j["vocab_size"] = c.vocab_size;
  j["pad_vocab_size_multiple"] = c.vocab_size % 8 == 0 ? 8 : 1;  // nightshift pads a mamba vocabulary to it
  j["tie_word_embeddings"] = c.tied_embedding;
  if (!j.contains("initializer_range")) j["initializer_range"] = common::float_as_decimal(c.init_std);
}

// transformers' Lfm2Config: the layer pattern as layer_types, the MLP width as written (no auto-adjust).
void set_lfm2_keys(const ModelConfig& c, json& j) {
  json types = json::array();
  for (const BlockSpec& b : c.blocks) types.push_back(b.layers.front() == LayerKind::kConv ? "conv" : "full_attention");
  j.erase("full_attn_idxs");
  j["layer_types"] = types;
  j["hidden_size"] = c.d_model;
  j["num_hidden_layers"] = c.blocks.size();
  j["num_attention_heads"] = c.attn.n_heads;
  j["num_key_value_heads"] = c.kv_heads();
  j["block_ff_dim"] = c.ff_dim();
  j["intermediate_size"] = c.ff_dim();
  j["block_auto_adjust_ff_dim"] = false;
  j["conv_L_cache"] = c.conv.l_cache;
  j["conv_bias"] = false;
  j["norm_eps"] = common::float_as_decimal(c.norm_eps);
  j["rope_theta"] = common::float_as_decimal(c.attn.rope_theta);
  j["vocab_size"] = c.vocab_size;
  j["tie_embedding"] = c.tied_embedding;
  j["tie_word_embeddings"] = c.tied_embedding;
  if (!j.contains("max_position_embeddings")) j["max_position_embeddings"] = 2048;
  if (!j.contains("initializer_range")) j["initializer_range"] = common::float_as_decimal(c.init_std);
}

// transformers' Mamba2Config.
void set_mamba2_keys(const ModelConfig& c, json& j) {
  const Mamba2Dims d = mamba2_dims(c, 1, 1);
  j["hidden_size"] = c.d_model;
  j["num_hidden_layers"] = c.blocks.size();
  j["num_heads"] = d.H;
  j["head_dim"] = d.P;
  j["expand"] = d.Di / c.d_model;
  j["n_groups"] = d.G;
  j["state_size"] = d.N;
  j["conv_kernel"] = d.K;
  j["chunk_size"] = c.mamba2.chunk;
  j["layer_norm_epsilon"] = common::float_as_decimal(c.norm_eps);
  j["rms_norm"] = true;
  j["use_bias"] = false;
  j["use_conv_bias"] = true;
  j["vocab_size"] = c.vocab_size;
  j["pad_vocab_size_multiple"] = 1;
  j["tie_word_embeddings"] = c.tied_embedding;
  if (!j.contains("initializer_range")) j["initializer_range"] = common::float_as_decimal(c.init_std);
}

// The mamba_* keys of transformers' Mamba-2 hybrids (GraniteMoeHybridConfig, BambaConfig).
void set_hybrid_mamba2_keys(const ModelConfig& c, json& j) {
  const Mamba2Dims d = mamba2_dims(c, 1, 1);
  j["mamba_n_heads"] = d.H;
  j["mamba_d_head"] = d.P;
  j["mamba_d_state"] = d.N;
  j["mamba_n_groups"] = d.G;
  j["mamba_d_conv"] = d.K;
  j["mamba_expand"] = d.Di / c.d_model;
  if (!j.contains("mamba_chunk_size")) j["mamba_chunk_size"] = 256;
  j["mamba_conv_bias"] = true;
  j["mamba_proj_bias"] = false;
}

// transformers' GraniteMoeHybridConfig: layer_types, the mamba_* keys, the µP multipliers, and the
// experts beside the shared MLP when the blocks have them.
void set_granite_hybrid_keys(const ModelConfig& c, json& j) {
  json types = json::array();
  for (const BlockSpec& b : c.blocks) types.push_back(b.layers.front() == LayerKind::kMamba2 ? "mamba" : "attention");
  const bool moe = c.has_layer(LayerKind::kMoe);
  j["layer_types"] = types;
  j["hidden_size"] = c.d_model;
  j["num_hidden_layers"] = c.blocks.size();
  j["num_attention_heads"] = c.attn.n_heads;
  j["num_key_value_heads"] = c.kv_heads();
  j["intermediate_size"] = moe ? c.expert_dim() : c.ff_dim();
  j["shared_intermediate_size"] = moe ? (c.moe.shared_expert ? c.shared_dim() : 0) : c.ff_dim();
  j["num_local_experts"] = moe ? c.moe.n_experts : 0;
  j["num_experts_per_tok"] = moe ? c.moe.top_k : 0;
  if (moe) j["router_aux_loss_coef"] = common::float_as_decimal(c.moe.aux_loss_weight);
  j["position_embedding_type"] = c.attn.rope ? "rope" : "nope";
  j["rope_theta"] = common::float_as_decimal(c.attn.rope_theta);
  j["rope_scaling"] = nullptr;
  j["attention_bias"] = false;
  j["hidden_act"] = "silu";
  j["rms_norm_eps"] = common::float_as_decimal(c.norm_eps);
  // transformers scales q·k by attention_multiplier itself; nightshift's 0 means 1/sqrt(head_dim).
  const float score = c.attn.score_scale > 0 ? c.attn.score_scale : 1.0f / std::sqrt(static_cast<float>(c.head_dim()));
  j["attention_multiplier"] = common::float_as_decimal(score);
  j["embedding_multiplier"] = common::float_as_decimal(c.embedding_scale);
  j["residual_multiplier"] = common::float_as_decimal(c.residual_scale);
  j["logits_scaling"] = common::float_as_decimal(c.logit_scale);
  if (c.has_layer(LayerKind::kMamba2)) set_hybrid_mamba2_keys(c, j);
  j["vocab_size"] = c.vocab_size;
  j["tie_word_embeddings"] = c.tied_embedding;
  if (!j.contains("max_position_embeddings")) j["max_position_embeddings"] = 2048;
  if (!j.contains("initializer_range")) j["initializer_range"] = common::float_as_decimal(c.init_std);
}

// The period and offset that give exactly the layers where `has` is true (i % period == offset),
// smallest period first; nullopt when none does.
std::optional<std::pair<int, int>> period_offset(const std::vector<bool>& has) {
  const int L = static_cast<int>(has.size());
  for (int p = 1; p <= L; ++p)
    for (int o = 0; o < p; ++o) {
      bool same = true;
      for (int i = 0; i < L && same; ++i) same = has[static_cast<size_t>(i)] == (i % p == o);
      if (same) return std::make_pair(p, o);
    }
  return std::nullopt;
}

// transformers' BambaConfig: attn_layer_indices, the mamba_* keys, the partial rotary.
void set_bamba_keys(const ModelConfig& c, json& j) {
  json attn = json::array();
  for (size_t i = 0; i < c.blocks.size(); ++i)
    if (c.blocks[i].layers.front() == LayerKind::kAttn) attn.push_back(i);
  j["attn_layer_indices"] = attn;
  j["attn_rotary_emb"] = c.rotary_dim();
  j["hidden_size"] = c.d_model;
  j["intermediate_size"] = c.ff_dim();
  j["num_hidden_layers"] = c.blocks.size();
  j["num_attention_heads"] = c.attn.n_heads;
  j["num_key_value_heads"] = c.kv_heads();
  j["hidden_act"] = "silu";
  j["rms_norm_eps"] = common::float_as_decimal(c.norm_eps);
  j["rope_theta"] = common::float_as_decimal(c.attn.rope_theta);
  set_hybrid_mamba2_keys(c, j);
  j["vocab_size"] = c.vocab_size;
  j["tie_word_embeddings"] = c.tied_embedding;
  if (!j.contains("max_position_embeddings")) j["max_position_embeddings"] = 2048;
  if (!j.contains("initializer_range")) j["initializer_range"] = common::float_as_decimal(c.init_std);
}

// transformers' JambaConfig: the layer kinds as attn_/expert_layer_period and offset (what it reads;
// the lists layers_block_type / layers_num_experts, which only nightshift reads, when no period does).
void set_jamba_keys(const ModelConfig& c, json& j) {
  std::vector<bool> attn, moe;
  json types = json::array(), experts = json::array();
  for (const BlockSpec& b : c.blocks) {
    attn.push_back(b.layers.front() == LayerKind::kAttn);
    moe.push_back(b.layers.back() == LayerKind::kMoe);
    types.push_back(attn.back() ? "attention" : "mamba");
    experts.push_back(moe.back() ? c.moe.n_experts : 1);
  }
  for (const char* k : {"attn_layer_period", "attn_layer_offset", "expert_layer_period", "expert_layer_offset",
                        "layers_block_type", "layers_num_experts"})
    j.erase(k);
  if (auto po = period_offset(attn)) {
    j["attn_layer_period"] = po->first;
    j["attn_layer_offset"] = po->second;
  } else {
    j["layers_block_type"] = types;
  }
  if (auto po = period_offset(moe)) {
    j["expert_layer_period"] = po->first;
    j["expert_layer_offset"] = po->second;
  } else {
    j["layers_num_experts"] = experts;
  }
  const bool has_moe = c.has_layer(LayerKind::kMoe);
  j["hidden_size"] = c.d_model;
  j["intermediate_size"] = c.has_layer(LayerKind::kMlp) ? c.ff_dim() : c.expert_dim();
  j["num_hidden_layers"] = c.blocks.size();
  j["num_attention_heads"] = c.attn.n_heads;
  j["num_key_value_heads"] = c.kv_heads();
  j["num_experts"] = has_moe ? c.moe.n_experts : 1;
  j["num_experts_per_tok"] = has_moe ? c.moe.top_k : 1;
  if (has_moe) j["router_aux_loss_coef"] = common::float_as_decimal(c.moe.aux_loss_weight);
  j["mamba_d_state"] = c.ssm.d_state;
  j["mamba_d_conv"] = c.ssm.d_conv;
  j["mamba_expand"] = c.ssm.expand;
  j["mamba_dt_rank"] = c.dt_rank();
  j["mamba_conv_bias"] = true;
  j["mamba_proj_bias"] = false;
  j["hidden_act"] = "silu";
  j["rms_norm_eps"] = common::float_as_decimal(c.norm_eps);
  j["vocab_size"] = c.vocab_size;
  j["tie_word_embeddings"] = c.tied_embedding;
  if (!j.contains("max_position_embeddings")) j["max_position_embeddings"] = 2048;
  if (!j.contains("initializer_range")) j["initializer_range"] = common::float_as_decimal(c.init_std);
}

}  // namespace

Result<std::string> hf_config_json(const ModelConfig& config, const HfLayout& layout, const std::string& base_config,
                                   const std::string& name_or_path) {
  json j = json::object();
  if (!base_config.empty()) {
    j = json::parse(base_config, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      return Status::InvalidArgument("the base's config.json is not a JSON object");
    j.erase("quantization_config");  // the weights written are plain F32
  }
  const char* cls = hf_class_of(layout.model_type);
  if (layout.arch == nullptr || cls == nullptr)
    return Status::InvalidArgument("model '" + config.name + "' has no Hugging Face architecture to write");
  j["model_type"] = layout.model_type;
  if (!j.contains("architectures") || !j["architectures"].is_array() || j["architectures"].empty())
    j["architectures"] = {cls};
  if (layout.model_type == "mamba")
    set_mamba_keys(config, j);
  else if (layout.model_type == "mamba2")
    set_mamba2_keys(config, j);
  else if (layout.model_type == "granitemoehybrid")
    set_granite_hybrid_keys(config, j);
  else if (layout.model_type == "jamba")
    set_jamba_keys(config, j);
  else if (layout.model_type == "bamba")
    set_bamba_keys(config, j);
  else if (layout.model_type == "lfm2")
    set_lfm2_keys(config, j);
  else
    set_attention_keys(config, layout.model_type, j);
  j["torch_dtype"] = "float32";
  if (!name_or_path.empty()) j["_name_or_path"] = name_or_path;
  return j.dump(2) + "\n";
}

}  // namespace trainer
