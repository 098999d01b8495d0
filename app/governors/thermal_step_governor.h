// ThermalStepGovernor: the thermal governor (thermal/governor.h) as the training loop's
// StepGovernor. Before every step it reads the temperature source, asks the governor, turns the
// Decision into a Directive (threads, LoRA rank, pause, checkpoint-and-wait, stop), drives the
// simulated plant's activity when the source is the simulation, and hands every governor event to
// a sink (the run log, stderr). The thermal clock may run faster than the loop's (a simulated night
// in minutes): pauses are converted back to the loop's time.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "app/loop/train_loop.h"
#include "common/clock.h"
#include "thermal/governor.h"
#include "thermal/sensor_source.h"
#include "thermal/simulated_plant.h"

namespace app {

// A clock that runs `speed` times faster than `base` from the moment it is made (for --sim-speed).
class ScaledClock final : public common::Clock {
 public:
  ScaledClock(common::Clock& base, double speed);
  double now_s() const override;
  double wall_s() const override;
  void sleep_ms(double ms) override;  // sleeps ms / speed of the base clock
  double speed() const { return speed_; }

 private:
  common::Clock& base_;
  double speed_, origin_now_s_, origin_wall_s_;
};

class ThermalStepGovernor final : public StepGovernor {
 public:
  using EventSink = std::function<void(const std::string& kind, const std::string& detail)>;

  // `source` is read before every step; `plant` (may be null) is the same object when the source is
  // the simulation. `time_scale`: thermal seconds per loop second (pauses are divided by it).
  ThermalStepGovernor(std::unique_ptr<thermal::SensorSource> source, thermal::SimulatedPlant* plant,
                      std::unique_ptr<thermal::Governor> governor, double time_scale, EventSink sink);

  Directive before_step(const StepContext& context) override;
  void after_step(const trainer::StepStats& stats) override;

  // The latest reading (NaN before the first, after a failed read and for a reading the governor
  // rejects as implausible) and decision, for the run log.
  double last_temp_c() const { return last_temp_c_; }
  const thermal::Decision& last_decision() const { return governor_->last_decision(); }
  const thermal::GovernorConfig& config() const { return governor_->config(); }
  // A reading outside the step loop (pauses of other governors), also feeding the plant idle.
  double sample_temp_c();

 private:
  double logged_temp_c(const thermal::Reading& reading) const;

  std::unique_ptr<thermal::SensorSource> source_;
  thermal::SimulatedPlant* plant_;
  std::unique_ptr<thermal::Governor> governor_;
  double time_scale_;
  EventSink sink_;
  double last_temp_c_;
  std::optional<thermal::StepReport> last_step_;
  thermal::Decision pending_;
};

}  // namespace app
