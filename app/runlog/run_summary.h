// The night at a glance: a summary computed from a run log (`nightshift summary RUN_DIR`).
// Pure computation over rows read through RunLogReader; rendering as text or JSON.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "app/runlog/run_log.h"

namespace app {

struct RunSummary {
  RunRow run;
  std::string status;             // as logged, or "stopped" when the trainer is gone (run_liveness.h)
  std::string status_text;        // the status with when a gone trainer was last heard of
  int processes = 1;              // processes that trained this run (1 + resumes)
  int64_t steps = 0;              // step rows logged
  int64_t last_step = 0;
  uint64_t tokens = 0;            // tokens trained by every process of the run up to the last step
  double elapsed_s = 0;           // start to finish (or to the last write while running)
  double training_s = 0;          // time spent computing steps (tokens / tokens_per_s per step)
  double checkpoint_s = 0;        // writing checkpoints (from the step before each to its row)
  double eval_s = 0;              // evaluations (from the evaluated step to its eval event)
  double downtime_s = 0;          // no process running: from the last sign of one to the next resume
  double paused_s = 0;            // the rest of elapsed: pauses, cool-downs, waits
  std::map<std::string, int> pause_reasons;   // event kind -> count, for pause-like events
  double temp_min_c = kNullReal;
  double temp_max_c = kNullReal;
  // Time-weighted over steps and samples, above the thresholds of the governor's bands: shrink
  // (runs.temp_warn_c), pause (temp_hot_c) and stop (temp_crit_c).
  double seconds_above_warn = 0;
  double seconds_above_hot = 0;
  double seconds_above_crit = 0;
  int rank_changes = 0;
  int thread_changes = 0;
  int rank_min = 0, rank_max = 0;
  int threads_min = 0, threads_max = 0;
  double best_val_loss = kNullReal;
  int64_t best_val_step = 0;
  double best_val_time_s = 0;
  double last_loss = kNullReal;
  std::vector<CheckpointRow> checkpoints;
  std::vector<EventRow> problems;  // events of kind "error", "warning" and sensor faults
};

// Summarises the newest run (run_id < 0) or the given one.
common::Result<RunSummary> summarize_run(RunLogReader& reader, int64_t run_id = -1);
std::string render_summary_text(const RunSummary& summary);
std::string render_summary_json(const RunSummary& summary);

}  // namespace app
