// Braille / ASCII line plots: range finding, dot grid with Bresenham lines, thresholds, labels.
#include "tui/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "tui/format.h"

namespace tui {
namespace {

// Braille dot bits by (column within the cell, row within the cell).
constexpr int kBrailleBits[2][4] = {{0x01, 0x02, 0x04, 0x40}, {0x08, 0x10, 0x20, 0x80}};

std::string braille(int bits) {
  int cp = 0x2800 + bits;
  std::string out;
  out += static_cast<char>(0xe0 | (cp >> 12));
  out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
  out += static_cast<char>(0x80 | (cp & 0x3f));
  return out;
}

std::string default_format(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// A dot grid of sub-cell resolution.
struct DotGrid {
  int cols, rows, sx, sy;  // cells, and dots per cell in x and y
  std::vector<uint8_t> bits;
  DotGrid(int c, int r, int dx, int dy) : cols(c), rows(r), sx(dx), sy(dy), bits(static_cast<size_t>(c) * r, 0) {}
  int width() const { return cols * sx; }
  int height() const { return rows * sy; }
  void dot(int x, int y) {
    if (x < 0 || y < 0 || x >= width() || y >= height()) return;
    int cx = x / sx, cy = y / sy;
    bits[static_cast<size_t>(cy) * cols + cx] |= sx == 2 ? kBrailleBits[x % 2][y % 4] : 1;
  }
  void line(int x0, int y0, int x1, int y1) {
    int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    int stx = x0 < x1 ? 1 : -1, sty = y0 < y1 ? 1 : -1, err = dx + dy;
    for (;;) {
      dot(x0, y0);
      if (x0 == x1 && y0 == y1) break;
      int e2 = 2 * err;
      if (e2 >= dy) { err += dy; x0 += stx; }
      if (e2 <= dx) { err += dx; y0 += sty; }
    }
  }
};

}  // namespace

PlotRange draw_plot(Canvas& canvas, const Rect& area, const std::vector<PlotSeries>& series,
                    const std::vector<PlotThreshold>& thresholds, const PlotOptions& options, const Glyphs& g) {
  PlotRange range;
  const int label_w = std::min(options.label_width, std::max(0, area.w - 4));
  const Rect plot{area.x + label_w, area.y, area.w - label_w, area.h - 1};
  if (plot.w < 2 || plot.h < 1) return range;
  auto ty = [&](double y) { return options.log_y ? (y > 0 ? std::log10(y) : NAN) : y; };
  auto fy = [&](double axis_y) {
    double v = options.log_y ? std::pow(10.0, axis_y) : axis_y;
    return options.y_format ? options.y_format(v) : default_format(v);
  };
  auto fx = [&](double x) { return options.x_format ? options.x_format(x) : default_format(x); };

  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (const PlotSeries& s : series) {
    size_t n = std::min(s.x->size(), s.y->size());
    for (size_t i = 0; i < n; ++i) {
      double x = (*s.x)[i], y = ty((*s.y)[i]);
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      x_lo = std::min(x_lo, x);
      x_hi = std::max(x_hi, x);
      y_lo = std::min(y_lo, y);
      y_hi = std::max(y_hi, y);
    }
  }
  if (x_lo > x_hi) {
    canvas.put(plot.x + std::max(0, (plot.w - 7) / 2), plot.y + plot.h / 2, "no data", Style::kDim);
    return range;
  }
  for (const PlotThreshold& t : thresholds) {
    double y = ty(t.y);
    if (std::isfinite(y)) { y_lo = std::min(y_lo, y); y_hi = std::max(y_hi, y); }
  }
  if (y_hi - y_lo < 1e-12 * std::max(1.0, std::fabs(y_hi))) { y_lo -= 0.5; y_hi += 0.5; }
  if (x_hi == x_lo) x_hi = x_lo + 1;
  range = {x_lo, x_hi, y_lo, y_hi, false};

  DotGrid grid(plot.w, plot.h, g.unicode ? 2 : 1, g.unicode ? 4 : 1);
  auto dx = [&](double x) { return static_cast<int>(std::lround((x - x_lo) / (x_hi - x_lo) * (grid.width() - 1))); };
  auto dy = [&](double y) { return static_cast<int>(std::lround((y_hi - y) / (y_hi - y_lo) * (grid.height() - 1))); };
  // Lines first, markers on top.
  for (const PlotSeries& s : series) {
    if (s.markers) continue;
    size_t n = std::min(s.x->size(), s.y->size());
    bool have_prev = false;
    int px = 0, py = 0;
    for (size_t i = 0; i < n; ++i) {
      double x = (*s.x)[i], y = ty((*s.y)[i]);
      if (!std::isfinite(x) || !std::isfinite(y)) { have_prev = false; continue; }
      int cx = dx(x), cy = dy(y);
      if (have_prev) grid.line(px, py, cx, cy); else grid.dot(cx, cy);
      px = cx; py = cy; have_prev = true;
    }
  }
  // Threshold rows: the dashed glyph where no data is drawn.
  for (const PlotThreshold& t : thresholds) {
    double y = ty(t.y);
    if (!std::isfinite(y)) continue;
    int row = dy(y) / grid.sy;
    for (int c = 0; c < plot.w; ++c) {
      if (!grid.bits[static_cast<size_t>(row) * plot.w + c]) canvas.set(plot.x + c, plot.y + row, g.threshold, t.style);
    }
  }
  for (int r = 0; r < plot.h; ++r) {
    for (int c = 0; c < plot.w; ++c) {
      int b = grid.bits[static_cast<size_t>(r) * plot.w + c];
      if (b) canvas.set(plot.x + c, plot.y + r, g.unicode ? braille(b) : "*", Style::kNormal);
    }
  }
  for (const PlotSeries& s : series) {
    if (!s.markers) continue;
    size_t n = std::min(s.x->size(), s.y->size());
    for (size_t i = 0; i < n; ++i) {
      double x = (*s.x)[i], y = ty((*s.y)[i]);
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      canvas.set(plot.x + dx(x) / grid.sx, plot.y + dy(y) / grid.sy, g.marker, s.style);
    }
  }
  // Labels: top and bottom of the y range, thresholds where they fall, the x range below.
  if (label_w > 1) {
    auto label = [&](int row, const std::string& text, Style style) {
      canvas.put(area.x, plot.y + row, pad_left(text, label_w - 1, g), style);
    };
    label(0, fy(y_hi), Style::kDim);
    if (plot.h > 1) label(plot.h - 1, fy(y_lo), Style::kDim);
    for (const PlotThreshold& t : thresholds) {
      double y = ty(t.y);
      if (std::isfinite(y)) label(dy(y) / grid.sy, fy(y), t.style);
    }
  }
  int bottom = plot.y + plot.h;
  std::string left = fx(x_lo), right = fx(x_hi);
  canvas.put(plot.x, bottom, left, Style::kDim);
  int rw = display_width(right);
  canvas.put(plot.right() - rw, bottom, right, Style::kDim);
  int uw = display_width(options.x_unit);
  int mid = plot.x + (plot.w - uw) / 2;
  if (uw > 0 && mid > plot.x + display_width(left) && mid + uw < plot.right() - rw) {
    canvas.put(mid, bottom, options.x_unit, Style::kDim);
  }
  return range;
}

}  // namespace tui
