// Is the trainer of a run still there? The run log says "running" or "paused" until the trainer
// writes its final status; a trainer killed (kill -9, power cut, OOM killer) never does. Readers
// (`top`, `summary`, `plot`) decide with two facts: the heartbeat (runs.updated, refreshed by the
// writer with every batch and every few seconds while paused or waiting) and the writer's lock on
// the run directory (an flock held for as long as a RunLog is open). A run whose heartbeat is stale
// and whose lock is free has stopped, at its last heartbeat.
#pragma once

#include <string>

#include "app/runlog/run_log.h"

namespace app {

// No heartbeat for this long (seconds) makes readers look at the writer's lock.
inline constexpr double kRunStaleAfterS = 30;

struct RunLiveness {
  std::string status;          // the logged status, or "stopped" for a trainer that is gone
  bool gone = false;           // logged as running/paused, but nobody is writing
  double last_seen_s = kNullReal;  // the last heartbeat (seconds since the epoch) when gone
};

// True while a process holds the run log's writer lock on `run_dir` (a RunLog is open there).
// Never takes the lock for longer than the probe itself.
bool run_log_writer_active(const std::string& run_dir);

// The status readers show for `run` of the log in `run_dir` at wall time `now_s`.
RunLiveness run_liveness(const RunRow& run, const std::string& run_dir, double now_s,
                         double stale_after_s = kRunStaleAfterS);

// "stopped (trainer gone; last heartbeat 2026-12-05 09:41:07)" for a gone run (local time), else
// the status; gone_text is the part in parentheses.
std::string describe_status(const RunLiveness& liveness);
std::string gone_text(const RunLiveness& liveness);

// The run directory of a run log file (RUN_DIR/run.db -> RUN_DIR).
std::string run_dir_of(const std::string& db_path);

}  // namespace app
