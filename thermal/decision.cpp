// Names and the one-line rendering of decisions and events.
#include "thermal/decision.h"

#include <cmath>

#include <fmt/format.h>

namespace thermal {

const char* action_name(Action a) {
  switch (a) {
    case Action::kNormal: return "normal";
    case Action::kThrottle: return "throttle";
    case Action::kPause: return "pause";
    case Action::kCheckpointAndWait: return "checkpoint_and_wait";
    case Action::kStop: return "stop";
  }
  return "?";
}

const char* event_kind_name(EventKind k) {
  switch (k) {
    case EventKind::kTransition: return "transition";
    case EventKind::kAdjust: return "adjust";
    case EventKind::kSensorFault: return "sensor_fault";
    case EventKind::kSensorRecovered: return "sensor_recovered";
    case EventKind::kSensorWarning: return "sensor_warning";
  }
  return "?";
}

std::string Event::describe() const {
  std::string temp = std::isfinite(temp_c) ? fmt::format("{:.1f} °C", temp_c) : std::string("no reading");
  return fmt::format("t={:.1f}s {} {} {} -> {} (rank {}, threads {}, duty {:.2f}, pause {:.0f} ms): {}", time_s,
                     temp, event_kind_name(kind), action_name(from), action_name(to), decision.lora_rank,
                     decision.threads, decision.duty, decision.pause_ms, reason);
}

}  // namespace thermal
