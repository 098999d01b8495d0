// Writing a ModelConfig back out as TOML (the inverse of parse_model_config_toml), so checkpoints and
// run directories carry the fully resolved model. Pure; no files.
#pragma once

#include <string>

#include "trainer/model_config.h"

namespace trainer {

// A TOML document that parse_model_config_toml turns back into an equal config (every field
// explicit, repeated blocks compressed into {block = "...", repeat = N}).
std::string model_config_to_toml(const ModelConfig& config);

}  // namespace trainer
