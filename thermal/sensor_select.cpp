// Sensor choice: glob matching and the static driver priority table (see sensor_select.h).
#include "thermal/sensor_select.h"

#include <fnmatch.h>

#include <fmt/format.h>

namespace thermal {
namespace {

// Best first. The chip glob is matched against the driver prefix, the label glob against the
// label. The first entry that matches gives the rank (its index).
struct PriorityEntry {
  const char* chip;
  const char* label;
};
constexpr PriorityEntry kPriority[] = {
    {"coretemp", "Package id*"},   // Intel: package
    {"k10temp", "Tctl"},           // AMD Zen: control temperature (what the firmware acts on)
    {"k10temp", "Tdie"},
    {"zenpower", "Tdie"},
    {"zenpower", "Tctl"},
    {"cpu_thermal", "*"},          // Raspberry Pi and other ARM SoCs
    {"cpu-thermal", "*"},
    {"cpu0_thermal", "*"},
    {"cpu0-thermal", "*"},
    {"soc_thermal", "*"},
    {"soc-thermal", "*"},
    {"cpuss0_thermal", "*"},       // Qualcomm
    {"cpu_little0-thermal", "*"},
    {"x86_pkg_temp", "*"},
    {"k8temp", "*"},
    {"via_cputemp", "*"},
    {"coretemp", "Core *"},        // Intel: per-core, when the package sensor is missing
    {"k10temp", "Tccd*"},          // AMD: per-CCD
    {"zenpower", "Tccd*"},
    {"macsmc_hwmon", "*CPU*"},     // Apple silicon under Linux
    {"nct6*", "CPUTIN"},           // Super I/O CPU inputs on desktop boards
    {"nct6*", "PECI*"},
    {"it87*", "*CPU*"},
    {"thinkpad", "CPU"},
    {"dell_smm", "CPU"},
    {"acpitz", "*"},               // the board's ACPI zone: a last resort
};

// Never chosen automatically: they measure something other than the CPU.
constexpr const char* kNotCpu[] = {
    "nvme", "drivetemp", "amdgpu", "radeon", "nouveau", "i915", "xe", "iwlwifi*", "ath*", "mt7*",
    "BAT*", "bat*", "spd5118", "jc42", "pch_*", "ucsi*",
};

bool glob(const char* pattern, const std::string& text) {
  return fnmatch(pattern, text.c_str(), 0) == 0;
}

}  // namespace

bool sensor_matches(const SensorInfo& sensor, const std::string& pattern) {
  size_t slash = pattern.find('/');
  if (slash != std::string::npos) {
    std::string chip_glob = pattern.substr(0, slash);
    std::string label_glob = pattern.substr(slash + 1);
    bool chip_ok = glob(chip_glob.c_str(), sensor.chip) || glob(chip_glob.c_str(), sensor.chip_prefix);
    return chip_ok && glob(label_glob.c_str(), sensor.label);
  }
  return glob(pattern.c_str(), sensor.chip) || glob(pattern.c_str(), sensor.chip_prefix) ||
         glob(pattern.c_str(), sensor.label);
}

std::optional<int> sensor_priority(const SensorInfo& sensor) {
  for (const char* deny : kNotCpu) {
    if (glob(deny, sensor.chip_prefix)) return std::nullopt;
  }
  constexpr int kCount = static_cast<int>(std::size(kPriority));
  for (int i = 0; i < kCount; ++i) {
    if (glob(kPriority[i].chip, sensor.chip_prefix) && glob(kPriority[i].label, sensor.label)) return i;
  }
  return kCount;  // an unknown driver: after acpitz
}

std::string list_sensor_ids(const std::vector<SensorInfo>& sensors) {
  if (sensors.empty()) return "none";
  std::string out;
  for (const SensorInfo& s : sensors) {
    if (!out.empty()) out += ", ";
    out += s.id();
  }
  return out;
}

common::Result<size_t> choose_sensor(const std::vector<SensorInfo>& sensors,
                                     const std::vector<std::string>& patterns) {
  // Best index among candidates accepted by `accept`, by priority then list order.
  auto best_of = [&](auto accept, bool require_readable) -> std::optional<size_t> {
    std::optional<size_t> best;
    int best_rank = 0;
    for (size_t i = 0; i < sensors.size(); ++i) {
      if (!accept(sensors[i])) continue;
      if (require_readable && !sensors[i].temp_c) continue;
      std::optional<int> rank = sensor_priority(sensors[i]);
      int r = rank ? *rank : 1000;  // explicitly matched non-CPU sensors are allowed, last
      if (!best || r < best_rank) {
        best = i;
        best_rank = r;
      }
    }
    return best;
  };

  if (!patterns.empty()) {
    for (const std::string& pattern : patterns) {
      // A bare catch-all ("*", "*/*") is a last resort among CPU-ish sensors, not a licence to
      // govern by a disk or a GPU; naming one ("nvme*") still selects it.
      const bool catch_all = pattern == "*" || pattern == "*/*";
      std::optional<size_t> hit = best_of(
          [&](const SensorInfo& s) {
            return sensor_matches(s, pattern) && (!catch_all || sensor_priority(s).has_value());
          },
          false);
      if (hit) return *hit;
    }
    std::string wanted;
    for (const std::string& p : patterns) wanted += (wanted.empty() ? "'" : ", '") + p + "'";
    return common::Status::NotFound(
        fmt::format("no temperature sensor matches {}; sensors found: {}", wanted, list_sensor_ids(sensors)));
  }
  if (sensors.empty()) return common::Status::NotFound("no temperature sensors found");
  std::optional<size_t> hit =
      best_of([](const SensorInfo& s) { return sensor_priority(s).has_value(); }, true);
  if (hit) return *hit;
  return common::Status::NotFound(fmt::format(
      "no readable CPU temperature sensor among: {} (choose one with a pattern)", list_sensor_ids(sensors)));
}

}  // namespace thermal
