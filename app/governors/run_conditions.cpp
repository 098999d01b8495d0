// ConditionsGovernor: window, battery, disk and memory conditions before each step.
#include "app/governors/run_conditions.h"

#include <algorithm>
#include <cmath>

#include "app/governors/disk_space.h"

namespace app {

ConditionsGovernor::ConditionsGovernor(const ConditionsOptions& options, StepGovernor* inner, common::Clock& clock,
                                       EventSink sink)
    : options_(options), inner_(inner), clock_(clock), sink_(std::move(sink)) {
  if (options_.window) window_ = std::make_unique<RunWindow>(*options_.window, &clock_);
  micro_batch_ = options_.batch.micro_batch;
  if (options_.memory) {
    memory_ = std::make_unique<MemoryWatch>(*options_.memory, options_.batch, options_.activation_bytes_per_sequence);
  }
}

void ConditionsGovernor::report(const std::string& kind, const std::string& state, const std::string& detail) {
  if (state == state_) return;
  state_ = state;
  if (sink_) sink_(kind, detail);
}

void ConditionsGovernor::poll_slow(double now_s) {
  if (now_s - last_poll_s_ < options_.poll_s) return;
  last_poll_s_ = now_s;
  if (options_.on_battery != BatteryPolicy::kIgnore) {
    PowerState power = read_power_state(options_.power_supply_root);
    on_battery_ = power.on_battery;
    battery_detail_ = power.detail;
  }
  if (memory_) {
    common::Result<MemoryDecision> d = memory_->poll();
    if (d.ok()) {
      memory_paused_ = memory_->paused();
      memory_detail_ = d->reason;
      if (d->action == MemoryAction::kShrinkMicroBatch || d->action == MemoryAction::kRestoreMicroBatch ||
          d->action == MemoryAction::kResume) {
        if (d->shape.micro_batch != micro_batch_) {
          micro_batch_ = d->shape.micro_batch;
          pending_micro_batch_ = micro_batch_;
          if (sink_) {
            sink_(micro_batch_ < options_.batch.micro_batch ? "memory_shrink" : "memory_restore",
                  "micro-batch " + std::to_string(micro_batch_) + " x accumulation " +
                      std::to_string(d->shape.accumulation_steps) + ": " + d->reason);
          }
        }
      }
    }
  }
}

void ConditionsGovernor::check_disk() {
  if (options_.checkpoint_dir.empty() || options_.checkpoint_bytes == 0) return;
  // Stop while the last checkpoint still fits: room for two means one more is safe after this.
  // One statvfs per step: cheap, and a disk can fill between two checkpoints.
  common::Status room = check_disk_room(options_.checkpoint_dir, 2 * options_.checkpoint_bytes);
  disk_low_ = !room.ok();
  disk_detail_ = room.ok() ? "" : room.message();
}

Directive ConditionsGovernor::before_step(const StepContext& context) {
  poll_slow(clock_.now_s());
  check_disk();
  Directive out;
  if (window_) {
    WindowDecision w = window_->decide();
    if (!w.clock_jump.empty() && sink_) sink_("clock_jump", w.clock_jump);
    if (w.action == WindowAction::kStop) {
      report("deadline", "deadline", w.reason);
      out.action = Directive::Action::kStop;
      out.reason = w.reason;
      return out;
    }
    if (w.action == WindowAction::kWaitForWindow) {
      report("wait_window", "waiting for window", w.reason);
      out.action = Directive::Action::kCheckpointAndWait;
      out.pause_ms = std::clamp(w.wait_s * 1000.0, 1.0, options_.max_wait_ms);
      out.reason = w.reason;
      return out;
    }
  }
  if (disk_low_) {
    report("disk_low", "disk low", "stopping while one more checkpoint fits: " + disk_detail_);
    out.action = Directive::Action::kStop;
    out.reason = "low disk space";
    return out;
  }
  if (on_battery_) {
    const bool stop = options_.on_battery == BatteryPolicy::kStop;
    report("battery", stop ? "on battery (stop)" : "on battery",
           std::string(stop ? "stopping: " : "pausing: ") + "running on battery (" + battery_detail_ + ")");
    out.action = stop ? Directive::Action::kStop : Directive::Action::kCheckpointAndWait;
    out.pause_ms = options_.max_wait_ms;
    out.reason = "on battery";
    return out;
  }
  if (memory_paused_) {
    report("memory_pause", "memory low", "pausing: " + memory_detail_);
    out.action = Directive::Action::kCheckpointAndWait;
    out.pause_ms = options_.max_wait_ms;
    out.reason = "memory low";
    return out;
  }
  if (state_ != "training") report("resume", "training", "conditions allow training again");
  if (inner_) out = inner_->before_step(context);
  if (pending_micro_batch_ > 0 && out.action == Directive::Action::kProceed) {
    out.micro_batch = pending_micro_batch_;
    if (out.reason.empty()) out.reason = "memory: micro-batch " + std::to_string(pending_micro_batch_);
    pending_micro_batch_ = 0;
  }
  return out;
}

void ConditionsGovernor::after_step(const trainer::StepStats& stats) {
  if (inner_) inner_->after_step(stats);
}

}  // namespace app
