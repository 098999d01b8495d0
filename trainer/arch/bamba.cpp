// The `bamba` architecture (IBM's Bamba: BambaForCausalLM, config.json model_type bamba), Granite-4.0-H's
// predecessor: Mamba-2 layers with attention layers at config.json's attn_layer_indices, each followed
// by a SwiGLU MLP; attention with partial RoPE (the first attn_rotary_emb dims of each head, or
// head_dim · partial_rotary_factor, 0.5 by default as transformers' BambaConfig has it), no µP
// multipliers. llama.cpp's converter writes Bamba as `granitehybrid` with rope.dimension_count set:
// a GGUF is read and written by that architecture (trainer/arch/granite_hybrid.cpp); this file is
// the Hugging Face side (the MLP as feed_forward.{gate,up,down}_proj, pre_ff_layernorm,
// final_layernorm).
#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "trainer/arch/architecture.h"

namespace trainer {

extern const Architecture kGraniteHybridArchitecture;  // arch/granite_hybrid.cpp: Bamba's GGUF side

namespace {

using common::Result;
using common::Status;

Result<ModelConfig> from_hf(const HfConfig& hf) {
  ModelConfig c;
  c.name = "bamba";
  NS_ASSIGN_OR_RETURN(int64_t vocab, hf.require_int({"vocab_size"}));
  NS_ASSIGN_OR_RETURN(int64_t d_model, hf.require_int({"hidden_size"}));
  NS_ASSIGN_OR_RETURN(int64_t layers, hf.require_int({"num_hidden_layers"}));
  NS_ASSIGN_OR_RETURN(int64_t heads, hf.require_int({"num_attention_heads"}));
  NS_ASSIGN_OR_RETURN(int64_t ff, hf.require_int({"intermediate_size"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> kv_heads, hf.get_int({"num_key_value_heads"}));
  NS_ASSIGN_OR_RETURN(std::vector<int64_t> attn_layers, hf.get_ints("attn_layer_indices"));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> m_heads, hf.get_int({"mamba_n_heads"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> m_state, hf.get_int({"mamba_d_state"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> m_groups, hf.get_int({"mamba_n_groups"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> m_conv, hf.get_int({"mamba_d_conv"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> m_expand, hf.get_int({"mamba_expand"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> m_chunk, hf.get_int({"mamba_chunk_size"}));
  NS_ASSIGN_OR_RETURN(std::optional<bool> conv_bias, hf.get_bool({"mamba_conv_bias"}));
  NS_ASSIGN_OR_RETURN(std::optional<bool> proj_bias, hf.get_bool({"mamba_proj_bias"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> rotary, hf.get_int({"attn_rotary_emb"}));
  NS_ASSIGN_OR_RETURN(std::optional<double> partial, hf.get_number({"partial_rotary_factor"}));
  NS_ASSIGN_OR_RETURN(std::optional<double> eps, hf.get_number({"rms_norm_eps"}));
  NS_ASSIGN_OR_RETURN(std::optional<double> theta, hf.get_number({"rope_theta"}));
  NS_ASSIGN_OR_RETURN(std::optional<bool> tied, hf.get_bool({"tie_word_embeddings"}));
  NS_ASSIGN_OR_RETURN(std::optional<HfConfig> scaling, hf.get_object("rope_scaling"));
  if (scaling) return Status::InvalidArgument(hf.source() + ": rope_scaling is not supported yet");
  if (proj_bias.value_or(false)) return Status::InvalidArgument(hf.source() + ": mamba_proj_bias = true is not supported");
  if (!conv_bias.value_or(true))
    return Status::InvalidArgument(hf.source() + ": mamba_conv_bias = false is not supported");
  const std::set<int64_t> attn(attn_layers.begin(), attn_layers.end());
  for (int64_t i : attn)
    if (i < 0 || i >= layers)
      return Status::InvalidArgument(hf.source() + ": attn_layer_indices names layer " + std::to_string(i) + " of " +
                                     std::to_string(layers));
  for (int64_t i = 0; i < layers; ++i)
    c.blocks.push_back(BlockSpec{{attn.count(i) ? LayerKind::kAttn : LayerKind::kMamba2, LayerKind::kMlp}});
  const int64_t d_inner = m_expand.value_or(2) * d_model;
  const int64_t H = m_heads.value_or(128);
  // mamba_d_head is an integer or "auto" (= the inner width over the heads).
  Result<std::optional<int64_t>> d_head = hf.get_int({"mamba_d_head"});
  const int64_t P = d_head.ok() && d_head->has_value() ? **d_head : (H > 0 ? d_inner / H : 0);
  if (H * P != d_inner)
    return Status::InvalidArgument(hf.source() + ": mamba_n_heads " + std::to_string(H) + " x mamba_d_head " +
                                   std::to_string(P) + " is not mamba_expand x hidden_size = " + std::to_string(d_inner));
  c.vocab_size = static_cast<int>(vocab);
  c.d_model = static_cast<int>(d_model);
  c.attn.n_heads = static_cast<int>(heads);
  c.attn.n_kv_heads = static_cast<int>(kv_heads.value_or(heads));
  c.attn.head_dim = heads > 0 ? static_cast<int>(d_model / heads) : 0;
  c.attn.rope_theta = static_cast<float>(theta.value_or(10000.0));
  const int64_t rot = rotary ? *rotary : std::llround(c.attn.head_dim * partial.value_or(0.5));
  if (rot < c.attn.head_dim) c.attn.rope_dim = static_cast<int>(rot);
  c.mlp.d_ff = static_cast<int>(ff);
  c.mamba2.d_inner = static_cast<int>(d_inner);
  c.mamba2.head_dim = static_cast<int>(P);
  c.mamba2.d_state = static_cast<int>(m_state.value_or(256));
  c.mamba2.d_conv = static_cast<int>(m_conv.value_or(4));
  c.mamba2.n_groups = static_cast<int>(m_groups.value_or(1));
  if (m_chunk && *m_chunk > 0) c.mamba2.chunk = static_cast<int>(std::min<int64_t>(*m_chunk, 64));
  c.norm_eps = static_cast<float>(eps.value_or(1e-5));
  c.tied_embedding = tied.value_or(false);
  NS_RETURN_IF_ERROR(validate_model_config(c, hf.source()));
  return c;
}

std::vector<TensorMapping> hf_tensors(const ModelConfig& c) {
  std::vector<TensorMapping> m;
  auto add = [&](std::string ours, std::string hf) { m.push_back({std::move(ours), {std::move(hf)}}); };
  add("embed.weight", "model.embed_tokens.weight");
  for (size_t i = 0; i < c.blocks.size(); ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".", h = "model.layers." + std::to_string(i) + ".";
    if (c.blocks[i].layers.front() == LayerKind::kMamba2) {
      add(b + "mamba2_norm.weight", h + "input_layernorm.weight");
      for (const char* w : {"in_proj.weight", "conv.weight", "conv.bias", "dt_bias", "A_log", "D", "norm.weight",
                            "out_proj.weight"}) {
        const std::string name = w;
        add(b + "mamba2." + name, h + "mamba." + (name.starts_with("conv.") ? "conv1d." + name.substr(5) : name));
      }
    } else {
      add(b + "attn_norm.weight", h + "input_layernorm.weight");
      for (const char* p : {"q", "k", "v", "o"})
        add(b + "attn." + p + ".weight", h + "self_attn." + p + "_proj.weight");
    }
    add(b + "mlp_norm.weight", h + "pre_ff_layernorm.weight");
    for (const char* p : {"gate", "up", "down"}) add(b + "mlp." + p + ".weight", h + "feed_forward." + p + "_proj.weight");
  }
  add("final_norm.weight", "model.final_layernorm.weight");
  if (!c.tied_embedding) add("lm_head.weight", "lm_head.weight");
  return m;
}

constexpr const char* kHfTypes[] = {"bamba"};

}  // namespace

extern const Architecture kBambaArchitecture = {
    .name = "bamba",
    .hf_model_types = kHfTypes,
    .gguf_names = {},
    .from_hf = from_hf,
    .from_gguf = [](const formats::GgufFile& f) { return kGraniteHybridArchitecture.from_gguf(f); },
    .hf_tensors = hf_tensors,
    .gguf_tensors = [](const ModelConfig& c) { return kGraniteHybridArchitecture.gguf_tensors(c); },
};

}  // namespace trainer
