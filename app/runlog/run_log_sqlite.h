// Internals of the run log shared by the writer (run_log.cpp) and the reader (run_log_reader.cpp):
// SQLite errors as Status, a prepared statement, a connection, and the schema check. The only
// header that includes <sqlite3.h>; not part of the public API (see run_log.h).
#pragma once

#include <sqlite3.h>

#include <cmath>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "app/runlog/run_log.h"
#include "common/status.h"

namespace app::runlog_db {

// A SQLite error as a Status naming the database file.
common::Status db_error(sqlite3* db, int rc, const std::string& path, std::string_view what);

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

  common::Status exec(const char* sql, std::string_view what) {
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
    return rc == SQLITE_OK ? common::Status::Ok() : db_error(db, rc, path, what);
  }
  common::Result<Stmt> prepare(const std::string& sql) {
    Stmt st;
    int rc = sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, st.out(), nullptr);
    if (rc != SQLITE_OK) return db_error(db, rc, path, "prepare");
    return st;
  }
  // Run a one-row query returning an integer.
  common::Result<int64_t> query_int(const std::string& sql) {
    NS_ASSIGN_OR_RETURN(Stmt st, prepare(sql));
    int rc = st.step();
    if (rc != SQLITE_ROW) return db_error(db, rc, path, "read");
    return st.integer(0);
  }
};

// Opens `path` with the SQLite open `flags` (plus NOMUTEX), extended result codes and a busy timeout.
common::Result<std::unique_ptr<Connection>> open_connection(const std::string& path, int flags, int busy_ms);

// Reads the schema version without writing: refuses corrupt files, newer schemas and databases
// that are not run logs. Sets c.version (0: an empty database).
common::Status check_schema(Connection& c);

}  // namespace app::runlog_db
