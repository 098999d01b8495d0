// The device profiles of profiles/devices/*.toml, compiled into the binary by
// profiles/CMakeLists.txt (the generated profiles_embedded.cpp in the build tree).
#pragma once

#include <span>

namespace profiles {

struct EmbeddedProfile {
  const char* name;   // file name without .toml
  const char* toml;   // file content
};

std::span<const EmbeddedProfile> embedded_profiles();

}  // namespace profiles
