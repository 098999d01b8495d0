// GovernorConfig validation and the policy / fail-safe names.
#include "thermal/governor_config.h"

#include <cmath>

#include <fmt/format.h>

namespace thermal {

const char* policy_name(Policy p) {
  switch (p) {
    case Policy::kNone: return "none";
    case Policy::kThreshold: return "threshold";
    case Policy::kSetpoint: return "setpoint";
  }
  return "?";
}

const char* fail_safe_name(FailSafe f) {
  switch (f) {
    case FailSafe::kPause: return "pause";
    case FailSafe::kMinDuty: return "min-duty";
  }
  return "?";
}

common::Result<Policy> parse_policy(const std::string& name) {
  for (Policy p : {Policy::kNone, Policy::kThreshold, Policy::kSetpoint}) {
    if (name == policy_name(p)) return p;
  }
  return common::Status::InvalidArgument(
      fmt::format("unknown thermal policy '{}' (expected none, threshold or setpoint)", name));
}

common::Result<FailSafe> parse_fail_safe(const std::string& name) {
  for (FailSafe f : {FailSafe::kPause, FailSafe::kMinDuty}) {
    if (name == fail_safe_name(f)) return f;
  }
  return common::Status::InvalidArgument(
      fmt::format("unknown thermal fail-safe '{}' (expected pause or min-duty)", name));
}

common::Status GovernorConfig::validate() const {
  auto bad = [](const std::string& msg) { return common::Status::InvalidArgument(msg); };
  struct Named {
    const char* name;
    double value;
  };
  for (Named n : {Named{"shrink_c", shrink_c}, Named{"pause_c", pause_c}, Named{"stop_c", stop_c},
                  Named{"resume_c", resume_c}, Named{"hysteresis_c", hysteresis_c},
                  Named{"emergency_c", emergency_c}, Named{"setpoint_c", setpoint_c},
                  Named{"min_dwell_s", min_dwell_s}, Named{"adjust_interval_s", adjust_interval_s},
                  Named{"flap_window_s", flap_window_s}, Named{"max_dwell_s", max_dwell_s},
                  Named{"pause_ms", pause_ms}, Named{"duty_min", duty_min},
                  Named{"wait_poll_ms", wait_poll_ms}, Named{"max_wait_s", max_wait_s},
                  Named{"kp_per_c", kp_per_c}, Named{"ti_s", ti_s}, Named{"filter_s", filter_s},
                  Named{"fail_safe_duty", fail_safe_duty},
                  Named{"fault_grace_s", fault_grace_s}, Named{"fault_window_s", fault_window_s},
                  Named{"stuck_after_s", stuck_after_s}, Named{"plausible_min_c", plausible_min_c}, Named{"plausible_max_c", plausible_max_c}}) {
    if (!std::isfinite(n.value)) return bad(fmt::format("thermal.{} must be a finite number", n.name));
  }
  auto order = [&](const char* hi_name, double hi, const char* lo_name, double lo) -> common::Status {
    if (hi <= lo) {
      return bad(fmt::format("thermal.{} ({:g}) must be above thermal.{} ({:g})", hi_name, hi, lo_name, lo));
    }
    return common::Status::Ok();
  };
  NS_RETURN_IF_ERROR(order("pause_c", pause_c, "shrink_c", shrink_c));
  NS_RETURN_IF_ERROR(order("stop_c", stop_c, "pause_c", pause_c));
  NS_RETURN_IF_ERROR(order("stop_c", stop_c, "resume_c", resume_c));
  NS_RETURN_IF_ERROR(order("stop_c", stop_c, "setpoint_c", setpoint_c));
  if (emergency_c != 0) NS_RETURN_IF_ERROR(order("emergency_c", emergency_c, "stop_c", stop_c));
  NS_RETURN_IF_ERROR(order("plausible_max_c", plausible_max_c, "plausible_min_c", plausible_min_c));
  if (hysteresis_c < 0) return bad(fmt::format("thermal.hysteresis_c ({:g}) must not be negative", hysteresis_c));
  if (hysteresis_c >= pause_c - shrink_c || hysteresis_c >= stop_c - pause_c) {
    return bad(fmt::format("thermal.hysteresis_c ({:g}) must be smaller than the width of each band "
                           "(shrink_c..pause_c, pause_c..stop_c)", hysteresis_c));
  }
  for (Named n : {Named{"min_dwell_s", min_dwell_s}, Named{"adjust_interval_s", adjust_interval_s},
                  Named{"flap_window_s", flap_window_s}, Named{"pause_ms", pause_ms},
                  Named{"max_wait_s", max_wait_s}, Named{"fault_grace_s", fault_grace_s},
                  Named{"fault_window_s", fault_window_s}, Named{"stuck_after_s", stuck_after_s},
                  Named{"filter_s", filter_s}}) {
    if (n.value < 0) return bad(fmt::format("thermal.{} ({:g}) must not be negative", n.name, n.value));
  }
  if (max_dwell_s < min_dwell_s) {
    return bad(fmt::format("thermal.max_dwell_s ({:g}) must be at least thermal.min_dwell_s ({:g})", max_dwell_s,
                           min_dwell_s));
  }
  if (wait_poll_ms <= 0) return bad(fmt::format("thermal.wait_poll_ms ({:g}) must be positive", wait_poll_ms));
  if (!(duty_min > 0 && duty_min <= 1)) return bad(fmt::format("thermal.duty_min ({:g}) must be in (0, 1]", duty_min));
  if (!(fail_safe_duty > 0 && fail_safe_duty <= 1)) {
    return bad(fmt::format("thermal.fail_safe_duty ({:g}) must be in (0, 1]", fail_safe_duty));
  }
  if (rank_floor < 1) return bad(fmt::format("thermal.rank_floor ({}) must be at least 1", rank_floor));
  if (threads_min < 1) return bad(fmt::format("thermal.threads_min ({}) must be at least 1", threads_min));
  if (kp_per_c <= 0) return bad(fmt::format("thermal.kp_per_c ({:g}) must be positive", kp_per_c));
  if (ti_s <= 0) return bad(fmt::format("thermal.ti_s ({:g}) must be positive", ti_s));
  return common::Status::Ok();
}

}  // namespace thermal
