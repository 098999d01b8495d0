// The `qwen2` (Qwen2, Qwen2.5) and `qwen3` architectures: Llama's blocks with q/k/v biases (qwen2) or
// per-head q/k RMSNorm and a head_dim of its own (qwen3). Unlike llama, llama.cpp's converter keeps
// their q/k rows in Hugging Face's rotate-half order (NEOX RoPE), so no tensor is permuted.
// config.json keys as transformers' Qwen2Config / Qwen3Config; GGUF keys as llama.cpp writes them.
#include <string>

#include "trainer/arch/architecture.h"

namespace trainer {

namespace {

using common::Result;
using common::Status;

Result<ModelConfig> from_hf(const HfConfig& hf, bool qwen3) {
  ModelConfig c;
  c.name = qwen3 ? "qwen3" : "qwen2";
  NS_ASSIGN_OR_RETURN(std::optional<std::string> act, hf.get_string({"hidden_act"}));
  if (act && *act != "silu") return Status::InvalidArgument(hf.source() + ": hidden_act '" + *act + "' (qwen uses silu)");
  NS_ASSIGN_OR_RETURN(std::optional<HfConfig> scaling, hf.get_object("rope_scaling"));
  if (scaling) {
    NS_ASSIGN_OR_RETURN(std::optional<std::string> kind, scaling->get_string({"rope_type", "type"}));
    if (kind.value_or("default") != "default")
      return Status::InvalidArgument(hf.source() + ": rope_scaling of type '" + *kind + "' is not supported yet");
  }
  NS_ASSIGN_OR_RETURN(int64_t vocab, hf.require_int({"vocab_size"}));
  NS_ASSIGN_OR_RETURN(int64_t d_model, hf.require_int({"hidden_size"}));
  NS_ASSIGN_OR_RETURN(int64_t layers, hf.require_int({"num_hidden_layers"}));
  NS_ASSIGN_OR_RETURN(int64_t heads, hf.require_int({"num_attention_heads"}));
  NS_ASSIGN_OR_RETURN(int64_t d_ff, hf.require_int({"intermediate_size"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> kv_heads, hf.get_int({"num_key_value_heads"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> head_dim, hf.get_int({"head_dim"}));
  NS_ASSIGN_OR_RETURN(std::optional<double> eps, hf.get_number({"rms_norm_eps"}));
  NS_ASSIGN_OR_RETURN(std::optional<double> theta, hf.get_number({"rope_theta"}));
  NS_ASSIGN_OR_RETURN(std::optional<bool> tied, hf.get_bool({"tie_word_embeddings"}));
  NS_ASSIGN_OR_RETURN(std::optional<bool> use_window, hf.get_bool({"use_sliding_window"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> window, hf.get_int({"sliding_window"}));
  NS_ASSIGN_OR_RETURN(std::optional<bool> bias, hf.get_bool({"attention_bias"}));
  if (use_window.value_or(false)) {
    NS_ASSIGN_OR_RETURN(std::optional<int64_t> max_window_layers, hf.get_int({"max_window_layers"}));
    if (max_window_layers.value_or(0) < layers)
      return Status::InvalidArgument(hf.source() + ": sliding windows on only some layers (max_window_layers) are not "
                                     "supported");
  }
  c.vocab_size = static_cast<int>(vocab);
  c.d_model = static_cast<int>(d_model);
  c.blocks.assign(static_cast<size_t>(layers), BlockSpec{{LayerKind::kAttn, LayerKind::kMlp}});
  c.attn.n_heads = static_cast<int>(heads);
  c.attn.n_kv_heads = static_cast<int>(kv_heads.value_or(heads));
  c.attn.head_dim = static_cast<int>(head_dim.value_or(d_model / heads));
  c.attn.window = use_window.value_or(false) ? static_cast<int>(window.value_or(0)) : 0;
  c.attn.rope_theta = static_cast<float>(theta.value_or(1000000.0));
  c.attn.qkv_bias = qwen3 ? bias.value_or(false) : true;
  c.attn.qk_norm = qwen3;
  c.mlp.d_ff = static_cast<int>(d_ff);
  c.norm_eps = static_cast<float>(eps.value_or(1e-6));
  c.tied_embedding = tied.value_or(false);
  NS_RETURN_IF_ERROR(validate_model_config(c, hf.source()));
  return c;
}

Result<ModelConfig> from_gguf(const formats::GgufFile& f, bool qwen3) {
  NS_ASSIGN_OR_RETURN(ModelConfig c, gguf_attn_mlp_config(f, 1e-6, 1000000.0, /*read_window=*/false));
  c.name = qwen3 ? "qwen3" : "qwen2";
  c.attn.qkv_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
  c.attn.qk_norm = qwen3;
  NS_RETURN_IF_ERROR(validate_model_config(c, f.path()));
  return c;
}

std::vector<TensorMapping> tensors(const ModelConfig& c, bool gguf) {
  std::vector<TensorMapping> m;
  auto add = [&](std::string ours, std::string hf, std::string gg) {
    m.push_back({std::move(ours), {gguf ? std::move(gg) : std::move(hf)}, TensorTransform::kNone, 0});
  };
  add("embed.weight", "model.embed_tokens.weight", "token_embd.weight");
  for (size_t i = 0; i < c.blocks.size(); ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".", h = "model.layers." + std::to_string(i) + ".",
                      g = "blk." + std::to_string(i) + ".";
    add(b + "attn_norm.weight", h + "input_layernorm.weight", g + "attn_norm.weight");
    for (const char* p : {"q", "k", "v"}) {
      add(b + "attn." + p + ".weight", h + "self_attn." + p + "_proj.weight", g + "attn_" + p + ".weight");
      if (c.attn.qkv_bias) add(b + "attn." + p + ".bias", h + "self_attn." + p + "_proj.bias", g + "attn_" + p + ".bias");
    }
    if (c.attn.qk_norm) {
      add(b + "attn.q_norm.weight", h + "self_attn.q_norm.weight", g + "attn_q_norm.weight");
      add(b + "attn.k_norm.weight", h + "self_attn.k_norm.weight", g + "attn_k_norm.weight");
    }
    add(b + "attn.o.weight", h + "self_attn.o_proj.weight", g + "attn_output.weight");
    add(b + "mlp_norm.weight", h + "post_attention_layernorm.weight", g + "ffn_norm.weight");
    add(b + "mlp.gate.weight", h + "mlp.gate_proj.weight", g + "ffn_gate.weight");
    add(b + "mlp.up.weight", h + "mlp.up_proj.weight", g + "ffn_up.weight");
    add(b + "mlp.down.weight", h + "mlp.down_proj.weight", g + "ffn_down.weight");
  }
  add("final_norm.weight", "model.norm.weight", "output_norm.weight");
  if (!c.tied_embedding) add("lm_head.weight", "lm_head.weight", "output.weight");
  return m;
}

constexpr const char* kQwen2Hf[] = {"qwen2"};
constexpr const char* kQwen2Gguf[] = {"qwen2"};
constexpr const char* kQwen3Hf[] = {"qwen3"};
constexpr const char* kQwen3Gguf[] = {"qwen3"};

}  // namespace

extern const Architecture kQwen2Architecture = {
    .name = "qwen2",
    .hf_model_types = kQwen2Hf,
    .gguf_names = kQwen2Gguf,
    .from_hf = [](const HfConfig& hf) { return from_hf(hf, false); },
    .from_gguf = [](const formats::GgufFile& f) { return from_gguf(f, false); },
    .hf_tensors = [](const ModelConfig& c) { return tensors(c, false); },
    .gguf_tensors = [](const ModelConfig& c) { return tensors(c, true); },
};

extern const Architecture kQwen3Architecture = {
    .name = "qwen3",
    .hf_model_types = kQwen3Hf,
    .gguf_names = kQwen3Gguf,
    .from_hf = [](const HfConfig& hf) { return from_hf(hf, true); },
    .from_gguf = [](const formats::GgufFile& f) { return from_gguf(f, true); },
    .hf_tensors = [](const ModelConfig& c) { return tensors(c, false); },
    .gguf_tensors = [](const ModelConfig& c) { return tensors(c, true); },
};

}  // namespace trainer
