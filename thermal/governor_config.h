// GovernorConfig: every threshold and tuning constant of the thermal governor, with its default
// (a fanless laptop) and its meaning, plus validation. Filled from a hardware profile's
// [thermal.thresholds], then the run config, then command-line flags (later wins).
// Plain data: the governor itself is in thermal/governor.h.
#pragma once

#include <string>

#include "common/status.h"

namespace thermal {

enum class Policy {
  kNone,       // never intervene (sensor faults and the emergency limit still act)
  kThreshold,  // bands with hysteresis: normal / shrink / pause / checkpoint-and-wait
  kSetpoint,   // PI controller on the duty cycle (and thread count) holding setpoint_c
};

// What the governor does while it cannot trust the sensor.
enum class FailSafe {
  kPause,    // checkpoint, then wait (no steps) until the sensor reads sensibly again
  kMinDuty,  // keep training at the minimum thread count and fail_safe_duty
};

const char* policy_name(Policy p);            // "none", "threshold", "setpoint"
const char* fail_safe_name(FailSafe f);       // "pause", "min-duty"
// InvalidArgument "unknown thermal policy 'x' (expected none, threshold or setpoint)".
common::Result<Policy> parse_policy(const std::string& name);
common::Result<FailSafe> parse_fail_safe(const std::string& name);

struct GovernorConfig {
  Policy policy = Policy::kThreshold;

  // --- temperature bands (°C), shared by both policies where it applies ---
  double shrink_c = 75;       // at or above: shrink LoRA rank and threads (threshold policy)
  double pause_c = 85;        // at or above: pause after every step / duty cycle (threshold policy)
  double stop_c = 95;         // at or above: checkpoint and wait (both policies). The "stop limit".
  double resume_c = 75;       // after a checkpoint-and-wait, train again once below this
  double hysteresis_c = 3;    // a band is left downwards only below its threshold minus this
  double emergency_c = 0;     // at or above: checkpoint and stop the run. 0 = the sensor's own
                              // crit limit when it reports one, else stop_c + 10.
  double setpoint_c = 80;     // the temperature the setpoint policy holds

  // --- timing of the threshold policy (seconds of the injected clock) ---
  double min_dwell_s = 60;        // a state lasts at least this long before stepping down
  double adjust_interval_s = 60;  // within a band, tighten (or loosen) one notch at most this often
  double flap_window_s = 900;     // re-entering a band this soon after leaving it counts as a flap;
                                  // each flap doubles the dwell before the next step down...
  double max_dwell_s = 1800;      // ...up to this

  // --- knobs ---
  double pause_ms = 500;      // pause per step when entering the pause band (threshold policy)
  double duty_min = 0.1;      // the lowest duty cycle either policy uses while still training
  int rank_floor = 4;         // LoRA rank never shrinks below this (nor below 1)
  int threads_min = 1;        // thread count never shrinks below this

  // --- waiting ---
  double wait_poll_ms = 5000; // while waiting to cool (or for a sensor), ask again after this long
  double max_wait_s = 3600;   // waiting longer than this stops the run (0 = wait forever)

  // --- setpoint policy: PI on the power level u in [u_min, 1] (u = threads/threads_max × duty) ---
  double kp_per_c = 0.05;     // proportional gain, 1/°C (5% power per degree of error)
  double ti_s = 120;          // integral time, s (about the plant's time constant)
  double filter_s = 10;       // low-pass on the measured temperature, s (sensor noise; 0 = off)

  // --- sensor faults ---
  FailSafe fail_safe = FailSafe::kPause;
  double fail_safe_duty = 0.25;  // duty for FailSafe::kMinDuty
  double fault_grace_s = 10;     // bad readings for less than this keep the last decision
  double fault_window_s = 120;   // a sensor that failed most (> half, at least 3) of its readings in
                                 // this window is faulty even between good readings: no grace, and
                                 // a good reading does not lift the fail-safe (0 = off)
  double stuck_after_s = 900;    // a value exactly unchanged for this long while the trainer's power
                                 // (threads/threads_max × duty, 0 idle) swung by ≥ 0.25 is a fault:
                                 // the sensor does not respond to load (0 = off). A steady value
                                 // under a steady load is fine (1 °C-resolution zones do that).
  double plausible_min_c = -40;  // readings outside [min, max] are faults (−273, 250, ...)
  double plausible_max_c = 150;

  // InvalidArgument naming the offending field, e.g.
  // "thermal.pause_c (70) must be above thermal.shrink_c (75)".
  common::Status validate() const;
};

}  // namespace thermal
