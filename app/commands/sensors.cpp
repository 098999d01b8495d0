// `nightshift sensors`: the temperature sensors libsensors sees (chip, label, value, max, crit) and
// the one nightshift would govern by, like `sensors`. With --follow N it reads the chosen sensor N
// times and prints, for each reading, what the thermal governor would decide: a live check of the
// whole sensor → governor path without training anything. `--source replay:FILE` does the same
// over a recorded night on a virtual clock (no waiting), a dry run of the governor on that night.
#include <algorithm>
#include <cmath>
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
#include "common/clock.h"
#include "profiles/loader.h"
#include "thermal/governor.h"
#include "thermal/libsensors_source.h"
#include "thermal/replay_source.h"
#include "thermal/sensor_select.h"

namespace app {
namespace {

struct SensorsArgs {
  bool json = false;
  std::vector<std::string> patterns;
  std::string profile;
  int follow = 0;
  std::string source = "libsensors";
  int interval_ms = 1000;
  std::string policy = "threshold";
  std::string fail_safe = "pause";
  std::optional<double> fault_grace_s;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int rank = 16;
};

nlohmann::json optional_json(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); }

std::string celsius(const std::optional<double>& v) { return v ? fmt::format("{:.1f} °C", *v) : std::string("-"); }

int list_sensors(const SensorsArgs& a, const std::vector<std::string>& patterns, const std::string& pattern_source) {
  common::Result<std::vector<thermal::SensorInfo>> listed = thermal::list_temperature_sensors();
  if (!listed.ok()) {
    if (!a.patterns.empty()) return report_error(listed.status());
    if (a.json) {
      std::printf("%s\n", nlohmann::json{{"sensors", nlohmann::json::array()},
                                         {"chosen", nullptr},
                                         {"note", listed.status().message()}}
                              .dump(2)
                              .c_str());
    } else {
      std::printf("no temperature sensors: %s\n", listed.status().message().c_str());
    }
    return kExitOk;
  }
  const std::vector<thermal::SensorInfo>& sensors = *listed;
  common::Result<size_t> chosen = thermal::choose_sensor(sensors, patterns);
  // An explicit --sensor that matches nothing is a user error; auto or profile patterns that find
  // nothing are a fact to report.
  if (!chosen.ok() && !a.patterns.empty()) return report_error(chosen.status());

  if (a.json) {
    nlohmann::json list = nlohmann::json::array();
    for (size_t i = 0; i < sensors.size(); ++i) {
      const thermal::SensorInfo& s = sensors[i];
      list.push_back({{"id", s.id()},
                      {"chip", s.chip},
                      {"driver", s.chip_prefix},
                      {"adapter", s.adapter},
                      {"feature", s.feature},
                      {"label", s.label},
                      {"temp_c", optional_json(s.temp_c)},
                      {"max_c", optional_json(s.max_c)},
                      {"crit_c", optional_json(s.crit_c)},
                      {"error", s.error},
                      {"chosen", chosen.ok() && *chosen == i}});
    }
    nlohmann::json j = {{"sensors", list},
                        {"chosen", chosen.ok() ? nlohmann::json(sensors[*chosen].id()) : nlohmann::json()},
                        {"selection", pattern_source}};
    if (!chosen.ok()) j["note"] = chosen.status().message();
    std::printf("%s\n", j.dump(2).c_str());
    return kExitOk;
  }

  if (sensors.empty()) {
    std::printf("no temperature sensors found (libsensors sees none).\n"
                "`nightshift train --thermal auto` will train without a thermal governor; "
                "`--thermal sim` simulates one.\n");
    return kExitOk;
  }
  std::printf("  %-24s %-16s %-16s %10s %10s %10s\n", "chip", "adapter", "label", "temp", "max", "crit");
  for (size_t i = 0; i < sensors.size(); ++i) {
    const thermal::SensorInfo& s = sensors[i];
    std::string temp = s.temp_c ? celsius(s.temp_c) : "error";
    std::printf("%s %-24s %-16s %-16s %10s %10s %10s%s\n", chosen.ok() && *chosen == i ? "*" : " ", s.chip.c_str(),
                s.adapter.c_str(), s.label.c_str(), temp.c_str(), celsius(s.max_c).c_str(), celsius(s.crit_c).c_str(),
                s.error.empty() ? "" : ("  (" + s.error + ")").c_str());
  }
  if (chosen.ok()) {
    std::printf("nightshift would use: %s (%s)\n", sensors[*chosen].id().c_str(), pattern_source.c_str());
  } else {
    std::printf("nightshift would use: none: %s\n", chosen.status().message().c_str());
  }
  return kExitOk;
}

// Reads the chosen sensor `follow` times and prints the governor's decision for each reading.
int follow_sensor(const SensorsArgs& a, const std::vector<std::string>& patterns,
                  const thermal::GovernorConfig& config) {
  // libsensors on the real clock, or a replay file on a virtual one.
  common::SteadyClock steady_clock;
  common::FakeClock fake_clock;
  const bool replay = a.source.rfind("replay:", 0) == 0;
  common::Clock& clock = replay ? static_cast<common::Clock&>(fake_clock) : steady_clock;
  std::unique_ptr<thermal::SensorSource> source;
  std::string id;
  if (replay) {
    common::Result<std::unique_ptr<thermal::ReplaySource>> r = thermal::ReplaySource::load(a.source.substr(7), clock);
    if (!r.ok()) return report_error(r.status());
    id = a.source;
    source = std::move(*r);
  } else if (a.source == "libsensors") {
    common::Result<std::unique_ptr<thermal::LibsensorsSource>> r = thermal::LibsensorsSource::open(patterns);
    if (!r.ok()) return report_error(r.status());
    id = (*r)->sensor().id();
    source = std::move(*r);
  } else {
    return report_error(common::Status::InvalidArgument(
        fmt::format("unknown --source '{}' (expected libsensors or replay:FILE)", a.source)));
  }
  thermal::Knobs knobs{a.threads, a.rank};
  common::Result<std::unique_ptr<thermal::Governor>> governor = thermal::Governor::create(config, knobs, clock);
  if (!governor.ok()) return report_error(governor.status());
  const double start_s = clock.now_s();
  if (!a.json) {
    std::printf("following %s (policy %s, %d threads, LoRA rank %d)\n", id.c_str(), thermal::policy_name(config.policy),
                a.threads, a.rank);
  }
  for (int i = 0; i < a.follow; ++i) {
    if (i > 0) clock.sleep_ms(a.interval_ms);
    thermal::Reading r = source->read();
    thermal::Decision d = (*governor)->decide(r, std::nullopt);
    std::vector<thermal::Event> events = (*governor)->take_events();
    double t_s = clock.now_s() - start_s;
    if (a.json) {
      nlohmann::json ev = nlohmann::json::array();
      for (const thermal::Event& e : events) {
        ev.push_back({{"kind", thermal::event_kind_name(e.kind)},
                      {"from", thermal::action_name(e.from)},
                      {"to", thermal::action_name(e.to)},
                      {"reason", e.reason}});
      }
      nlohmann::json line = {{"t_s", t_s},
                             {"sensor", id},
                             {"ok", r.ok},
                             {"temp_c", r.ok && std::isfinite(r.temp_c) ? nlohmann::json(r.temp_c) : nlohmann::json()},
                             {"max_c", optional_json(r.max_c)},
                             {"crit_c", optional_json(r.crit_c)},
                             {"error", r.error},
                             {"action", thermal::action_name(d.action)},
                             {"lora_rank", d.lora_rank},
                             {"threads", d.threads},
                             {"duty", d.duty},
                             {"pause_ms", d.pause_ms},
                             {"checkpoint", d.checkpoint},
                             {"fail_safe", d.fail_safe},
                             {"reason", d.reason},
                             {"events", ev}};
      std::printf("%s\n", line.dump().c_str());
    } else {
      std::string temp = r.ok ? fmt::format("{:.1f} °C", r.temp_c) : "error: " + r.error;
      std::printf("%7.1fs  %-12s %-20s rank %d, threads %d, duty %.2f%s%s\n", t_s, temp.c_str(),
                  thermal::action_name(d.action), d.lora_rank, d.threads, d.duty, d.checkpoint ? ", checkpoint" : "",
                  d.fail_safe ? ", fail-safe" : "");
      for (const thermal::Event& e : events) std::printf("          event: %s\n", e.describe().c_str());
    }
    std::fflush(stdout);
  }
  return kExitOk;
}

int run_sensors(const SensorsArgs& a) {
  thermal::GovernorConfig config;
  std::vector<std::string> patterns = a.patterns;
  std::string pattern_source = a.patterns.empty() ? "automatic: CPU sensor priority table" : "--sensor";
  if (!a.profile.empty()) {
    common::Result<profiles::HardwareProfile> profile = profiles::find_profile(a.profile);
    if (!profile.ok()) return report_error(profile.status());
    config = governor_config_from_profile(profile->thermal);
    if (patterns.empty() && !profile->thermal.sensors.empty()) {
      patterns = profile->thermal.sensors;
      pattern_source = "profile " + profile->name;
    }
  }
  if (a.follow == 0) return list_sensors(a, patterns, pattern_source);

  common::Result<thermal::Policy> policy = thermal::parse_policy(a.policy);
  if (!policy.ok()) return report_error(policy.status());
  common::Result<thermal::FailSafe> fail_safe = thermal::parse_fail_safe(a.fail_safe);
  if (!fail_safe.ok()) return report_error(fail_safe.status());
  config.policy = *policy;
  config.fail_safe = *fail_safe;
  if (a.fault_grace_s) config.fault_grace_s = *a.fault_grace_s;
  common::Status valid = config.validate();
  if (!valid.ok()) return report_error(valid);
  return follow_sensor(a, patterns, config);
}

void register_sensors(CLI::App& root, Action& run) {
  auto a = std::make_shared<SensorsArgs>();
  CLI::App* cmd = root.add_subcommand("sensors", "list temperature sensors and the one the governor would use");
  cmd->add_flag("--json", a->json, "print JSON (with --follow: one JSON object per line)");
  cmd->add_option("--sensor", a->patterns,
                  "choose by pattern: CHIP/LABEL globs (\"k10temp*/Tctl\") or a chip, driver or label glob; "
                  "repeat in order of preference");
  cmd->add_option("--profile", a->profile, "take sensor patterns and thresholds from this hardware profile");
  cmd->add_option("--follow", a->follow, "read the chosen sensor N times and show the governor's decisions")
      ->check(CLI::Range(0, 1000000));
  cmd->add_option("--source", a->source,
                  "with --follow: libsensors (default) or replay:FILE (a time_s,temp_c CSV on a virtual clock)");
  cmd->add_option("--interval-ms", a->interval_ms, "milliseconds between readings with --follow (default 1000)")
      ->check(CLI::Range(1, 3600000));
  cmd->add_option("--policy", a->policy, "governor policy with --follow: threshold | setpoint | none")
      ->check(CLI::IsMember({"threshold", "setpoint", "none"}));
  cmd->add_option("--fail-safe", a->fail_safe, "on sensor faults: pause | min-duty (default pause)")
      ->check(CLI::IsMember({"pause", "min-duty"}));
  cmd->add_option("--fault-grace-s", a->fault_grace_s, "seconds a sensor fault is tolerated (default 10)")
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_option("--threads", a->threads, "thread count the governor may turn down (default: all)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--rank", a->rank, "LoRA rank the governor may shrink (default 16; 0 = none)")
      ->check(CLI::Range(0, 4096));
  cmd->callback([&run, a] { run = [a] { return run_sensors(*a); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_sensors);
}  // namespace app
