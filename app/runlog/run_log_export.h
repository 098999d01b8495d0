// Export of run log tables (RunLogReader::table) as CSV or JSON for `nightshift log`.
// Pure formatting: no database access here.
#pragma once

#include <string>

#include "app/runlog/run_log.h"

namespace app {

// CSV (RFC 4180 quoting, \n line ends): a header line with the column names, then one line per
// row; NULL is an empty field; reals print in the shortest form that reads back exactly; text is
// quoted when it has to be.
std::string table_to_csv(const TableData& table);
// After every time column (runs: started, finished, updated; the other tables: time, done_time),
// the same instant as ISO 8601 UTC text with milliseconds ("2026-12-05T09:41:59.123Z") in a column
// named <column>_iso; NULL stays NULL. The epoch columns are kept as they are.
void add_iso_time_columns(TableData& table);
// "2026-12-05T09:41:59.123Z" for seconds since the epoch.
std::string iso8601_utc(double epoch_s);
// A JSON array with one object per row (column name -> value, NULL -> null), one row per line.
std::string table_to_json(const TableData& table);

}  // namespace app
