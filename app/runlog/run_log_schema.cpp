// The run log's schema history, names of statuses and control commands, and path helpers. Plain
// strings only: the SQLite calls are in run_log.cpp.
#include "app/runlog/run_log_schema.h"

#include <filesystem>

namespace app {

// Migrations: kMigrations[v - 1] takes a database from version v-1 to v, in one transaction.
const char* const kRunLogMigrations[kRunLogSchemaVersion] = {
    // 1: the tables of the first run log.
    "CREATE TABLE runs (id INTEGER PRIMARY KEY, started REAL NOT NULL, finished REAL,"
    "  status TEXT NOT NULL, config_json TEXT NOT NULL DEFAULT '{}',"
    "  profile TEXT NOT NULL DEFAULT '', model TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE steps (run_id INTEGER NOT NULL REFERENCES runs(id), step INTEGER NOT NULL,"
    "  time REAL NOT NULL, loss REAL, val_loss REAL, lr REAL, tokens_per_s REAL, temp_c REAL,"
    "  lora_rank INTEGER, threads INTEGER, duty REAL, rss_bytes INTEGER, planned_bytes INTEGER);"
    "CREATE UNIQUE INDEX steps_run_step ON steps(run_id, step);"
    "CREATE TABLE events (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id),"
    "  time REAL NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX events_run ON events(run_id, id);"
    "CREATE TABLE checkpoints (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id),"
    "  step INTEGER NOT NULL, time REAL NOT NULL, path TEXT NOT NULL, bytes INTEGER NOT NULL,"
    "  checksum TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE control (id INTEGER PRIMARY KEY, time REAL NOT NULL, command TEXT NOT NULL,"
    "  done INTEGER NOT NULL DEFAULT 0);",
    // 2: what the dashboard needs: names, plan, thresholds, heartbeat, samples while paused.
    "ALTER TABLE runs ADD COLUMN name TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE runs ADD COLUMN total_steps INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE runs ADD COLUMN updated REAL;"
    "ALTER TABLE runs ADD COLUMN budget_bytes INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE runs ADD COLUMN temp_warn_c REAL;"
    "ALTER TABLE runs ADD COLUMN temp_hot_c REAL;"
    "ALTER TABLE runs ADD COLUMN temp_crit_c REAL;"
    "ALTER TABLE steps ADD COLUMN tokens INTEGER;"
    "ALTER TABLE steps ADD COLUMN governor TEXT;"
    "ALTER TABLE control ADD COLUMN done_time REAL;"
    "ALTER TABLE control ADD COLUMN result TEXT;"
    "CREATE INDEX control_pending ON control(done, id);"
    "CREATE TABLE samples (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id),"
    "  time REAL NOT NULL, temp_c REAL, rss_bytes INTEGER);"
    "CREATE INDEX samples_run ON samples(run_id, id);",
    // 3: loss masking: the rate of tokens that carry a loss.
    "ALTER TABLE steps ADD COLUMN trained_tokens_per_s REAL;",
    // 4: disk reads per step (a frozen base streamed through the page cache).
    "ALTER TABLE steps ADD COLUMN disk_read_bytes_per_s REAL;"
    "ALTER TABLE steps ADD COLUMN major_faults_per_s REAL;",
};

const char* const kRunLogTables[6] = {"runs", "steps", "events", "checkpoints", "samples", "control"};

common::Status check_run_directory(const std::string& run_dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(run_dir, ec)) {
    return common::Status::NotFound(run_dir + ": run directory does not exist");
  }
  return common::Status::Ok();
}

std::string run_log_path(const std::string& run_dir) {
  return (std::filesystem::path(run_dir) / kRunLogFileName).string();
}

// A column for SELECT lists that reads older schemas: NULL where the column came later.
std::string schema_column(const char* name, int since, int version) {
  return version >= since ? std::string(name) : std::string("NULL AS ") + name;
}

const char* run_status_name(RunStatus status) {
  switch (status) {
    case RunStatus::kRunning: return "running";
    case RunStatus::kPaused: return "paused";
    case RunStatus::kFinished: return "finished";
    case RunStatus::kStopped: return "stopped";
    case RunStatus::kFailed: return "failed";
    case RunStatus::kInterrupted: return "interrupted";
  }
  return "unknown";
}

const char* control_kind_name(ControlKind kind) {
  switch (kind) {
    case ControlKind::kPause: return "pause";
    case ControlKind::kResume: return "resume";
    case ControlKind::kCheckpoint: return "checkpoint";
    case ControlKind::kStop: return "stop";
  }
  return "unknown";
}

std::optional<ControlKind> parse_control_kind(std::string_view name) {
  for (ControlKind k : {ControlKind::kPause, ControlKind::kResume, ControlKind::kCheckpoint, ControlKind::kStop}) {
    if (name == control_kind_name(k)) return k;
  }
  return std::nullopt;
}

}  // namespace app
