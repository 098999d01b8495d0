// Canvas cells, UTF-8 splitting and the two glyph sets.
#include "tui/canvas.h"

#include <algorithm>

namespace tui {

const Glyphs& unicode_glyphs() {
  static const Glyphs g{true, "─", "│", "┌", "┐", "└", "┘", "█", "░", "•", "┈", "…", "°", "→"};
  return g;
}

const Glyphs& ascii_glyphs() {
  static const Glyphs g{false, "-", "|", "+", "+", "+", "+", "#", ".", "o", "-", "~", "", "->"};
  return g;
}

std::vector<std::string> utf8_glyphs(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool valid = len > 0 && i + len <= s.size();
    for (size_t k = 1; valid && k < len; ++k) valid = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (!valid) {
      out.emplace_back("?");
      ++i;
      continue;
    }
    if (len == 1 && (c < 0x20 || c == 0x7f)) out.emplace_back(" ");
    else out.emplace_back(s.substr(i, len));
    i += len;
  }
  return out;
}

int display_width(std::string_view utf8) { return static_cast<int>(utf8_glyphs(utf8).size()); }

Canvas::Canvas(int width, int height)
    : width_(std::max(0, width)),
      height_(std::max(0, height)),
      glyphs_(static_cast<size_t>(width_) * height_, " "),
      styles_(static_cast<size_t>(width_) * height_, Style::kNormal) {}

int Canvas::put(int x, int y, std::string_view utf8, Style style, int max_width) {
  if (y < 0 || y >= height_) return 0;
  int written = 0;
  for (const std::string& g : utf8_glyphs(utf8)) {
    if (written >= max_width || x + written >= width_) break;
    if (x + written >= 0) {
      glyphs_[index(x + written, y)] = g;
      styles_[index(x + written, y)] = style;
    }
    ++written;
  }
  return written;
}

void Canvas::set(int x, int y, std::string_view glyph, Style style) {
  if (!inside(x, y)) return;
  glyphs_[index(x, y)] = std::string(glyph);
  styles_[index(x, y)] = style;
}

void Canvas::fill(const Rect& r, std::string_view glyph, Style style) {
  for (int y = r.y; y < r.bottom(); ++y) {
    for (int x = r.x; x < r.right(); ++x) set(x, y, glyph, style);
  }
}

void Canvas::set_style(const Rect& r, Style style) {
  for (int y = std::max(0, r.y); y < std::min(height_, r.bottom()); ++y) {
    for (int x = std::max(0, r.x); x < std::min(width_, r.right()); ++x) styles_[index(x, y)] = style;
  }
}

void Canvas::box(const Rect& r, std::string_view title, const Glyphs& g, Style title_style) {
  if (r.w < 2 || r.h < 2) return;
  for (int x = r.x + 1; x < r.right() - 1; ++x) {
    set(x, r.y, g.horizontal, Style::kDim);
    set(x, r.bottom() - 1, g.horizontal, Style::kDim);
  }
  for (int y = r.y + 1; y < r.bottom() - 1; ++y) {
    set(r.x, y, g.vertical, Style::kDim);
    set(r.right() - 1, y, g.vertical, Style::kDim);
  }
  set(r.x, r.y, g.top_left, Style::kDim);
  set(r.right() - 1, r.y, g.top_right, Style::kDim);
  set(r.x, r.bottom() - 1, g.bottom_left, Style::kDim);
  set(r.right() - 1, r.bottom() - 1, g.bottom_right, Style::kDim);
  if (!title.empty() && r.w > 4) {
    std::string t = " " + std::string(title) + " ";
    put(r.x + 1, r.y, t, title_style, r.w - 2);
  }
}

std::string Canvas::row_text(int y) const {
  std::string out;
  for (int x = 0; x < width_; ++x) out += glyphs_[index(x, y)];
  return out;
}

std::string Canvas::to_text() const {
  std::string out;
  for (int y = 0; y < height_; ++y) {
    std::string row = row_text(y);
    row.erase(row.find_last_not_of(' ') + 1);
    out += row;
    if (y + 1 < height_) out += '\n';
  }
  return out;
}

}  // namespace tui
