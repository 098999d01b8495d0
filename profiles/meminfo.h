// /proc/meminfo and /proc/pressure/memory: how much memory this machine has and how much it could
// hand out right now without swapping. Parsing is separate from reading so tests feed text; the
// paths are parameters so a test (or the memory watcher) can point at a fake file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace profiles {

struct MemInfo {
  uint64_t total_bytes = 0;       // MemTotal
  uint64_t free_bytes = 0;        // MemFree
  uint64_t available_bytes = 0;   // MemAvailable (the kernel's estimate of what can be used without swapping)
  uint64_t swap_total_bytes = 0;  // SwapTotal
  uint64_t swap_free_bytes = 0;   // SwapFree
  bool has_available = false;     // kernels before 3.14 have no MemAvailable; then Free+Buffers+Cached
};

// Parses meminfo text ("MemTotal:  24684092 kB" lines). InvalidArgument naming `source` if
// MemTotal is missing or a value is not a number.
common::Result<MemInfo> parse_meminfo(std::string_view text, const std::string& source = "/proc/meminfo");
common::Result<MemInfo> read_meminfo(const std::string& path = "/proc/meminfo");

// Pressure stall information for memory (/proc/pressure/memory, Linux >= 4.20 with PSI enabled).
// avg10 = % of the last 10 s in which some (or all, "full") runnable tasks stalled on memory.
struct MemoryPressure {
  double some_avg10 = 0, some_avg60 = 0;
  double full_avg10 = 0, full_avg60 = 0;
  uint64_t some_total_us = 0, full_total_us = 0;
};
common::Result<MemoryPressure> parse_memory_pressure(std::string_view text, const std::string& source);
// Unavailable if the kernel has no PSI (the file is absent).
common::Result<MemoryPressure> read_memory_pressure(const std::string& path = "/proc/pressure/memory");

}  // namespace profiles
