// Profile → thermal configuration, and opening the temperature source a run asked for.
#include "app/governors/thermal_setup.h"

#include <fmt/format.h>

#include "thermal/libsensors_source.h"
#include "thermal/replay_source.h"

namespace app {

thermal::GovernorConfig governor_config_from_profile(const profiles::ThermalProfile& t) {
  thermal::GovernorConfig c;
  c.shrink_c = t.thresholds.shrink_c;
  c.pause_c = t.thresholds.pause_c;
  c.stop_c = t.thresholds.stop_c;
  c.resume_c = t.thresholds.resume_c;
  c.hysteresis_c = t.thresholds.hysteresis_c;
  c.setpoint_c = t.thresholds.setpoint_c;
  return c;
}

thermal::PlantParams plant_from_profile(const profiles::ThermalProfile& t) {
  thermal::PlantParams p;
  p.ambient_c = t.plant.ambient_c;
  p.idle_rise_c = t.plant.idle_rise_c;
  p.steady_max_c = t.plant.steady_max_c;
  p.tau_s = t.plant.tau_s;
  p.noise_c = t.plant.noise_c;
  p.firmware_throttle_c = t.plant.throttle_c;
  return p;
}

common::Result<ThermalSourceSpec> parse_thermal_source(const std::string& text) {
  ThermalSourceSpec spec;
  using Kind = ThermalSourceSpec::Kind;
  if (text == "auto") {
    spec.kind = Kind::kAuto;
  } else if (text == "libsensors") {
    spec.kind = Kind::kLibsensors;
  } else if (text == "sim") {
    spec.kind = Kind::kSim;
  } else if (text == "none") {
    spec.kind = Kind::kNone;
  } else if (text.rfind("replay:", 0) == 0 && text.size() > 7) {
    spec.kind = Kind::kReplay;
    spec.replay_path = text.substr(7);
  } else {
    return common::Status::InvalidArgument(
        fmt::format("unknown thermal source '{}' (expected auto, libsensors, sim, replay:FILE or none)", text));
  }
  return spec;
}

common::Result<OpenedSource> open_thermal_source(const ThermalSourceSpec& spec, const profiles::HardwareProfile& profile,
                                                 const std::vector<std::string>& user_patterns,
                                                 const common::Clock& clock) {
  using Kind = ThermalSourceSpec::Kind;
  OpenedSource out;
  const std::vector<std::string>& patterns = user_patterns.empty() ? profile.thermal.sensors : user_patterns;
  switch (spec.kind) {
    case Kind::kNone:
      out.note = "thermal governor off (--thermal none)";
      return out;
    case Kind::kAuto: {
      common::Result<std::unique_ptr<thermal::LibsensorsSource>> s = thermal::LibsensorsSource::open(patterns);
      if (!s.ok()) {
        out.note = "no temperature sensor to govern by (" + s.status().message() +
                   "); training without a thermal governor (--thermal sim simulates one)";
        return out;
      }
      out.source = std::move(*s);
      return out;
    }
    case Kind::kLibsensors: {
      NS_ASSIGN_OR_RETURN(std::unique_ptr<thermal::LibsensorsSource> s, thermal::LibsensorsSource::open(patterns));
      out.source = std::move(s);
      return out;
    }
    case Kind::kSim: {
      thermal::PlantParams params = plant_from_profile(profile.thermal);
      NS_RETURN_IF_ERROR(params.validate());
      auto plant = std::make_unique<thermal::SimulatedPlant>(params, clock);
      out.plant = plant.get();
      out.source = std::move(plant);
      return out;
    }
    case Kind::kReplay: {
      NS_ASSIGN_OR_RETURN(std::unique_ptr<thermal::ReplaySource> s, thermal::ReplaySource::load(spec.replay_path, clock));
      out.source = std::move(s);
      return out;
    }
  }
  return common::Status::Internal("unhandled thermal source kind");
}

}  // namespace app
