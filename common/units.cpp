// Human-readable formatting of bytes, durations and counts.
#include "common/units.h"

#include <cmath>
#include <cstdio>

namespace common {

std::string format_bytes(uint64_t bytes) {
  char buf[32];
  if (bytes < kKiB) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else if (bytes < kMiB) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / double(kKiB));
  } else if (bytes < kGiB) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / double(kMiB));
  } else {
    std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / double(kGiB));
  }
  return buf;
}

std::string format_duration(double seconds) {
  char buf[32];
  if (!std::isfinite(seconds) || seconds < 0) return "--";
  if (seconds < 60) {
    std::snprintf(buf, sizeof buf, "%.1fs", seconds);
  } else if (seconds < 3600) {
    int s = static_cast<int>(seconds);
    std::snprintf(buf, sizeof buf, "%dm%02ds", s / 60, s % 60);
  } else {
    int m = static_cast<int>(seconds / 60);
    std::snprintf(buf, sizeof buf, "%dh%02dm", m / 60, m % 60);
  }
  return buf;
}

std::string format_count(double n) {
  char buf[32];
  if (std::fabs(n) >= 1e9) std::snprintf(buf, sizeof buf, "%.2fG", n / 1e9);
  else if (std::fabs(n) >= 1e6) std::snprintf(buf, sizeof buf, "%.2fM", n / 1e6);
  else if (std::fabs(n) >= 1e3) std::snprintf(buf, sizeof buf, "%.1fK", n / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", n);
  return buf;
}

}  // namespace common
