// MemoryWatch: thresholds on MemAvailable and PSI, micro-batch choice among divisors of the
// effective batch, pause and resume with a margin so it does not flap.
#include "app/governors/memory_watch.h"

#include <algorithm>

#include "common/units.h"
#include "profiles/host.h"

namespace app {

const char* memory_action_name(MemoryAction a) {
  switch (a) {
    case MemoryAction::kContinue: return "continue";
    case MemoryAction::kShrinkMicroBatch: return "shrink_micro_batch";
    case MemoryAction::kRestoreMicroBatch: return "restore_micro_batch";
    case MemoryAction::kPause: return "pause";
    case MemoryAction::kResume: return "resume";
  }
  return "?";
}

MemoryWatch::MemoryWatch(const MemoryWatchConfig& config, BatchShape planned, uint64_t activation_bytes_per_sequence)
    : config_(config), planned_(planned), shape_(planned), per_sequence_bytes_(activation_bytes_per_sequence) {}

uint64_t MemoryWatch::low_water_bytes(uint64_t total_bytes) const {
  return config_.low_water_bytes > 0 ? config_.low_water_bytes : profiles::host_swap_margin_bytes(total_bytes);
}

int MemoryWatch::smaller_micro_batch(int below, uint64_t deficit) const {
  const int effective = planned_.effective();
  for (int b = below - 1; b >= 1; --b) {
    if (effective % b != 0) continue;
    const uint64_t freed = static_cast<uint64_t>(shape_.micro_batch - b) * per_sequence_bytes_;
    if (freed >= deficit) return b;
  }
  return 1;
}

MemoryDecision MemoryWatch::decide(const profiles::MemInfo& mem,
                                   const std::optional<profiles::MemoryPressure>& pressure) {
  MemoryDecision d;
  d.available_bytes = mem.available_bytes;
  d.pressure = pressure;
  const uint64_t low = low_water_bytes(mem.total_bytes);
  const bool stalled = pressure && (pressure->some_avg10 >= config_.pressure_some_avg10 ||
                                    pressure->full_avg10 >= config_.pressure_full_avg10);
  const bool low_memory = mem.available_bytes < low;
  std::string why = "MemAvailable " + common::format_bytes(mem.available_bytes) + (low_memory ? " < " : " >= ") +
                    "low water " + common::format_bytes(low);
  if (pressure) {
    char buf[96];
    std::snprintf(buf, sizeof buf, ", memory pressure some %.1f%% full %.1f%%", pressure->some_avg10,
                  pressure->full_avg10);
    why += buf;
  }

  if (paused_) {
    // Resume only with room for the micro-batch we restart with, plus a margin.
    const uint64_t need = low + config_.resume_margin_bytes;
    if (!stalled && mem.available_bytes >= need) {
      paused_ = false;
      healthy_polls_ = 0;
      d.action = MemoryAction::kResume;
      d.reason = "memory returned (" + why + "): resuming at micro-batch " + std::to_string(shape_.micro_batch);
    } else {
      d.reason = "still paused: " + why;
    }
    d.shape = shape_;
    return d;
  }

  if (low_memory || stalled) {
    healthy_polls_ = 0;
    const uint64_t deficit = low_memory ? low - mem.available_bytes + config_.resume_margin_bytes / 2 : 0;
    if (shape_.micro_batch > 1) {
      const int b = smaller_micro_batch(shape_.micro_batch, deficit);
      const uint64_t freed = static_cast<uint64_t>(shape_.micro_batch - b) * per_sequence_bytes_;
      shape_.micro_batch = b;
      shape_.accumulation_steps = planned_.effective() / b;
      d.action = MemoryAction::kShrinkMicroBatch;
      d.reason = why + ": micro-batch " + std::to_string(b) + " x " + std::to_string(shape_.accumulation_steps) +
                 " accumulation steps (same effective batch " + std::to_string(planned_.effective()) + "), frees ~" +
                 common::format_bytes(freed);
    } else {
      paused_ = true;
      d.action = MemoryAction::kPause;
      d.reason = why + ": micro-batch is already 1; checkpoint and pause until memory returns";
    }
    d.shape = shape_;
    return d;
  }

  // Healthy. After a streak, grow back toward the planned micro-batch if there is room for it.
  if (shape_.micro_batch < planned_.micro_batch && ++healthy_polls_ >= config_.restore_after_polls) {
    int best = shape_.micro_batch;
    for (int b = planned_.micro_batch; b > shape_.micro_batch; --b) {
      if (planned_.effective() % b != 0) continue;
      const uint64_t extra = static_cast<uint64_t>(b - shape_.micro_batch) * per_sequence_bytes_;
      if (mem.available_bytes >= low + extra + config_.resume_margin_bytes) {
        best = b;
        break;
      }
    }
    if (best != shape_.micro_batch) {
      shape_.micro_batch = best;
      shape_.accumulation_steps = planned_.effective() / best;
      healthy_polls_ = 0;
      d.action = MemoryAction::kRestoreMicroBatch;
      d.reason = "memory returned (" + why + "): micro-batch back to " + std::to_string(best) + " x " +
                 std::to_string(shape_.accumulation_steps);
    }
  }
  d.shape = shape_;
  return d;
}

common::Result<MemoryDecision> MemoryWatch::poll() {
  NS_ASSIGN_OR_RETURN(profiles::MemInfo mem, profiles::read_meminfo(config_.meminfo_path));
  std::optional<profiles::MemoryPressure> pressure;
  common::Result<profiles::MemoryPressure> p = profiles::read_memory_pressure(config_.pressure_path);
  if (p.ok()) pressure = *p;
  return decide(mem, pressure);
}

}  // namespace app
