// The `moe` kind's registration: its [moe] config keys and validation, LoRA targets, the planner's
// parameter groups (experts, shared expert, router) and the experts' share active per token
// (trainer/layers/kind.h). No inference state.
#include <string_view>

#include "trainer/layers/kind.h"

namespace trainer {

std::unique_ptr<Layer> make_moe_layer(const ModelConfig& config, const LayerShape& shape);  // moe.cpp
common::Result<std::unique_ptr<LayerDecoder>> make_moe_decoder(const ModelConfig&, const WeightByName&,
                                                               const std::string&, int);  // moe_decode.cpp

namespace {

constexpr ConfigKey kKeys[] = {
    {"n_experts", ConfigKeyType::kInt, [](ModelConfig& c) -> void* { return &c.moe.n_experts; }},
    {"top_k", ConfigKeyType::kInt, [](ModelConfig& c) -> void* { return &c.moe.top_k; }},
    {"d_expert", ConfigKeyType::kInt, [](ModelConfig& c) -> void* { return &c.moe.d_expert; }},
    {"shared_expert", ConfigKeyType::kBool, [](ModelConfig& c) -> void* { return &c.moe.shared_expert; }},
    {"d_shared", ConfigKeyType::kInt, [](ModelConfig& c) -> void* { return &c.moe.d_shared; }},
    {"aux_loss_weight", ConfigKeyType::kFloat, [](ModelConfig& c) -> void* { return &c.moe.aux_loss_weight; }},
    {"renormalize", ConfigKeyType::kBool, [](ModelConfig& c) -> void* { return &c.moe.renormalize; }},
};

common::Status validate(const ModelConfig& c, const std::string& source) {
  auto bad = [&](const std::string& field, const std::string& why) {
    return common::Status::InvalidArgument(source + ": moe." + field + " " + why);
  };
  const MoeConfig& m = c.moe;
  if (m.n_experts < 1) return bad("n_experts", "must be positive");
  if (m.top_k < 1 || m.top_k > m.n_experts) {
    return bad("top_k", "(" + std::to_string(m.top_k) + ") must be between 1 and moe.n_experts (" +
                            std::to_string(m.n_experts) + ")");
  }
  if (m.d_expert < 0) return bad("d_expert", "must be positive");
  if (m.d_shared < 0) return bad("d_shared", "must be positive");
  if (m.aux_loss_weight < 0) return bad("aux_loss_weight", "must not be negative");
  return common::Status::Ok();
}

constexpr const char* kTargets[] = {"gate", "up", "down", "router"};
constexpr const char* kDefaultTargets[] = {"gate", "up", "down"};
constexpr const char* kGroups[] = {"moe experts", "moe shared expert", "moe router"};

const char* param_group(const std::string& local_name) {
  if (std::string_view(local_name).starts_with("experts.")) return kGroups[0];
  if (std::string_view(local_name).starts_with("shared.")) return kGroups[1];
  return kGroups[2];
}

// Of the routed experts only top_k of n_experts run for a token.
double active_fraction(const ModelConfig& c, const char* group) {
  if (std::string_view(group) != kGroups[0] || c.moe.n_experts < 1) return 1.0;
  return static_cast<double>(c.moe.top_k) / c.moe.n_experts;
}

}  // namespace

extern const LayerKindInfo kMoeKind = {
    .kind = LayerKind::kMoe,
    .name = "moe",
    .config_keys = kKeys,
    .validate = validate,
    .make = make_moe_layer,
    .make_decoder = make_moe_decoder,
    .lora_targets = kTargets,
    .default_lora_targets = kDefaultTargets,
    .param_groups = kGroups,
    .param_group = param_group,
    .active_fraction = active_fraction,
    .inference_state = [](const ModelConfig&) { return InferenceState{}; },
};

}  // namespace trainer
