// Listing hwmon temperature sensors from sysfs with std::filesystem; glob matching with fnmatch.
#include "profiles/hwmon.h"

#include <fnmatch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace profiles {

namespace fs = std::filesystem;

namespace {

std::string first_line(const fs::path& p) {
  std::ifstream in(p);
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\n' || line.back() == ' ' || line.back() == '\r')) line.pop_back();
  return line;
}

// "hwmon12" -> 12, "temp3_input" -> 3 (digits after a prefix); -1 if none.
int index_after(const std::string& s, size_t prefix_len) {
  int v = -1;
  for (size_t i = prefix_len; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) v = (v < 0 ? 0 : v * 10) + (s[i] - '0');
  return v;
}

}  // namespace

std::vector<HwmonSensor> list_hwmon_sensors(const std::string& root) {
  std::vector<std::pair<std::pair<int, int>, HwmonSensor>> found;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return {};
  for (const fs::directory_entry& dev : fs::directory_iterator(root, ec)) {
    std::string dev_name = dev.path().filename().string();
    int dev_index = index_after(dev_name, 5);  // "hwmon"
    fs::path dir = dev.path();
    std::string chip = first_line(dir / "name");
    if (chip.empty()) continue;
    std::error_code ec2;
    for (const fs::directory_entry& f : fs::directory_iterator(dir, ec2)) {
      std::string fname = f.path().filename().string();
      if (!fname.starts_with("temp") || !fname.ends_with("_input")) continue;
      int t = index_after(fname, 4);
      if (t < 0) continue;
      std::string label = first_line(dir / ("temp" + std::to_string(t) + "_label"));
      if (label.empty()) label = "temp" + std::to_string(t);
      found.push_back({{dev_index, t}, HwmonSensor{chip, label, f.path().string()}});
    }
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<HwmonSensor> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

bool sensor_matches(std::string_view pattern, const HwmonSensor& sensor) {
  std::string pat(pattern);
  size_t slash = pat.find('/');
  if (slash == std::string::npos) return fnmatch(pat.c_str(), sensor.chip.c_str(), 0) == 0;
  std::string chip_pat = pat.substr(0, slash), label_pat = pat.substr(slash + 1);
  return fnmatch(chip_pat.c_str(), sensor.chip.c_str(), 0) == 0 &&
         fnmatch(label_pat.c_str(), sensor.label.c_str(), 0) == 0;
}

const HwmonSensor* pick_sensor(const std::vector<std::string>& patterns, const std::vector<HwmonSensor>& sensors) {
  for (const std::string& p : patterns) {
    for (const HwmonSensor& s : sensors) {
      if (sensor_matches(p, s)) return &s;
    }
  }
  return nullptr;
}

}  // namespace profiles
