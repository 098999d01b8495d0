// detect_host() and the "host" profile built from it (memory from /proc/meminfo, compute from the
// hwloc topology and /proc/cpuinfo, thermal from the hwmon sensors present).
#include "profiles/host.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/units.h"

namespace profiles {

using common::Result;
using common::Status;

namespace {

// Preferred drivers for the CPU temperature, best first (htop's LibSensors priority idea);
// anything else follows, and ACPI thermal zones come last because they lag and smooth.
constexpr const char* kDriverPreference[] = {"coretemp", "k10temp",   "zenpower",    "cpu_thermal", "cpu-thermal",
                                             "soc_thermal", "macsmc", "thinkpad",    "nvme",        "acpitz"};

int driver_rank(const std::string& chip) {
  int n = static_cast<int>(std::size(kDriverPreference));
  for (int i = 0; i < n; ++i) {
    if (chip.starts_with(kDriverPreference[i])) return std::string(kDriverPreference[i]) == "acpitz" ? n + 1 : i;
  }
  return n;  // unknown drivers between the known CPU ones and acpitz
}

void read_cpuinfo(const std::string& path, HostInfo* info) {
  std::ifstream in(path);
  std::string line;
  bool avx512 = false, avx2 = false, fma = false, avx = false, neon = false;
  while (std::getline(in, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
    std::string value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.erase(0, 1);
    if (key == "model name" && info->cpu_model.empty()) info->cpu_model = value;
    if (key == "cpu MHz" && info->max_freq_ghz == 0) {
      try {
        info->max_freq_ghz = std::stod(value) / 1000.0;
      } catch (const std::exception&) {
      }
    }
    if ((key == "flags" || key == "Features") && !avx && !neon) {
      std::istringstream fs(value);
      std::string f;
      while (fs >> f) {
        avx512 |= f == "avx512f";
        avx2 |= f == "avx2";
        fma |= f == "fma";
        avx |= f == "avx";
        neon |= f == "asimd";
      }
    }
  }
  // fp32 FLOP per cycle per core, assuming two SIMD FMA pipes (conservative for AVX-512 parts).
  if (avx512) info->simd_flops_per_cycle = 64;
  else if (avx2 && fma) info->simd_flops_per_cycle = 32;
  else if (avx) info->simd_flops_per_cycle = 16;
  else if (neon) info->simd_flops_per_cycle = 16;
}

}  // namespace

Result<HostInfo> detect_host(const HostPaths& paths) {
  HostInfo info;
  NS_ASSIGN_OR_RETURN(info.memory, read_meminfo(paths.meminfo));
  Result<HostTopology> topo = detect_topology();
  if (topo.ok()) info.topology = *topo;
  info.sensors = list_hwmon_sensors(paths.hwmon_root);
  read_cpuinfo(paths.cpuinfo, &info);
  std::ifstream freq(paths.cpu_max_freq);
  double khz = 0;
  if (freq >> khz && khz > 0) info.max_freq_ghz = khz / 1e6;
  return info;
}

uint64_t host_swap_margin_bytes(uint64_t total_bytes) {
  uint64_t margin = total_bytes / 20;
  return std::clamp<uint64_t>(margin, 256 * common::kMiB, common::kGiB);
}

HardwareProfile host_profile_from(const HostInfo& info) {
  HardwareProfile p;
  p.name = "host";
  p.kind = "host";
  p.source = "host";
  const HostTopology& t = info.topology;
  std::ostringstream desc;
  desc << "this machine: " << (info.cpu_model.empty() ? "unknown CPU" : info.cpu_model) << ", " << t.cores
       << " cores / " << t.pus << " threads, " << common::format_bytes(info.memory.total_bytes) << " RAM";
  p.description = desc.str();

  p.memory.total_bytes = info.memory.total_bytes;
  uint64_t in_use = info.memory.total_bytes > info.memory.available_bytes
                        ? info.memory.total_bytes - info.memory.available_bytes
                        : 0;
  p.memory.reservations.push_back(
      {"in_use", in_use, "the system and every running program now (MemTotal - MemAvailable)"});
  uint64_t margin = std::min(host_swap_margin_bytes(info.memory.total_bytes), info.memory.available_bytes);
  p.memory.reservations.push_back({"swap_margin", margin, "kept free so the kernel never swaps (5% of RAM, 256 MiB-1 GiB)"});

  p.compute.cores = std::max(1, t.cores);
  if (info.simd_flops_per_cycle > 0 && info.max_freq_ghz > 0) {
    p.compute.peak_gflops = p.compute.cores * info.simd_flops_per_cycle * info.max_freq_ghz;
  }

  std::vector<HwmonSensor> sorted = info.sensors;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const HwmonSensor& a, const HwmonSensor& b) { return driver_rank(a.chip) < driver_rank(b.chip); });
  for (const HwmonSensor& s : sorted) {
    std::string pattern = s.chip + "/" + s.label;
    if (std::find(p.thermal.sensors.begin(), p.thermal.sensors.end(), pattern) == p.thermal.sensors.end()) {
      p.thermal.sensors.push_back(pattern);
    }
  }
  return p;
}

Result<HardwareProfile> detect_host_profile(const HostPaths& paths) {
  NS_ASSIGN_OR_RETURN(HostInfo info, detect_host(paths));
  return host_profile_from(info);
}

}  // namespace profiles
