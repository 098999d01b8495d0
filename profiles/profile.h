// HardwareProfile: the facts about one device that the planner and the governor need — memory and
// what is reserved out of it, compute, storage, and thermal behaviour (sensor patterns, thresholds,
// simulated-plant parameters). Plain data: read from profiles/devices/*.toml by profiles/loader.h,
// or detected on this machine by profiles/host.h. No third-party types appear here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace profiles {

// One slice of total memory that the model may not use, with the reason ("macOS and system
// services", "swap-prevention margin").
struct MemoryReservation {
  std::string name;       // short key: "os", "other_apps", "framework", "swap_margin", ...
  uint64_t bytes = 0;
  std::string note;       // one line saying where the figure comes from
};

struct MemoryProfile {
  uint64_t total_bytes = 0;                      // physical RAM (unified memory on Apple silicon)
  std::vector<MemoryReservation> reservations;   // in file order
  uint64_t reserved_bytes() const {
    uint64_t sum = 0;
    for (const MemoryReservation& r : reservations) sum += r.bytes;
    return sum;
  }
  // total_bytes minus every reservation (0 if the reservations exceed the total).
  uint64_t available_bytes() const {
    uint64_t reserved = reserved_bytes();
    return reserved >= total_bytes ? 0 : total_bytes - reserved;
  }
};

struct ComputeProfile {
  int cores = 0;                 // cores the trainer may use (all kinds)
  int performance_cores = 0;     // 0 = unknown / not heterogeneous
  double peak_gflops = 0;        // fp32 peak of the CPU cores (what a CPU trainer can reach)
  double mem_bandwidth_gbs = 0;  // sustained memory bandwidth, GB/s (stream triad class)
};

struct StorageProfile {
  std::string kind;              // "nvme", "ufs", "microsd", ...
  double seq_read_mbs = 0;       // sequential read, MB/s
};

// The temperatures at which the threshold governor changes behaviour, in °C, for this device.
// Below shrink_c the run is normal; [shrink_c, pause_c) shrink LoRA rank and threads;
// [pause_c, stop_c) pause or duty-cycle; at or above stop_c checkpoint and wait until the
// temperature is back below resume_c. hysteresis_c is the margin a reading must fall below a
// threshold before the governor steps back down.
struct ThermalThresholds {
  double shrink_c = 75;
  double pause_c = 85;
  double stop_c = 95;
  double resume_c = 75;
  double hysteresis_c = 3;
  double setpoint_c = 80;        // target of the setpoint policy
};

// A first-order thermal plant for the simulated sensor source:
//   dT/dt = (T_target(load) - T) / tau_s,  T_target = ambient_c + idle_rise_c
//                                                    + load * (steady_max_c - ambient_c - idle_rise_c)
// load in [0, 1] is the fraction of the full-speed step rate (threads × duty).
struct ThermalPlant {
  double ambient_c = 25;         // room temperature
  double idle_rise_c = 10;       // rise above ambient when idle
  double steady_max_c = 95;      // steady-state temperature at full load (no throttling)
  double tau_s = 120;            // time constant of the heat-up / cool-down
  double noise_c = 0.3;          // standard deviation of the reading noise
  double throttle_c = 100;       // where the hardware throttles on its own (0 = unknown)
};

struct ThermalProfile {
  // Sensor match patterns, glob style on "chip" or "chip/label" (e.g. "coretemp*", "k10temp*/Tctl",
  // "cpu_thermal*"), in order of preference: the first pattern that matches a present sensor wins.
  std::vector<std::string> sensors;
  bool fanless = false;
  ThermalThresholds thresholds;
  ThermalPlant plant;
};

struct HardwareProfile {
  std::string name;              // "macbook-air-m4-16gb", or "host"
  std::string description;       // "MacBook Air M4, 16 GB unified memory, fanless"
  std::string kind;              // "laptop", "desktop", "phone", "sbc", "host"
  std::string source;            // where it came from: "builtin:NAME", a file path, or "host"
  MemoryProfile memory;
  ComputeProfile compute;
  StorageProfile storage;
  ThermalProfile thermal;
};

}  // namespace profiles
