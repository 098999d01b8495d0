// A small text table rendered two ways: aligned plain text that fits a width (80 columns for the
// report; long cells in the last column are cut with "...") and GitHub markdown. Pure formatting.
#pragma once

#include <string>
#include <vector>

namespace budget {

struct Table {
  std::string title;                       // printed above the table ("## title" in markdown)
  std::vector<std::string> headers;
  std::vector<bool> right_align;           // per column; missing = left
  std::vector<std::vector<std::string>> rows;
  std::vector<int> rules_before;           // row indices preceded by a rule (e.g. before a total)
  std::vector<std::string> notes;          // lines printed after the table
};

std::string render_text(const Table& table, int width = 80);
std::string render_markdown(const Table& table);

}  // namespace budget
