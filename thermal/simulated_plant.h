// SimulatedPlant: a first-order thermal model of the device as a SensorSource, for machines
// without sensors (`--thermal sim`), tests and `nightshift thermal-sim`:
//   dT/dt = (T_target(load) − T) / tau_s,
//   T_target(load) = ambient_c + idle_rise_c + load · (steady_max_c − ambient_c − idle_rise_c),
// where load in [0, 1] is the busy share of the trainer's cores (threads busy / threads_max while
// a step runs, 0 while it pauses): heat through a thermal resistance into the ambient.
// Integrated exactly (piecewise-constant load) on the injected Clock, so a FakeClock runs a night
// in milliseconds. Optional firmware throttling holds T at firmware_throttle_c by slowing the CPU.
// Not a model of any particular chip: the parameters come from the hardware profile.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "thermal/sensor_source.h"

namespace thermal {

struct PlantParams {
  double ambient_c = 25;            // room temperature
  double idle_rise_c = 10;          // rise above ambient when the trainer is idle
  double steady_max_c = 110;        // steady state at full load without any throttling
  double tau_s = 120;               // time constant of heating and cooling
  double noise_c = 0.3;             // standard deviation of the reading noise (0 = exact)
  double firmware_throttle_c = 0;   // the hardware slows itself to stay at this (0 = it does not)
  uint64_t seed = 1;                // of the reading noise

  // InvalidArgument naming the field (tau_s must be positive, steady_max_c above the idle
  // temperature, ...).
  common::Status validate() const;
  double idle_c() const { return ambient_c + idle_rise_c; }
  // °C per unit of load: steady_max_c − idle_c().
  double gain_c() const { return steady_max_c - idle_c(); }
  double target_c(double load) const { return idle_c() + load * gain_c(); }
  // The load whose steady state is temp_c, clamped to [0, 1].
  double load_for(double temp_c) const;
};

class SimulatedPlant final : public SensorSource {
 public:
  // Starts at start_c (default: the idle temperature) at clock.now_s(). `clock` must outlive it.
  SimulatedPlant(const PlantParams& params, const common::Clock& clock,
                 std::optional<double> start_c = std::nullopt);
  SimulatedPlant(const SimulatedPlant&) = delete;
  SimulatedPlant& operator=(const SimulatedPlant&) = delete;

  // The load from now on (clamped to [0, 1]); the time since the last change used the old load.
  void set_activity(double load);
  // The temperature now plus noise, rounded to millidegrees like hwmon. max_c is the firmware
  // throttle point when there is one. Never fails.
  Reading read() override;
  std::string describe() const override;

  // The true temperature now (no noise).
  double temp_c();
  // Compute speed relative to unthrottled at `load`: below 1 while the firmware holds T at
  // firmware_throttle_c (the load it allows / the load asked for), else 1.
  double firmware_speed_factor(double load);

  // Statistics of the true temperature since construction, up to the last advance.
  double max_temp_c() const { return max_temp_c_; }
  // Seconds spent above `watch_c` (set it first; default: never counted).
  void set_watch_c(double watch_c) { watch_c_ = watch_c; }
  double seconds_above_watch() const { return seconds_above_watch_; }
  double seconds_firmware_throttled() const { return seconds_firmware_throttled_; }

 private:
  void advance();  // integrate from last_s_ to clock.now_s() with load_
  // Exact first-order evolution of temp_c_ toward target_c for dt seconds, with statistics.
  void evolve(double target_c, double dt);

  PlantParams params_;
  const common::Clock& clock_;
  double temp_c_;
  double load_ = 0;
  double last_s_;
  double max_temp_c_;
  double watch_c_ = 1e300;
  double seconds_above_watch_ = 0;
  double seconds_firmware_throttled_ = 0;
  std::mt19937_64 rng_;
  std::normal_distribution<double> noise_{0.0, 1.0};
};

}  // namespace thermal
