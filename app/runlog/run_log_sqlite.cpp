// The run log's SQLite internals (run_log_sqlite.h): error mapping, opening, the schema check.
#include "app/runlog/run_log_sqlite.h"

namespace app::runlog_db {

using common::Result;
using common::Status;

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

}  // namespace app::runlog_db
