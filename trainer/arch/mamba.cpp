// The `mamba` architecture (Mamba-1: state-spaces/mamba-*, MambaForCausalLM): config.json (either
// key style) to ModelConfig — blocks of ssm with expand, d_state, d_conv, dt_rank, the vocabulary
// padded to pad_vocab_size_multiple, tied embeddings — and tensor names. nightshift's ssm block has
// Mamba's equations and layouts (docs/model.md); the conv weight (Di, 1, K) is read as (Di, K), and
// GGUF stores A as ssm_a = -exp(A_log) (kNegExp).
#include <string>

#include "trainer/arch/architecture.h"

namespace trainer {

namespace {

using common::Result;
using common::Status;

Result<ModelConfig> from_hf(const HfConfig& hf) {
  ModelConfig c;
  c.name = "mamba";
  NS_ASSIGN_OR_RETURN(int64_t d_model, hf.require_int({"hidden_size", "d_model"}));
  NS_ASSIGN_OR_RETURN(int64_t layers, hf.require_int({"num_hidden_layers", "n_layer"}));
  NS_ASSIGN_OR_RETURN(int64_t vocab, hf.require_int({"vocab_size"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> pad, hf.get_int({"pad_vocab_size_multiple"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> d_state, hf.get_int({"state_size", "d_state"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> d_conv, hf.get_int({"conv_kernel", "d_conv"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> expand, hf.get_int({"expand"}));
  NS_ASSIGN_OR_RETURN(std::optional<double> eps, hf.get_number({"layer_norm_epsilon", "norm_epsilon"}));
  NS_ASSIGN_OR_RETURN(std::optional<bool> tied, hf.get_bool({"tie_word_embeddings", "tie_embeddings"}));
  NS_ASSIGN_OR_RETURN(std::optional<bool> bias, hf.get_bool({"use_bias"}));
  NS_ASSIGN_OR_RETURN(std::optional<bool> conv_bias, hf.get_bool({"use_conv_bias"}));
  if (bias.value_or(false)) return Status::InvalidArgument(hf.source() + ": use_bias = true is not supported");
  if (!conv_bias.value_or(true)) return Status::InvalidArgument(hf.source() + ": use_conv_bias = false is not supported");
  // time_step_rank is an integer or "auto" (= ceil(d_model / 16), our dt_rank 0).
  Result<std::optional<int64_t>> rank = hf.get_int({"time_step_rank", "dt_rank"});
  c.ssm.dt_rank = rank.ok() && rank->has_value() ? static_cast<int>(**rank) : 0;
  const int64_t multiple = pad.value_or(8);
  if (multiple > 0 && vocab % multiple != 0) vocab += multiple - vocab % multiple;
  c.vocab_size = static_cast<int>(vocab);
  c.d_model = static_cast<int>(d_model);
  c.blocks.assign(static_cast<size_t>(layers), BlockSpec{{LayerKind::kSsm}});
  c.ssm.d_state = static_cast<int>(d_state.value_or(16));
  c.ssm.d_conv = static_cast<int>(d_conv.value_or(4));
  c.ssm.expand = static_cast<int>(expand.value_or(2));
  c.norm_eps = static_cast<float>(eps.value_or(1e-5));
  c.tied_embedding = tied.value_or(true);
  NS_RETURN_IF_ERROR(validate_model_config(c, hf.source()));
  return c;
}

Result<ModelConfig> from_gguf(const formats::GgufFile& f) {
  ModelConfig c;
  c.name = "mamba";
  const formats::GgufTensor* embd = f.find_tensor("token_embd.weight");
  if (embd == nullptr) return Status::InvalidArgument(f.path() + ": no token_embd.weight tensor");
  NS_ASSIGN_OR_RETURN(int64_t d_model, gguf_arch_int(f, "embedding_length"));
  NS_ASSIGN_OR_RETURN(int64_t layers, gguf_arch_int(f, "block_count"));
  NS_ASSIGN_OR_RETURN(int64_t d_inner, gguf_arch_int(f, "ssm.inner_size", 2 * d_model));
  NS_ASSIGN_OR_RETURN(int64_t d_state, gguf_arch_int(f, "ssm.state_size", 16));
  NS_ASSIGN_OR_RETURN(int64_t d_conv, gguf_arch_int(f, "ssm.conv_kernel", 4));
  NS_ASSIGN_OR_RETURN(int64_t dt_rank, gguf_arch_int(f, "ssm.time_step_rank", 0));
  NS_ASSIGN_OR_RETURN(double eps, gguf_arch_float(f, "attention.layer_norm_rms_epsilon", 1e-5));
  if (d_model <= 0 || d_inner % d_model != 0)
    return Status::InvalidArgument(f.path() + ": mamba.ssm.inner_size " + std::to_string(d_inner) +
                                   " is not a multiple of the embedding length " + std::to_string(d_model));
  c.vocab_size = static_cast<int>(embd->rows());
  c.d_model = static_cast<int>(d_model);
  c.blocks.assign(static_cast<size_t>(layers), BlockSpec{{LayerKind::kSsm}});
  c.ssm.expand = static_cast<int>(d_inner / d_model);
  c.ssm.d_state = static_cast<int>(d_state);
  c.ssm.d_conv = static_cast<int>(d_conv);
  c.ssm.dt_rank = static_cast<int>(dt_rank);
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
    add(b + "ssm_norm.weight", {h + "norm.weight"}, g + "attn_norm.weight");
    add(b + "ssm.in_proj.weight", {h + "mixer.in_proj.weight"}, g + "ssm_in.weight");
    add(b + "ssm.conv.weight", {h + "mixer.conv1d.weight"}, g + "ssm_conv1d.weight");
    add(b + "ssm.conv.bias", {h + "mixer.conv1d.bias"}, g + "ssm_conv1d.bias");
    add(b + "ssm.x_proj.weight", {h + "mixer.x_proj.weight"}, g + "ssm_x.weight");
    add(b + "ssm.dt_proj.weight", {h + "mixer.dt_proj.weight"}, g + "ssm_dt.weight");
    add(b + "ssm.dt_proj.bias", {h + "mixer.dt_proj.bias"}, g + "ssm_dt.bias");
    add(b + "ssm.A_log", {h + "mixer.A_log"}, g + "ssm_a", TensorTransform::kNegExp);
    add(b + "ssm.D", {h + "mixer.D"}, g + "ssm_d");
    add(b + "ssm.out_proj.weight", {h + "mixer.out_proj.weight"}, g + "ssm_out.weight");
  }
  add("final_norm.weight", {"backbone.norm_f.weight"}, "output_norm.weight");
  if (!c.tied_embedding) add("lm_head.weight", {"lm_head.weight"}, "output.weight");
  return m;
}

constexpr const char* kHfTypes[] = {"mamba"};
constexpr const char* kGgufNames[] = {"mamba"};

}  // namespace

extern const Architecture kMambaArchitecture = {
    .name = "mamba",
    .hf_model_types = kHfTypes,
    .gguf_names = kGgufNames,
    .from_hf = from_hf,
    .from_gguf = from_gguf,
    .hf_tensors = [](const ModelConfig& c) { return tensors(c, false); },
    .gguf_tensors = [](const ModelConfig& c) { return tensors(c, true); },
};

}  // namespace trainer
