// The `mamba2` kind's registration (the Mamba-2 mixer): its [mamba2] config keys and validation,
// LoRA targets by their Hugging Face names (in_proj, out_proj), the planner's parameter group and
// the per-sequence scan and conv state (trainer/layers/kind.h).
#include <algorithm>

#include "trainer/layers/kind.h"
#include "trainer/layers/mamba2_block.h"

namespace trainer {

std::unique_ptr<Layer> make_mamba2_layer(const ModelConfig& config, const LayerShape& shape);  // mamba2.cpp
common::Result<std::unique_ptr<LayerDecoder>> make_mamba2_decoder(const ModelConfig&, const WeightByName&,
                                                                  const std::string&, int);  // mamba2_decode.cpp

namespace {

constexpr ConfigKey kKeys[] = {
    {"d_inner", ConfigKeyType::kInt, [](ModelConfig& c) -> void* { return &c.mamba2.d_inner; }},
    {"head_dim", ConfigKeyType::kInt, [](ModelConfig& c) -> void* { return &c.mamba2.head_dim; }},
    {"d_state", ConfigKeyType::kInt, [](ModelConfig& c) -> void* { return &c.mamba2.d_state; }},
    {"d_conv", ConfigKeyType::kInt, [](ModelConfig& c) -> void* { return &c.mamba2.d_conv; }},
    {"n_groups", ConfigKeyType::kInt, [](ModelConfig& c) -> void* { return &c.mamba2.n_groups; }},
    {"chunk", ConfigKeyType::kInt, [](ModelConfig& c) -> void* { return &c.mamba2.chunk; }},
};

common::Status validate(const ModelConfig& c, const std::string& source) {
  auto bad = [&](const std::string& field, const std::string& why) {
    return common::Status::InvalidArgument(source + ": mamba2." + field + " " + why);
  };
  const Mamba2Config& m = c.mamba2;
  if (m.d_inner < 0) return bad("d_inner", "must be positive (or 0 for 2 * d_model)");
  if (m.head_dim < 1) return bad("head_dim", "must be positive");
  const Mamba2Dims d = mamba2_dims(c, 1, 1);
  if (d.Di % m.head_dim != 0)
    return bad("head_dim", std::to_string(m.head_dim) + " does not divide the inner width " + std::to_string(d.Di));
  if (m.d_state < 1) return bad("d_state", "must be positive");
  if (m.d_conv < 1) return bad("d_conv", "must be positive");
  if (m.n_groups < 1 || d.H % m.n_groups != 0)
    return bad("n_groups", std::to_string(m.n_groups) + " does not divide the " + std::to_string(d.H) + " heads");
  if (m.chunk < 1) return bad("chunk", "must be positive");
  return common::Status::Ok();
}

constexpr const char* kTargets[] = {"in_proj", "out_proj"};
constexpr const char* kGroups[] = {"mamba2"};

InferenceState inference_state(const ModelConfig& c) {
  const Mamba2Dims d = mamba2_dims(c, 1, 1);
  InferenceState s;
  s.recurrent_bytes = static_cast<uint64_t>(d.Di) * d.N * 4;
  s.conv_bytes = static_cast<uint64_t>(d.xbc_width()) * std::max(0, d.K - 1) * 4;
  return s;
}

}  // namespace

extern const LayerKindInfo kMamba2Kind = {
    .kind = LayerKind::kMamba2,
    .name = "mamba2",
    .config_keys = kKeys,
    .validate = validate,
    .make = make_mamba2_layer,
    .make_decoder = make_mamba2_decoder,
    .lora_targets = kTargets,
    .default_lora_targets = kTargets,
    .param_groups = kGroups,
    .param_group = [](const std::string&) -> const char* { return kGroups[0]; },
    .active_fraction = nullptr,
    .inference_state = inference_state,
};

}  // namespace trainer
