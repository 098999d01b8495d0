// The `conv` kind's registration (LFM2's short gated convolution): its [conv] config key and
// validation, LoRA targets by their Hugging Face names (in_proj, out_proj), the planner's parameter
// group and the per-sequence conv state (trainer/layers/kind.h).
#include <algorithm>

#include "trainer/layers/kind.h"

namespace trainer {

std::unique_ptr<Layer> make_conv_layer(const ModelConfig& config, const LayerShape& shape);  // conv.cpp
common::Result<std::unique_ptr<LayerDecoder>> make_conv_decoder(const ModelConfig&, const WeightByName&,
                                                                const std::string&, int);  // conv_decode.cpp

namespace {

constexpr ConfigKey kKeys[] = {
    {"l_cache", ConfigKeyType::kInt, [](ModelConfig& c) -> void* { return &c.conv.l_cache; }},
};

common::Status validate(const ModelConfig& c, const std::string& source) {
  if (c.conv.l_cache < 1) return common::Status::InvalidArgument(source + ": conv.l_cache must be positive");
  return common::Status::Ok();
}

constexpr const char* kTargets[] = {"in_proj", "out_proj"};
constexpr const char* kGroups[] = {"conv"};

InferenceState inference_state(const ModelConfig& c) {
  InferenceState s;
  s.conv_bytes = static_cast<uint64_t>(c.d_model) * std::max(0, c.conv.l_cache - 1) * 4;
  return s;
}

}  // namespace

extern const LayerKindInfo kConvKind = {
    .kind = LayerKind::kConv,
    .name = "conv",
    .config_keys = kKeys,
    .validate = validate,
    .make = make_conv_layer,
    .make_decoder = make_conv_decoder,
    .lora_targets = kTargets,
    .default_lora_targets = kTargets,
    .param_groups = kGroups,
    .param_group = [](const std::string&) -> const char* { return kGroups[0]; },
    .active_fraction = nullptr,
    .inference_state = inference_state,
};

}  // namespace trainer
