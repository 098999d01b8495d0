// Canvas: a width x height grid of cells (one UTF-8 glyph of display width 1 plus a style) that
// the dashboard renders into before anything touches the terminal. Pure and testable: the ncurses
// layer only copies a finished canvas to the screen. Glyphs picks Unicode (box drawing, braille,
// blocks) or plain ASCII for terminals without UTF-8.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tui {

// Emphasis only: every value is also readable as text without colours.
enum class Style : uint8_t { kNormal, kBold, kDim, kTitle, kGood, kWarn, kAlert, kInverse };

struct Rect {
  int x = 0, y = 0, w = 0, h = 0;
  int right() const { return x + w; }   // one past the last column
  int bottom() const { return y + h; }  // one past the last row
};

// The characters the dashboard draws with.
struct Glyphs {
  bool unicode = true;
  const char* horizontal;  // box edges and corners
  const char* vertical;
  const char* top_left;
  const char* top_right;
  const char* bottom_left;
  const char* bottom_right;
  const char* bar_full;    // a full bar cell
  const char* bar_empty;   // an empty bar cell
  const char* marker;      // a sparse point (validation loss)
  const char* threshold;   // a threshold line where no data is drawn
  const char* ellipsis;    // truncated text
  const char* degree;      // "°" or ""
  const char* arrow;       // "→" or "->"
};
const Glyphs& unicode_glyphs();
const Glyphs& ascii_glyphs();

class Canvas {
 public:
  Canvas(int width, int height);
  int width() const { return width_; }
  int height() const { return height_; }

  // Write UTF-8 text starting at (x, y), one cell per code point, clipped to `max_width` cells and
  // to the canvas; control characters become spaces. Returns the number of cells written.
  int put(int x, int y, std::string_view utf8, Style style = Style::kNormal, int max_width = 1 << 30);
  // One cell; out-of-range coordinates are ignored.
  void set(int x, int y, std::string_view glyph, Style style = Style::kNormal);
  void fill(const Rect& r, std::string_view glyph, Style style = Style::kNormal);
  void set_style(const Rect& r, Style style);
  // A border around `r` with " title " set into the top edge.
  void box(const Rect& r, std::string_view title, const Glyphs& g, Style title_style = Style::kTitle);

  const std::string& glyph(int x, int y) const { return glyphs_[index(x, y)]; }
  Style style(int x, int y) const { return styles_[index(x, y)]; }
  // The glyphs of row y concatenated (width_ cells).
  std::string row_text(int y) const;
  // All rows, trailing spaces trimmed, joined by '\n' (for --print and tests).
  std::string to_text() const;

 private:
  size_t index(int x, int y) const { return static_cast<size_t>(y) * width_ + x; }
  bool inside(int x, int y) const { return x >= 0 && y >= 0 && x < width_ && y < height_; }
  int width_, height_;
  std::vector<std::string> glyphs_;
  std::vector<Style> styles_;
};

// Split UTF-8 text into code points (each as its own string); invalid bytes become '?'.
std::vector<std::string> utf8_glyphs(std::string_view utf8);
// Display cells of UTF-8 text as the canvas counts them (one per code point).
int display_width(std::string_view utf8);

}  // namespace tui
