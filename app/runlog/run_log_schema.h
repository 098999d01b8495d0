// Internals of the run log shared by its .cpp files: the migration SQL (one script per schema
// version), the exported table names, and path/column helpers. Not part of the public API.
#pragma once

#include <string>

#include "app/runlog/run_log.h"
#include "common/status.h"

namespace app {

// kRunLogMigrations[v - 1] takes a database from schema version v-1 to v (run in one transaction).
extern const char* const kRunLogMigrations[kRunLogSchemaVersion];
// The tables `nightshift log` can export.
extern const char* const kRunLogTables[6];

// NotFound naming the directory if `run_dir` is not a directory.
common::Status check_run_directory(const std::string& run_dir);
// RUN_DIR/run.db
std::string run_log_path(const std::string& run_dir);
// A column for a SELECT list that also reads older schemas: "NULL AS name" where the column
// arrived after `version` (it was added in schema `since`).
std::string schema_column(const char* name, int since, int version);

}  // namespace app
