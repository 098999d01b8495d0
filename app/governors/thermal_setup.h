// Composition of the thermal module with the rest of nightshift: a hardware profile's [thermal]
// section into a GovernorConfig and PlantParams, and `--thermal auto|libsensors|sim|replay:FILE|none`
// into a SensorSource. Used by `nightshift sensors`, `thermal-sim` and the training loop.
// Not the governor or the sources themselves (thermal/).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "profiles/profile.h"
#include "thermal/governor_config.h"
#include "thermal/sensor_source.h"
#include "thermal/simulated_plant.h"

namespace app {

// Thresholds (shrink/pause/stop/resume/hysteresis/setpoint) from the profile; everything else at
// the GovernorConfig defaults. Policy: threshold.
thermal::GovernorConfig governor_config_from_profile(const profiles::ThermalProfile& thermal);
// ambient/idle rise/steady max/tau/noise/firmware throttle from [thermal.plant].
thermal::PlantParams plant_from_profile(const profiles::ThermalProfile& thermal);

struct ThermalSourceSpec {
  enum class Kind { kAuto, kLibsensors, kSim, kReplay, kNone };
  Kind kind = Kind::kAuto;
  std::string replay_path;  // for kReplay
};
// "auto", "libsensors", "sim", "replay:FILE", "none"; InvalidArgument otherwise.
common::Result<ThermalSourceSpec> parse_thermal_source(const std::string& text);

struct OpenedSource {
  std::unique_ptr<thermal::SensorSource> source;  // null: no governor (kNone, or kAuto without sensors)
  thermal::SimulatedPlant* plant = nullptr;       // set for kSim: the loop drives set_activity()
  std::string note;                               // e.g. why auto found nothing (for a warning)
};

// Opens the source. Sensor patterns: `user_patterns` if non-empty, else the profile's.
//  kAuto: libsensors when a suitable sensor exists; else no source and `note` says why.
//  kLibsensors: NotFound / Unavailable are errors (listing the sensors that exist).
//  kSim: a SimulatedPlant from the profile's plant parameters on `clock`.
//  kReplay: the CSV file on `clock` (InvalidArgument "FILE:LINE: ..." when malformed).
// `clock` must outlive the returned source.
common::Result<OpenedSource> open_thermal_source(const ThermalSourceSpec& spec, const profiles::HardwareProfile& profile,
                                                 const std::vector<std::string>& user_patterns,
                                                 const common::Clock& clock);

}  // namespace app
