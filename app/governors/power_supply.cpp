// Battery detection from the sysfs power-supply class.
#include "app/governors/power_supply.h"

#include <filesystem>
#include <fstream>

namespace app {

namespace {
std::string read_trimmed(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::string s;
  if (!in || !std::getline(in, s)) return "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}
}  // namespace

PowerState read_power_state(const std::string& root) {
  namespace fs = std::filesystem;
  PowerState state;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    state.detail = "no power supply information";
    return state;
  }
  bool mains_online = false;
  bool battery_discharging = false;
  std::string battery_detail;
  for (const fs::directory_entry& e : fs::directory_iterator(root, ec)) {
    std::string type = read_trimmed(e.path() / "type");
    std::string name = e.path().filename().string();
    if (type == "Mains" || type == "USB") {
      if (read_trimmed(e.path() / "online") == "1") mains_online = true;
    } else if (type == "Battery") {
      state.has_battery = true;
      std::string status = read_trimmed(e.path() / "status");
      std::string capacity = read_trimmed(e.path() / "capacity");
      if (!capacity.empty()) {
        try {
          state.battery_percent = std::stod(capacity);
        } catch (...) {
          state.battery_percent = -1;
        }
      }
      if (status == "Discharging") battery_discharging = true;
      battery_detail = name + " " + (status.empty() ? "unknown" : status) +
                       (capacity.empty() ? "" : " " + capacity + "%");
    }
  }
  state.on_battery = state.has_battery && battery_discharging && !mains_online;
  if (mains_online) state.detail = "AC online";
  else if (state.has_battery) state.detail = battery_detail;
  else state.detail = "no battery";
  return state;
}

bool parse_battery_policy(const std::string& text, BatteryPolicy* out) {
  if (text == "ignore") *out = BatteryPolicy::kIgnore;
  else if (text == "pause") *out = BatteryPolicy::kPause;
  else if (text == "stop") *out = BatteryPolicy::kStop;
  else return false;
  return true;
}

}  // namespace app
