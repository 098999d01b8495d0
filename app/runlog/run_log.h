// The run log: one SQLite database per run directory (RUN_DIR/run.db, WAL mode) holding runs,
// steps, events, checkpoints, temperature samples and the control table. RunLog is the trainer's
// writer (batched, never fails the training step); RunLogReader is a read-only view for `log`,
// `plot` and `top`, which never blocks the writer (declared in run_log_reader.h, included at the
// end). This header exposes plain structs only; <sqlite3.h> is included only by run_log_sqlite.h,
// the internals of run_log.cpp and run_log_reader.cpp. Not a general SQL layer.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace app {

// File name of the log inside a run directory.
inline constexpr const char* kRunLogFileName = "run.db";
// Schema version this build writes (PRAGMA user_version). History:
//   1: runs, steps, events, checkpoints, control (the columns named in the issue).
//   2: runs.name/total_steps/updated/budget_bytes/temp thresholds, steps.tokens/governor,
//      control.done_time/result, samples table.
//   3: steps.trained_tokens_per_s (tokens with a trained target; less than tokens_per_s with a
//      loss mask).
//   4: steps.disk_read_bytes_per_s, steps.major_faults_per_s (what a streamed base reads from disk).
inline constexpr int kRunLogSchemaVersion = 4;

// A REAL column value that is NULL (unknown, e.g. val_loss on steps without evaluation).
inline constexpr double kNullReal = std::numeric_limits<double>::quiet_NaN();

enum class RunStatus { kRunning, kPaused, kFinished, kStopped, kFailed, kInterrupted };
// "running", "paused", "finished" (all steps done), "stopped" (asked to stop), "failed",
// "interrupted" (signal).
const char* run_status_name(RunStatus status);

// What a dashboard may ask the trainer through the control table.
enum class ControlKind { kPause, kResume, kCheckpoint, kStop };
const char* control_kind_name(ControlKind kind);  // "pause", "resume", "checkpoint", "stop"
std::optional<ControlKind> parse_control_kind(std::string_view name);

// The run row written when a run starts. Unknown values stay at their defaults (NaN / 0 / "").
struct RunStart {
  std::string name;                 // shown by the dashboard; empty: the run directory's name
  std::string config_json = "{}";   // the resolved run configuration
  std::string profile;              // hardware profile name
  std::string model;                // model preset or path
  int64_t total_steps = 0;          // planned steps, 0 if unknown (no ETA)
  uint64_t budget_bytes = 0;        // memory budget of the profile, 0 if unknown
  double temp_warn_c = kNullReal;        // governor thresholds drawn on the temperature plot:
  double temp_hot_c = kNullReal;         //   shrink rank/threads above warn, pause/duty above hot,
  double temp_crit_c = kNullReal;        //   checkpoint-and-wait above crit
};

// One training step. NaN doubles are stored as NULL (e.g. val_loss on steps without evaluation).
struct StepRecord {
  int64_t step = 0;
  double time_s = 0;          // wall-clock seconds since the epoch; 0: the log's clock now
  double loss = kNullReal;
  double val_loss = kNullReal;
  double lr = kNullReal;
  double tokens_per_s = kNullReal;
  double trained_tokens_per_s = kNullReal;  // NULL in logs older than schema 3
  double temp_c = kNullReal;
  int lora_rank = 0;          // 0: not a LoRA run
  int threads = 0;
  double duty = 1.0;          // fraction of time computing (1 = no duty cycle)
  uint64_t rss_bytes = 0;     // measured resident memory
  uint64_t planned_bytes = 0; // the budget planner's total
  uint64_t tokens = 0;        // cumulative tokens trained so far
  std::string governor;       // governor state after the step ("normal", "throttle", ...)
  double disk_read_bytes_per_s = kNullReal;  // read from storage since the last step (schema 4)
  double major_faults_per_s = kNullReal;     // page faults that waited for the disk (schema 4)
};

struct CheckpointRecord {
  int64_t step = 0;
  std::string path;
  uint64_t bytes = 0;
  std::string checksum;
};

// A pending control request as seen by the writer.
struct ControlRequest {
  int64_t id = 0;
  double time_s = 0;
  ControlKind kind = ControlKind::kPause;
};

