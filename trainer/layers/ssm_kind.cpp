// The `ssm` kind's registration: its [ssm] config keys and validation, LoRA targets, the planner's
// parameter group and the per-sequence scan and conv state (trainer/layers/kind.h).
#include <algorithm>

#include "trainer/layers/kind.h"

namespace trainer {

std::unique_ptr<Layer> make_ssm_layer(const ModelConfig& config, const LayerShape& shape);  // ssm.cpp
common::Result<std::unique_ptr<LayerDecoder>> make_ssm_decoder(const ModelConfig&, const WeightByName&,
                                                               const std::string&, int);  // ssm_decode.cpp

namespace {

constexpr ConfigKey kKeys[] = {
    {"expand", ConfigKeyType::kInt, [](ModelConfig& c) -> void* { return &c.ssm.expand; }},
    {"d_state", ConfigKeyType::kInt, [](ModelConfig& c) -> void* { return &c.ssm.d_state; }},
    {"d_conv", ConfigKeyType::kInt, [](ModelConfig& c) -> void* { return &c.ssm.d_conv; }},
    {"dt_rank", ConfigKeyType::kInt, [](ModelConfig& c) -> void* { return &c.ssm.dt_rank; }},
    {"dt_bc_norm", ConfigKeyType::kBool, [](ModelConfig& c) -> void* { return &c.ssm.dt_bc_norm; }},
};

common::Status validate(const ModelConfig& c, const std::string& source) {
  auto bad = [&](const std::string& field, const std::string& why) {
    return common::Status::InvalidArgument(source + ": ssm." + field + " " + why);
  };
  const SsmConfig& s = c.ssm;
  if (s.expand < 1) return bad("expand", "must be a positive integer");
  if (s.d_state < 1) return bad("d_state", "must be positive");
  if (s.d_conv < 1) return bad("d_conv", "must be positive");
  if (s.dt_rank < 0) return bad("dt_rank", "must be positive (or 0 for ceil(d_model/16))");
  return common::Status::Ok();
}

constexpr const char* kTargets[] = {"in_proj", "out_proj", "x_proj", "dt_proj"};
constexpr const char* kDefaultTargets[] = {"in_proj", "out_proj"};
constexpr const char* kGroups[] = {"ssm"};

InferenceState inference_state(const ModelConfig& c) {
  InferenceState s;
  const uint64_t Di = c.inner_dim();
  s.recurrent_bytes = Di * c.ssm.d_state * 4;
  s.conv_bytes = Di * std::max(0, c.ssm.d_conv - 1) * 4;
  return s;
}

}  // namespace

extern const LayerKindInfo kSsmKind = {
    .kind = LayerKind::kSsm,
    .name = "ssm",
    .config_keys = kKeys,
    .validate = validate,
    .make = make_ssm_layer,
    .make_decoder = make_ssm_decoder,
    .lora_targets = kTargets,
    .default_lora_targets = kDefaultTargets,
    .param_groups = kGroups,
    .param_group = [](const std::string&) -> const char* { return kGroups[0]; },
    .active_fraction = nullptr,
    .inference_state = inference_state,
};

}  // namespace trainer
