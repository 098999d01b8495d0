// Governor: the thermal governor. Before every training step the loop hands it the latest
// temperature Reading (and the stats of the step it just ran); it answers with a Decision for the
// next step and records an Event whenever its decision changes. Deterministic: it reads time only
// from the injected common::Clock, owns no threads, never sleeps, knows no trainer types.
//
// How a training loop uses it (the wiring of `nightshift train --thermal ...`; app/governors/thermal_setup.h
// turns the profile into a GovernorConfig and `--thermal auto|libsensors|sim|replay:FILE|none`
// into a SensorSource):
//
//   thermal::GovernorConfig config = app::governor_config_from_profile(profile.thermal);
//   config.policy = ...;                                // run config / --thermal-policy
//   NS_ASSIGN_OR_RETURN(app::OpenedSource src, app::open_thermal_source(spec, profile, patterns, clock));
//   if (!src.source) log_warning(src.note);              // auto without sensors: no governor
//   thermal::Knobs knobs{.threads_max = run.threads, .lora_rank_max = run.lora_rank /*0: no LoRA*/};
//   NS_ASSIGN_OR_RETURN(auto governor, thermal::Governor::create(config, knobs, clock));
//   std::optional<thermal::StepReport> last;           // none before the first step
//   while (!done) {
//     thermal::Reading r = src.source->read();
//     thermal::Decision d = governor->decide(r, last);
//     for (const thermal::Event& e : governor->take_events())
//       run_log.append_event(std::string("thermal_") + thermal::event_kind_name(e.kind), e.describe());
//     if (d.checkpoint) save_checkpoint();
//     if (d.action == thermal::Action::kStop) break;    // reason in d.reason
//     if (d.action == thermal::Action::kCheckpointAndWait) {
//       if (src.plant) src.plant->set_activity(0);
//       run_log.append_sample(r.temp_c, rss); clock.sleep_ms(d.pause_ms); last.reset(); continue;
//     }
//     trainer.set_threads(d.threads);
//     if (knobs.lora_rank_max > 0) trainer.set_lora_rank(d.lora_rank);
//     if (d.pause_ms > 0) {                              // the pause / duty cycle
//       if (src.plant) src.plant->set_activity(0);
//       clock.sleep_ms(d.pause_ms);
//     }
//     if (src.plant) src.plant->set_activity(double(d.threads) / knobs.threads_max);
//     StepStats s = trainer.step();
//     last = thermal::StepReport{s.step_s, d.threads, d.lora_rank};  // compute time, no pause
//     step_record.governor = thermal::action_name(d.action);
//   }
//
// The run log's thresholds: temp_warn_c = shrink_c, temp_hot_c = pause_c, temp_crit_c = stop_c.
// Sources: thermal/libsensors_source.h (real), thermal/simulated_plant.h (sim),
// thermal/replay_source.h (replay:FILE). Config and defaults: thermal/governor_config.h.
// thermal/night_sim.h runs this same loop on a virtual night (`nightshift thermal-sim`).
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <optional>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "thermal/decision.h"
#include "thermal/governor_config.h"
#include "thermal/sensor_source.h"

namespace thermal {

class PolicyImpl;

// Not thread-safe: one Governor per training loop, called from that loop's thread.
class Governor {
 public:
  // InvalidArgument (naming the field) for a bad config or knobs (threads_max < 1, rank < 0).
  // `clock` must outlive the Governor.
  static common::Result<std::unique_ptr<Governor>> create(const GovernorConfig& config, const Knobs& knobs,
                                                          const common::Clock& clock);
  ~Governor();
  Governor(const Governor&) = delete;
  Governor& operator=(const Governor&) = delete;

  // The decision for the next step, from one fresh reading taken now.
  // `last_step`: the step run since the previous decide() call, if any (its step_s turns a duty
  // cycle into pause_ms). Order of precedence:
  //   1. sensor faults (read error, NaN, outside [plausible_min_c, plausible_max_c], unchanged
  //      for stuck_after_s while the power it decided swung by ≥ 0.25, the time before the first
  //      decision counting as idle): the last decision holds for fault_grace_s, then the fail-safe
  //      (FailSafe::kPause: checkpoint and wait; kMinDuty: threads_min at fail_safe_duty);
  //      stop after max_wait_s without a good reading.
  //      A sensor that failed most of its readings within fault_window_s gets no grace and stays in
  //      the fail-safe between its good readings.
  //   2. at or above the emergency limit (emergency_c, else the sensor's crit, else stop_c + 10;
  //      a crit at or below shrink_c, the top of the normal band, is ignored with a sensor_warning):
  //      checkpoint and stop. Final: every later call answers kStop.
  //   3. at or above stop_c: checkpoint and wait until below resume_c (stop after max_wait_s).
  //   4. otherwise the policy (threshold, setpoint or none).
  // Never fails and never throws.
  Decision decide(const Reading& reading, const std::optional<StepReport>& last_step);

  // The events recorded since the last call (oldest first), moved out.
  std::vector<Event> take_events();

  const Decision& last_decision() const { return decision_; }
  const GovernorConfig& config() const { return config_; }
  const Knobs& knobs() const { return knobs_; }

 private:
  Governor(const GovernorConfig& config, const Knobs& knobs, const common::Clock& clock);
  Decision decide_fault(double now_s, const std::string& what);
  Decision decide_good(double now_s, const Reading& reading);
  Decision from_policy(double now_s, double temp_c);
  void finish(double now_s, double temp_c, Decision d);
  void add_event(double now_s, double temp_c, EventKind kind, const Decision& before, const Decision& after,
                 const std::string& reason);

  GovernorConfig config_;
  Knobs knobs_;
  const common::Clock& clock_;
  std::unique_ptr<PolicyImpl> policy_;
  Decision decision_;
  std::vector<Event> events_;
  struct Pending {
    EventKind kind;
    std::string reason;
  };
  std::optional<Pending> pending_;  // an event this decide() call must record whatever changes
  double duty_logged_ = 1.0;     // duty at the last event (duty changes < 0.1 are not events)
  double step_s_ = 0;            // the latest measured step time (0 = none yet)
  int step_threads_ = 0;         // ...and its thread count

  // Sensor health.
  bool in_fault_ = false;
  bool fail_safe_active_ = false;
  bool grace_logged_ = false;
  double fault_since_s_ = 0;
  std::optional<double> last_good_s_;
  std::optional<double> same_value_c_;  // stuck detection: the value, since when, and the range
  double same_since_s_ = 0;             // of power decided meanwhile
  double same_power_min_ = 0;
  double same_power_max_ = 0;
  std::deque<std::pair<double, bool>> recent_;  // (time, faulty) of the readings in fault_window_s
  bool flaky_ = false;                          // most readings in the window failed
  bool crit_warned_ = false;                    // an implausible crit limit was reported once

  // Cool-down and stop.
  bool waiting_ = false;
  double wait_since_s_ = 0;
  bool stopped_ = false;
};

}  // namespace thermal
