// Number, bar and sparkline formatting for the dashboard panels.
#include "tui/format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace tui {
namespace {

constexpr const char* kEighths[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
constexpr const char* kSparkUnicode[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
constexpr const char* kSparkAscii[] = {"_", ".", ":", "-", "=", "+", "*", "#"};

std::string printf_string(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

}  // namespace

std::string format_number(double v, int decimals) {
  if (std::isnan(v)) return "--";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string format_loss(double v) {
  if (std::isnan(v)) return "--";
  if (std::fabs(v) >= 1000) return printf_string("%.0f", v);
  if (std::fabs(v) >= 100) return printf_string("%.1f", v);
  if (std::fabs(v) >= 10) return printf_string("%.2f", v);
  if (std::fabs(v) >= 1 || v == 0) return printf_string("%.3f", v);
  return printf_string("%.4g", v);
}

std::string format_temp(double temp_c, const Glyphs& g) {
  if (std::isnan(temp_c)) return "--";
  return format_number(temp_c, 1) + g.degree + "C";
}

std::string format_rate(double v) {
  if (std::isnan(v)) return "--";
  double a = std::fabs(v);
  if (a >= 1e9) return printf_string("%.2fG", v / 1e9);
  if (a >= 1e6) return printf_string("%.2fM", v / 1e6);
  if (a >= 1e4) return printf_string("%.1fK", v / 1e3);
  if (a >= 1e3) return printf_string("%.2fK", v / 1e3);
  if (a >= 10) return printf_string("%.0f", v);
  return printf_string("%.1f", v);
}

std::string format_lr(double lr) {
  if (std::isnan(lr)) return "--";
  return printf_string("%.1e", lr);
}

std::string format_clock(double wall_s) {
  if (std::isnan(wall_s)) return "--:--:--";
  std::time_t t = static_cast<std::time_t>(wall_s);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

std::string format_percent(double fraction) {
  if (std::isnan(fraction)) return "--";
  return format_number(fraction * 100.0, 1) + "%";
}

std::string fit(std::string_view text, int width, const Glyphs& g) {
  if (width <= 0) return "";
  std::vector<std::string> cells = utf8_glyphs(text);
  if (static_cast<int>(cells.size()) <= width) return std::string(text);
  std::string out;
  for (int i = 0; i < width - 1; ++i) out += cells[i];
  return out + g.ellipsis;
}

std::string pad_right(std::string_view text, int width, const Glyphs& g) {
  std::string out = fit(text, width, g);
  int w = display_width(out);
  return out + std::string(std::max(0, width - w), ' ');
}

std::string pad_left(std::string_view text, int width, const Glyphs& g) {
  std::string out = fit(text, width, g);
  int w = display_width(out);
  return std::string(std::max(0, width - w), ' ') + out;
}

std::string bar(double fraction, int width, const Glyphs& g) {
  if (width <= 0) return "";
  if (std::isnan(fraction)) fraction = 0;
  fraction = std::clamp(fraction, 0.0, 1.0);
  int eighths = static_cast<int>(std::lround(fraction * width * 8));
  int full = eighths / 8, rest = eighths % 8;
  std::string out;
  for (int i = 0; i < full; ++i) out += g.bar_full;
  int used = full;
  if (used < width && rest > 0) {
    out += g.unicode ? kEighths[rest] : (rest >= 4 ? g.bar_full : g.bar_empty);
    ++used;
  }
  for (int i = used; i < width; ++i) out += g.bar_empty;
  return out;
}

std::string sparkline(const std::vector<double>& values, int width, const Glyphs& g) {
  if (width <= 0) return "";
  const char* const* levels = g.unicode ? kSparkUnicode : kSparkAscii;
  int n = static_cast<int>(values.size());
  int cells = std::min(n, width);
  std::vector<double> buckets(cells, NAN);
  for (int c = 0; c < cells; ++c) {
    int begin = static_cast<int>(static_cast<int64_t>(c) * n / cells);
    int end = static_cast<int>(static_cast<int64_t>(c + 1) * n / cells);
    double sum = 0;
    int count = 0;
    for (int i = begin; i < end; ++i) {
      if (std::isfinite(values[i])) { sum += values[i]; ++count; }
    }
    if (count) buckets[c] = sum / count;
  }
  double lo = INFINITY, hi = -INFINITY;
  for (double b : buckets) {
    if (std::isfinite(b)) { lo = std::min(lo, b); hi = std::max(hi, b); }
  }
  std::string out(width - cells, ' ');
  for (double b : buckets) {
    if (!std::isfinite(b)) { out += ' '; continue; }
    int level = hi > lo ? static_cast<int>(std::lround((b - lo) / (hi - lo) * 7)) : 3;
    out += levels[std::clamp(level, 0, 7)];
  }
  return out;
}

}  // namespace tui
