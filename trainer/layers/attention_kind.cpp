// The `attn` kind's registration: its [attn] config keys and their validation, LoRA targets (the
// four projections; qkv biases and q/k norms are not linear maps, so lora/qlora freeze them), the
// planner's parameter group and KV-cache size (trainer/layers/kind.h).
#include <cmath>

#include "common/float_text.h"
#include "trainer/layers/kind.h"

namespace trainer {

std::unique_ptr<Layer> make_attn_layer(const ModelConfig& config, const LayerShape& shape);  // attention.cpp
common::Result<std::unique_ptr<LayerDecoder>> make_attn_decoder(const ModelConfig&, const WeightByName&,
                                                                const std::string&, int);  // attention_decode.cpp

namespace {

constexpr ConfigKey kKeys[] = {
    {"n_heads", ConfigKeyType::kInt, [](ModelConfig& c) -> void* { return &c.attn.n_heads; }},
    {"n_kv_heads", ConfigKeyType::kInt, [](ModelConfig& c) -> void* { return &c.attn.n_kv_heads; }},
    {"head_dim", ConfigKeyType::kInt, [](ModelConfig& c) -> void* { return &c.attn.head_dim; }},
    {"window", ConfigKeyType::kInt, [](ModelConfig& c) -> void* { return &c.attn.window; }},
    {"rope_theta", ConfigKeyType::kFloat, [](ModelConfig& c) -> void* { return &c.attn.rope_theta; }},
    {"qkv_bias", ConfigKeyType::kBool, [](ModelConfig& c) -> void* { return &c.attn.qkv_bias; }},
    {"qk_norm", ConfigKeyType::kBool, [](ModelConfig& c) -> void* { return &c.attn.qk_norm; }},
    {"rope_scale_factor", ConfigKeyType::kFloat, [](ModelConfig& c) -> void* { return &c.attn.rope_scale_factor; }},
    {"rope_low_freq_factor", ConfigKeyType::kFloat,
     [](ModelConfig& c) -> void* { return &c.attn.rope_low_freq_factor; }},
    {"rope_high_freq_factor", ConfigKeyType::kFloat,
     [](ModelConfig& c) -> void* { return &c.attn.rope_high_freq_factor; }},
    {"rope_original_context", ConfigKeyType::kInt,
     [](ModelConfig& c) -> void* { return &c.attn.rope_original_context; }},
    {"rope", ConfigKeyType::kBool, [](ModelConfig& c) -> void* { return &c.attn.rope; }},
    {"score_scale", ConfigKeyType::kFloat, [](ModelConfig& c) -> void* { return &c.attn.score_scale; }},
    {"rope_dim", ConfigKeyType::kInt, [](ModelConfig& c) -> void* { return &c.attn.rope_dim; }},
};

common::Status validate(const ModelConfig& c, const std::string& source) {
  auto bad = [&](const std::string& field, const std::string& why) {
    return common::Status::InvalidArgument(source + ": attn." + field + " " + why);
  };
  const AttnConfig& a = c.attn;
  if (a.n_heads < 1) return bad("n_heads", "must be positive");
  if (a.n_kv_heads < 0) return bad("n_kv_heads", "must be 0 (= n_heads) or positive");
  if (c.kv_heads() > a.n_heads || a.n_heads % c.kv_heads() != 0) {
    return bad("n_kv_heads", "(" + std::to_string(c.kv_heads()) + ") must divide attn.n_heads (" +
                                 std::to_string(a.n_heads) + ")");
  }
  if (a.head_dim == 0 && c.d_model % a.n_heads != 0) {
    return bad("n_heads", "(" + std::to_string(a.n_heads) + ") must divide d_model (" + std::to_string(c.d_model) +
                              ") or set attn.head_dim");
  }
  if (a.head_dim < 0) return bad("head_dim", "must be positive");
  if (c.head_dim() % 2 != 0) return bad("head_dim", "must be even for RoPE, got " + std::to_string(c.head_dim()));
  if (a.window < 0) return bad("window", "must be positive (or 0 for full causal attention)");
  if (!(a.rope_theta > 0)) return bad("rope_theta", "must be positive");
  if (!(a.score_scale >= 0) || !std::isfinite(a.score_scale))
    return bad("score_scale", "must be 0 (1/sqrt(head_dim)) or positive");
  if (a.rope_dim < 0 || a.rope_dim % 2 != 0 || a.rope_dim > c.head_dim())
    return bad("rope_dim", "(" + std::to_string(a.rope_dim) + ") must be an even number of dims up to head_dim (" +
                               std::to_string(c.head_dim()) + "), or 0 for all");
  // Llama-3.1 scaling, checked as Hugging Face checks rope_type "llama3" (factor >= 1, high > low).
  if (!(a.rope_scale_factor == 0 || a.rope_scale_factor >= 1)) {
    return bad("rope_scale_factor",
               "must be 0 (no scaling) or at least 1, got " + common::float_to_shortest(a.rope_scale_factor));
  }
  if (a.rope_scale_factor != 0) {
    if (!(a.rope_low_freq_factor > 0)) return bad("rope_low_freq_factor", "must be positive");
    if (!(a.rope_high_freq_factor > a.rope_low_freq_factor)) {
      return bad("rope_high_freq_factor", "must be greater than attn.rope_low_freq_factor");
    }
    if (a.rope_original_context < 1) return bad("rope_original_context", "must be positive");
  }
  return common::Status::Ok();
}

constexpr const char* kTargets[] = {"q", "k", "v", "o"};
constexpr const char* kGroups[] = {"attention"};

InferenceState inference_state(const ModelConfig& c) {
  InferenceState s;
  s.kv_values_per_position = 2ull * c.kv_heads() * c.head_dim();  // K and V
  s.max_positions = c.attn.window > 0 ? c.attn.window : 0;
  return s;
}

}  // namespace

extern const LayerKindInfo kAttnKind = {
    .kind = LayerKind::kAttn,
    .name = "attn",
    .config_keys = kKeys,
    .validate = validate,
    .make = make_attn_layer,
    .make_decoder = make_attn_decoder,
    .lora_targets = kTargets,
    .default_lora_targets = kTargets,
    .param_groups = kGroups,
    .param_group = [](const std::string&) -> const char* { return kGroups[0]; },
    .active_fraction = nullptr,
    .inference_state = inference_state,
};

}  // namespace trainer
