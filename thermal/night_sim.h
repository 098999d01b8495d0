// A simulated night: the Governor driving a modelled training workload on a SimulatedPlant, on a
// FakeClock, so hours of training take milliseconds. Reports what `nightshift thermal-sim` prints
// and the tests check: the hottest moment, time above the stop limit, work done relative to an
// unthrottled device, the analytic ideal under a temperature cap, and how often the action changed.
// Not the trainer: a step is a duration and an amount of work from WorkloadModel.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "thermal/decision.h"
#include "thermal/governor_config.h"
#include "thermal/simulated_plant.h"

namespace thermal {

// The training workload as the plant sees it. A step at full threads and full rank takes step_s;
// with n threads it is slower by Amdahl's law (parallel_fraction); the adapters are
// rank_cost_fraction of a full-rank step, so a smaller rank makes the step cheaper and shorter
// (the same work per second, less work per step). Work is counted in full-rank full steps.
struct WorkloadModel {
  double step_s = 1.0;              // seconds per step at threads_max and full rank
  int threads_max = 2;
  double parallel_fraction = 0.95;  // Amdahl's p
  int lora_rank_max = 16;           // 0: not a LoRA run (no rank knob)
  double rank_cost_fraction = 0.1;  // share of a full-rank step spent in the adapters
  double checkpoint_s = 5;          // writing a checkpoint (the CPU mostly idle)

  common::Status validate() const;
  // Speed with n threads relative to threads_max (1 at threads_max).
  double speed(int threads) const;
  // Work of one step at `rank`, in full-rank steps (1 when not a LoRA run).
  double step_work(int rank) const;
};

struct NightSimOptions {
  PlantParams plant;
  WorkloadModel workload;
  GovernorConfig governor;          // policy kNone here means no governor at all (the raw device)
  double hours = 8;
  double cap_c = 0;                 // the cap for ideal_fraction; 0 = governor.setpoint_c
  double trace_every_s = 0;         // >0: record a TracePoint this often
};

struct TracePoint {
  double time_s = 0;
  double temp_c = 0;                // true plant temperature
  Action action = Action::kNormal;
  int threads = 0;
  int lora_rank = 0;
  double duty = 1;
};

struct NightSimResult {
  double hours = 0;
  double max_temp_c = 0;            // true (noise-free) plant temperature
  double seconds_above_stop = 0;    // above governor.stop_c
  double throughput_fraction = 0;   // work done / work of an unthrottled device in the same time
  double ideal_fraction = 0;        // upper bound for any policy keeping T ≤ cap_c (ideal_fraction())
  double cap_c = 0;
  double transitions_per_hour = 0;  // changes of action
  int transitions = 0;
  int adjustments = 0;              // knob changes without an action change (Governor events)
  int checkpoints = 0;
  int steps = 0;
  double seconds_firmware_throttled = 0;
  double final_temp_c = 0;
  bool stopped = false;             // the governor stopped the run
  std::string stop_reason;
  std::vector<Event> events;
  std::vector<TracePoint> trace;
};

// Runs the night. InvalidArgument (naming the field) for invalid plant, workload, governor or
// hours. Deterministic for given options (the noise is seeded by plant.seed).
common::Result<NightSimResult> simulate_night(const NightSimOptions& options);

// An upper bound on the throughput fraction of any policy that keeps the plant at or below cap_c
// for `hours`, starting idle. Time-averaging the plant equation gives
//   mean load ≤ u* + tau·(cap − T0) / (gain · H),  u* = load_for(cap), T0 = idle temperature,
// and since work per second W(load) is concave (the upper hull of the thread counts' (load,
// speed) points, time-shared), mean work ≤ W(that bound) by Jensen's inequality. The firmware
// throttle point, when lower, is the cap. 1 when the cap is above steady_max_c.
double ideal_fraction(const PlantParams& plant, const WorkloadModel& workload, double cap_c, double hours);

}  // namespace thermal
