// The temperature sensors present, listed from the Linux hwmon tree (/sys/class/hwmon/hwmonN/name
// and tempK_label / tempK_input). This only names sensors for profiles and pattern matching;
// reading temperatures during a run is thermal/'s job (libsensors).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace profiles {

struct HwmonSensor {
  std::string chip;         // hwmon "name", e.g. "k10temp", "coretemp", "cpu_thermal"
  std::string label;        // tempK_label, or "tempK" when the driver gives no label
  std::string input_path;   // .../hwmonN/tempK_input
};

// Sorted by hwmon index then temperature index. A missing root yields an empty list.
std::vector<HwmonSensor> list_hwmon_sensors(const std::string& root = "/sys/class/hwmon");

// Glob match (fnmatch: * ? [..]) of one profile pattern against a sensor. A pattern without '/'
// matches the chip name; "chip/label" matches both parts.
bool sensor_matches(std::string_view pattern, const HwmonSensor& sensor);

// The first sensor matched by the earliest pattern in `patterns`, or nullptr.
const HwmonSensor* pick_sensor(const std::vector<std::string>& patterns, const std::vector<HwmonSensor>& sensors);

}  // namespace profiles
