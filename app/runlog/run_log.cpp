// The run log on SQLite: schema and migrations, the batched writer (RunLog) and the read-only
// reader (RunLogReader). The only file in nightshift that includes <sqlite3.h>; everything above it
// sees the plain structs of run_log.h. Export formatting lives in run_log_export.cpp.
#include "app/runlog/run_log.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <filesystem>

#include "app/runlog/run_log_schema.h"
#include "common/clock.h"
#include "common/check.h"

namespace app {
namespace {

using common::Result;
using common::Status;

double monotonic_s() { return common::SteadyClock().now_s(); }

// A SQLite error as a Status naming the database file.
Status db_error(sqlite3* db, int rc, const std::string& path, std::string_view what) {
  std::string detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string msg = path + ": " + std::string(what) + ": " + detail;
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(path + ": the run log is corrupt or not a SQLite database (" + detail + ")");
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(path + ": the run log is locked by another process (" + detail + ")");
    case SQLITE_FULL: return Status::IOError(path + ": disk full (" + detail + ")");
    case SQLITE_CANTOPEN: return Status::NotFound(msg);
    // A table or column missing from a database that claims to be a run log ("no such table"):
    // damaged or foreign, like a corrupt file (exit code 2, not an internal failure).
    case SQLITE_ERROR:
    case SQLITE_SCHEMA:
    case SQLITE_MISMATCH:
    case SQLITE_CONSTRAINT:
      return Status::Corruption(path + ": not a valid run log (" + std::string(what) + ": " + detail + ")");
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return Status::InvalidArgument(path + ": cannot be written (" + std::string(what) + ": " + detail + ")");
    default: return Status::IOError(msg);
  }
}

// A prepared statement; binds NaN as NULL.
class Stmt {
 public:
  Stmt() = default;
  Stmt(Stmt&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  Stmt& operator=(Stmt&& o) noexcept { std::swap(s_, o.s_); return *this; }
  ~Stmt() { sqlite3_finalize(s_); }
  sqlite3_stmt** out() { return &s_; }
  sqlite3_stmt* get() const { return s_; }
  void reset() { sqlite3_reset(s_); sqlite3_clear_bindings(s_); }
  void bind(int i, double v) { std::isnan(v) ? sqlite3_bind_null(s_, i) : sqlite3_bind_double(s_, i, v); }
  void bind_int(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }
  void bind_text(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  int step() { return sqlite3_step(s_); }
  double real(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL ? kNullReal : sqlite3_column_double(s_, c); }
  int64_t integer(int c) const { return sqlite3_column_int64(s_, c); }
  std::string text(int c) const {
    const unsigned char* t = sqlite3_column_text(s_, c);
    return t ? reinterpret_cast<const char*>(t) : "";
  }

 private:
  sqlite3_stmt* s_ = nullptr;
};

// One connection plus the file name for messages.
struct Connection {
  sqlite3* db = nullptr;
  std::string path;
  int version = 0;
  ~Connection() { if (db) sqlite3_close_v2(db); }

  Status exec(const char* sql, std::string_view what) {
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
    return rc == SQLITE_OK ? Status::Ok() : db_error(db, rc, path, what);
  }
  Result<Stmt> prepare(const std::string& sql) {
    Stmt st;
    int rc = sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, st.out(), nullptr);
    if (rc != SQLITE_OK) return db_error(db, rc, path, "prepare");
    return st;
  }
  // Run a one-row query returning an integer.
  Result<int64_t> query_int(const std::string& sql) {
    NS_ASSIGN_OR_RETURN(Stmt st, prepare(sql));
    int rc = st.step();
    if (rc != SQLITE_ROW) return db_error(db, rc, path, "read");
    return st.integer(0);
  }
};

Result<std::unique_ptr<Connection>> open_connection(const std::string& path, int flags, int busy_ms) {
  auto c = std::make_unique<Connection>();
  c->path = path;
  int rc = sqlite3_open_v2(path.c_str(), &c->db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) return db_error(c->db, rc, path, "open");
  sqlite3_extended_result_codes(c->db, 1);
  sqlite3_busy_timeout(c->db, busy_ms);
  return c;
}

// Reads the schema version without writing: refuses corrupt files, newer schemas and databases
// that are not run logs. Sets c.version (0: an empty database).
Status check_schema(Connection& c) {
  NS_ASSIGN_OR_RETURN(int64_t tables, c.query_int("SELECT count(*) FROM sqlite_master"));
  NS_ASSIGN_OR_RETURN(int64_t version, c.query_int("PRAGMA user_version"));
  if (version > kRunLogSchemaVersion) {
    return Status::InvalidArgument(c.path + ": run log schema version " + std::to_string(version) +
                                   " is newer than this nightshift supports (" +
                                   std::to_string(kRunLogSchemaVersion) + "); use a newer nightshift");
  }
  if (version == 0 && tables > 0) {
    return Status::InvalidArgument(c.path + ": not a nightshift run log (tables but no schema version)");
  }
  c.version = static_cast<int>(version);
  return Status::Ok();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Writer

struct RunLog::Impl {
  RunLogOptions options;
  common::Clock* clock = nullptr;
  common::SteadyClock own_clock;
  std::unique_ptr<Connection> conn;
  int dir_lock_fd = -1;
  int64_t run_id = 0;

  Stmt insert_step, insert_event, insert_sample, insert_checkpoint, heartbeat, set_status, set_total, finish,
      pending_control, complete_control, data_version, begin, commit, rollback;

  struct PendingEvent { double time_s; std::string kind, detail; };
  struct PendingSample { double time_s, temp_c; uint64_t rss_bytes; };
  struct PendingCheckpoint { double time_s; CheckpointRecord record; };
  struct PendingControlDone { int64_t id; double time_s; std::string result; };
  std::deque<StepRecord> steps;
  std::deque<PendingSample> samples;
  std::vector<PendingEvent> events;
  std::vector<PendingCheckpoint> checkpoints;
  std::vector<PendingControlDone> control_done;
  std::optional<RunStatus> status;
  std::optional<int64_t> total_steps;
  double finished_s = kNullReal;

  double oldest_pending_s = -1;   // monotonic time of the oldest buffered row, -1: none
  double next_attempt_s = 0;      // after a failure, no write before this
  double last_write_s = 0;        // monotonic time of the last successful write
  bool failing = false;
  std::optional<Status> unreported_failure;
  int64_t last_data_version = -1;
  int64_t last_control_id = 0;
  RunLogStats stats;

  ~Impl() {
    conn.reset();  // close SQLite before releasing the directory lock
    if (dir_lock_fd >= 0) ::close(dir_lock_fd);
  }
  double wall() const { return clock->wall_s(); }
  size_t buffered() const {
    return steps.size() + samples.size() + events.size() + checkpoints.size() + control_done.size() +
           (status ? 1 : 0) + (total_steps ? 1 : 0);
  }
  void note_pending() {
    if (oldest_pending_s < 0) oldest_pending_s = clock->now_s();
    // While writes fail, keep memory bounded: drop the oldest steps and samples.
    while (buffered() > options.max_buffered_rows && (!steps.empty() || !samples.empty())) {
      if (!steps.empty()) steps.pop_front(); else samples.pop_front();
      ++stats.dropped_rows;
    }
  }
  bool due() const {
    if (buffered() == 0) return run_id != 0 && clock->now_s() - last_write_s >= options.heartbeat_interval_s;
    if (failing && clock->now_s() < next_attempt_s) return false;
    return static_cast<int>(steps.size()) >= options.flush_every_steps ||
           clock->now_s() - oldest_pending_s >= options.flush_interval_s;
  }

  Status prepare_all() {
    struct { Stmt* st; const char* sql; } list[] = {
        {&insert_step, "INSERT OR REPLACE INTO steps (run_id, step, time, loss, val_loss, lr, tokens_per_s,"
                       " temp_c, lora_rank, threads, duty, rss_bytes, planned_bytes, tokens, governor,"
                       " trained_tokens_per_s)"
                       " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16)"},
        {&insert_event, "INSERT INTO events (run_id, time, kind, detail) VALUES (?1,?2,?3,?4)"},
        {&insert_sample, "INSERT INTO samples (run_id, time, temp_c, rss_bytes) VALUES (?1,?2,?3,?4)"},
        {&insert_checkpoint, "INSERT INTO checkpoints (run_id, step, time, path, bytes, checksum)"
                             " VALUES (?1,?2,?3,?4,?5,?6)"},
        {&heartbeat, "UPDATE runs SET updated = ?2 WHERE id = ?1"},
        {&set_status, "UPDATE runs SET status = ?2, finished = ?3 WHERE id = ?1"},
        {&set_total, "UPDATE runs SET total_steps = ?2 WHERE id = ?1"},
        {&pending_control, "SELECT id, time, command FROM control WHERE done = 0 AND id > ?1 ORDER BY id"},
        {&complete_control, "UPDATE control SET done = 1, done_time = ?2, result = ?3 WHERE id = ?1"},
        {&data_version, "PRAGMA data_version"},
        {&begin, "BEGIN IMMEDIATE"},
        {&commit, "COMMIT"},
        {&rollback, "ROLLBACK"},
    };
    for (auto& item : list) {
      NS_ASSIGN_OR_RETURN(*item.st, conn->prepare(item.sql));
    }
    return Status::Ok();
  }

  // Run one prepared write; returns the SQLite code (SQLITE_DONE on success).
  static int run(Stmt& st) {
    int rc = st.step();
    st.reset();
    return rc;
  }

  int write_batch() {
    int rc = run(begin);
    if (rc != SQLITE_DONE) return rc;
    auto ok = [&](int r) { rc = r; return r == SQLITE_DONE; };
    for (const StepRecord& s : steps) {
      Stmt& st = insert_step;
      st.bind_int(1, run_id);
      st.bind_int(2, s.step);
      st.bind(3, s.time_s);
      st.bind(4, s.loss);
      st.bind(5, s.val_loss);
      st.bind(6, s.lr);
      st.bind(7, s.tokens_per_s);
      st.bind(8, s.temp_c);
      st.bind_int(9, s.lora_rank);
      st.bind_int(10, s.threads);
      st.bind(11, s.duty);
      st.bind_int(12, static_cast<int64_t>(s.rss_bytes));
      st.bind_int(13, static_cast<int64_t>(s.planned_bytes));
      st.bind_int(14, static_cast<int64_t>(s.tokens));
      st.bind_text(15, s.governor);
      st.bind(16, s.trained_tokens_per_s);
      if (!ok(run(st))) goto fail;
    }
    for (const PendingSample& s : samples) {
      insert_sample.bind_int(1, run_id);
      insert_sample.bind(2, s.time_s);
      insert_sample.bind(3, s.temp_c);
      insert_sample.bind_int(4, static_cast<int64_t>(s.rss_bytes));
      if (!ok(run(insert_sample))) goto fail;
    }
    for (const PendingEvent& e : events) {
      insert_event.bind_int(1, run_id);
      insert_event.bind(2, e.time_s);
      insert_event.bind_text(3, e.kind);
      insert_event.bind_text(4, e.detail);
      if (!ok(run(insert_event))) goto fail;
    }
    for (const PendingCheckpoint& c : checkpoints) {
      insert_checkpoint.bind_int(1, run_id);
      insert_checkpoint.bind_int(2, c.record.step);
      insert_checkpoint.bind(3, c.time_s);
      insert_checkpoint.bind_text(4, c.record.path);
      insert_checkpoint.bind_int(5, static_cast<int64_t>(c.record.bytes));
      insert_checkpoint.bind_text(6, c.record.checksum);
      if (!ok(run(insert_checkpoint))) goto fail;
    }
    for (const PendingControlDone& d : control_done) {
      complete_control.bind_int(1, d.id);
      complete_control.bind(2, d.time_s);
      complete_control.bind_text(3, d.result);
      if (!ok(run(complete_control))) goto fail;
    }
    if (status) {
      set_status.bind_int(1, run_id);
      set_status.bind_text(2, run_status_name(*status));
      set_status.bind(3, finished_s);
      if (!ok(run(set_status))) goto fail;
    }
    if (total_steps) {
      set_total.bind_int(1, run_id);
      set_total.bind_int(2, *total_steps);
      if (!ok(run(set_total))) goto fail;
    }
    if (run_id != 0) {
      heartbeat.bind_int(1, run_id);
      heartbeat.bind(2, wall());
      if (!ok(run(heartbeat))) goto fail;
    }
    rc = run(commit);
    if (rc == SQLITE_DONE) return rc;
  fail:
    if (!sqlite3_get_autocommit(conn->db)) run(rollback);
    return rc;
  }

  Status flush(bool force) {
    if (buffered() == 0 && (run_id == 0 || clock->now_s() - last_write_s < options.heartbeat_interval_s)) {
      return Status::Ok();
    }
    if (!force && failing && clock->now_s() < next_attempt_s) return Status::Ok();
    CHECK_MSG(run_id != 0 || (steps.empty() && samples.empty() && events.empty() && checkpoints.empty() && !status),
              "RunLog: rows written before begin_run");
    double t0 = monotonic_s();
    int rc = write_batch();
    stats.flush_seconds += monotonic_s() - t0;
    if (rc == SQLITE_DONE) {
      last_write_s = clock->now_s();
      stats.steps_written += steps.size();
      ++stats.flushes;
      steps.clear(); samples.clear(); events.clear(); checkpoints.clear(); control_done.clear();
      status.reset();
      total_steps.reset();
      oldest_pending_s = -1;
      if (failing) {
        failing = false;
        unreported_failure.reset();
        // The log says itself that it lost time, in the next batch.
        events.push_back({wall(), "warning", "run log writes resumed after a failure; " +
                                                 std::to_string(stats.dropped_rows) + " rows dropped so far"});
        note_pending();
      }
      return Status::Ok();
    }
    ++stats.failed_flushes;
    Status s = db_error(conn->db, rc, conn->path, "write");
    next_attempt_s = clock->now_s() + ((rc & 0xff) == SQLITE_BUSY ? options.flush_interval_s : options.retry_interval_s);
    if (!failing && (rc & 0xff) != SQLITE_BUSY) {  // a busy dashboard insert is not a failure
      failing = true;
      unreported_failure = s;
    }
    return s;
  }
};

RunLog::RunLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RunLog::~RunLog() {
  if (impl_ && impl_->run_id != 0) (void)impl_->flush(true);
}

Result<std::unique_ptr<RunLog>> RunLog::open(const std::string& run_dir, const RunLogOptions& options,
                                             common::Clock* clock) {
  NS_RETURN_IF_ERROR(check_run_directory(run_dir));
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->clock = clock ? clock : &impl->own_clock;
  std::string path = run_log_path(run_dir);
  // One writer per run directory: an flock on the directory (not on run.db, whose POSIX locks
  // belong to SQLite and would be dropped by closing another descriptor of the same file).
  impl->dir_lock_fd = ::open(run_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (impl->dir_lock_fd < 0) return Status::IOError(run_dir + ": cannot open the run directory");
  // Readers probe this lock for a moment (app/run_liveness.h): retry briefly before giving up.
  bool locked = false;
  for (int attempt = 0; attempt < 10 && !locked; ++attempt) {
    locked = ::flock(impl->dir_lock_fd, LOCK_EX | LOCK_NB) == 0;
    if (!locked) ::usleep(20000);
  }
  if (!locked) {
    return Status::Unavailable(path + ": locked by another writer (is a trainer already running in " +
                               run_dir + "?)");
  }
  NS_ASSIGN_OR_RETURN(impl->conn, open_connection(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 2000));
  Connection& c = *impl->conn;
  // Until the checks pass, closing must not checkpoint a leftover WAL into the file.
  sqlite3_db_config(c.db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  NS_RETURN_IF_ERROR(check_schema(c));
  if (c.version > 0) {
    NS_ASSIGN_OR_RETURN(Stmt qc, c.prepare("PRAGMA quick_check"));  // finalized at the end of this block
    int rc = qc.step();
    if (rc != SQLITE_ROW) return db_error(c.db, rc, path, "integrity check");
    if (qc.text(0) != "ok") return Status::Corruption(path + ": the run log is corrupt (" + qc.text(0) + ")");
  }
  // From here on the database is ours to change.
  {
    NS_ASSIGN_OR_RETURN(Stmt wal, c.prepare("PRAGMA journal_mode=WAL"));
    int rc = wal.step();
    if (rc != SQLITE_ROW || wal.text(0) != "wal") return db_error(c.db, rc, path, "switch to WAL mode");
  }
  NS_RETURN_IF_ERROR(c.exec("PRAGMA synchronous=NORMAL", "set synchronous"));
  if (c.version < kRunLogSchemaVersion) {
    NS_RETURN_IF_ERROR(c.exec("BEGIN IMMEDIATE", "migrate"));
    for (int v = c.version + 1; v <= kRunLogSchemaVersion; ++v) {
      Status s = c.exec(kRunLogMigrations[v - 1], "migrate to schema " + std::to_string(v));
      if (s.ok()) s = c.exec(("PRAGMA user_version=" + std::to_string(v)).c_str(), "migrate");
      if (!s.ok()) {
        (void)c.exec("ROLLBACK", "rollback");
        return s;
      }
    }
    NS_RETURN_IF_ERROR(c.exec("COMMIT", "migrate"));
    c.version = kRunLogSchemaVersion;
  }
  sqlite3_db_config(c.db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, nullptr);
  sqlite3_busy_timeout(c.db, options.busy_timeout_ms);
  NS_RETURN_IF_ERROR(impl->prepare_all());
  std::unique_ptr<RunLog> log(new RunLog(std::move(impl)));
  if (options.max_db_bytes) NS_RETURN_IF_ERROR(log->set_max_db_bytes(options.max_db_bytes));
  return log;
}

Status RunLog::set_max_db_bytes(uint64_t bytes) {
  Connection& c = *impl_->conn;
  NS_ASSIGN_OR_RETURN(int64_t page, c.query_int("PRAGMA page_size"));
  uint64_t pages = bytes ? std::max<uint64_t>(1, bytes / static_cast<uint64_t>(page)) : 0xfffffffeull;
  // SQLite never lowers the cap below the current size; that is fine for "no more growth".
  return c.query_int("PRAGMA max_page_count=" + std::to_string(pages)).status();
}

Result<int64_t> RunLog::begin_run(const RunStart& start) {
  Connection& c = *impl_->conn;
  if (impl_->run_id != 0) (void)impl_->flush(true);  // rows of the previous run go to it
  NS_ASSIGN_OR_RETURN(Stmt st, c.prepare(
      "INSERT INTO runs (name, started, status, config_json, profile, model, total_steps, updated,"
      " budget_bytes, temp_warn_c, temp_hot_c, temp_crit_c) VALUES (?1,?2,'running',?3,?4,?5,?6,?2,?7,?8,?9,?10)"));
  st.bind_text(1, start.name);
  st.bind(2, impl_->wall());
  st.bind_text(3, start.config_json);
  st.bind_text(4, start.profile);
  st.bind_text(5, start.model);
  st.bind_int(6, start.total_steps);
  st.bind_int(7, static_cast<int64_t>(start.budget_bytes));
  st.bind(8, start.temp_warn_c);
  st.bind(9, start.temp_hot_c);
  st.bind(10, start.temp_crit_c);
  int rc = st.step();
  if (rc != SQLITE_DONE) return db_error(c.db, rc, c.path, "start a run");
  impl_->run_id = sqlite3_last_insert_rowid(c.db);
  impl_->last_write_s = impl_->clock->now_s();
  // Requests left over from an earlier trainer must not act on this run.
  std::string expire = "UPDATE control SET done = 1, done_time = " + std::to_string(impl_->wall()) +
                       ", result = 'expired: sent before this run started' WHERE done = 0";
  NS_RETURN_IF_ERROR(c.exec(expire.c_str(), "expire old control requests"));
  return impl_->run_id;
}

Status RunLog::continue_run(int64_t run_id) {
  Connection& c = *impl_->conn;
  NS_ASSIGN_OR_RETURN(int64_t n, c.query_int("SELECT count(*) FROM runs WHERE id = " + std::to_string(run_id)));
  if (n == 0) return Status::NotFound(c.path + ": no run with id " + std::to_string(run_id));
  impl_->run_id = run_id;
  std::string sql = "UPDATE runs SET status = 'running', finished = NULL WHERE id = " + std::to_string(run_id) +
                    "; UPDATE control SET done = 1, result = 'expired: sent before this run resumed' WHERE done = 0";
  return c.exec(sql.c_str(), "continue a run");
}

int64_t RunLog::run_id() const { return impl_->run_id; }

void RunLog::append_step(const StepRecord& step) {
  CHECK_MSG(impl_->run_id != 0, "RunLog::append_step before begin_run");
  impl_->steps.push_back(step);
  if (impl_->steps.back().time_s == 0) impl_->steps.back().time_s = impl_->wall();
  impl_->note_pending();
  if (impl_->due()) (void)impl_->flush(false);
}

void RunLog::append_sample(double temp_c, uint64_t rss_bytes) {
  impl_->samples.push_back({impl_->wall(), temp_c, rss_bytes});
  impl_->note_pending();
  if (impl_->due()) (void)impl_->flush(false);
}

void RunLog::append_event(std::string_view kind, std::string_view detail) {
  impl_->events.push_back({impl_->wall(), std::string(kind), std::string(detail)});
  impl_->note_pending();
  (void)impl_->flush(false);
}

void RunLog::record_checkpoint(const CheckpointRecord& checkpoint) {
  impl_->checkpoints.push_back({impl_->wall(), checkpoint});
  impl_->events.push_back({impl_->wall(), "checkpoint",
                           "step " + std::to_string(checkpoint.step) + ": " + checkpoint.path});
  impl_->note_pending();
  (void)impl_->flush(false);
}

void RunLog::set_total_steps(int64_t total_steps) {
  impl_->total_steps = total_steps;
  impl_->note_pending();
  (void)impl_->flush(false);
}

uint64_t RunLog::tokens_before(int64_t step) {
  auto t = impl_->conn->query_int("SELECT coalesce((SELECT tokens FROM steps WHERE run_id = " + std::to_string(impl_->run_id) +
                                  " AND step < " + std::to_string(step) + " ORDER BY step DESC LIMIT 1), 0)");
  return t.ok() && *t > 0 ? static_cast<uint64_t>(*t) : 0;
}

void RunLog::set_status(RunStatus status) {
  impl_->status = status;
  impl_->finished_s = kNullReal;
  impl_->note_pending();
  (void)impl_->flush(false);
}

Status RunLog::finish_run(RunStatus status) {
  impl_->status = status;
  impl_->finished_s = impl_->wall();
  impl_->note_pending();
  return impl_->flush(true);
}

Status RunLog::flush(bool force) { return impl_->flush(force); }

void RunLog::tick() {
  if (impl_->due()) (void)impl_->flush(false);
}

std::vector<ControlRequest> RunLog::poll_control() {
  std::vector<ControlRequest> out;
  Impl& m = *impl_;
  int rc = m.data_version.step();
  int64_t version = rc == SQLITE_ROW ? m.data_version.integer(0) : -2;
  m.data_version.reset();
  if (version == m.last_data_version) return out;  // nobody else committed since the last poll
  m.last_data_version = version;
  m.pending_control.bind_int(1, m.last_control_id);
  while ((rc = m.pending_control.step()) == SQLITE_ROW) {
    int64_t id = m.pending_control.integer(0);
    m.last_control_id = std::max(m.last_control_id, id);
    std::optional<ControlKind> kind = parse_control_kind(m.pending_control.text(2));
    if (kind) {
      out.push_back({id, m.pending_control.real(1), *kind});
    } else {
      m.control_done.push_back({id, m.wall(), "ignored: unknown command"});
    }
  }
  m.pending_control.reset();
  if (!m.control_done.empty()) m.note_pending();
  return out;
}

void RunLog::complete_control(int64_t id, std::string_view result) {
  impl_->control_done.push_back({id, impl_->wall(), std::string(result)});
  impl_->note_pending();
  (void)impl_->flush(false);
}

std::optional<Status> RunLog::take_failure() {
  std::optional<Status> s = std::move(impl_->unreported_failure);
  impl_->unreported_failure.reset();
  return s;
}

bool RunLog::healthy() const { return !impl_->failing; }

RunLogStats RunLog::stats() const {
  RunLogStats s = impl_->stats;
  s.buffered_rows = impl_->buffered();
  return s;
}

const std::string& RunLog::db_path() const { return impl_->conn->path; }

// ---------------------------------------------------------------------------------------------
// Reader

struct RunLogReader::Impl {
  std::unique_ptr<Connection> conn;
  bool in_snapshot = false;
  int v() const { return conn->version; }
  // Run a query and hand each row to `fn`.
  template <typename Fn>
  Status each(const std::string& sql, Fn&& fn) {
    NS_ASSIGN_OR_RETURN(Stmt st, conn->prepare(sql));
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) fn(st);
    return rc == SQLITE_DONE ? Status::Ok() : db_error(conn->db, rc, conn->path, "read");
  }
  std::string run_select() const {
    return "SELECT id, " + schema_column("name", 2, v()) + ", started, finished, " + schema_column("updated", 2, v()) +
           ", status, config_json, profile, model, " + schema_column("total_steps", 2, v()) + ", " +
           schema_column("budget_bytes", 2, v()) + ", " + schema_column("temp_warn_c", 2, v()) + ", " + schema_column("temp_hot_c", 2, v()) +
           ", " + schema_column("temp_crit_c", 2, v()) + " FROM runs";
  }
  static RunRow run_row(const Stmt& st) {
    RunRow r;
    r.id = st.integer(0);
    r.name = st.text(1);
    r.started_s = st.real(2);
    r.finished_s = st.real(3);
    r.updated_s = st.real(4);
    r.status = st.text(5);
    r.config_json = st.text(6);
    r.profile = st.text(7);
    r.model = st.text(8);
    r.total_steps = st.integer(9);
    r.budget_bytes = static_cast<uint64_t>(st.integer(10));
    r.temp_warn_c = st.real(11);
    r.temp_hot_c = st.real(12);
    r.temp_crit_c = st.real(13);
    return r;
  }
};

RunLogReader::RunLogReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RunLogReader::~RunLogReader() { end_snapshot(); }

Result<std::unique_ptr<RunLogReader>> RunLogReader::open(const std::string& run_dir) {
  NS_RETURN_IF_ERROR(check_run_directory(run_dir));
  std::string path = run_log_path(run_dir);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Status::NotFound(path + ": no run log here (not a nightshift run directory?)");
  }
  auto impl = std::make_unique<Impl>();
  NS_ASSIGN_OR_RETURN(impl->conn, open_connection(path, SQLITE_OPEN_READONLY, 2000));
  NS_RETURN_IF_ERROR(check_schema(*impl->conn));
  if (impl->conn->version == 0) return Status::NotFound(path + ": the run log is empty (no schema yet)");
  return std::unique_ptr<RunLogReader>(new RunLogReader(std::move(impl)));
}

const std::string& RunLogReader::db_path() const { return impl_->conn->path; }
int RunLogReader::schema_version() const { return impl_->v(); }

Status RunLogReader::begin_snapshot() {
  if (impl_->in_snapshot) return Status::Ok();
  NS_RETURN_IF_ERROR(impl_->conn->exec("BEGIN", "begin read"));
  // A read transaction starts at its first read; make it start now.
  NS_RETURN_IF_ERROR(impl_->conn->query_int("SELECT count(*) FROM runs").status());
  impl_->in_snapshot = true;
  return Status::Ok();
}

void RunLogReader::end_snapshot() {
  if (!impl_->in_snapshot) return;
  (void)impl_->conn->exec("COMMIT", "end read");
  impl_->in_snapshot = false;
}

Result<std::vector<RunRow>> RunLogReader::runs() {
  std::vector<RunRow> out;
  NS_RETURN_IF_ERROR(impl_->each(impl_->run_select() + " ORDER BY id",
                                 [&](const Stmt& st) { out.push_back(Impl::run_row(st)); }));
  return out;
}

Result<RunRow> RunLogReader::latest_run() {
  std::optional<RunRow> row;
  NS_RETURN_IF_ERROR(impl_->each(impl_->run_select() + " ORDER BY id DESC LIMIT 1",
                                 [&](const Stmt& st) { row = Impl::run_row(st); }));
  if (!row) return Status::NotFound(db_path() + ": no run has started in this log yet");
  return *row;
}

Result<RunRow> RunLogReader::run(int64_t run_id) {
  std::optional<RunRow> row;
  NS_RETURN_IF_ERROR(impl_->each(impl_->run_select() + " WHERE id = " + std::to_string(run_id),
                                 [&](const Stmt& st) { row = Impl::run_row(st); }));
  if (!row) return Status::NotFound(db_path() + ": no run with id " + std::to_string(run_id));
  return *row;
}

Result<std::vector<StepRow>> RunLogReader::steps(int64_t run_id, int64_t after_rowid, int limit) {
  int v = impl_->v();
  std::string sql = "SELECT rowid, step, time, loss, val_loss, lr, tokens_per_s, temp_c, lora_rank, threads,"
                    " duty, rss_bytes, planned_bytes, " + schema_column("tokens", 2, v) + ", " + schema_column("governor", 2, v) + ", " +
                    schema_column("trained_tokens_per_s", 3, v) + " FROM steps WHERE run_id = " + std::to_string(run_id) + " AND rowid > " +
                    std::to_string(after_rowid) + " ORDER BY rowid LIMIT " + std::to_string(limit);
  std::vector<StepRow> out;
  NS_RETURN_IF_ERROR(impl_->each(sql, [&](const Stmt& st) {
    StepRow r;
    r.rowid = st.integer(0);
    StepRecord& s = r.record;
    s.step = st.integer(1);
    s.time_s = st.real(2);
    s.loss = st.real(3);
    s.val_loss = st.real(4);
    s.lr = st.real(5);
    s.tokens_per_s = st.real(6);
    s.temp_c = st.real(7);
    s.lora_rank = static_cast<int>(st.integer(8));
    s.threads = static_cast<int>(st.integer(9));
    s.duty = st.real(10);
    s.rss_bytes = static_cast<uint64_t>(st.integer(11));
    s.planned_bytes = static_cast<uint64_t>(st.integer(12));
    s.tokens = static_cast<uint64_t>(st.integer(13));
    s.governor = st.text(14);
    s.trained_tokens_per_s = st.real(15);
    out.push_back(std::move(r));
  }));
  return out;
}

Result<std::vector<EventRow>> RunLogReader::events(int64_t run_id, int64_t after_id, int limit) {
  std::vector<EventRow> out;
  NS_RETURN_IF_ERROR(impl_->each(
      "SELECT id, time, kind, detail FROM events WHERE run_id = " + std::to_string(run_id) + " AND id > " +
          std::to_string(after_id) + " ORDER BY id LIMIT " + std::to_string(limit),
      [&](const Stmt& st) { out.push_back({st.integer(0), st.real(1), st.text(2), st.text(3)}); }));
  return out;
}

Result<std::vector<EventRow>> RunLogReader::recent_events(int64_t run_id, int count) {
  std::vector<EventRow> out;
  NS_RETURN_IF_ERROR(impl_->each(
      "SELECT id, time, kind, detail FROM events WHERE run_id = " + std::to_string(run_id) +
          " ORDER BY id DESC LIMIT " + std::to_string(count),
      [&](const Stmt& st) { out.push_back({st.integer(0), st.real(1), st.text(2), st.text(3)}); }));
  std::reverse(out.begin(), out.end());
  return out;
}

Result<std::vector<SampleRow>> RunLogReader::samples(int64_t run_id, int64_t after_id) {
  std::vector<SampleRow> out;
  if (impl_->v() < 2) return out;
  NS_RETURN_IF_ERROR(impl_->each(
      "SELECT id, time, temp_c, rss_bytes FROM samples WHERE run_id = " + std::to_string(run_id) +
          " AND id > " + std::to_string(after_id) + " ORDER BY id",
      [&](const Stmt& st) {
        out.push_back({st.integer(0), st.real(1), st.real(2), static_cast<uint64_t>(st.integer(3))});
      }));
  return out;
}

Result<std::vector<CheckpointRow>> RunLogReader::checkpoints(int64_t run_id) {
  std::vector<CheckpointRow> out;
  NS_RETURN_IF_ERROR(impl_->each(
      "SELECT id, time, step, path, bytes, checksum FROM checkpoints WHERE run_id = " + std::to_string(run_id) +
          " ORDER BY id",
      [&](const Stmt& st) {
        out.push_back({st.integer(0), st.real(1),
                       {st.integer(2), st.text(3), static_cast<uint64_t>(st.integer(4)), st.text(5)}});
      }));
  return out;
}

Result<std::vector<ControlRow>> RunLogReader::control(bool pending_only) {
  int v = impl_->v();
  std::vector<ControlRow> out;
  NS_RETURN_IF_ERROR(impl_->each(
      "SELECT id, time, command, done, " + schema_column("done_time", 2, v) + ", " + schema_column("result", 2, v) +
          " FROM control" + (pending_only ? " WHERE done = 0" : "") + " ORDER BY id",
      [&](const Stmt& st) {
        out.push_back({st.integer(0), st.real(1), st.text(2), st.integer(3) != 0, st.real(4), st.text(5)});
      }));
  return out;
}

Result<TableData> RunLogReader::table(std::string_view name, int64_t run_id) {
  auto known = std::find(std::begin(kRunLogTables), std::end(kRunLogTables), name);
  if (known == std::end(kRunLogTables)) {
    return Status::InvalidArgument("unknown run log table '" + std::string(name) +
                                   "' (runs, steps, events, checkpoints, samples, control)");
  }
  TableData out;
  if (name == "samples" && impl_->v() < 2) return out;
  std::string sql = "SELECT * FROM " + std::string(name);
  if (run_id >= 0 && name != "control") sql += std::string(name == "runs" ? " WHERE id = " : " WHERE run_id = ") + std::to_string(run_id);
  sql += " ORDER BY rowid";
  NS_ASSIGN_OR_RETURN(Stmt st, impl_->conn->prepare(sql));
  int n = sqlite3_column_count(st.get());
  for (int i = 0; i < n; ++i) out.columns.emplace_back(sqlite3_column_name(st.get(), i));
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    std::vector<SqlValue> row;
    for (int i = 0; i < n; ++i) {
      switch (sqlite3_column_type(st.get(), i)) {
        case SQLITE_INTEGER: row.emplace_back(st.integer(i)); break;
        case SQLITE_FLOAT: row.emplace_back(st.real(i)); break;
        case SQLITE_NULL: row.emplace_back(std::monostate{}); break;
        default: row.emplace_back(st.text(i)); break;
      }
    }
    out.rows.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) return db_error(impl_->conn->db, rc, db_path(), "read");
  return out;
}

Result<int64_t> RunLogReader::data_version() { return impl_->conn->query_int("PRAGMA data_version"); }

Result<int64_t> RunLogReader::send_control(ControlKind kind) {
  // A separate short-lived connection: the reader's own stays read-only. No checkpoint on close,
  // so this never rewrites the database file itself.
  NS_ASSIGN_OR_RETURN(auto c, open_connection(db_path(), SQLITE_OPEN_READWRITE, 2000));
  sqlite3_db_config(c->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  NS_RETURN_IF_ERROR(check_schema(*c));
  NS_ASSIGN_OR_RETURN(Stmt st, c->prepare("INSERT INTO control (time, command) VALUES (?1, ?2)"));
  st.bind(1, common::wall_now_s());
  st.bind_text(2, control_kind_name(kind));
  int rc = st.step();
  if (rc != SQLITE_DONE) return db_error(c->db, rc, c->path, "send a control request");
  return static_cast<int64_t>(sqlite3_last_insert_rowid(c->db));
}

Status run_log_execute_sql_for_test(const std::string& db_path, const std::string& sql) {
  NS_ASSIGN_OR_RETURN(auto c, open_connection(db_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 2000));
  return c->exec(sql.c_str(), "execute");
}

}  // namespace app
