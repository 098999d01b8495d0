// Is this machine running on battery? Read from the power-supply class of sysfs
// (/sys/class/power_supply/*/type, online, status), with the root injectable so tests use a fake
// tree. A machine with no power-supply entries (a desktop, a server) is on mains.
#pragma once

#include <string>

namespace app {

struct PowerState {
  bool has_battery = false;
  bool on_battery = false;     // no mains adapter online and a battery discharging
  double battery_percent = -1; // -1 when unknown
  std::string detail;          // "AC online", "BAT0 discharging 43%", "no power supply information"
};

// Reads `root` (default /sys/class/power_supply). Never fails: unreadable entries are skipped.
PowerState read_power_state(const std::string& root = "/sys/class/power_supply");

enum class BatteryPolicy { kIgnore, kPause, kStop };
// "ignore" | "pause" | "stop"; false on anything else.
bool parse_battery_policy(const std::string& text, BatteryPolicy* out);

}  // namespace app
