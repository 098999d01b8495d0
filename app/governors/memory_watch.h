// MemoryWatch: the run-time memory pressure watcher. On a laptop the budget moves (a browser opened
// at midnight takes gigabytes), so between steps the run asks this watcher whether to go on, to
// lower the micro-batch while keeping the effective batch through gradient accumulation (the
// result of training is unchanged; the freed activation memory goes back to the system), or to
// pause until memory returns. Inputs: MemAvailable (/proc/meminfo) and, where the kernel has it,
// pressure stall information (/proc/pressure/memory); both paths are injectable for tests.
// Decisions only: it never touches the trainer or sleeps. Not thread-safe; one per run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"
#include "profiles/meminfo.h"

namespace app {

struct MemoryWatchConfig {
  std::string meminfo_path = "/proc/meminfo";
  std::string pressure_path = "/proc/pressure/memory";   // absent on kernels without PSI: ignored
  // Act when MemAvailable falls below this (the swap-prevention margin). 0 = 5% of RAM within
  // [256 MiB, 1 GiB] (profiles::host_swap_margin_bytes).
  uint64_t low_water_bytes = 0;
  // Resume after a pause / restore the micro-batch when MemAvailable is back above
  // low_water_bytes + the memory the larger configuration needs + this margin.
  uint64_t resume_margin_bytes = 256ull << 20;
  // PSI thresholds (percent of the last 10 s with tasks stalled on memory): above either, act as if
  // memory were low — the kernel is already reclaiming hard or swapping.
  double pressure_some_avg10 = 20.0;
  double pressure_full_avg10 = 5.0;
  // Consecutive healthy polls before the micro-batch is raised back toward the planned one.
  int restore_after_polls = 5;
};

// The run's batch shape the watcher manages. effective = micro_batch * accumulation stays fixed.
struct BatchShape {
  int micro_batch = 1;
  int accumulation_steps = 1;
  int effective() const { return micro_batch * accumulation_steps; }
};

enum class MemoryAction {
  kContinue,          // nothing to change
  kShrinkMicroBatch,  // switch to `shape` (smaller micro-batch, more accumulation) before the next step
  kRestoreMicroBatch, // memory is back: switch to `shape` (larger micro-batch, less accumulation)
  kPause,             // checkpoint and wait; poll again later
  kResume,            // the pause is over (run with `shape`)
};
const char* memory_action_name(MemoryAction a);  // "continue", "shrink_micro_batch", ...

struct MemoryDecision {
  MemoryAction action = MemoryAction::kContinue;
  BatchShape shape;                 // the shape to run with from now on
  uint64_t available_bytes = 0;     // MemAvailable at this poll
  std::optional<profiles::MemoryPressure> pressure;
  bool changed() const { return action != MemoryAction::kContinue; }  // an event for the run log
  std::string reason;               // one line for the run log ("MemAvailable 412 MiB < 1 GiB ...")
};

class MemoryWatch {
 public:
  // `planned` is the run's shape as planned; `activation_bytes_per_sequence` is what one sequence
  // of the micro-batch costs in activations and scratch (the plan's (activations+scratch)/B), so the
  // watcher knows how much a smaller micro-batch gives back. The micro-batch it chooses always
  // divides the effective batch, so accumulation keeps it exact.
  MemoryWatch(const MemoryWatchConfig& config, BatchShape planned, uint64_t activation_bytes_per_sequence);
  MemoryWatch(const MemoryWatch&) = delete;
  MemoryWatch& operator=(const MemoryWatch&) = delete;

  // Reads meminfo (and PSI when present) and decides. Errors: the meminfo file cannot be read or
  // parsed (the caller may treat that as "continue").
  common::Result<MemoryDecision> poll();

  // The decision for given readings (what poll() does after reading); pure apart from the
  // watcher's own state (current shape, paused, healthy-poll count).
  MemoryDecision decide(const profiles::MemInfo& mem, const std::optional<profiles::MemoryPressure>& pressure);

  const BatchShape& shape() const { return shape_; }
  bool paused() const { return paused_; }
  uint64_t low_water_bytes(uint64_t total_bytes) const;

 private:
  // The largest divisor of the effective batch below `below` that frees at least `deficit` bytes
  // relative to the current micro-batch; 1 if none does.
  int smaller_micro_batch(int below, uint64_t deficit) const;

  MemoryWatchConfig config_;
  BatchShape planned_;
  BatchShape shape_;
  uint64_t per_sequence_bytes_;
  bool paused_ = false;
  int healthy_polls_ = 0;
};

}  // namespace app
