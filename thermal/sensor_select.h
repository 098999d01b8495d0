// Choosing the temperature sensor to govern by: the plain description of one sensor as libsensors
// shows it, glob patterns from a profile or the user, and the built-in priority table that prefers
// the CPU package/die sensor of the common drivers over board sensors such as acpitz.
// Pure functions over a list (no libsensors here), so the choice is unit-tested without hardware.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace thermal {

// One temperature feature of one chip. Identity is chip + label, never the hwmon number.
struct SensorInfo {
  std::string chip;          // libsensors chip name: "k10temp-pci-00c3", "coretemp-isa-0000"
  std::string chip_prefix;   // driver name: "k10temp", "coretemp", "acpitz"
  std::string adapter;       // "PCI adapter", "ISA adapter", "Virtual device", or ""
  std::string feature;       // "temp1"
  std::string label;         // "Tctl", "Package id 0", or the feature name when unlabeled
  std::optional<double> temp_c;   // absent when the value cannot be read (error says why)
  std::optional<double> max_c;
  std::optional<double> crit_c;
  std::string error;

  // "k10temp-pci-00c3/Tctl": how sensors are named in messages and matched by patterns.
  std::string id() const { return chip + "/" + label; }
};

// Whether a glob pattern (fnmatch syntax: *, ?, [...]) selects the sensor. A pattern with a '/'
// is "CHIP/LABEL", both globs, CHIP matched against the chip name or its driver prefix
// ("k10temp*/Tctl", "coretemp/Package id *"). A pattern without '/' matches the chip name, the
// driver prefix or the label ("k10temp", "Tctl", "cpu_thermal*").
bool sensor_matches(const SensorInfo& sensor, const std::string& pattern);

// Rank of a sensor in the built-in table of CPU sensors: 0 is the best (coretemp package,
// k10temp Tctl/Tdie, zenpower, ARM SoC cpu zones, ...), larger is worse, acpitz near the end;
// std::nullopt for sensors that never govern the CPU on their own (nvme, drivetemp, GPUs, Wi-Fi,
// batteries). Unknown drivers rank after acpitz.
std::optional<int> sensor_priority(const SensorInfo& sensor);

// Picks the sensor to govern by and returns its index in `sensors`.
//  - patterns non-empty: the first pattern (in order) that matches a sensor wins; among several
//    sensors it matches, the best by sensor_priority (then list order); a bare "*" or "*/*" never
//    selects a non-CPU sensor (nvme, GPU, ...), naming it does. NotFound when no pattern
//    matches, naming the patterns and listing every sensor that exists.
//  - patterns empty: the best sensor by sensor_priority. NotFound when there is no suitable one
//    (the message lists what exists, or says there are no temperature sensors).
// Sensors whose value cannot be read are skipped in the automatic choice but may be chosen by
// an explicit pattern (the governor's fail-safe then handles the errors).
common::Result<size_t> choose_sensor(const std::vector<SensorInfo>& sensors,
                                     const std::vector<std::string>& patterns);

// "k10temp-pci-00c3/Tctl, acpitz-acpi-0/temp1" or "none".
std::string list_sensor_ids(const std::vector<SensorInfo>& sensors);

}  // namespace thermal
