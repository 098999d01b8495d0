// The model presets of trainer/arch/presets/*.toml, compiled into the binary by CMake (the generated
// presets_embedded.cpp in the build tree), so an installed nightshift needs no data files.
#pragma once

#include <span>

namespace trainer {

struct EmbeddedPreset {
  const char* name;   // file name without .toml
  const char* toml;   // file content
};

std::span<const EmbeddedPreset> embedded_presets();

}  // namespace trainer
