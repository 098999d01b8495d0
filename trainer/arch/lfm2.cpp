// The `lfm2` architecture (Liquid AI's LFM2: Lfm2ForCausalLM): short gated-convolution blocks with a
// few attention blocks, each followed by a SwiGLU MLP. config.json (layer_types or full_attn_idxs,
// conv_L_cache, block_ff_dim with LFM2's auto-adjusted width, norm_eps, tied embeddings) and GGUF
// metadata (head_count_kv per layer, 0 for a conv layer; shortconv.l_cache) to a ModelConfig of
// conv+mlp and attn+mlp blocks (attention with per-head q/k RMSNorm, rotate-half RoPE), and tensor
// names. The final norm is HF's `embedding_norm` (GGUF `token_embd_norm`), applied after the last
// block despite its name. HF's conv weight (D, 1, L) is read as (D, L); GGUF stores it as (D, L).
#include <string>

#include "trainer/arch/architecture.h"

namespace trainer {

namespace {

using common::Result;
using common::Status;

const BlockSpec kConvBlock{{LayerKind::kConv, LayerKind::kMlp}};
const BlockSpec kAttnBlock{{LayerKind::kAttn, LayerKind::kMlp}};

// The attention layers of config.json: layer_types ("conv" / "full_attention"), else full_attn_idxs.
Result<std::vector<BlockSpec>> hf_blocks(const HfConfig& hf, int64_t layers) {
  NS_ASSIGN_OR_RETURN(std::vector<std::string> types, hf.get_strings("layer_types"));
  std::vector<BlockSpec> blocks(static_cast<size_t>(layers), kConvBlock);
  if (!types.empty()) {
    if (static_cast<int64_t>(types.size()) != layers)
      return Status::InvalidArgument(hf.source() + ": layer_types has " + std::to_string(types.size()) +
                                     " entries for " + std::to_string(layers) + " layers");
    for (size_t i = 0; i < types.size(); ++i) {
      if (types[i] == "full_attention") {
        blocks[i] = kAttnBlock;
      } else if (types[i] != "conv") {
        return Status::InvalidArgument(hf.source() + ": layer_types[" + std::to_string(i) + "] is '" + types[i] +
                                       "' (lfm2 has 'conv' and 'full_attention')");
      }
    }
    return blocks;
  }
  NS_ASSIGN_OR_RETURN(std::vector<int64_t> idxs, hf.get_ints("full_attn_idxs"));
  for (int64_t i : idxs) {
    if (i < 0 || i >= layers)
      return Status::InvalidArgument(hf.source() + ": full_attn_idxs names layer " + std::to_string(i) + " of " +
                                     std::to_string(layers));
    blocks[static_cast<size_t>(i)] = kAttnBlock;
  }
  return blocks;
}

// The SwiGLU width as LFM2's MLP computes it from block_ff_dim (llama.cpp's converter does the same).
Result<int64_t> hf_ff_dim(const HfConfig& hf) {
  NS_ASSIGN_OR_RETURN(int64_t ff, hf.require_int({"block_ff_dim", "intermediate_size"}));
  NS_ASSIGN_OR_RETURN(std::optional<bool> adjust, hf.get_bool({"block_auto_adjust_ff_dim"}));
  NS_ASSIGN_OR_RETURN(std::optional<double> multiplier, hf.get_number({"block_ffn_dim_multiplier"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> multiple_of, hf.get_int({"block_multiple_of"}));
  if (!adjust.value_or(true)) return ff;
  ff = 2 * ff / 3;
  if (multiplier) ff = static_cast<int64_t>(*multiplier * static_cast<double>(ff));
  const int64_t m = multiple_of.value_or(256);
  if (m <= 0) return Status::InvalidArgument(hf.source() + ": block_multiple_of must be positive");
  return m * ((ff + m - 1) / m);
}

Result<ModelConfig> from_hf(const HfConfig& hf) {
  ModelConfig c;
  c.name = "lfm2";
  NS_ASSIGN_OR_RETURN(std::optional<bool> conv_bias, hf.get_bool({"conv_bias"}));
  if (conv_bias.value_or(false)) return Status::InvalidArgument(hf.source() + ": conv_bias = true is not supported");
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
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> kv_heads, hf.get_int({"num_key_value_heads"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> l_cache, hf.get_int({"conv_L_cache"}));
  NS_ASSIGN_OR_RETURN(std::optional<double> eps, hf.get_number({"norm_eps", "rms_norm_eps"}));
  NS_ASSIGN_OR_RETURN(std::optional<double> theta, hf.get_number({"rope_theta"}));
  NS_ASSIGN_OR_RETURN(std::optional<bool> tied, hf.get_bool({"tie_word_embeddings", "tie_embedding"}));
  NS_ASSIGN_OR_RETURN(int64_t d_ff, hf_ff_dim(hf));
  NS_ASSIGN_OR_RETURN(c.blocks, hf_blocks(hf, layers));
  c.vocab_size = static_cast<int>(vocab);
  c.d_model = static_cast<int>(d_model);
  c.attn.n_heads = static_cast<int>(heads);
  c.attn.n_kv_heads = static_cast<int>(kv_heads.value_or(heads));
  c.attn.head_dim = heads > 0 ? static_cast<int>(d_model / heads) : 0;
  c.attn.rope_theta = static_cast<float>(theta.value_or(1000000.0));
  c.attn.qk_norm = true;
  c.mlp.d_ff = static_cast<int>(d_ff);
  c.conv.l_cache = static_cast<int>(l_cache.value_or(3));
  c.norm_eps = static_cast<float>(eps.value_or(1e-5));
  c.tied_embedding = tied.value_or(true);
  NS_RETURN_IF_ERROR(validate_model_config(c, hf.source()));
  return c;
}

Result<ModelConfig> from_gguf(const formats::GgufFile& f) {
  ModelConfig c;
  c.name = "lfm2";
  const formats::GgufTensor* embd = f.find_tensor("token_embd.weight");
  if (embd == nullptr) return Status::InvalidArgument(f.path() + ": no token_embd.weight tensor");
  NS_ASSIGN_OR_RETURN(int64_t d_model, gguf_arch_int(f, "embedding_length"));
  NS_ASSIGN_OR_RETURN(int64_t layers, gguf_arch_int(f, "block_count"));
  NS_ASSIGN_OR_RETURN(int64_t heads, gguf_arch_int(f, "attention.head_count"));
  NS_ASSIGN_OR_RETURN(int64_t d_ff, gguf_arch_int(f, "feed_forward_length"));
  NS_ASSIGN_OR_RETURN(int64_t l_cache, gguf_arch_int(f, "shortconv.l_cache"));
  NS_ASSIGN_OR_RETURN(double eps, gguf_arch_float(f, "attention.layer_norm_rms_epsilon", 1e-5));
  NS_ASSIGN_OR_RETURN(double theta, gguf_arch_float(f, "rope.freq_base", 1000000.0));
  NS_ASSIGN_OR_RETURN(int64_t window, gguf_arch_int(f, "attention.sliding_window", 0));
  if (window > 0) return Status::InvalidArgument(f.path() + ": lfm2 with a sliding window is not supported");
  // head_count_kv: one entry per layer, 0 for a conv layer (a single value would make every layer
  // attention, which no LFM2 is).
  NS_ASSIGN_OR_RETURN(GgufHybridLayers kinds, gguf_hybrid_layers(f, layers, "conv"));
  for (bool attention : kinds.attention) c.blocks.push_back(attention ? kAttnBlock : kConvBlock);
  const int64_t kv_heads = kinds.kv_heads;
  c.vocab_size = static_cast<int>(embd->rows());
  c.d_model = static_cast<int>(d_model);
  c.attn.n_heads = static_cast<int>(heads);
  c.attn.n_kv_heads = static_cast<int>(kv_heads > 0 ? kv_heads : heads);
  c.attn.head_dim = heads > 0 ? static_cast<int>(d_model / heads) : 0;
  c.attn.rope_theta = static_cast<float>(theta);
  c.attn.qk_norm = true;
  c.mlp.d_ff = static_cast<int>(d_ff);
  c.conv.l_cache = static_cast<int>(l_cache);
  c.norm_eps = static_cast<float>(eps);
  c.tied_embedding = f.find_tensor("output.weight") == nullptr;
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
    if (c.blocks[i].layers.front() == LayerKind::kConv) {
      add(b + "conv_norm.weight", h + "operator_norm.weight", g + "attn_norm.weight");
      add(b + "conv.in_proj.weight", h + "conv.in_proj.weight", g + "shortconv.in_proj.weight");
      add(b + "conv.conv.weight", h + "conv.conv.weight", g + "shortconv.conv.weight");
      add(b + "conv.out_proj.weight", h + "conv.out_proj.weight", g + "shortconv.out_proj.weight");
    } else {
      add(b + "attn_norm.weight", h + "operator_norm.weight", g + "attn_norm.weight");
      for (const char* p : {"q", "k", "v"})
        add(b + "attn." + p + ".weight", h + "self_attn." + p + "_proj.weight", g + "attn_" + p + ".weight");
      add(b + "attn.q_norm.weight", h + "self_attn.q_layernorm.weight", g + "attn_q_norm.weight");
      add(b + "attn.k_norm.weight", h + "self_attn.k_layernorm.weight", g + "attn_k_norm.weight");
      add(b + "attn.o.weight", h + "self_attn.out_proj.weight", g + "attn_output.weight");
    }
    add(b + "mlp_norm.weight", h + "ffn_norm.weight", g + "ffn_norm.weight");
    add(b + "mlp.gate.weight", h + "feed_forward.w1.weight", g + "ffn_gate.weight");
    add(b + "mlp.up.weight", h + "feed_forward.w3.weight", g + "ffn_up.weight");
    add(b + "mlp.down.weight", h + "feed_forward.w2.weight", g + "ffn_down.weight");
  }
  add("final_norm.weight", "model.embedding_norm.weight", "token_embd_norm.weight");
  if (!c.tied_embedding) add("lm_head.weight", "lm_head.weight", "output.weight");
  return m;
}

constexpr const char* kHfTypes[] = {"lfm2"};
constexpr const char* kGgufNames[] = {"lfm2"};

}  // namespace

extern const Architecture kLfm2Architecture = {
    .name = "lfm2",
    .hf_model_types = kHfTypes,
    .gguf_names = kGgufNames,
    .from_hf = from_hf,
    .from_gguf = from_gguf,
    .hf_tensors = [](const ModelConfig& c) { return tensors(c, false); },
    .gguf_tensors = [](const ModelConfig& c) { return tensors(c, true); },
};

}  // namespace trainer
