// ConditionsGovernor: the conditions of an unattended run, checked before every step ahead of the
// thermal governor — the time window and deadlines (--until, --max-hours, --window), the power
// supply (on battery: pause or stop, per --on-battery), the free disk space where checkpoints go
// (stop cleanly while one more checkpoint still fits), and the system's available memory (a smaller
// micro-batch with more accumulation, or a pause, before the machine would swap). Each change of condition is reported once to an event sink.
// Decisions only; the loop acts on them. Reads time only from the injected clock.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "app/governors/memory_watch.h"
#include "app/governors/power_supply.h"
#include "app/governors/run_window.h"
#include "app/loop/train_loop.h"
#include "common/clock.h"

namespace app {

struct ConditionsOptions {
  std::optional<RunWindowOptions> window;          // none: no deadline, no window
  BatteryPolicy on_battery = BatteryPolicy::kIgnore;
  std::string power_supply_root = "/sys/class/power_supply";
  std::string checkpoint_dir;                      // empty: no disk check
  uint64_t checkpoint_bytes = 0;                   // size of one checkpoint
  std::optional<MemoryWatchConfig> memory;         // none: no memory watch
  BatchShape batch;                                // for the memory watch
  uint64_t activation_bytes_per_sequence = 0;
  double poll_s = 5;                               // battery and memory are read this often (disk: every step)
  double max_wait_ms = 5000;                       // a wait is re-asked at least this often
};

class ConditionsGovernor final : public StepGovernor {
 public:
  using EventSink = std::function<void(const std::string& kind, const std::string& detail)>;
  // `inner` (may be null) decides when every condition allows training. `clock` and `inner` must
  // outlive this.
  ConditionsGovernor(const ConditionsOptions& options, StepGovernor* inner, common::Clock& clock, EventSink sink);

  Directive before_step(const StepContext& context) override;
  void after_step(const trainer::StepStats& stats) override;
  // --until or --max-hours passed.
  bool stop_now() override { return window_ && window_->deadline_passed(); }

  // "training", "waiting for window", "on battery", ... (for the run log's governor column).
  const std::string& state() const { return state_; }

 private:
  void poll_slow(double now_s);
  void check_disk();
  void report(const std::string& kind, const std::string& state, const std::string& detail);

  ConditionsOptions options_;
  StepGovernor* inner_;
  common::Clock& clock_;
  EventSink sink_;
  std::unique_ptr<RunWindow> window_;
  std::unique_ptr<MemoryWatch> memory_;
  double last_poll_s_ = -1e18;
  bool on_battery_ = false;
  bool disk_low_ = false;
  std::string disk_detail_;
  bool memory_paused_ = false;
  std::string memory_detail_;
  int micro_batch_ = 0;          // the micro-batch the memory watch wants
  int pending_micro_batch_ = 0;  // a change not yet handed to the loop
  std::string battery_detail_;
  std::string state_ = "training";
};

}  // namespace app
