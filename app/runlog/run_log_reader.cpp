// The run log's read-only view (RunLogReader) on SQLite, for `log`, `plot`, `summary` and `top`:
// never writes (but for send_control's own short connection), never migrates, never blocks the
// writer. The SQLite helpers are shared with the writer through run_log_sqlite.h.
#include "app/runlog/run_log_reader.h"

#include <sys/stat.h>

#include <algorithm>

#include "app/runlog/run_log_schema.h"
#include "app/runlog/run_log_sqlite.h"
#include "common/clock.h"

namespace app {

using common::Result;
using common::Status;
using runlog_db::check_schema;
using runlog_db::Connection;
using runlog_db::db_error;
using runlog_db::open_connection;
using runlog_db::Stmt;

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
                    schema_column("trained_tokens_per_s", 3, v) + ", " + schema_column("disk_read_bytes_per_s", 4, v) + ", " +
                    schema_column("major_faults_per_s", 4, v) + " FROM steps WHERE run_id = " + std::to_string(run_id) + " AND rowid > " +
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
    s.disk_read_bytes_per_s = st.real(16);
    s.major_faults_per_s = st.real(17);
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

}  // namespace app
