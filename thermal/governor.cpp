// The Governor: sensor-fault handling, the emergency stop, checkpoint-and-wait, the policy call,
// turning a duty cycle into a pause, and the events (see governor.h for the contract).
#include "thermal/governor.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "thermal/policy.h"

namespace thermal {
namespace {

constexpr double kStuckPowerSwing = 0.25;

// The share of the trainer's full power a decision asks for (0 while waiting or stopped).
double power_of(const Decision& d, const Knobs& knobs) {
  if (d.action == Action::kCheckpointAndWait || d.action == Action::kStop) return 0;
  return static_cast<double>(d.threads) / knobs.threads_max * d.duty;
}

}  // namespace

common::Result<std::unique_ptr<Governor>> Governor::create(const GovernorConfig& config, const Knobs& knobs,
                                                           const common::Clock& clock) {
  NS_RETURN_IF_ERROR(config.validate());
  if (knobs.threads_max < 1) {
    return common::Status::InvalidArgument(fmt::format("threads ({}) must be at least 1", knobs.threads_max));
  }
  if (knobs.lora_rank_max < 0) {
    return common::Status::InvalidArgument(fmt::format("LoRA rank ({}) must not be negative", knobs.lora_rank_max));
  }
  return std::unique_ptr<Governor>(new Governor(config, knobs, clock));
}

Governor::Governor(const GovernorConfig& config, const Knobs& knobs, const common::Clock& clock)
    : config_(config), knobs_(knobs), clock_(clock) {
  switch (config.policy) {
    case Policy::kThreshold: policy_ = make_threshold_policy(config, knobs); break;
    case Policy::kSetpoint: policy_ = make_setpoint_policy(config, knobs); break;
    case Policy::kNone: policy_ = make_passive_policy(knobs); break;
  }
  decision_.action = Action::kNormal;
  decision_.lora_rank = knobs.lora_rank_max;
  decision_.threads = knobs.threads_max;
  decision_.reason = "start";
}

Governor::~Governor() = default;

std::vector<Event> Governor::take_events() { return std::exchange(events_, {}); }

Decision Governor::decide(const Reading& reading, const std::optional<StepReport>& last_step) {
  const double now_s = clock_.now_s();
  if (last_step && last_step->step_s > 0) {
    step_s_ = last_step->step_s;
    step_threads_ = last_step->threads;
  }
  pending_.reset();

  if (stopped_) {
    Decision d = decision_;
    d.checkpoint = false;
    finish(now_s, reading.ok ? reading.temp_c : std::nan(""), d);
    return decision_;
  }

  std::string fault;
  if (!reading.ok) {
    fault = reading.error.empty() ? "read failed" : reading.error;
  } else if (!std::isfinite(reading.temp_c)) {
    fault = "the reading is not a number";
  } else if (reading.temp_c < config_.plausible_min_c || reading.temp_c > config_.plausible_max_c) {
    fault = fmt::format("implausible reading {:.1f} °C (outside {:g}..{:g} °C)", reading.temp_c,
                        config_.plausible_min_c, config_.plausible_max_c);
  } else if (config_.stuck_after_s > 0) {
    if (same_value_c_ && *same_value_c_ == reading.temp_c) {
      if (now_s - same_since_s_ >= config_.stuck_after_s && same_power_max_ - same_power_min_ >= kStuckPowerSwing) {
        fault = fmt::format("the reading is stuck at {:.3f} °C for {:.0f} s while the load changed",
                            reading.temp_c, now_s - same_since_s_);
      }
    } else {
      // Before the first reading the device counts as idle (the run starting is a load change).
      double power = same_value_c_ ? power_of(decision_, knobs_) : 0.0;
      same_value_c_ = reading.temp_c;
      same_since_s_ = now_s;
      same_power_min_ = same_power_max_ = power;
    }
  }

  // Faults counted over a window: a sensor failing most reads must not reset its grace with every
  // good one in between.
  if (config_.fault_window_s > 0) {
    recent_.emplace_back(now_s, !fault.empty());
    while (!recent_.empty() && recent_.front().first < now_s - config_.fault_window_s) recent_.pop_front();
    const int total = static_cast<int>(recent_.size());
    const int faults = static_cast<int>(std::count_if(recent_.begin(), recent_.end(), [](const auto& r) { return r.second; }));
    flaky_ = faults >= 3 && 2 * faults > total;
    if (flaky_ && fault.empty() && reading.temp_c < config_.stop_c) {  // a hot good reading still counts
      fault = fmt::format("the sensor failed {} of its last {} readings (within {:g} s)", faults, total,
                          config_.fault_window_s);
    }
  }

  double temp_c = reading.ok ? reading.temp_c : std::nan("");
  Decision d = fault.empty() ? decide_good(now_s, reading) : decide_fault(now_s, fault);
  finish(now_s, temp_c, std::move(d));
  return decision_;
}

Decision Governor::decide_fault(double now_s, const std::string& what) {
  if (!in_fault_) {
    in_fault_ = true;
    fault_since_s_ = now_s;
    grace_logged_ = false;
  }
  bool within_grace =
      !fail_safe_active_ && !flaky_ && last_good_s_ && now_s - *last_good_s_ < config_.fault_grace_s;
  if (within_grace) {
    if (!grace_logged_) {
      grace_logged_ = true;
      pending_ = Pending{EventKind::kSensorFault,
                         fmt::format("sensor: {}; holding the last decision for up to {:g} s", what,
                                     config_.fault_grace_s)};
    }
    Decision d = decision_;
    d.checkpoint = false;
    return d;
  }

  bool first = !fail_safe_active_;
  fail_safe_active_ = true;
  Decision d;
  d.fail_safe = true;
  d.lora_rank = shrunk_rank(knobs_, config_, max_notch(knobs_, config_));
  d.threads = shrunk_threads(knobs_, config_, max_notch(knobs_, config_));
  if (config_.fail_safe == FailSafe::kPause) {
    double faulty_s = now_s - fault_since_s_;
    if (config_.max_wait_s > 0 && faulty_s >= config_.max_wait_s) {
      stopped_ = true;
      d.action = Action::kStop;
      d.reason = fmt::format("no sensible reading for {:.0f} s (last: {}): stopping", faulty_s, what);
    } else {
      d.action = Action::kCheckpointAndWait;
      d.checkpoint = first;
      d.pause_ms = config_.wait_poll_ms;
      d.reason = fmt::format("sensor fault: {}: fail-safe pause until it reads sensibly", what);
    }
  } else {
    d.action = Action::kPause;
    d.duty = config_.fail_safe_duty;
    d.reason = fmt::format("sensor fault: {}: fail-safe minimum duty {:g}", what, config_.fail_safe_duty);
  }
  if (first) pending_ = Pending{EventKind::kSensorFault, d.reason};
  return d;
}

Decision Governor::decide_good(double now_s, const Reading& reading) {
  const double temp_c = reading.temp_c;
  if (in_fault_) {
    in_fault_ = false;
    pending_ = Pending{EventKind::kSensorRecovered,
                       fmt::format("sensor reads {:.1f} °C again after {:.0f} s", temp_c, now_s - fault_since_s_)};
    if (fail_safe_active_) {
      fail_safe_active_ = false;
      if (!waiting_) policy_->on_resume(now_s, /*overheated=*/false);
    }
  }
  last_good_s_ = now_s;

  // A crit limit inside or below the normal band (0, 20, -5 °C from a confused driver) is not a
  // limit: ignored, with one warning event.
  std::optional<double> crit = reading.crit_c;
  if (crit && !(*crit > config_.shrink_c)) {
    if (!crit_warned_) {
      crit_warned_ = true;
      Event e;
      e.time_s = now_s;
      e.temp_c = temp_c;
      e.kind = EventKind::kSensorWarning;
      e.from = e.to = decision_.action;
      e.decision = decision_;
      e.reason = fmt::format("the sensor's crit limit {:g} °C is not above the normal band (shrink at {:g} °C): "
                             "ignored, the emergency limit is {:g} °C",
                             *crit, config_.shrink_c, config_.emergency_c > 0 ? config_.emergency_c : config_.stop_c + 10);
      events_.push_back(std::move(e));
    }
    crit.reset();
  }
  double emergency_c = config_.emergency_c > 0 ? config_.emergency_c
                       : crit                  ? *crit
                                               : config_.stop_c + 10;
  Decision d;
  d.lora_rank = decision_.lora_rank;
  d.threads = decision_.threads;
  if (temp_c >= emergency_c) {
    stopped_ = true;
    d.action = Action::kStop;
    d.checkpoint = true;
    d.reason = fmt::format("{:.1f} °C ≥ emergency limit {:g} °C: checkpoint and stop", temp_c, emergency_c);
    return d;
  }
  if (config_.policy == Policy::kNone) return from_policy(now_s, temp_c);

  if (waiting_) {
    if (temp_c < config_.resume_c) {
      waiting_ = false;
      policy_->on_resume(now_s, /*overheated=*/true);
      Decision resumed = from_policy(now_s, temp_c);
      resumed.reason = fmt::format("{:.1f} °C < resume {:g} °C after {:.0f} s: {}", temp_c, config_.resume_c,
                                   now_s - wait_since_s_, resumed.reason);
      return resumed;
    }
    if (config_.max_wait_s > 0 && now_s - wait_since_s_ >= config_.max_wait_s) {
      stopped_ = true;
      d.action = Action::kStop;
      d.reason = fmt::format("still {:.1f} °C after waiting {:.0f} s to cool below {:g} °C: stopping", temp_c,
                             now_s - wait_since_s_, config_.resume_c);
      return d;
    }
    d.action = Action::kCheckpointAndWait;
    d.pause_ms = config_.wait_poll_ms;
    d.reason = decision_.action == Action::kCheckpointAndWait && !decision_.fail_safe
                   ? decision_.reason
                   : fmt::format("waiting to cool below {:g} °C", config_.resume_c);
    return d;
  }
  if (temp_c >= config_.stop_c) {
    waiting_ = true;
    wait_since_s_ = now_s;
    d.action = Action::kCheckpointAndWait;
    d.checkpoint = true;
    d.pause_ms = config_.wait_poll_ms;
    d.reason = fmt::format("{:.1f} °C ≥ stop {:g} °C: checkpoint and wait until below {:g} °C", temp_c,
                           config_.stop_c, config_.resume_c);
    return d;
  }
  return from_policy(now_s, temp_c);
}

Decision Governor::from_policy(double now_s, double temp_c) {
  PolicyOutput out = policy_->update(now_s, temp_c);
  Decision d;
  d.action = out.action;
  d.lora_rank = out.lora_rank;
  d.threads = out.threads;
  d.duty = out.duty;
  d.pause_ms = out.pause_ms;
  d.reason = std::move(out.reason);
  return d;
}

void Governor::finish(double now_s, double temp_c, Decision d) {
  if (d.action == Action::kCheckpointAndWait || d.action == Action::kStop) {
    d.duty = 0;
  } else {
    // Turn the duty cycle into a pause after each step, from the latest measured step time
    // (scaled to the new thread count; a step not measured yet counts as one second).
    double step_s = step_s_ > 0 ? step_s_ : 1.0;
    if (step_s_ > 0 && step_threads_ > 0 && d.threads != step_threads_) {
      step_s *= static_cast<double>(step_threads_) / d.threads;
    }
    double pause_ms = d.pause_ms;
    if (d.duty < 1) pause_ms = std::max(pause_ms, step_s * 1000 * (1 - d.duty) / d.duty);
    double duty_floor = std::min(config_.duty_min, d.fail_safe ? config_.fail_safe_duty : 1.0);
    pause_ms = std::min(pause_ms, step_s * 1000 * (1 - duty_floor) / duty_floor);
    d.pause_ms = pause_ms;
    d.duty = step_s / (step_s + pause_ms / 1000);
  }

  const Decision before = decision_;
  if (pending_) {
    add_event(now_s, temp_c, pending_->kind, before, d, pending_->reason);
  } else if (d.action != before.action) {
    add_event(now_s, temp_c, EventKind::kTransition, before, d, d.reason);
  } else if (d.threads != before.threads || d.lora_rank != before.lora_rank ||
             std::abs(d.duty - duty_logged_) >= 0.1) {
    add_event(now_s, temp_c, EventKind::kAdjust, before, d, d.reason);
  }
  decision_ = std::move(d);
  double power = power_of(decision_, knobs_);
  same_power_min_ = std::min(same_power_min_, power);
  same_power_max_ = std::max(same_power_max_, power);
}

void Governor::add_event(double now_s, double temp_c, EventKind kind, const Decision& before, const Decision& after,
                         const std::string& reason) {
  Event e;
  e.time_s = now_s;
  e.temp_c = temp_c;
  e.kind = kind;
  e.from = before.action;
  e.to = after.action;
  e.decision = after;
  e.reason = reason;
  events_.push_back(std::move(e));
  duty_logged_ = after.duty;
}

}  // namespace thermal
