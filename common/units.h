// Units: sizes are bytes internally; these only format them for people (MiB/GiB when printed).
#pragma once

#include <cstdint>
#include <string>

namespace common {

constexpr uint64_t kKiB = 1024ull;
constexpr uint64_t kMiB = 1024ull * 1024ull;
constexpr uint64_t kGiB = 1024ull * 1024ull * 1024ull;

// "512 B", "3.2 KiB", "118.4 MiB", "7.81 GiB".
std::string format_bytes(uint64_t bytes);
// "1h02m", "3m05s", "12.3s".
std::string format_duration(double seconds);
// "1.23M", "456K", "12".
std::string format_count(double n);

}  // namespace common
