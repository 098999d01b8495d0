// The "host" profile: this machine, detected at run time — hwloc for packages, cores, caches and
// NUMA nodes (host_hwloc.cpp, the only file that includes <hwloc.h>), /proc/meminfo for total and
// available memory, the hwmon tree for the temperature sensors present. Detection is split from
// the profile it yields so tests can build a HostInfo by hand (fake meminfo, fake hwmon tree).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "profiles/hwmon.h"
#include "profiles/meminfo.h"
#include "profiles/profile.h"

namespace profiles {

struct CacheLevel {
  int level = 0;              // 1, 2, 3
  std::string type;           // "data", "instruction", "unified"
  uint64_t size_bytes = 0;    // of one instance
  int count = 0;              // instances in the machine
};

struct HostTopology {
  int packages = 0;
  int cores = 0;              // physical cores
  int pus = 0;                // hardware threads
  int numa_nodes = 0;
  std::vector<CacheLevel> caches;   // by level, data/unified before instruction
};

// hwloc topology of this machine. Unavailable if hwloc cannot load it.
common::Result<HostTopology> detect_topology();

struct HostPaths {
  std::string meminfo = "/proc/meminfo";
  std::string hwmon_root = "/sys/class/hwmon";
  std::string cpuinfo = "/proc/cpuinfo";
  std::string cpu_max_freq = "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq";
};

struct HostInfo {
  HostTopology topology;
  MemInfo memory;
  std::vector<HwmonSensor> sensors;
  std::string cpu_model;      // /proc/cpuinfo "model name" (empty if absent)
  int simd_flops_per_cycle = 0;  // fp32 FLOP/cycle/core from the SIMD flags (0 = unknown)
  double max_freq_ghz = 0;    // 0 = unknown
};

common::Result<HostInfo> detect_host(const HostPaths& paths = {});

// The swap-prevention margin kept out of MemAvailable: 5% of RAM, at least 256 MiB, at most 1 GiB.
uint64_t host_swap_margin_bytes(uint64_t total_bytes);

// Builds the profile "host" from detected facts: memory reservations "in_use" (MemTotal minus
// MemAvailable: the system and every running program now) and "swap_margin"; compute from the
// topology (peak GFLOP/s estimated from SIMD width and max frequency when both are known, else 0);
// thermal: the sensors present ordered by a driver preference table (CPU drivers before acpitz).
HardwareProfile host_profile_from(const HostInfo& info);

// detect_host() + host_profile_from().
common::Result<HardwareProfile> detect_host_profile(const HostPaths& paths = {});

}  // namespace profiles
