// The run log's read-only view: the rows of each table as plain structs and RunLogReader, for
// `log`, `plot`, `summary` and `top`, which never blocks the writer. The writer and the types both
// share (statuses, control kinds, step records) are in run_log.h, which includes this header too.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "app/runlog/run_log.h"
#include "common/status.h"

namespace app {

struct RunRow {
  int64_t id = 0;
  std::string name;
  double started_s = 0;
  double finished_s = kNullReal;  // NaN while not finished
  double updated_s = kNullReal;   // last write by the trainer (heartbeat)
  std::string status;
  std::string config_json;
  std::string profile;
  std::string model;
  int64_t total_steps = 0;
  uint64_t budget_bytes = 0;
  double temp_warn_c = kNullReal;
  double temp_hot_c = kNullReal;
  double temp_crit_c = kNullReal;
};

struct StepRow {
  int64_t rowid = 0;  // increases with every write (a rewritten step gets a new rowid)
  StepRecord record;
};

struct EventRow {
  int64_t id = 0;
  double time_s = 0;
  std::string kind;
  std::string detail;
};

struct CheckpointRow {
  int64_t id = 0;
  double time_s = 0;
  CheckpointRecord record;
};

struct SampleRow {
  int64_t id = 0;
  double time_s = 0;
  double temp_c = kNullReal;
  uint64_t rss_bytes = 0;
};

struct ControlRow {
  int64_t id = 0;
  double time_s = 0;
  std::string command;
  bool done = false;
  double done_time_s = kNullReal;
  std::string result;
};

// A whole table for export: column names and rows of NULL / integer / real / text.
using SqlValue = std::variant<std::monostate, int64_t, double, std::string>;
struct TableData {
  std::vector<std::string> columns;
  std::vector<std::vector<SqlValue>> rows;
};

// A read-only view of a run log. Never writes the database, never migrates, never blocks the
// writer (WAL readers see the last committed state). One thread at a time.
class RunLogReader {
 public:
  // Errors (exit code 2 at the command line, database untouched): NotFound (no directory or no
  // run.db), InvalidArgument (newer schema / not a run log), Corruption, Unavailable (locked).
  static common::Result<std::unique_ptr<RunLogReader>> open(const std::string& run_dir);
  ~RunLogReader();
  RunLogReader(const RunLogReader&) = delete;
  RunLogReader& operator=(const RunLogReader&) = delete;

  const std::string& db_path() const;
  int schema_version() const;

  // Hold one read transaction across several queries so they see the same state.
  common::Status begin_snapshot();
  void end_snapshot();

  common::Result<std::vector<RunRow>> runs();
  // The newest run; NotFound if the log has none yet.
  common::Result<RunRow> latest_run();
  common::Result<RunRow> run(int64_t run_id);
  // Rows with rowid/id greater than `after`, in write order; at most `limit` (<0: all).
  common::Result<std::vector<StepRow>> steps(int64_t run_id, int64_t after_rowid = 0, int limit = -1);
  common::Result<std::vector<EventRow>> events(int64_t run_id, int64_t after_id = 0, int limit = -1);
  // The last `count` events of a run, oldest first.
  common::Result<std::vector<EventRow>> recent_events(int64_t run_id, int count);
  common::Result<std::vector<SampleRow>> samples(int64_t run_id, int64_t after_id = 0);
  common::Result<std::vector<CheckpointRow>> checkpoints(int64_t run_id);
  common::Result<std::vector<ControlRow>> control(bool pending_only);
  // Whole table (runs, steps, events, checkpoints, samples, control) for export; run_id < 0: all runs.
  common::Result<TableData> table(std::string_view name, int64_t run_id);

  // Changes whenever another connection commits (cheap polling for dashboards).
  common::Result<int64_t> data_version();

  // Ask the trainer for something: inserts a control row through a separate, short-lived
  // read-write connection (never migrates; refuses a schema other than this build's). Returns its id.
  common::Result<int64_t> send_control(ControlKind kind);

  struct Impl;

 private:
  explicit RunLogReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace app
