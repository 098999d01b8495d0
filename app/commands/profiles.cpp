// `nightshift profiles` lists the device profiles; `nightshift profile show NAME|host|FILE` prints
// one (memory and how the available figure is derived, compute, storage, thermal), or its TOML.
#include <cstdio>
#include <string>

#include "app/commands/command_registry.h"
#include "common/units.h"
#include "profiles/host.h"
#include "profiles/loader.h"

namespace app {
namespace {

std::string mib(uint64_t bytes) { return std::to_string((bytes + common::kMiB / 2) / common::kMiB) + " MiB"; }

std::string describe(const profiles::HardwareProfile& p) {
  char buf[256];
  std::string out = p.name + ": " + p.description + "\n";
  out += "  source     " + p.source + (p.kind.empty() ? "" : ", kind " + p.kind) + "\n";
  out += "memory\n";
  std::snprintf(buf, sizeof buf, "  %-14s %10s\n", "total", mib(p.memory.total_bytes).c_str());
  out += buf;
  for (const profiles::MemoryReservation& r : p.memory.reservations) {
    std::snprintf(buf, sizeof buf, "  - %-12s %10s  %s\n", r.name.c_str(), mib(r.bytes).c_str(), r.note.c_str());
    out += buf;
  }
  std::snprintf(buf, sizeof buf, "  = %-12s %10s\n", "available", mib(p.memory.available_bytes()).c_str());
  out += buf;
  out += "compute\n";
  out += "  cores " + std::to_string(p.compute.cores);
  if (p.compute.performance_cores > 0) out += " (" + std::to_string(p.compute.performance_cores) + " performance)";
  out += ", fp32 peak " +
         (p.compute.peak_gflops > 0 ? std::to_string(static_cast<int>(p.compute.peak_gflops)) + " GFLOP/s" : "unknown");
  out += ", memory bandwidth " +
         (p.compute.mem_bandwidth_gbs > 0 ? std::to_string(static_cast<int>(p.compute.mem_bandwidth_gbs)) + " GB/s"
                                          : "unknown (measure with the bench probe)");
  out += "\n";
  if (!p.storage.kind.empty() || p.storage.seq_read_mbs > 0) {
    std::snprintf(buf, sizeof buf, "storage\n  %s, sequential read %.0f MB/s\n",
                  p.storage.kind.empty() ? "unknown" : p.storage.kind.c_str(), p.storage.seq_read_mbs);
    out += buf;
  }
  const profiles::ThermalProfile& t = p.thermal;
  out += std::string("thermal\n  ") + (t.fanless ? "fanless" : "fan-cooled") + "; sensors: ";
  if (t.sensors.empty()) out += "none";
  for (size_t i = 0; i < t.sensors.size(); ++i) out += (i ? ", " : "") + t.sensors[i];
  out += "\n";
  std::snprintf(buf, sizeof buf,
                "  thresholds: shrink %.0f C, pause %.0f C, stop %.0f C, resume below %.0f C (hysteresis %.0f C), "
                "setpoint %.0f C\n",
                t.thresholds.shrink_c, t.thresholds.pause_c, t.thresholds.stop_c, t.thresholds.resume_c,
                t.thresholds.hysteresis_c, t.thresholds.setpoint_c);
  out += buf;
  std::snprintf(buf, sizeof buf,
                "  plant: ambient %.0f C, idle +%.0f C, full load %.0f C, tau %.0f s, noise %.1f C, throttle %.0f C\n",
                t.plant.ambient_c, t.plant.idle_rise_c, t.plant.steady_max_c, t.plant.tau_s, t.plant.noise_c,
                t.plant.throttle_c);
  out += buf;
  return out;
}

std::string host_details() {
  common::Result<profiles::HostInfo> info = profiles::detect_host();
  if (!info.ok()) return "";
  const profiles::HostTopology& t = info->topology;
  std::string out = "topology (hwloc)\n  " + std::to_string(t.packages) + " package(s), " + std::to_string(t.cores) +
                    " cores, " + std::to_string(t.pus) + " hardware threads, " + std::to_string(t.numa_nodes) +
                    " NUMA node(s)\n";
  for (const profiles::CacheLevel& c : t.caches) {
    out += "  L" + std::to_string(c.level) + " " + c.type + ": " + std::to_string(c.count) + " x " +
           common::format_bytes(c.size_bytes) + "\n";
  }
  out += "memory now (/proc/meminfo)\n  MemAvailable " + mib(info->memory.available_bytes) + ", swap " +
         mib(info->memory.swap_total_bytes) + " (" + mib(info->memory.swap_free_bytes) + " free)\n";
  return out;
}

void register_profiles(CLI::App& root, Action& run) {
  CLI::App* list = root.add_subcommand("profiles", "list the hardware profiles (and 'host')");
  list->callback([&run] {
    run = [] {
      for (const std::string& name : profiles::builtin_profile_names()) {
        common::Result<profiles::HardwareProfile> p = profiles::builtin_profile(name);
        if (!p.ok()) return report_error(p.status());
        std::printf("%-26s %9s  %s\n", name.c_str(), mib(p->memory.available_bytes()).c_str(), p->description.c_str());
      }
      std::printf("%-26s %9s  %s\n", "host", "", "this machine, detected now (nightshift profile show host)");
      return kExitOk;
    };
  });

  CLI::App* profile = root.add_subcommand("profile", "show one hardware profile");
  profile->require_subcommand(1);
  CLI::App* show = profile->add_subcommand("show", "print a profile: NAME, a .toml file, or 'host'");
  auto name = std::make_shared<std::string>();
  auto toml = std::make_shared<bool>(false);
  show->add_option("name", *name, "profile name, profile file, or 'host'")->required();
  show->add_flag("--toml", *toml, "print the profile's TOML (built-in profiles)");
  show->callback([&run, name, toml] {
    run = [name, toml] {
      if (*toml) {
        common::Result<std::string> text = profiles::builtin_profile_text(*name);
        if (!text.ok()) return report_error(text.status());
        std::fputs(text->c_str(), stdout);
        return kExitOk;
      }
      common::Result<profiles::HardwareProfile> p = profiles::find_profile(*name);
      if (!p.ok()) return report_error(p.status());
      std::string out = describe(*p);
      if (*name == "host") out += host_details();
      std::fputs(out.c_str(), stdout);
      return kExitOk;
    };
  });
}

}  // namespace
NS_REGISTER_COMMAND(register_profiles);
}  // namespace app
