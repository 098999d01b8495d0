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
// A JSON array with one object per row (column name -> value, NULL -> null), one row per line.
std::string table_to_json(const TableData& table);

}  // namespace app
