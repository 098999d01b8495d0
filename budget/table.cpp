// Plain-text and markdown rendering of Table.
#include "budget/table.h"

#include <algorithm>

namespace budget {

namespace {

std::string pad(const std::string& s, size_t w, bool right) {
  if (s.size() >= w) return s;
  return right ? std::string(w - s.size(), ' ') + s : s + std::string(w - s.size(), ' ');
}

// Word-wraps a note to `width` columns.
void wrap(const std::string& text, int width, std::string* out) {
  std::string line;
  size_t i = 0;
  while (i < text.size()) {
    size_t sp = text.find(' ', i);
    std::string word = text.substr(i, sp == std::string::npos ? std::string::npos : sp - i);
    i = sp == std::string::npos ? text.size() : sp + 1;
    if (!line.empty() && static_cast<int>(line.size() + 1 + word.size()) > width) {
      *out += line + "\n";
      line = "  ";
    }
    line += (line.empty() || line == "  " ? "" : " ") + word;
  }
  if (!line.empty()) *out += line + "\n";
}

}  // namespace

std::string render_text(const Table& t, int width) {
  const size_t n = t.headers.size();
  std::vector<size_t> w(n, 0);
  for (size_t c = 0; c < n; ++c) w[c] = t.headers[c].size();
  for (const auto& row : t.rows) {
    for (size_t c = 0; c < n && c < row.size(); ++c) w[c] = std::max(w[c], row[c].size());
  }
  // Shrink the last column so a line fits `width` (2 spaces between columns).
  size_t used = 0;
  for (size_t c = 0; c + 1 < n; ++c) used += w[c] + 2;
  if (n > 0 && used + w[n - 1] > static_cast<size_t>(width)) {
    w[n - 1] = static_cast<size_t>(width) > used + 8 ? width - used : 8;
  }
  auto right = [&](size_t c) { return c < t.right_align.size() && t.right_align[c]; };
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (size_t c = 0; c < n; ++c) {
      std::string cell = c < cells.size() ? cells[c] : "";
      if (cell.size() > w[c]) cell = cell.substr(0, w[c] - 3) + "...";
      s += pad(cell, w[c], right(c));
      if (c + 1 < n) s += "  ";
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s + "\n";
  };
  size_t total = 0;
  for (size_t c = 0; c < n; ++c) total += w[c] + (c + 1 < n ? 2 : 0);
  const std::string rule = std::string(std::min<size_t>(total, width), '-') + "\n";
  std::string out;
  if (!t.title.empty()) wrap(t.title, width, &out);
  if (n > 0) {
    out += line(t.headers);
    out += rule;
  }
  for (size_t r = 0; r < t.rows.size(); ++r) {
    if (std::find(t.rules_before.begin(), t.rules_before.end(), static_cast<int>(r)) != t.rules_before.end()) {
      out += rule;
    }
    out += line(t.rows[r]);
  }
  for (const std::string& note : t.notes) wrap(note, width, &out);
  return out;
}

std::string render_markdown(const Table& t) {
  auto esc = [](const std::string& s) {
    std::string o;
    for (char ch : s) {
      if (ch == '|') o += "\\";
      o += ch;
    }
    return o;
  };
  std::string out;
  if (!t.title.empty()) out += "## " + t.title + "\n\n";
  out += "|";
  for (const std::string& h : t.headers) out += " " + esc(h) + " |";
  out += "\n|";
  for (size_t c = 0; c < t.headers.size(); ++c) {
    out += (c < t.right_align.size() && t.right_align[c]) ? "---:|" : "---|";
  }
  out += "\n";
  for (const auto& row : t.rows) {
    out += "|";
    for (size_t c = 0; c < t.headers.size(); ++c) out += " " + esc(c < row.size() ? row[c] : "") + " |";
    out += "\n";
  }
  if (!t.notes.empty()) out += "\n";
  for (const std::string& note : t.notes) out += note + "\n";
  return out + "\n";
}

}  // namespace budget
