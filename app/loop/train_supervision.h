// Everything that watches over a `nightshift train` run besides the step itself: the memory plan
// against the budget (refuse with exit 3), the run log (RUN_DIR/run.db), the thermal governor
// (--thermal), the conditions of an unattended night (windows, battery, disk, memory), the
// dashboard's control requests, progress on stderr, and the in-process dashboard (--tui).
// cmd_train.cpp builds the trainer; this file composes the governors and observers around it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/train/memory_fit.h"
#include "app/train/run_config.h"
#include "app/train/train_flags.h"
#include "app/loop/train_loop.h"
#include "common/clock.h"
#include "common/status.h"
#include "profiles/profile.h"
#include "thermal/governor_config.h"

namespace app {

// The supervision flags checked and resolved before anything is created or touched (bad values are
// InvalidArgument: exit 2).
struct SupervisionPlan {
  SupervisionFlags flags;
  profiles::HardwareProfile profile;
  thermal::GovernorConfig governor;  // the profile's thresholds with the flags on top, validated
  uint64_t budget_bytes = 0;    // --memory-limit, else the profile's available memory
  uint64_t planned_bytes = 0;   // the planner's total for this run
  uint64_t streamed_base_bytes = 0;  // --stream-base: the base's file-backed bytes, outside planned_bytes
  uint64_t activation_bytes_per_sequence = 0;
  std::string plan_table;       // the itemized plan (for the refusal message)
  std::string refusal;          // non-empty: the plan exceeds the budget (check_fits' message)
  std::string memory_fit;       // non-empty: the micro-batch split / checkpointing chosen to fit (memory_fit.h)
};

// Checks the flags and plans the run's memory. With `fit` (and without --no-memory-check), a run
// whose plan exceeds the budget first gets the micro-batch split and checkpointing that fit
// (fit_run_to_budget), changing *config.
common::Result<SupervisionPlan> plan_supervision(const SupervisionFlags& flags, RunConfig* config,
                                                 std::optional<GradCheckpoint> fit);

class Supervision {
 public:
  // After the run directory exists: opens the run log (continuing its newest run on resume), the
  // thermal source and governor, the conditions. `lora_rank` 0 for a full run.
  static common::Result<std::unique_ptr<Supervision>> start(const SupervisionPlan& plan, const RunConfig& config,
                                                            const std::string& run_json, int lora_rank,
                                                            uint64_t checkpoint_bytes, bool resuming,
                                                            common::Clock& clock);
  ~Supervision();

  StepGovernor* governor();
  std::vector<LoopObserver*> observers();

  // --tui: the dashboard on its own thread; closing it (or a signal it catches) sets `stop`.
  common::Status start_dashboard(std::atomic<bool>* stop);
  // Stops the dashboard; records a failed run in the log when the loop failed.
  common::Status finish(const common::Status& loop_status, bool interrupted);

  struct Impl;

 private:
  explicit Supervision(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace app
