// Deadline and daily-window decisions for unattended runs.
#include "app/governors/run_window.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>

namespace app {

namespace {
constexpr double kDaySeconds = 24 * 3600.0;

double positive_mod(double x, double m) {
  double r = std::fmod(x, m);
  return r < 0 ? r + m : r;
}
}  // namespace

common::Result<TimeOfDay> parse_time_of_day(std::string_view text, const std::string& what) {
  auto bad = [&] {
    return common::Status::InvalidArgument(what + ": '" + std::string(text) + "' is not a time HH:MM (00:00 to 23:59)");
  };
  size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 2 || text.size() - colon - 1 != 2) return bad();
  int h = 0, m = 0;
  for (size_t i = 0; i < colon; ++i) {
    if (text[i] < '0' || text[i] > '9') return bad();
    h = h * 10 + (text[i] - '0');
  }
  for (size_t i = colon + 1; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return bad();
    m = m * 10 + (text[i] - '0');
  }
  if (h > 23 || m > 59) return bad();
  return TimeOfDay{h * 60 + m};
}

common::Result<DailyWindow> parse_daily_window(std::string_view text) {
  size_t dash = text.find('-');
  if (dash == std::string_view::npos) {
    return common::Status::InvalidArgument("--window: '" + std::string(text) + "' is not HH:MM-HH:MM");
  }
  NS_ASSIGN_OR_RETURN(TimeOfDay start, parse_time_of_day(text.substr(0, dash), "--window"));
  NS_ASSIGN_OR_RETURN(TimeOfDay end, parse_time_of_day(text.substr(dash + 1), "--window"));
  if (start.minutes == end.minutes) {
    return common::Status::InvalidArgument("--window: '" + std::string(text) + "' starts and ends at the same time");
  }
  return DailyWindow{start, end};
}

bool DailyWindow::contains(int minute_of_day) const {
  if (start.minutes < end.minutes) return minute_of_day >= start.minutes && minute_of_day < end.minutes;
  return minute_of_day >= start.minutes || minute_of_day < end.minutes;  // wraps past midnight
}

double DailyWindow::seconds_until_open(double seconds_of_day) const {
  int minute = static_cast<int>(seconds_of_day / 60.0);
  if (contains(minute)) return 0;
  return positive_mod(start.minutes * 60.0 - seconds_of_day, kDaySeconds);
}

int local_utc_offset_s() {
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  return static_cast<int>(local.tm_gmtoff);
}

RunWindow::RunWindow(const RunWindowOptions& options, const common::Clock* clock)
    : options_(options), clock_(clock), start_wall_s_(clock->wall_s()), start_mono_s_(clock->now_s()) {
  if (options_.until) {
    // The next occurrence of the time of day, strictly after the start.
    double sod = local_seconds_of_day(start_wall_s_);
    double delta = positive_mod(options_.until->minutes * 60.0 - sod, kDaySeconds);
    if (delta == 0) delta = kDaySeconds;
    until_mono_s_ = start_mono_s_ + delta;
  }
}

double RunWindow::derived_wall_s() const { return start_wall_s_ + (clock_->now_s() - start_mono_s_); }

double RunWindow::local_seconds_of_day(double wall_s) const {
  return positive_mod(wall_s + options_.utc_offset_s, kDaySeconds);
}

double RunWindow::seconds_left() const {
  const double now = clock_->now_s();
  double left = std::numeric_limits<double>::infinity();
  if (until_mono_s_ > 0) left = std::min(left, until_mono_s_ - now);
  if (options_.max_hours > 0) left = std::min(left, start_mono_s_ + options_.max_hours * 3600.0 - now);
  return left;
}

WindowDecision RunWindow::decide() {
  WindowDecision out = decide_now();
  const double skew = clock_->wall_s() - derived_wall_s();
  if (std::fabs(skew - wall_skew_s_) > kClockJumpS) {
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "the wall clock jumped by %+.0f s (NTP or a manual change); deadlines and windows keep "
                  "following the time elapsed since the start",
                  skew - wall_skew_s_);
    out.clock_jump = buf;
    wall_skew_s_ = skew;
  }
  return out;
}

WindowDecision RunWindow::decide_now() {
  const double mono = clock_->now_s();
  const double now = derived_wall_s();
  if (until_mono_s_ > 0 && mono >= until_mono_s_) {
    int m = options_.until->minutes;
    char buf[64];
    std::snprintf(buf, sizeof buf, "deadline %02d:%02d reached", m / 60, m % 60);
    return {WindowAction::kStop, 0, buf, ""};
  }
  if (options_.max_hours > 0 && mono - start_mono_s_ >= options_.max_hours * 3600.0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "--max-hours %.2f reached", options_.max_hours);
    return {WindowAction::kStop, 0, buf, ""};
  }
  if (options_.window) {
    double sod = local_seconds_of_day(now);
    double wait = options_.window->seconds_until_open(sod);
    if (wait > 0) {
      const DailyWindow& w = *options_.window;
      char buf[80];
      std::snprintf(buf, sizeof buf, "outside window %02d:%02d-%02d:%02d", w.start.minutes / 60, w.start.minutes % 60,
                    w.end.minutes / 60, w.end.minutes % 60);
      // A run that has trained inside the window stops at its end if asked to.
      if (window_seen_open_ && options_.stop_at_window_end) {
        return {WindowAction::kStop, 0, std::string(buf) + ": window closed", ""};
      }
      return {WindowAction::kWaitForWindow, wait, buf, ""};
    }
    window_seen_open_ = true;
  }
  return {WindowAction::kTrain, 0, "", ""};
}

}  // namespace app
