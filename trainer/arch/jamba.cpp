// The `jamba` architecture (AI21's Jamba: JambaForCausalLM, config.json model_type jamba): Mamba-1
// layers with RMSNorm on the dt, B and C parts of x_proj's output (ssm.dt_bc_norm), a few attention
// layers without RoPE, and a feed-forward after each mixer that is a dense SwiGLU MLP or a mixture
// of experts whose top-k gates are the softmax probabilities themselves (moe.renormalize = false,
// no shared expert). The layer kinds come from config.json's attn_layer_period/offset and
// expert_layer_period/offset (or the lists layers_block_type / layers_num_experts), or from a GGUF's
// per-layer head_count_kv (0 for a Mamba layer) and the layers that have ffn_gate_inp. Tensor names
// as transformers and llama.cpp's converter write them: GGUF A as -exp(A_log), the conv weight
// squeezed, the experts fused in ffn_{gate,up,down}_exps (one row block per expert); q/k rows are not
// permuted (Jamba has no RoPE).
#include <string>
#include <vector>

#include "trainer/arch/architecture.h"

namespace trainer {

namespace {

using common::Result;
using common::Status;

BlockSpec block(bool mamba, bool moe) {
  return BlockSpec{{mamba ? LayerKind::kSsm : LayerKind::kAttn, moe ? LayerKind::kMoe : LayerKind::kMlp}};
}

// Whether each layer is a Mamba layer and whether it has experts, from config.json.
Result<std::vector<BlockSpec>> hf_blocks(const HfConfig& hf, int64_t layers) {
  NS_ASSIGN_OR_RETURN(std::vector<std::string> types, hf.get_strings("layers_block_type"));
  NS_ASSIGN_OR_RETURN(std::vector<int64_t> experts, hf.get_ints("layers_num_experts"));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> n_experts, hf.get_int({"num_experts"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> attn_period, hf.get_int({"attn_layer_period"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> attn_offset, hf.get_int({"attn_layer_offset"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> moe_period, hf.get_int({"expert_layer_period"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> moe_offset, hf.get_int({"expert_layer_offset"}));
  if (!types.empty() && static_cast<int64_t>(types.size()) != layers)
    return Status::InvalidArgument(hf.source() + ": layers_block_type has " + std::to_string(types.size()) +
                                   " entries for " + std::to_string(layers) + " layers");
  if (!experts.empty() && static_cast<int64_t>(experts.size()) != layers)
    return Status::InvalidArgument(hf.source() + ": layers_num_experts has " + std::to_string(experts.size()) +
                                   " entries for " + std::to_string(layers) + " layers");
  if (types.empty() && (attn_period.value_or(0) <= 0 || !attn_offset))
    return Status::InvalidArgument(hf.source() + ": jamba needs attn_layer_period and attn_layer_offset (or "
                                                 "layers_block_type)");
  std::vector<BlockSpec> blocks;
  for (int64_t i = 0; i < layers; ++i) {
    bool mamba = i % attn_period.value_or(1) != attn_offset.value_or(0);
    if (!types.empty()) {
      const std::string& t = types[static_cast<size_t>(i)];
      if (t != "mamba" && t != "attention")
        return Status::InvalidArgument(hf.source() + ": layers_block_type[" + std::to_string(i) + "] is '" + t +
                                       "' (jamba has 'mamba' and 'attention')");
      mamba = t == "mamba";
    }
    bool moe = n_experts.value_or(1) > 1 && moe_period.value_or(0) > 0 &&
               i % moe_period.value_or(1) == moe_offset.value_or(0);
    if (!experts.empty()) moe = experts[static_cast<size_t>(i)] > 1;
    blocks.push_back(block(mamba, moe));
  }
  return blocks;
}

Result<ModelConfig> from_hf(const HfConfig& hf) {
  ModelConfig c;
  c.name = "jamba";
  NS_ASSIGN_OR_RETURN(int64_t vocab, hf.require_int({"vocab_size"}));
  NS_ASSIGN_OR_RETURN(int64_t d_model, hf.require_int({"hidden_size"}));
  NS_ASSIGN_OR_RETURN(int64_t layers, hf.require_int({"num_hidden_layers"}));
  NS_ASSIGN_OR_RETURN(int64_t heads, hf.require_int({"num_attention_heads"}));
  NS_ASSIGN_OR_RETURN(int64_t ff, hf.require_int({"intermediate_size"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> kv_heads, hf.get_int({"num_key_value_heads"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> n_experts, hf.get_int({"num_experts"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> top_k, hf.get_int({"num_experts_per_tok"}));
  NS_ASSIGN_OR_RETURN(std::optional<double> aux, hf.get_number({"router_aux_loss_coef"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> d_state, hf.get_int({"mamba_d_state"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> d_conv, hf.get_int({"mamba_d_conv"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> expand, hf.get_int({"mamba_expand"}));
  NS_ASSIGN_OR_RETURN(std::optional<double> eps, hf.get_number({"rms_norm_eps"}));
  NS_ASSIGN_OR_RETURN(std::optional<bool> tied, hf.get_bool({"tie_word_embeddings"}));
  NS_ASSIGN_OR_RETURN(std::optional<bool> conv_bias, hf.get_bool({"mamba_conv_bias"}));
  NS_ASSIGN_OR_RETURN(std::optional<bool> proj_bias, hf.get_bool({"mamba_proj_bias"}));
  if (proj_bias.value_or(false)) return Status::InvalidArgument(hf.source() + ": mamba_proj_bias = true is not supported");
  if (!conv_bias.value_or(true))
    return Status::InvalidArgument(hf.source() + ": mamba_conv_bias = false is not supported");
  // mamba_dt_rank is an integer or "auto" (= ceil(hidden_size / 16), our dt_rank 0).
  Result<std::optional<int64_t>> rank = hf.get_int({"mamba_dt_rank"});
  c.ssm.dt_rank = rank.ok() && rank->has_value() ? static_cast<int>(**rank) : 0;
  NS_ASSIGN_OR_RETURN(c.blocks, hf_blocks(hf, layers));
  c.vocab_size = static_cast<int>(vocab);
  c.d_model = static_cast<int>(d_model);
  c.attn.n_heads = static_cast<int>(heads);
  c.attn.n_kv_heads = static_cast<int>(kv_heads.value_or(heads));
  c.attn.rope = false;
  c.mlp.d_ff = static_cast<int>(ff);
  c.ssm.expand = static_cast<int>(expand.value_or(2));
  c.ssm.d_state = static_cast<int>(d_state.value_or(16));
  c.ssm.d_conv = static_cast<int>(d_conv.value_or(4));
  c.ssm.dt_bc_norm = true;
  if (c.has_layer(LayerKind::kMoe)) {
    c.moe.n_experts = static_cast<int>(n_experts.value_or(16));
    c.moe.top_k = static_cast<int>(top_k.value_or(2));
    c.moe.d_expert = static_cast<int>(ff);
    c.moe.shared_expert = false;
    c.moe.renormalize = false;
    if (aux) c.moe.aux_loss_weight = static_cast<float>(*aux);
  }
  c.norm_eps = static_cast<float>(eps.value_or(1e-6));
  c.tied_embedding = tied.value_or(false);
  NS_RETURN_IF_ERROR(validate_model_config(c, hf.source()));
  return c;
}

Result<ModelConfig> from_gguf(const formats::GgufFile& f) {
  ModelConfig c;
  c.name = "jamba";
  const formats::GgufTensor* embd = f.find_tensor("token_embd.weight");
  if (embd == nullptr) return Status::InvalidArgument(f.path() + ": no token_embd.weight tensor");
  NS_ASSIGN_OR_RETURN(int64_t d_model, gguf_arch_int(f, "embedding_length"));
  NS_ASSIGN_OR_RETURN(int64_t layers, gguf_arch_int(f, "block_count"));
  NS_ASSIGN_OR_RETURN(int64_t heads, gguf_arch_int(f, "attention.head_count"));
  NS_ASSIGN_OR_RETURN(int64_t ff, gguf_arch_int(f, "feed_forward_length"));
  NS_ASSIGN_OR_RETURN(int64_t d_inner, gguf_arch_int(f, "ssm.inner_size"));
  NS_ASSIGN_OR_RETURN(int64_t d_state, gguf_arch_int(f, "ssm.state_size"));
  NS_ASSIGN_OR_RETURN(int64_t d_conv, gguf_arch_int(f, "ssm.conv_kernel"));
  NS_ASSIGN_OR_RETURN(int64_t dt_rank, gguf_arch_int(f, "ssm.time_step_rank"));
  NS_ASSIGN_OR_RETURN(int64_t experts, gguf_arch_int(f, "expert_count", 0));
  NS_ASSIGN_OR_RETURN(int64_t top_k, gguf_arch_int(f, "expert_used_count", 0));
  NS_ASSIGN_OR_RETURN(double eps, gguf_arch_float(f, "attention.layer_norm_rms_epsilon", 1e-6));
  if (d_model <= 0 || d_inner % d_model != 0)
    return Status::InvalidArgument(f.path() + ": ssm.inner_size " + std::to_string(d_inner) +
                                   " is not a multiple of the embedding length " + std::to_string(d_model));
  // head_count_kv: one entry per layer, 0 for a Mamba layer; a layer with ffn_gate_inp has experts.
  NS_ASSIGN_OR_RETURN(GgufHybridLayers kinds, gguf_hybrid_layers(f, layers, "Mamba"));
  for (int64_t i = 0; i < layers; ++i) {
    const bool moe = f.find_tensor("blk." + std::to_string(i) + ".ffn_gate_inp.weight") != nullptr;
    if (moe && (experts <= 1 || top_k <= 0))
      return Status::InvalidArgument(f.path() + ": layer " + std::to_string(i) +
                                     " has experts but expert_count / expert_used_count are missing");
    c.blocks.push_back(block(!kinds.attention[static_cast<size_t>(i)], moe));
  }
  const int64_t kv_heads = kinds.kv_heads;
  c.vocab_size = static_cast<int>(embd->rows());
  c.d_model = static_cast<int>(d_model);
  c.attn.n_heads = static_cast<int>(heads);
  c.attn.n_kv_heads = static_cast<int>(kv_heads > 0 ? kv_heads : heads);
  c.attn.rope = false;
  c.mlp.d_ff = static_cast<int>(ff);
  c.ssm.expand = static_cast<int>(d_inner / d_model);
  c.ssm.d_state = static_cast<int>(d_state);
  c.ssm.d_conv = static_cast<int>(d_conv);
  c.ssm.dt_rank = static_cast<int>(dt_rank);
  c.ssm.dt_bc_norm = true;
  if (c.has_layer(LayerKind::kMoe)) {
    c.moe.n_experts = static_cast<int>(experts);
    c.moe.top_k = static_cast<int>(top_k);
    c.moe.d_expert = static_cast<int>(ff);
    c.moe.shared_expert = false;
    c.moe.renormalize = false;
  }
  c.norm_eps = static_cast<float>(eps);
  c.tied_embedding = f.find_tensor("output.weight") == nullptr;
  NS_RETURN_IF_ERROR(validate_model_config(c, f.path()));
  return c;
}

std::vector<TensorMapping> tensors(const ModelConfig& c, bool gguf) {
  std::vector<TensorMapping> m;
  auto add = [&](std::string ours, std::string hf, std::string gg, TensorTransform t = TensorTransform::kNone) {
    m.push_back({std::move(ours), {gguf ? std::move(gg) : std::move(hf)}, gguf ? t : TensorTransform::kNone, 0});
  };
  add("embed.weight", "model.embed_tokens.weight", "token_embd.weight");
  for (size_t i = 0; i < c.blocks.size(); ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".", h = "model.layers." + std::to_string(i) + ".",
                      g = "blk." + std::to_string(i) + ".";
    if (c.blocks[i].layers.front() == LayerKind::kSsm) {
      add(b + "ssm_norm.weight", h + "input_layernorm.weight", g + "attn_norm.weight");
      add(b + "ssm.in_proj.weight", h + "mamba.in_proj.weight", g + "ssm_in.weight");
      add(b + "ssm.conv.weight", h + "mamba.conv1d.weight", g + "ssm_conv1d.weight");
      add(b + "ssm.conv.bias", h + "mamba.conv1d.bias", g + "ssm_conv1d.bias");
      add(b + "ssm.x_proj.weight", h + "mamba.x_proj.weight", g + "ssm_x.weight");
      add(b + "ssm.dt_proj.weight", h + "mamba.dt_proj.weight", g + "ssm_dt.weight");
      add(b + "ssm.dt_proj.bias", h + "mamba.dt_proj.bias", g + "ssm_dt.bias");
      add(b + "ssm.A_log", h + "mamba.A_log", g + "ssm_a", TensorTransform::kNegExp);
      add(b + "ssm.D", h + "mamba.D", g + "ssm_d");
      add(b + "ssm.out_proj.weight", h + "mamba.out_proj.weight", g + "ssm_out.weight");
      add(b + "ssm.dt_norm.weight", h + "mamba.dt_layernorm.weight", g + "ssm_dt_norm.weight");
      add(b + "ssm.b_norm.weight", h + "mamba.b_layernorm.weight", g + "ssm_b_norm.weight");
      add(b + "ssm.c_norm.weight", h + "mamba.c_layernorm.weight", g + "ssm_c_norm.weight");
    } else {
      add(b + "attn_norm.weight", h + "input_layernorm.weight", g + "attn_norm.weight");
      add(b + "attn.q.weight", h + "self_attn.q_proj.weight", g + "attn_q.weight");
      add(b + "attn.k.weight", h + "self_attn.k_proj.weight", g + "attn_k.weight");
      add(b + "attn.v.weight", h + "self_attn.v_proj.weight", g + "attn_v.weight");
      add(b + "attn.o.weight", h + "self_attn.o_proj.weight", g + "attn_output.weight");
    }
    if (c.blocks[i].layers.back() == LayerKind::kMlp) {
      add(b + "mlp_norm.weight", h + "pre_ff_layernorm.weight", g + "ffn_norm.weight");
      add(b + "mlp.gate.weight", h + "feed_forward.gate_proj.weight", g + "ffn_gate.weight");
      add(b + "mlp.up.weight", h + "feed_forward.up_proj.weight", g + "ffn_up.weight");
      add(b + "mlp.down.weight", h + "feed_forward.down_proj.weight", g + "ffn_down.weight");
      continue;
    }
    const int X = c.moe.n_experts, F = c.expert_dim(), D = c.d_model;
    add(b + "moe_norm.weight", h + "pre_ff_layernorm.weight", g + "ffn_norm.weight");
    add(b + "moe.router.weight", h + "feed_forward.router.weight", g + "ffn_gate_inp.weight");
    for (int e = 0; e < X; ++e) {
      const std::string x = b + "moe.experts." + std::to_string(e) + ".",
                        hx = h + "feed_forward.experts." + std::to_string(e) + ".";
      const struct {
        const char *ours, *hf, *gguf;
        std::vector<int64_t> whole;
      } parts[] = {{"gate.weight", "gate_proj.weight", "ffn_gate_exps.weight", {X, F, D}},
                   {"up.weight", "up_proj.weight", "ffn_up_exps.weight", {X, F, D}},
                   {"down.weight", "down_proj.weight", "ffn_down_exps.weight", {X, D, F}}};
      for (const auto& p : parts) {
        add(x + p.ours, hx + p.hf, g + p.gguf);
        if (gguf) {  // expert e is row block e of the fused GGUF tensor
          m.back().slice = e;
          m.back().slices = X;
          m.back().whole = p.whole;
        }
      }
    }
  }
  add("final_norm.weight", "model.final_layernorm.weight", "output_norm.weight");
  if (!c.tied_embedding) add("lm_head.weight", "lm_head.weight", "output.weight");
  return m;
}

constexpr const char* kHfTypes[] = {"jamba"};
constexpr const char* kGgufNames[] = {"jamba"};

}  // namespace

extern const Architecture kJambaArchitecture = {
    .name = "jamba",
    .hf_model_types = kHfTypes,
    .gguf_names = kGgufNames,
    .from_hf = from_hf,
    .from_gguf = from_gguf,
    .hf_tensors = [](const ModelConfig& c) { return tensors(c, false); },
    .gguf_tensors = [](const ModelConfig& c) { return tensors(c, true); },
};

}  // namespace trainer
