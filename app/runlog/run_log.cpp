// The run log's batched writer (RunLog) on SQLite: schema creation and migrations, buffered
// steps, samples and events written in transactions, the control table. The reader is in
// run_log_reader.cpp, the SQLite helpers both use in run_log_sqlite.h, export formatting in
// run_log_export.cpp.
#include "app/runlog/run_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <filesystem>

#include "app/runlog/run_log_schema.h"
#include "app/runlog/run_log_sqlite.h"
#include "common/clock.h"
#include "common/check.h"

namespace app {

using common::Result;
using common::Status;
using runlog_db::check_schema;
using runlog_db::Connection;
using runlog_db::db_error;
using runlog_db::open_connection;
using runlog_db::Stmt;

namespace {

double monotonic_s() { return common::SteadyClock().now_s(); }

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
                       " trained_tokens_per_s, disk_read_bytes_per_s, major_faults_per_s)"
                       " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18)"},
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
      st.bind(17, s.disk_read_bytes_per_s);
      st.bind(18, s.major_faults_per_s);
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

Status run_log_execute_sql_for_test(const std::string& db_path, const std::string& sql) {
  NS_ASSIGN_OR_RETURN(auto c, open_connection(db_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 2000));
  return c->exec(sql.c_str(), "execute");
}

}  // namespace app