struct RunLogOptions {
  // Steps are buffered and written in one transaction when this many are pending ...
  int flush_every_steps = 256;
  // ... or when the oldest buffered row is this old. Dashboards lag the trainer by at most this.
  double flush_interval_s = 0.5;
  // After a failed write (disk full, I/O error) the next attempt waits this long.
  double retry_interval_s = 5.0;
  // Rows kept in memory while writes fail; beyond it the oldest steps/samples are dropped (counted).
  size_t max_buffered_rows = 200000;
  // Cap on the database size; writes past it fail like a full disk. 0: no cap.
  uint64_t max_db_bytes = 0;
  // How long a write waits for a dashboard's control insert to finish before retrying later.
  int busy_timeout_ms = 100;
  // tick() refreshes the run's heartbeat (runs.updated) when nothing was written for this long,
  // so dashboards can tell a quiet trainer (paused, long step) from a dead one.
  double heartbeat_interval_s = 5.0;
};

// Counters for benchmarks and the status line.
struct RunLogStats {
  uint64_t steps_written = 0;
  uint64_t flushes = 0;
  uint64_t failed_flushes = 0;
  uint64_t dropped_rows = 0;
  size_t buffered_rows = 0;
  double flush_seconds = 0;  // total time spent inside flush transactions
};

// The trainer's writer. Exactly one per run directory (a second writer gets a "locked" error);
// used from one thread (not synchronised). Appends never fail and never block on readers: rows are
// buffered and written in batches; a failed write keeps the rows, reports once through
// take_failure() and is retried after retry_interval_s, so training goes on when the disk fills.
class RunLog {
 public:
  // Open RUN_DIR/run.db for writing, creating it or migrating an older schema. RUN_DIR must exist.
  // Errors (the database is left untouched): NotFound (no directory), InvalidArgument (newer
  // schema, not a run log), Corruption, IOError/Unavailable (locked by another writer).
  // `clock` (default: a steady clock) gives wall time for rows without their own time.
  static common::Result<std::unique_ptr<RunLog>> open(const std::string& run_dir,
                                                      const RunLogOptions& options = {},
                                                      common::Clock* clock = nullptr);
  ~RunLog();
  RunLog(const RunLog&) = delete;
  RunLog& operator=(const RunLog&) = delete;

  // Insert a run row (status running) and make it the current run; returns its id.
  common::Result<int64_t> begin_run(const RunStart& start);
  // Continue an existing run (after a resume): status back to running, finished cleared.
  common::Status continue_run(int64_t run_id);
  int64_t run_id() const;

  // Buffered; flushes when the batch is full or old enough. Requires a current run.
  void append_step(const StepRecord& step);
  // A temperature/memory sample taken while no steps run (pauses, cool-downs). Buffered.
  void append_sample(double temp_c, uint64_t rss_bytes);
  // Events (governor decisions, pauses, evaluations, warnings) are written at once with the batch.
  void append_event(std::string_view kind, std::string_view detail);
  // Records the checkpoint row and a "checkpoint" event, written at once.
  void record_checkpoint(const CheckpointRecord& checkpoint);
  // The planned step count of the current run, when a resume raised or lowered it; written at once.
  void set_total_steps(int64_t total_steps);
  // The cumulative token count logged for the newest step before `step` of the current run (0 if
  // none): where a resumed process continues the tokens column. Reads the database (not the buffer).
  uint64_t tokens_before(int64_t step);
  // Running <-> paused while training; written at once.
  void set_status(RunStatus status);
  // Final status and finish time; flushes everything. Returns the flush result.
  common::Status finish_run(RunStatus status);

  // Write everything buffered now (unless waiting out a failure and `force` is false).
  common::Status flush(bool force = true);
  // Flush if the batch is due, or write the heartbeat if the log has been quiet for
  // heartbeat_interval_s; call between steps and from idle loops (pauses).
  void tick();

  // New control requests (each returned once), oldest first. Cheap when nothing changed: one
  // PRAGMA data_version. Unknown commands are marked done with an "ignored" result.
  std::vector<ControlRequest> poll_control();
  // Mark a request done with a short result ("ok", "already paused"). Written at once.
  void complete_control(int64_t id, std::string_view result = "ok");

  // The first write failure since the log was last healthy, returned once (then nullopt until
  // writes succeed again and fail again). The caller shows it (dashboard, stderr).
  std::optional<common::Status> take_failure();
  bool healthy() const;
  RunLogStats stats() const;
  const std::string& db_path() const;

  // Raise or lower the size cap (tests simulate a disk that gets space back).
  common::Status set_max_db_bytes(uint64_t bytes);

  struct Impl;

 private:
  explicit RunLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Test support: run SQL on a database file (creating it), e.g. to build a v1 log by hand.
common::Status run_log_execute_sql_for_test(const std::string& db_path, const std::string& sql);

}  // namespace app

// The reader (RunLogReader and its row types) has its own header; included here so that a file
// including run_log.h sees the whole run log API as before.
#include "app/runlog/run_log_reader.h"
