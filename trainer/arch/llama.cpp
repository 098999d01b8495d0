// The `llama` architecture (Llama 2/3, SmolLM2, TinyLlama; Mistral with its sliding window): config.json
// to ModelConfig — blocks of attn+mlp, GQA, head_dim, rope_theta, Llama-3.1 rope_scaling, rms_norm_eps,
// tied or untied embeddings — and tensor names of Hugging Face checkpoints and GGUF files. GGUF stores q and k rows
// permuted for llama.cpp's pairwise RoPE (kRopePermute); HF checkpoints use rotate-half, as we do.
#include <string>

#include "trainer/arch/architecture.h"
#include "trainer/arch/rope_freqs.h"

namespace trainer {

namespace {

using common::Result;
using common::Status;

Result<ModelConfig> from_hf(const HfConfig& hf) {
  ModelConfig c;
  NS_ASSIGN_OR_RETURN(std::optional<std::string> type, hf.get_string({"model_type"}));
  c.name = type.value_or("llama");
  NS_ASSIGN_OR_RETURN(std::optional<std::string> act, hf.get_string({"hidden_act", "hidden_activation"}));
  if (act && *act != "silu") return Status::InvalidArgument(hf.source() + ": hidden_act '" + *act + "' (llama uses silu)");
  for (const char* bias : {"attention_bias", "mlp_bias"}) {
    NS_ASSIGN_OR_RETURN(std::optional<bool> b, hf.get_bool({bias}));
    if (b.value_or(false)) return Status::InvalidArgument(hf.source() + ": " + bias + " = true is not supported");
  }
  NS_ASSIGN_OR_RETURN(std::optional<HfConfig> scaling, hf.get_object("rope_scaling"));
  if (scaling) {
    NS_ASSIGN_OR_RETURN(std::optional<std::string> kind, scaling->get_string({"rope_type", "type"}));
    if (kind.value_or("default") == "llama3") {  // Llama 3.1 / 3.2 (defaults as transformers)
      NS_ASSIGN_OR_RETURN(std::optional<double> factor, scaling->get_number({"factor"}));
      NS_ASSIGN_OR_RETURN(std::optional<double> low, scaling->get_number({"low_freq_factor"}));
      NS_ASSIGN_OR_RETURN(std::optional<double> high, scaling->get_number({"high_freq_factor"}));
      NS_ASSIGN_OR_RETURN(std::optional<int64_t> original, scaling->get_int({"original_max_position_embeddings"}));
      if (!factor) return Status::InvalidArgument(hf.source() + ": rope_scaling of type 'llama3' needs a factor");
      c.attn.rope_scale_factor = static_cast<float>(*factor);
      c.attn.rope_low_freq_factor = static_cast<float>(low.value_or(1.0));
      c.attn.rope_high_freq_factor = static_cast<float>(high.value_or(4.0));
      c.attn.rope_original_context = static_cast<int>(original.value_or(8192));
    } else if (kind.value_or("default") != "default") {
      return Status::InvalidArgument(hf.source() + ": rope_scaling of type '" + *kind + "' is not supported yet");
    }
  }
  NS_ASSIGN_OR_RETURN(int64_t vocab, hf.require_int({"vocab_size"}));
  NS_ASSIGN_OR_RETURN(int64_t d_model, hf.require_int({"hidden_size"}));
  NS_ASSIGN_OR_RETURN(int64_t layers, hf.require_int({"num_hidden_layers"}));
  NS_ASSIGN_OR_RETURN(int64_t heads, hf.require_int({"num_attention_heads"}));
  NS_ASSIGN_OR_RETURN(int64_t d_ff, hf.require_int({"intermediate_size"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> kv_heads, hf.get_int({"num_key_value_heads"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> head_dim, hf.get_int({"head_dim"}));
  NS_ASSIGN_OR_RETURN(std::optional<int64_t> window, hf.get_int({"sliding_window"}));
  NS_ASSIGN_OR_RETURN(std::optional<double> eps, hf.get_number({"rms_norm_eps"}));
  NS_ASSIGN_OR_RETURN(std::optional<double> theta, hf.get_number({"rope_theta"}));
  NS_ASSIGN_OR_RETURN(std::optional<bool> tied, hf.get_bool({"tie_word_embeddings"}));
  NS_ASSIGN_OR_RETURN(std::optional<bool> use_window, hf.get_bool({"use_sliding_window"}));
  c.vocab_size = static_cast<int>(vocab);
  c.d_model = static_cast<int>(d_model);
  c.blocks.assign(static_cast<size_t>(layers), BlockSpec{{LayerKind::kAttn, LayerKind::kMlp}});
  c.attn.n_heads = static_cast<int>(heads);
  c.attn.n_kv_heads = static_cast<int>(kv_heads.value_or(heads));
  c.attn.head_dim = static_cast<int>(head_dim.value_or(d_model / heads));
  c.attn.window = use_window.value_or(true) ? static_cast<int>(window.value_or(0)) : 0;
  c.attn.rope_theta = static_cast<float>(theta.value_or(10000.0));
  c.mlp.d_ff = static_cast<int>(d_ff);
  c.norm_eps = static_cast<float>(eps.value_or(1e-6));
  c.tied_embedding = tied.value_or(false);
  NS_RETURN_IF_ERROR(validate_model_config(c, hf.source()));
  return c;
}

Result<ModelConfig> from_gguf(const formats::GgufFile& f) {
  NS_ASSIGN_OR_RETURN(ModelConfig c, gguf_attn_mlp_config(f, 1e-5, 10000.0, /*read_window=*/true));
  NS_ASSIGN_OR_RETURN(c.name, f.get_string("general.architecture"));
  NS_RETURN_IF_ERROR(read_rope_freqs(f, &c));  // Llama 3.1+: the RoPE scaling as per-pair factors
  NS_RETURN_IF_ERROR(validate_model_config(c, f.path()));
  return c;
}

std::vector<TensorMapping> tensors(const ModelConfig& c, bool gguf) {
  std::vector<TensorMapping> m;
  auto add = [&](std::string ours, std::string hf, std::string gg, TensorTransform t = TensorTransform::kNone,
                 int heads = 0) {
    m.push_back({std::move(ours), {gguf ? std::move(gg) : std::move(hf)}, gguf ? t : TensorTransform::kNone, heads});
  };
  add("embed.weight", "model.embed_tokens.weight", "token_embd.weight");
  for (size_t i = 0; i < c.blocks.size(); ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".", h = "model.layers." + std::to_string(i) + ".",
                      g = "blk." + std::to_string(i) + ".";
    add(b + "attn_norm.weight", h + "input_layernorm.weight", g + "attn_norm.weight");
    add(b + "attn.q.weight", h + "self_attn.q_proj.weight", g + "attn_q.weight", TensorTransform::kRopePermute,
        c.attn.n_heads);
    add(b + "attn.k.weight", h + "self_attn.k_proj.weight", g + "attn_k.weight", TensorTransform::kRopePermute,
        c.kv_heads());
    add(b + "attn.v.weight", h + "self_attn.v_proj.weight", g + "attn_v.weight");
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

constexpr const char* kHfTypes[] = {"llama", "mistral"};
constexpr const char* kGgufNames[] = {"llama"};

}  // namespace

extern const Architecture kLlamaArchitecture = {
    .name = "llama",
    .hf_model_types = kHfTypes,
    .gguf_names = kGgufNames,
    .from_hf = from_hf,
    .from_gguf = from_gguf,
    .hf_tensors = [](const ModelConfig& c) { return tensors(c, false); },
    .gguf_tensors = [](const ModelConfig& c) { return tensors(c, true); },
};

}  // namespace trainer
