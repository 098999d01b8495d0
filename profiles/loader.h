// Reading hardware profiles: the device files of profiles/devices/*.toml (compiled into the binary,
// so an installed nightshift needs no data files), any other profile file given by path, and the
// special name "host" (this machine, detected by profiles/host.h). Not the detection itself.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "profiles/profile.h"

namespace profiles {

// Parses one profile document. Top-level keys: name, description, kind; tables [memory]
// (total_mib, reservations = [{name, mib, note}]), [compute] (cores, performance_cores,
// peak_gflops, mem_bandwidth_gbs), [storage] (kind, seq_read_mbs), [thermal] (sensors, fanless,
// [thermal.thresholds], [thermal.plant]); see profile.h for the meaning of each field.
// Errors are InvalidArgument "SOURCE:line:column: message" (toml++'s message for syntax errors),
// for unknown keys, wrong types, out-of-range numbers and unordered thresholds.
common::Result<HardwareProfile> parse_profile_toml(std::string_view text, const std::string& source_name);

// Reads and parses a profile file. NotFound if it cannot be opened.
common::Result<HardwareProfile> load_profile_file(const std::string& path);

// The names of the compiled-in device profiles, sorted.
std::vector<std::string> builtin_profile_names();
// The TOML text of a compiled-in profile; NotFound lists the known names.
common::Result<std::string> builtin_profile_text(const std::string& name);
common::Result<HardwareProfile> builtin_profile(const std::string& name);

// Resolves what a user typed after --profile: "host" (detected now), a path (contains '/' or ends
// in ".toml"), or a built-in name. NotFound for an unknown name lists the known ones and "host".
common::Result<HardwareProfile> find_profile(const std::string& name_or_path);

// "android-midrange-6gb, jetson-orin-nano-8gb, ..., host" for error messages.
std::string known_profiles_list();

}  // namespace profiles
