// The `granitehybrid` architecture (IBM's Granite-4.0-H: GraniteMoeHybridForCausalLM, config.json
// model_type granitemoehybrid): Mamba-2 layers with a few attention layers, each followed by the
// shared SwiGLU MLP (dense: micro) or by a mixture of experts beside that shared MLP (MoE: tiny,
// small; softmax router, top-k, renormalized). config.json (layer_types "mamba" / "attention", the mamba_*
// mixer keys, position_embedding_type "nope" for attention without RoPE, the µP multipliers
// embedding_multiplier, attention_multiplier, residual_multiplier and logits_scaling) and GGUF
// metadata (head_count_kv per layer, 0 for a Mamba layer; ssm.*; embedding_scale, attention.scale,
// residual_scale, logit_scale; rope.scaling.finetuned false for no RoPE) to a ModelConfig of
// mamba2+mlp and attn+mlp blocks, and tensor names. HF fuses the MLP's gate and up projections in
// shared_mlp.input_linear (gate rows first, then up, as llama.cpp's converter splits it into
// ffn_gate and ffn_up); GGUF q/k rows are permuted as for llama (llama.cpp's converter does it for
// Granite, with or without RoPE). MoE: HF's block_sparse_moe holds the router and every expert in
// two fused tensors (input_linear (X, 2F, D): each expert's gate rows then its up rows;
// output_linear (X, D, F)); GGUF has ffn_gate_inp, ffn_{gate,up,down}_exps (one block per expert)
// and the shared MLP as ffn_{gate,up,down}_shexp.
#include <algorithm>
#include <string>

#include "trainer/arch/architecture.h"

