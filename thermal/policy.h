// Internal to thermal/: the two temperature policies behind the Governor. A policy sees only
// plausible temperatures below the stop limit (the Governor handles faults, checkpoint-and-wait
// and the emergency stop) and proposes the action and knobs for the next step.
// Not part of the interface the training loop uses (that is thermal/governor.h).
#pragma once

#include <memory>
#include <string>

#include "thermal/decision.h"
#include "thermal/governor_config.h"

namespace thermal {

struct PolicyOutput {
  Action action = Action::kNormal;  // kNormal, kThrottle or kPause
  int lora_rank = 0;
  int threads = 1;
  double duty = 1.0;       // fraction of wall time computing the policy wants (1 = no pause)
  double pause_ms = 0;     // minimum pause per step the policy wants (the Governor takes the larger)
  std::string reason;      // why the policy is in this state
};

class PolicyImpl {
 public:
  virtual ~PolicyImpl() = default;
  // One temperature at time now_s (seconds of the governor's clock, non-decreasing).
  virtual PolicyOutput update(double now_s, double temp_c) = 0;
  // Training resumes after a checkpoint-and-wait (overheated = true: the policy did not hold the
  // temperature) or after a sensor fail-safe (false): start cautiously.
  virtual void on_resume(double now_s, bool overheated) = 0;
};

std::unique_ptr<PolicyImpl> make_threshold_policy(const GovernorConfig& config, const Knobs& knobs);
std::unique_ptr<PolicyImpl> make_setpoint_policy(const GovernorConfig& config, const Knobs& knobs);
// Always normal (Policy::kNone).
std::unique_ptr<PolicyImpl> make_passive_policy(const Knobs& knobs);

// Knob arithmetic shared by the policies: `notch` halvings of the full value, not below the floor.
int shrunk_threads(const Knobs& knobs, const GovernorConfig& config, int notch);
int shrunk_rank(const Knobs& knobs, const GovernorConfig& config, int notch);
// The number of notches after which both rank and threads sit at their floors (0 = nothing to turn).
int max_notch(const Knobs& knobs, const GovernorConfig& config);

}  // namespace thermal
