// The vocabulary between the governor and the training loop: the knobs the loop lets the governor
// turn (Knobs), what the loop reports after a step (StepReport), what the governor answers before
// the next one (Decision), and the Events it records for the run log. Plain value types; the
// governor's logic is in thermal/governor.h.
#pragma once

#include <optional>
#include <string>

namespace thermal {

// What kind of step comes next. The knobs in the Decision are what the loop applies; the action
// is the state for logs and the dashboard. Under the setpoint policy, which modulates power
// continuously, the action is a label with hysteresis: kNormal may carry a pause of up to 3% of
// the time, kThrottle (fewer threads and/or a pause) up to half of it, kPause more.
enum class Action {
  kNormal,             // full rank, full threads, no pause
  kThrottle,           // smaller LoRA rank and/or fewer threads, no pause
  kPause,              // (possibly throttled and) sleep pause_ms after each step: a duty cycle
  kCheckpointAndWait,  // do not step: checkpoint if `checkpoint`, sleep pause_ms, ask again
  kStop,               // checkpoint if `checkpoint`, then end the run
};
// "normal", "throttle", "pause", "checkpoint_and_wait", "stop".
const char* action_name(Action a);

// The ranges of the knobs, fixed for a run.
struct Knobs {
  int threads_max = 1;    // the run's thread count; the governor never asks for more
  int lora_rank_max = 0;  // the run's LoRA rank; 0 for a run without adapters (rank left alone)
};

// What the loop measured for the step it just ran.
struct StepReport {
  double step_s = 0;      // compute time of the step, seconds, excluding any pause
  int threads = 0;        // threads it ran with
  int lora_rank = 0;      // LoRA rank it ran with (0 when not a LoRA run)
};

// The governor's answer for the next step.
struct Decision {
  Action action = Action::kNormal;
  int lora_rank = 0;      // rank for the next step; Knobs::lora_rank_max when not shrunk; 0 if no LoRA
  int threads = 1;        // threads for the next step
  double duty = 1.0;      // intended fraction of wall time spent computing (1 = no pause)
  // kNormal/kThrottle/kPause: sleep this long between the previous step and the next one.
  // kCheckpointAndWait: sleep this long, then call the governor again without stepping.
  double pause_ms = 0;
  bool checkpoint = false;  // write a checkpoint before anything else (set once per episode)
  bool fail_safe = false;   // forced by a sensor fault, not by the temperature
  std::string reason;       // why: "86.2 °C ≥ pause 85 °C"
};

enum class EventKind {
  kTransition,       // the action changed (normal → throttle, ...)
  kAdjust,           // same action, different knobs (rank, threads, duty by ≥ 0.1)
  kSensorFault,      // the sensor failed or became implausible
  kSensorRecovered,  // it reads sensibly again
  kSensorWarning,    // something the sensor reports is ignored (a crit limit below the normal band)
};
// "transition", "adjust", "sensor_fault", "sensor_recovered", "sensor_warning"
const char* event_kind_name(EventKind k);

// One row for the run log's events table.
struct Event {
  double time_s = 0;         // clock.now_s() when it happened
  double temp_c = 0;         // the reading then (NaN when the sensor failed)
  EventKind kind = EventKind::kTransition;
  Action from = Action::kNormal;
  Action to = Action::kNormal;
  Decision decision;         // the decision in force after the event
  std::string reason;
  // "t=1234.0s 86.2 °C throttle -> pause (rank 8, threads 1, duty 0.67): 86.2 °C ≥ pause 85 °C"
  std::string describe() const;
};

}  // namespace thermal
