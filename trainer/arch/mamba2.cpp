// The `mamba2` architecture (Mamba-2: state-spaces/mamba2-*, Mamba2ForCausalLM): config.json or
// GGUF metadata (ssm.inner_size, ssm.state_size, ssm.conv_kernel, ssm.group_count and
// ssm.time_step_rank, which llama.cpp uses for the number of heads) to blocks of the mamba2 kind,
// and tensor names both ways. The conv weight (Cx, 1, K) is read as (Cx, K); GGUF stores A as
// ssm_a = -exp(A_log) (kNegExp), A and D as (H, 1) and the gated norm's weight as (G, Di/G), all of
// which are nightshift's (H) and (Di) in the same order.
#include <algorithm>
#include <string>

#include "trainer/arch/architecture.h"

namespace trainer {

namespace {

using common::Result;
using common::Status;

Result<ModelConfig> from_hf(const HfConfig& hf) {
  ModelConfig c;
  c.name = "mamba2";
  NS_ASSIGN_OR_RETURN(int64_t d_model, hf.require_int({"hidden_size", "d_model"}));
  NS_ASSIGN_OR_RETURN(int64_t layers, hf.require_int({"num_hidden_layers", "n_layer"}));
  NS_ASSIGN_OR_RETURN(int64_t vocab, hf.require_int({"vocab_size"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> pad, hf.get_int({"pad_vocab_size_multiple"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> d_state, hf.get_int({"state_size", "d_state"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> d_conv, hf.get_int({"conv_kernel", "d_conv"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> expand, hf.get_int({"expand"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> head_dim, hf.get_int({"head_dim", "headdim"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> heads, hf.get_int({"num_heads"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> groups, hf.get_int({"n_groups", "ngroups"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> chunk, hf.get_int({"chunk_size"}));
  NS_ASSIGN_OR_RETURN(std::optional<double> eps, hf.get_number({"layer_norm_epsilon", "rms_norm_eps"}));
  NS_ASSIGN_OR_RETURN(std::optional<bool> tied, hf.get_bool({"tie_word_embeddings", "tie_embeddings"}));
  NS_ASSIGN_OR_RETURN(std::optional<bool> bias, hf.get_bool({"use_bias", "bias"}));
  NS_ASSIGN_OR_RETURN(std::optional<bool> conv_bias, hf.get_bool({"use_conv_bias", "conv_bias"}));
  NS_ASSIGN_OR_RETURN(std::optional<bool> rms_norm, hf.get_bool({"rms_norm"}));
  if (bias.value_or(false)) return Status::InvalidArgument(hf.source() + ": use_bias = true is not supported");
  if (!conv_bias.value_or(true))
    return Status::InvalidArgument(hf.source() + ": use_conv_bias = false is not supported");
  if (!rms_norm.value_or(true)) return Status::InvalidArgument(hf.source() + ": rms_norm = false is not supported");
  const int64_t multiple = pad.value_or(16);
  if (multiple > 0 && vocab % multiple != 0) vocab += multiple - vocab % multiple;
  const int64_t d_inner = expand.value_or(2) * d_model, P = head_dim.value_or(64);
  if (heads && *heads * P != d_inner)
    return Status::InvalidArgument(hf.source() + ": num_heads " + std::to_string(*heads) + " x head_dim " +
                                   std::to_string(P) + " is not expand x hidden_size = " + std::to_string(d_inner));
  c.vocab_size = static_cast<int>(vocab);
  c.d_model = static_cast<int>(d_model);
  c.blocks.assign(static_cast<size_t>(layers), BlockSpec{{LayerKind::kMamba2}});
  c.mamba2.d_inner = static_cast<int>(d_inner);
  c.mamba2.head_dim = static_cast<int>(P);
  c.mamba2.d_state = static_cast<int>(d_state.value_or(128));
  c.mamba2.d_conv = static_cast<int>(d_conv.value_or(4));
  c.mamba2.n_groups = static_cast<int>(groups.value_or(1));
  if (chunk && *chunk > 0) c.mamba2.chunk = static_cast<int>(std::min<int64_t>(*chunk, 64));
  c.norm_eps = static_cast<float>(eps.value_or(1e-5));
  c.tied_embedding = tied.value_or(true);
  NS_RETURN_IF_ERROR(validate_model_config(c, hf.source()));
  return c;
}

Result<ModelConfig> from_gguf(const formats::GgufFile& f) {
  ModelConfig c;
  c.name = "mamba2";
  const formats::GgufTensor* embd = f.find_tensor("token_embd.weight");
  if (embd == nullptr) return Status::InvalidArgument(f.path() + ": no token_embd.weight tensor");
  NS_ASSIGN_OR_RETURN(int64_t d_model, gguf_arch_int(f, "embedding_length"));
  NS_ASSIGN_OR_RETURN(int64_t layers, gguf_arch_int(f, "block_count"));
  NS_ASSIGN_OR_RETURN(int64_t d_inner, gguf_arch_int(f, "ssm.inner_size"));
  NS_ASSIGN_OR_RETURN(int64_t d_state, gguf_arch_int(f, "ssm.state_size"));
  NS_ASSIGN_OR_RETURN(int64_t d_conv, gguf_arch_int(f, "ssm.conv_kernel"));
  NS_ASSIGN_OR_RETURN(int64_t heads, gguf_arch_int(f, "ssm.time_step_rank"));
  NS_ASSIGN_OR_RETURN(int64_t groups, gguf_arch_int(f, "ssm.group_count", 1));
  NS_ASSIGN_OR_RETURN(double eps, gguf_arch_float(f, "attention.layer_norm_rms_epsilon", 1e-5));
  if (heads <= 0 || d_inner % heads != 0)
    return Status::InvalidArgument(f.path() + ": mamba2.ssm.time_step_rank (the number of heads) " +
                                   std::to_string(heads) + " does not divide mamba2.ssm.inner_size " +
                                   std::to_string(d_inner));
  c.vocab_size = static_cast<int>(embd->rows());
  c.d_model = static_cast<int>(d_model);
  c.blocks.assign(static_cast<size_t>(layers), BlockSpec{{LayerKind::kMamba2}});
  c.mamba2.d_inner = static_cast<int>(d_inner);
  c.mamba2.head_dim = static_cast<int>(d_inner / heads);
  c.mamba2.d_state = static_cast<int>(d_state);
  c.mamba2.d_conv = static_cast<int>(d_conv);
  c.mamba2.n_groups = static_cast<int>(groups);
  c.norm_eps = static_cast<float>(eps);
  c.tied_embedding = f.find_tensor("output.weight") == nullptr;
  NS_RETURN_IF_ERROR(validate_model_config(c, f.path()));
  return c;
}

std::vector<TensorMapping> tensors(const ModelConfig& c, bool gguf) {
  std::vector<TensorMapping> m;
  auto add = [&](std::string ours, std::vector<std::string> hf, std::string gg,
                 TensorTransform t = TensorTransform::kNone) {
    m.push_back({std::move(ours), gguf ? std::vector<std::string>{std::move(gg)} : std::move(hf),
                 gguf ? t : TensorTransform::kNone, 0});
  };
  add("embed.weight", {"backbone.embeddings.weight", "backbone.embedding.weight"}, "token_embd.weight");
  for (size_t i = 0; i < c.blocks.size(); ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".", h = "backbone.layers." + std::to_string(i) + ".",
                      g = "blk." + std::to_string(i) + ".";
    add(b + "mamba2_norm.weight", {h + "norm.weight"}, g + "attn_norm.weight");
    add(b + "mamba2.in_proj.weight", {h + "mixer.in_proj.weight"}, g + "ssm_in.weight");
    add(b + "mamba2.conv.weight", {h + "mixer.conv1d.weight"}, g + "ssm_conv1d.weight");
    add(b + "mamba2.conv.bias", {h + "mixer.conv1d.bias"}, g + "ssm_conv1d.bias");
    add(b + "mamba2.dt_bias", {h + "mixer.dt_bias"}, g + "ssm_dt.bias");
    add(b + "mamba2.A_log", {h + "mixer.A_log"}, g + "ssm_a", TensorTransform::kNegExp);
    add(b + "mamba2.D", {h + "mixer.D"}, g + "ssm_d");
    add(b + "mamba2.norm.weight", {h + "mixer.norm.weight"}, g + "ssm_norm.weight");
    add(b + "mamba2.out_proj.weight", {h + "mixer.out_proj.weight"}, g + "ssm_out.weight");
  }
  add("final_norm.weight", {"backbone.norm_f.weight"}, "output_norm.weight");
  if (!c.tied_embedding) add("lm_head.weight", {"lm_head.weight"}, "output.weight");
  return m;
}

constexpr const char* kHfTypes[] = {"mamba2"};
constexpr const char* kGgufNames[] = {"mamba2"};

}  // namespace

extern const Architecture kMamba2Architecture = {
    .name = "mamba2",
    .hf_model_types = kHfTypes,
    .gguf_names = kGgufNames,
    .from_hf = from_hf,
    .from_gguf = from_gguf,
    .hf_tensors = [](const ModelConfig& c) { return tensors(c, false); },
    .gguf_tensors = [](const ModelConfig& c) { return tensors(c, true); },
};

}  // namespace trainer
