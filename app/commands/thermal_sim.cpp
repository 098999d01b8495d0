// `nightshift thermal-sim`: a simulated night on a virtual clock — the thermal governor driving a
// modelled training workload on the profile's first-order thermal plant — and the figures that
// show whether it works: hottest moment, time above the stop limit, throughput against an
// unthrottled device and against the analytic ideal under the cap, transitions per hour.
// Not a benchmark of the real trainer (see thermal/night_sim.h for the workload model).
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/commands/command_registry.h"
#include "app/governors/thermal_setup.h"
#include "common/atomic_file.h"
#include "profiles/loader.h"
#include "thermal/night_sim.h"

namespace app {
namespace {

struct SimArgs {
  std::string profile = "host";
  std::string policy = "threshold";
  double hours = 8;
  std::optional<double> ambient_c, tau_s, steady_max_c, idle_rise_c, noise_c, throttle_c;
  std::optional<double> shrink_c, pause_c, stop_c, resume_c, hysteresis_c, setpoint_c;
  std::optional<int> threads;
  int rank = 16;
  double step_s = 1.0;
  double parallel_fraction = 0.95;
  double cap_c = 0;
  uint64_t seed = 1;
  bool json = false;
  bool events = false;
  std::string trace_path;
};

nlohmann::json result_json(const std::string& policy, const thermal::NightSimResult& r, bool with_events) {
  nlohmann::json j = {
      {"policy", policy},
      {"hours", r.hours},
      {"max_temp_c", r.max_temp_c},
      {"seconds_above_stop", r.seconds_above_stop},
      {"throughput_fraction", r.throughput_fraction},
      {"ideal_fraction", r.ideal_fraction},
      {"fraction_of_ideal", r.ideal_fraction > 0 ? r.throughput_fraction / r.ideal_fraction : 0.0},
      {"cap_c", r.cap_c},
      {"transitions_per_hour", r.transitions_per_hour},
      {"transitions", r.transitions},
      {"adjustments", r.adjustments},
      {"checkpoints", r.checkpoints},
      {"steps", r.steps},
      {"seconds_firmware_throttled", r.seconds_firmware_throttled},
      {"final_temp_c", r.final_temp_c},
      {"stopped", r.stopped},
      {"stop_reason", r.stop_reason},
  };
  if (with_events) {
    nlohmann::json events = nlohmann::json::array();
    for (const thermal::Event& e : r.events) {
      events.push_back({{"time_s", e.time_s},
                        {"temp_c", e.temp_c},
                        {"kind", thermal::event_kind_name(e.kind)},
                        {"from", thermal::action_name(e.from)},
                        {"to", thermal::action_name(e.to)},
                        {"lora_rank", e.decision.lora_rank},
                        {"threads", e.decision.threads},
                        {"duty", e.decision.duty},
                        {"reason", e.reason}});
    }
    j["events"] = std::move(events);
  }
  return j;
}

std::string trace_csv(const thermal::NightSimResult& r) {
  std::string out = "time_s,temp_c,action,threads,lora_rank,duty\n";
  for (const thermal::TracePoint& p : r.trace) {
    out += fmt::format("{:.0f},{:.3f},{},{},{},{:.3f}\n", p.time_s, p.temp_c, thermal::action_name(p.action),
                       p.threads, p.lora_rank, p.duty);
  }
  return out;
}

int run_sim(const SimArgs& a) {
  common::Result<profiles::HardwareProfile> profile = profiles::find_profile(a.profile);
  if (!profile.ok()) return report_error(profile.status());

  thermal::NightSimOptions o;
  o.plant = plant_from_profile(profile->thermal);
  if (a.ambient_c) o.plant.ambient_c = *a.ambient_c;
  if (a.tau_s) o.plant.tau_s = *a.tau_s;
  if (a.steady_max_c) o.plant.steady_max_c = *a.steady_max_c;
  if (a.idle_rise_c) o.plant.idle_rise_c = *a.idle_rise_c;
  if (a.noise_c) o.plant.noise_c = *a.noise_c;
  if (a.throttle_c) o.plant.firmware_throttle_c = *a.throttle_c;
  o.plant.seed = a.seed;

  o.governor = governor_config_from_profile(profile->thermal);
  if (a.shrink_c) o.governor.shrink_c = *a.shrink_c;
  if (a.pause_c) o.governor.pause_c = *a.pause_c;
  if (a.stop_c) o.governor.stop_c = *a.stop_c;
  if (a.resume_c) o.governor.resume_c = *a.resume_c;
  if (a.hysteresis_c) o.governor.hysteresis_c = *a.hysteresis_c;
  if (a.setpoint_c) o.governor.setpoint_c = *a.setpoint_c;

  int cores = profile->compute.cores > 0 ? profile->compute.cores
                                         : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  o.workload.threads_max = a.threads.value_or(cores);
  o.workload.lora_rank_max = a.rank;
  o.workload.step_s = a.step_s;
  o.workload.parallel_fraction = a.parallel_fraction;
  o.hours = a.hours;
  o.cap_c = a.cap_c;
  o.trace_every_s = a.trace_path.empty() ? 0 : 60;

  std::vector<std::string> policies;
  if (a.policy == "all") {
    policies = {"none", "threshold", "setpoint"};
  } else {
    common::Result<thermal::Policy> p = thermal::parse_policy(a.policy);
    if (!p.ok()) return report_error(p.status());
    policies = {a.policy};
  }

  std::vector<std::pair<std::string, thermal::NightSimResult>> results;
  for (const std::string& name : policies) {
    o.governor.policy = *thermal::parse_policy(name);
    common::Result<thermal::NightSimResult> r = thermal::simulate_night(o);
    if (!r.ok()) return report_error(r.status());
    results.emplace_back(name, std::move(*r));
  }
  if (!a.trace_path.empty()) {
    common::Status s = common::write_file_atomic(a.trace_path, trace_csv(results.back().second));
    if (!s.ok()) return report_error(s);
  }

  if (a.json) {
    nlohmann::json j;
    if (results.size() == 1) {
      j = result_json(results[0].first, results[0].second, a.events);
    } else {
      j["runs"] = nlohmann::json::array();
      for (const auto& [name, r] : results) j["runs"].push_back(result_json(name, r, a.events));
    }
    j["profile"] = profile->name;
    j["plant"] = {{"ambient_c", o.plant.ambient_c},       {"idle_rise_c", o.plant.idle_rise_c},
                  {"steady_max_c", o.plant.steady_max_c}, {"tau_s", o.plant.tau_s},
                  {"noise_c", o.plant.noise_c},           {"throttle_c", o.plant.firmware_throttle_c}};
    j["workload"] = {{"threads", o.workload.threads_max},
                     {"lora_rank", o.workload.lora_rank_max},
                     {"step_s", o.workload.step_s},
                     {"parallel_fraction", o.workload.parallel_fraction}};
    j["thresholds"] = {{"shrink_c", o.governor.shrink_c}, {"pause_c", o.governor.pause_c},
                       {"stop_c", o.governor.stop_c},     {"resume_c", o.governor.resume_c},
                       {"hysteresis_c", o.governor.hysteresis_c}, {"setpoint_c", o.governor.setpoint_c}};
    std::printf("%s\n", j.dump(2).c_str());
    return kExitOk;
  }

  std::printf("profile %s; plant: ambient %g °C, idle +%g °C, full load %g °C, tau %g s, noise %g °C, firmware "
              "throttle %s\n",
              profile->name.c_str(), o.plant.ambient_c, o.plant.idle_rise_c, o.plant.steady_max_c, o.plant.tau_s,
              o.plant.noise_c,
              o.plant.firmware_throttle_c > 0 ? fmt::format("{:g} °C", o.plant.firmware_throttle_c).c_str() : "none");
  std::printf("workload: %d threads, LoRA rank %d, %g s per step; thresholds: shrink %g, pause %g, stop %g, resume "
              "%g, setpoint %g °C; %g h\n\n",
              o.workload.threads_max, o.workload.lora_rank_max, o.workload.step_s, o.governor.shrink_c,
              o.governor.pause_c, o.governor.stop_c, o.governor.resume_c, o.governor.setpoint_c, o.hours);
  std::printf("%-10s %10s %18s %19s %14s %17s %20s %11s\n", "policy", "max_temp_c", "seconds_above_stop",
              "throughput_fraction", "ideal_fraction", "fraction_of_ideal", "transitions_per_hour", "checkpoints");
  for (const auto& [name, r] : results) {
    std::printf("%-10s %10.1f %18.0f %19.3f %14.3f %17.3f %20.2f %11d\n", name.c_str(), r.max_temp_c,
                r.seconds_above_stop, r.throughput_fraction, r.ideal_fraction,
                r.ideal_fraction > 0 ? r.throughput_fraction / r.ideal_fraction : 0.0, r.transitions_per_hour,
                r.checkpoints);
  }
  std::printf("\nideal_fraction: the most any policy could do while never exceeding %g °C (analytic bound).\n",
              results[0].second.cap_c);
  for (const auto& [name, r] : results) {
    if (r.stopped) std::printf("%s: the governor stopped the run: %s\n", name.c_str(), r.stop_reason.c_str());
    if (r.seconds_firmware_throttled > 0) {
      std::printf("%s: the firmware throttled for %.0f s\n", name.c_str(), r.seconds_firmware_throttled);
    }
    if (a.events) {
      std::printf("events (%s):\n", name.c_str());
      for (const thermal::Event& e : r.events) std::printf("  %s\n", e.describe().c_str());
    }
  }
  return kExitOk;
}

void register_thermal_sim(CLI::App& root, Action& run) {
  auto a = std::make_shared<SimArgs>();
  CLI::App* cmd = root.add_subcommand("thermal-sim", "simulate a night of training under the thermal governor");
  cmd->add_option("--profile", a->profile, "hardware profile: name, .toml file, or 'host' (default host)");
  cmd->add_option("--policy", a->policy, "threshold | setpoint | none | all (default threshold)")
      ->check(CLI::IsMember({"threshold", "setpoint", "none", "all"}));
  cmd->add_option("--hours", a->hours, "length of the night (default 8)")->check(CLI::Range(0.01, 1000.0));
  cmd->add_option("--ambient", a->ambient_c, "room temperature, °C (profile's plant)");
  cmd->add_option("--tau", a->tau_s, "thermal time constant, s");
  cmd->add_option("--steady-max", a->steady_max_c, "steady temperature at full load without throttling, °C");
  cmd->add_option("--idle-rise", a->idle_rise_c, "rise above ambient when idle, °C");
  cmd->add_option("--noise", a->noise_c, "sensor noise (standard deviation), °C");
  cmd->add_option("--throttle", a->throttle_c, "firmware throttle point, °C (0 = none)");
  cmd->add_option("--shrink", a->shrink_c, "shrink threshold, °C");
  cmd->add_option("--pause", a->pause_c, "pause threshold, °C");
  cmd->add_option("--stop", a->stop_c, "checkpoint-and-wait threshold (the stop limit), °C");
  cmd->add_option("--resume", a->resume_c, "resume below this after a checkpoint-and-wait, °C");
  cmd->add_option("--hysteresis", a->hysteresis_c, "hysteresis, °C");
  cmd->add_option("--setpoint", a->setpoint_c, "setpoint policy target, °C");
  cmd->add_option("--cap", a->cap_c, "cap for ideal_fraction, °C (default: the setpoint)");
  cmd->add_option("--threads", a->threads, "threads of the modelled run (default: the profile's cores)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--rank", a->rank, "LoRA rank of the modelled run, 0 = full fine-tune (default 16)")
      ->check(CLI::Range(0, 4096));
  cmd->add_option("--step-s", a->step_s, "seconds per step at full threads (default 1)");
  cmd->add_option("--parallel-fraction", a->parallel_fraction, "Amdahl parallel fraction (default 0.95)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--seed", a->seed, "seed of the sensor noise");
  cmd->add_flag("--json", a->json, "print JSON");
  cmd->add_flag("--events", a->events, "also print the governor's events");
  cmd->add_option("--trace", a->trace_path, "write a CSV trace (one row per simulated minute) to this file");
  cmd->callback([&run, a] { run = [a] { return run_sim(*a); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_thermal_sim);
}  // namespace app