namespace trainer {

namespace {

using common::Result;
using common::Status;

// The block of a layer: its mixer, then the shared MLP alone (dense) or the experts beside it.
BlockSpec block(bool mamba, bool moe) {
  return BlockSpec{{mamba ? LayerKind::kMamba2 : LayerKind::kAttn, moe ? LayerKind::kMoe : LayerKind::kMlp}};
}

Result<std::vector<BlockSpec>> hf_blocks(const HfConfig& hf, int64_t layers, bool moe) {
  NS_ASSIGN_OR_RETURN(std::vector<std::string> types, hf.get_strings("layer_types"));
  if (static_cast<int64_t>(types.size()) != layers)
    return Status::InvalidArgument(hf.source() + ": layer_types has " + std::to_string(types.size()) +
                                   " entries for " + std::to_string(layers) + " layers");
  std::vector<BlockSpec> blocks;
  for (size_t i = 0; i < types.size(); ++i) {
    if (types[i] != "mamba" && types[i] != "attention")
      return Status::InvalidArgument(hf.source() + ": layer_types[" + std::to_string(i) + "] is '" + types[i] +
                                     "' (granitemoehybrid has 'mamba' and 'attention')");
    blocks.push_back(block(types[i] == "mamba", moe));
  }
  return blocks;
}

// A multiplier of config.json: absent, null or 0 is none (1).
Result<float> multiplier(const HfConfig& hf, const char* key) {
  NS_ASSIGN_OR_RETURN(std::optional<double> v, hf.get_number({key}));
  return static_cast<float>(v && *v != 0.0 ? *v : 1.0);
}

Result<ModelConfig> from_hf(const HfConfig& hf) {
  ModelConfig c;
  c.name = "granitehybrid";
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> experts, hf.get_int({"num_local_experts"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> top_k, hf.get_int({"num_experts_per_tok"}));
  NS_ASSIGN_OR_RETURN(std::optional<double> aux, hf.get_number({"router_aux_loss_coef"}));
  const bool moe = experts.value_or(0) > 0;
  for (const char* key : {"attention_bias", "mamba_proj_bias"}) {
    NS_ASSIGN_OR_RETURN(std::optional<bool> b, hf.get_bool({key}));
    if (b.value_or(false)) return Status::InvalidArgument(hf.source() + ": " + key + " = true is not supported");
  }
  NS_ASSIGN_OR_RETURN(std::optional<bool> conv_bias, hf.get_bool({"mamba_conv_bias"}));
  if (!conv_bias.value_or(true))
    return Status::InvalidArgument(hf.source() + ": mamba_conv_bias = false is not supported");
  NS_ASSIGN_OR_RETURN(std::optional<std::string> pos, hf.get_string({"position_embedding_type"}));
  if (pos && *pos != "nope" && *pos != "rope")
    return Status::InvalidArgument(hf.source() + ": position_embedding_type '" + *pos + "' (known: nope, rope)");
  NS_ASSIGN_OR_RETURN(std::optional<HfConfig> scaling, hf.get_object("rope_scaling"));
  if (scaling && pos.value_or("nope") == "rope")
    return Status::InvalidArgument(hf.source() + ": rope_scaling is not supported yet");
  NS_ASSIGN_OR_RETURN(int64_t vocab, hf.require_int({"vocab_size"}));
  NS_ASSIGN_OR_RETURN(int64_t d_model, hf.require_int({"hidden_size"}));
  NS_ASSIGN_OR_RETURN(int64_t layers, hf.require_int({"num_hidden_layers"}));
  NS_ASSIGN_OR_RETURN(int64_t heads, hf.require_int({"num_attention_heads"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> kv_heads, hf.get_int({"num_key_value_heads"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> shared_ff, hf.get_int({"shared_intermediate_size"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> ff, hf.get_int({"intermediate_size"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> m_heads, hf.get_int({"mamba_n_heads"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> m_head_dim, hf.get_int({"mamba_d_head"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> m_state, hf.get_int({"mamba_d_state"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> m_groups, hf.get_int({"mamba_n_groups"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> m_conv, hf.get_int({"mamba_d_conv"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> m_expand, hf.get_int({"mamba_expand"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> m_chunk, hf.get_int({"mamba_chunk_size"}));
  NS_ASSIGN_OR_RETURN(std::optional<double> eps, hf.get_number({"rms_norm_eps"}));
  NS_ASSIGN_OR_RETURN(std::optional<double> theta, hf.get_number({"rope_theta"}));
  NS_ASSIGN_OR_RETURN(std::optional<bool> tied, hf.get_bool({"tie_word_embeddings"}));
  NS_ASSIGN_OR_RETURN(c.blocks, hf_blocks(hf, layers, moe));
  const int64_t d_inner = m_expand.value_or(2) * d_model;
  const int64_t P = m_head_dim.value_or(64);
  if (m_heads && *m_heads * P != d_inner)
    return Status::InvalidArgument(hf.source() + ": mamba_n_heads " + std::to_string(*m_heads) + " x mamba_d_head " +
                                   std::to_string(P) + " is not mamba_expand x hidden_size = " + std::to_string(d_inner));
  if (!shared_ff && !ff) return Status::InvalidArgument(hf.source() + ": missing 'shared_intermediate_size'");
  if (moe && (!ff || !top_k))
    return Status::InvalidArgument(hf.source() + ": a MoE granitemoehybrid needs 'intermediate_size' and "
                                                 "'num_experts_per_tok'");
  c.vocab_size = static_cast<int>(vocab);
  c.d_model = static_cast<int>(d_model);
  c.attn.n_heads = static_cast<int>(heads);
  c.attn.n_kv_heads = static_cast<int>(kv_heads.value_or(heads));
  c.attn.head_dim = heads > 0 ? static_cast<int>(d_model / heads) : 0;
  c.attn.rope_theta = static_cast<float>(theta.value_or(10000.0));
  c.attn.rope = pos.value_or("nope") == "rope";
  NS_ASSIGN_OR_RETURN(c.attn.score_scale, multiplier(hf, "attention_multiplier"));
  if (!hf.has("attention_multiplier")) c.attn.score_scale = 0.0f;
  c.mlp.d_ff = static_cast<int>(shared_ff.value_or(ff.value_or(0)));
  if (moe) {
    c.moe.n_experts = static_cast<int>(*experts);
    c.moe.top_k = static_cast<int>(*top_k);
    c.moe.d_expert = static_cast<int>(*ff);
    c.moe.shared_expert = shared_ff.value_or(0) > 0;
    c.moe.d_shared = static_cast<int>(shared_ff.value_or(0));
    if (aux) c.moe.aux_loss_weight = static_cast<float>(*aux);
  }
  c.mamba2.d_inner = static_cast<int>(d_inner);
  c.mamba2.head_dim = static_cast<int>(P);
  c.mamba2.d_state = static_cast<int>(m_state.value_or(256));
  c.mamba2.d_conv = static_cast<int>(m_conv.value_or(4));
  c.mamba2.n_groups = static_cast<int>(m_groups.value_or(1));
  if (m_chunk && *m_chunk > 0) c.mamba2.chunk = static_cast<int>(std::min<int64_t>(*m_chunk, 64));
  NS_ASSIGN_OR_RETURN(c.embedding_scale, multiplier(hf, "embedding_multiplier"));
  NS_ASSIGN_OR_RETURN(c.residual_scale, multiplier(hf, "residual_multiplier"));
  NS_ASSIGN_OR_RETURN(c.logit_scale, multiplier(hf, "logits_scaling"));
  c.norm_eps = static_cast<float>(eps.value_or(1e-5));
  c.tied_embedding = tied.value_or(true);
  NS_RETURN_IF_ERROR(validate_model_config(c, hf.source()));
  return c;
}

Result<ModelConfig> from_gguf(const formats::GgufFile& f) {
  ModelConfig c;
  c.name = "granitehybrid";
  const formats::GgufTensor* embd = f.find_tensor("token_embd.weight");
  if (embd == nullptr) return Status::InvalidArgument(f.path() + ": no token_embd.weight tensor");
  NS_ASSIGN_OR_RETURN(int64_t experts, gguf_arch_int(f, "expert_count", 0));
  NS_ASSIGN_OR_RETURN(int64_t top_k, gguf_arch_int(f, "expert_used_count", 0));
  NS_ASSIGN_OR_RETURN(int64_t shared_ff, gguf_arch_int(f, "expert_shared_feed_forward_length", 0));
  const bool moe = experts > 0;
  if (moe && top_k <= 0)
    return Status::InvalidArgument(f.path() + ": expert_count is " + std::to_string(experts) +
                                   " but expert_used_count is missing");
  NS_ASSIGN_OR_RETURN(int64_t d_model, gguf_arch_int(f, "embedding_length"));
  NS_ASSIGN_OR_RETURN(int64_t layers, gguf_arch_int(f, "block_count"));
  NS_ASSIGN_OR_RETURN(int64_t heads, gguf_arch_int(f, "attention.head_count"));
  NS_ASSIGN_OR_RETURN(int64_t d_ff, gguf_arch_int(f, "feed_forward_length"));
  NS_ASSIGN_OR_RETURN(int64_t head_dim, gguf_arch_int(f, "attention.key_length", heads > 0 ? d_model / heads : 0));
  NS_ASSIGN_OR_RETURN(int64_t d_inner, gguf_arch_int(f, "ssm.inner_size"));
  NS_ASSIGN_OR_RETURN(int64_t d_state, gguf_arch_int(f, "ssm.state_size"));
  NS_ASSIGN_OR_RETURN(int64_t d_conv, gguf_arch_int(f, "ssm.conv_kernel"));
  NS_ASSIGN_OR_RETURN(int64_t m_heads, gguf_arch_int(f, "ssm.time_step_rank"));
  NS_ASSIGN_OR_RETURN(int64_t groups, gguf_arch_int(f, "ssm.group_count", 1));
  NS_ASSIGN_OR_RETURN(double eps, gguf_arch_float(f, "attention.layer_norm_rms_epsilon", 1e-5));
  NS_ASSIGN_OR_RETURN(double theta, gguf_arch_float(f, "rope.freq_base", 10000.0));
  NS_ASSIGN_OR_RETURN(int64_t rope_dim, gguf_arch_int(f, "rope.dimension_count", head_dim));
  // llama.cpp treats an absent or 0 multiplier as none.
  NS_ASSIGN_OR_RETURN(double embedding_scale, gguf_arch_float(f, "embedding_scale", 0.0));
  NS_ASSIGN_OR_RETURN(double residual_scale, gguf_arch_float(f, "residual_scale", 0.0));
  NS_ASSIGN_OR_RETURN(double logit_scale, gguf_arch_float(f, "logit_scale", 0.0));
  NS_ASSIGN_OR_RETURN(double attention_scale, gguf_arch_float(f, "attention.scale", 0.0));
  if (m_heads <= 0 || d_inner % m_heads != 0)
    return Status::InvalidArgument(f.path() + ": ssm.time_step_rank (the number of Mamba heads) " +
                                   std::to_string(m_heads) + " does not divide ssm.inner_size " +
                                   std::to_string(d_inner));
  NS_ASSIGN_OR_RETURN(std::string arch, f.get_string("general.architecture"));
  const formats::GgufValue* rope = f.find(arch + ".rope.scaling.finetuned");
  // head_count_kv: one entry per layer, 0 for a Mamba layer (llama.cpp's is_recr).
  NS_ASSIGN_OR_RETURN(GgufHybridLayers kinds, gguf_hybrid_layers(f, layers, "Mamba"));
  for (bool attention : kinds.attention) c.blocks.push_back(block(!attention, moe));
  const int64_t kv_heads = kinds.kv_heads;
  c.vocab_size = static_cast<int>(embd->rows());
  c.d_model = static_cast<int>(d_model);
  c.attn.n_heads = static_cast<int>(heads);
  c.attn.n_kv_heads = static_cast<int>(kv_heads > 0 ? kv_heads : heads);
  c.attn.head_dim = static_cast<int>(head_dim);
  c.attn.rope_theta = static_cast<float>(theta);
  c.attn.rope = rope == nullptr || !rope->is_int() || rope->i != 0;
  // Bamba's partial rotary: llama.cpp rotates the first rope.dimension_count dims of each head.
  if (c.attn.rope && rope_dim < head_dim) c.attn.rope_dim = static_cast<int>(rope_dim);
  c.attn.score_scale = static_cast<float>(attention_scale);
  c.mlp.d_ff = static_cast<int>(d_ff);
  if (moe) {  // feed_forward_length is then each expert's width
    c.moe.n_experts = static_cast<int>(experts);
    c.moe.top_k = static_cast<int>(top_k);
    c.moe.d_expert = static_cast<int>(d_ff);
    c.moe.shared_expert = shared_ff > 0;
    c.moe.d_shared = static_cast<int>(shared_ff);
  }
  c.mamba2.d_inner = static_cast<int>(d_inner);
  c.mamba2.head_dim = static_cast<int>(d_inner / m_heads);
  c.mamba2.d_state = static_cast<int>(d_state);
  c.mamba2.d_conv = static_cast<int>(d_conv);
  c.mamba2.n_groups = static_cast<int>(groups);
  c.embedding_scale = static_cast<float>(embedding_scale != 0.0 ? embedding_scale : 1.0);
  c.residual_scale = static_cast<float>(residual_scale != 0.0 ? residual_scale : 1.0);
  c.logit_scale = static_cast<float>(logit_scale != 0.0 ? logit_scale : 1.0);
  c.norm_eps = static_cast<float>(eps);
  c.tied_embedding = f.find_tensor("output.weight") == nullptr;
  NS_RETURN_IF_ERROR(validate_model_config(c, f.path()));
  return c;
}

std::vector<TensorMapping> tensors(const ModelConfig& c, bool gguf) {
  std::vector<TensorMapping> m;
  auto add = [&](std::string ours, std::string hf, std::string gg, TensorTransform t = TensorTransform::kNone,
                 int heads = 0) {
    m.push_back({std::move(ours), {gguf ? std::move(gg) : std::move(hf)}, gguf ? t : TensorTransform::kNone,
                 gguf ? heads : 0});
  };
  // Mapping k is row block `slice` of `slices` of a fused tensor of shape `whole`.
  auto part = [&](size_t k, int slice, int slices, std::vector<int64_t> whole) {
    m[k].slice = slice;
    m[k].slices = slices;
    m[k].whole = std::move(whole);
  };
  add("embed.weight", "model.embed_tokens.weight", "token_embd.weight");
  for (size_t i = 0; i < c.blocks.size(); ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".", h = "model.layers." + std::to_string(i) + ".",
                      g = "blk." + std::to_string(i) + ".";
    if (c.blocks[i].layers.front() == LayerKind::kMamba2) {
      add(b + "mamba2_norm.weight", h + "input_layernorm.weight", g + "attn_norm.weight");
      add(b + "mamba2.in_proj.weight", h + "mamba.in_proj.weight", g + "ssm_in.weight");
      add(b + "mamba2.conv.weight", h + "mamba.conv1d.weight", g + "ssm_conv1d.weight");
      add(b + "mamba2.conv.bias", h + "mamba.conv1d.bias", g + "ssm_conv1d.bias");
      add(b + "mamba2.dt_bias", h + "mamba.dt_bias", g + "ssm_dt.bias");
      add(b + "mamba2.A_log", h + "mamba.A_log", g + "ssm_a", TensorTransform::kNegExp);
      add(b + "mamba2.D", h + "mamba.D", g + "ssm_d");
      add(b + "mamba2.norm.weight", h + "mamba.norm.weight", g + "ssm_norm.weight");
      add(b + "mamba2.out_proj.weight", h + "mamba.out_proj.weight", g + "ssm_out.weight");
    } else {
      add(b + "attn_norm.weight", h + "input_layernorm.weight", g + "attn_norm.weight");
      add(b + "attn.q.weight", h + "self_attn.q_proj.weight", g + "attn_q.weight", TensorTransform::kRopePermute,
          c.attn.n_heads);
      m.back().rotary = gguf ? c.attn.rope_dim : 0;  // partial rotary: only the rotated rows are paired
      add(b + "attn.k.weight", h + "self_attn.k_proj.weight", g + "attn_k.weight", TensorTransform::kRopePermute,
          c.kv_heads());
      m.back().rotary = gguf ? c.attn.rope_dim : 0;
      add(b + "attn.v.weight", h + "self_attn.v_proj.weight", g + "attn_v.weight");
      add(b + "attn.o.weight", h + "self_attn.o_proj.weight", g + "attn_output.weight");
    }
    if (c.blocks[i].layers.back() == LayerKind::kMlp) {
      add(b + "mlp_norm.weight", h + "post_attention_layernorm.weight", g + "ffn_norm.weight");
      add(b + "mlp.gate.weight", h + "shared_mlp.input_linear.weight", g + "ffn_gate.weight");
      add(b + "mlp.up.weight", h + "shared_mlp.input_linear.weight", g + "ffn_up.weight");
      if (!gguf) {  // gate and up: the first and second halves of the rows of HF's fused input_linear
        part(m.size() - 2, 0, 2, {2 * c.ff_dim(), c.d_model});
        part(m.size() - 1, 1, 2, {2 * c.ff_dim(), c.d_model});
      }
      add(b + "mlp.down.weight", h + "shared_mlp.output_linear.weight", g + "ffn_down.weight");
      continue;
    }
    const int X = c.moe.n_experts, F = c.expert_dim(), D = c.d_model;
    add(b + "moe_norm.weight", h + "post_attention_layernorm.weight", g + "ffn_norm.weight");
    add(b + "moe.router.weight", h + "block_sparse_moe.router.layer.weight", g + "ffn_gate_inp.weight");
    for (int e = 0; e < X; ++e) {
      const std::string x = b + "moe.experts." + std::to_string(e) + ".";
      // HF: expert e's gate and up are row blocks 2e and 2e+1 of input_linear (X, 2F, D).
      add(x + "gate.weight", h + "block_sparse_moe.input_linear.weight", g + "ffn_gate_exps.weight");
      gguf ? part(m.size() - 1, e, X, {X, F, D}) : part(m.size() - 1, 2 * e, 2 * X, {X, 2 * F, D});
      add(x + "up.weight", h + "block_sparse_moe.input_linear.weight", g + "ffn_up_exps.weight");
      gguf ? part(m.size() - 1, e, X, {X, F, D}) : part(m.size() - 1, 2 * e + 1, 2 * X, {X, 2 * F, D});
      add(x + "down.weight", h + "block_sparse_moe.output_linear.weight", g + "ffn_down_exps.weight");
      part(m.size() - 1, e, X, {X, D, F});
    }
    if (c.moe.shared_expert) {
      const int Fs = c.shared_dim();
      add(b + "moe.shared.gate.weight", h + "shared_mlp.input_linear.weight", g + "ffn_gate_shexp.weight");
      add(b + "moe.shared.up.weight", h + "shared_mlp.input_linear.weight", g + "ffn_up_shexp.weight");
      if (!gguf) {
        part(m.size() - 2, 0, 2, {2 * Fs, D});
        part(m.size() - 1, 1, 2, {2 * Fs, D});
      }
      add(b + "moe.shared.down.weight", h + "shared_mlp.output_linear.weight", g + "ffn_down_shexp.weight");
    }
  }
  add("final_norm.weight", "model.norm.weight", "output_norm.weight");
  if (!c.tied_embedding) add("lm_head.weight", "lm_head.weight", "output.weight");
  return m;
}

constexpr const char* kHfTypes[] = {"granitemoehybrid"};
constexpr const char* kGgufNames[] = {"granitehybrid"};

}  // namespace

extern const Architecture kGraniteHybridArchitecture = {
    .name = "granitehybrid",
    .hf_model_types = kHfTypes,
    .gguf_names = kGgufNames,
    .from_hf = from_hf,
    .from_gguf = from_gguf,
    .hf_tensors = [](const ModelConfig& c) { return tensors(c, false); },
    .gguf_tensors = [](const ModelConfig& c) { return tensors(c, true); },
};

}  // namespace trainer
