// The `mlp` kind's registration: its [mlp] config key and validation, LoRA targets and the planner's
// parameter group (trainer/layers/kind.h). No inference state.
#include "trainer/layers/kind.h"

namespace trainer {

std::unique_ptr<Layer> make_mlp_layer(const ModelConfig& config, const LayerShape& shape);  // mlp.cpp
common::Result<std::unique_ptr<LayerDecoder>> make_mlp_decoder(const ModelConfig&, const WeightByName&,
                                                               const std::string&, int);  // mlp_decode.cpp

namespace {

constexpr ConfigKey kKeys[] = {
    {"d_ff", ConfigKeyType::kInt, [](ModelConfig& c) -> void* { return &c.mlp.d_ff; }},
};

common::Status validate(const ModelConfig& c, const std::string& source) {
  if (c.mlp.d_ff < 0) return common::Status::InvalidArgument(source + ": mlp.d_ff must be positive");
  return common::Status::Ok();
}

constexpr const char* kTargets[] = {"gate", "up", "down"};
constexpr const char* kGroups[] = {"mlp"};

}  // namespace

extern const LayerKindInfo kMlpKind = {
    .kind = LayerKind::kMlp,
    .name = "mlp",
    .config_keys = kKeys,
    .validate = validate,
    .make = make_mlp_layer,
    .make_decoder = make_mlp_decoder,
    .lora_targets = kTargets,
    .default_lora_targets = kTargets,
    .param_groups = kGroups,
    .param_group = [](const std::string&) -> const char* { return kGroups[0]; },
    .active_fraction = nullptr,
    .inference_state = [](const ModelConfig&) { return InferenceState{}; },
};

}  // namespace trainer
