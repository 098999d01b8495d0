// When an unattended run may train: `--until HH:MM`, `--max-hours H`, `--window HH:MM-HH:MM`.
// Pure decisions on an injected common::Clock, so deadline and window logic is tested on a FakeClock.
// Durations run on the monotonic clock; local times (--until, --window) are fixed from the wall clock
// once, at the start, and then followed by the monotonic time elapsed since, so a wall clock that is
// stepped later (NTP after boot on a board without RTC, a manual change) neither ends the run early
// nor makes it overrun; each such step is reported once (WindowDecision::clock_jump). Not a scheduler: the run loop asks
// `decide()` before each step and acts on the answer (train, wait, or checkpoint and stop).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"

namespace app {

// Minutes since local midnight, 0..1439.
struct TimeOfDay {
  int minutes = 0;
};

// Parses "HH:MM" (00:00..23:59). InvalidArgument naming `what` (the flag) on anything else.
common::Result<TimeOfDay> parse_time_of_day(std::string_view text, const std::string& what);

struct DailyWindow {
  TimeOfDay start;  // training allowed from start ...
  TimeOfDay end;    // ... until end; end < start wraps past midnight ("22:00-07:00")
  bool contains(int minute_of_day) const;
  // Seconds from `minute_of_day` (+ fractional seconds) until the window next opens (0 if inside).
  double seconds_until_open(double seconds_of_day) const;
};
common::Result<DailyWindow> parse_daily_window(std::string_view text);  // "HH:MM-HH:MM"

struct RunWindowOptions {
  std::optional<TimeOfDay> until;       // stop at the next occurrence of this time
  double max_hours = 0;                 // 0: no limit; counts time since the run (this process) started
  std::optional<DailyWindow> window;    // train only inside this daily window
  bool stop_at_window_end = false;      // at the end of the window: stop (true) or wait for the next
  int utc_offset_s = 0;                 // local time = UTC + offset (the app passes the system's)
};

enum class WindowAction {
  kTrain,             // go ahead with the next step
  kWaitForWindow,     // outside the window: checkpoint once, then wait (wait_s says how long)
  kStop,              // a deadline passed or the window closed with stop_at_window_end
};

struct WindowDecision {
  WindowAction action = WindowAction::kTrain;
  double wait_s = 0;       // for kWaitForWindow: seconds until the window opens
  std::string reason;      // "deadline 07:00 reached", "outside window 22:00-07:00", ...
  std::string clock_jump;  // non-empty once per step of the wall clock: what happened, for the run log
};

class RunWindow {
 public:
  // `clock` is borrowed and must outlive the RunWindow; the start time is taken now.
  RunWindow(const RunWindowOptions& options, const common::Clock* clock);
  // Not const: it remembers whether the window has been open since the start (for stop_at_window_end).
  WindowDecision decide();
  // Seconds left before the earliest deadline (until / max-hours); infinity if none.
  double seconds_left() const;
  // True once --until or --max-hours has passed (no side effects; for checks inside a step).
  bool deadline_passed() const { return seconds_left() <= 0; }

 private:
  double local_seconds_of_day(double wall_s) const;
  // The wall time as of the start plus the monotonic time elapsed since.
  double derived_wall_s() const;
  WindowDecision decide_now();
  RunWindowOptions options_;
  const common::Clock* clock_;
  double start_wall_s_;
  double start_mono_s_;
  double until_mono_s_ = 0;    // monotonic time of the --until deadline (0: none)
  double wall_skew_s_ = 0;     // wall clock minus derived wall time, as last seen
  bool window_seen_open_ = false;
};

// A step of the wall clock against the monotonic clock larger than this is reported as a jump.
constexpr double kClockJumpS = 60;

// The system's current UTC offset in seconds (from localtime_r), for RunWindowOptions.
int local_utc_offset_s();

}  // namespace app
