// Line plots drawn into a Canvas region: braille dots (2x4 per cell) with Unicode, one '*' per
// cell in ASCII. A left column of y labels (top, bottom and each threshold), a bottom row of x
// labels, optional log10 y axis, dashed threshold lines and marker series (validation loss).
// Pure: same input, same cells.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tui/canvas.h"

namespace tui {

struct PlotSeries {
  const std::vector<double>* x = nullptr;  // parallel to y; both owned by the caller
  const std::vector<double>* y = nullptr;
  bool markers = false;                    // draw the marker glyph at each point, no line
  Style style = Style::kNormal;
};

struct PlotThreshold {
  double y = 0;
  Style style = Style::kWarn;
};

struct PlotOptions {
  bool log_y = false;   // log10 y axis; non-positive values are skipped
  int label_width = 7;  // cells for the y labels on the left
  // Formats x values for the bottom row (e.g. step numbers or minutes); default: "%g".
  std::function<std::string(double)> x_format;
  std::function<std::string(double)> y_format;
  std::string x_unit;   // written in the middle of the bottom row
};

// The value range after padding, for tests and for labels.
struct PlotRange {
  double x_lo = 0, x_hi = 1, y_lo = 0, y_hi = 1;  // y in axis units (log10 if log_y)
  bool empty = true;
};

// Draw into `area` (which must not include a border). With no finite points, writes "no data".
PlotRange draw_plot(Canvas& canvas, const Rect& area, const std::vector<PlotSeries>& series,
                    const std::vector<PlotThreshold>& thresholds, const PlotOptions& options, const Glyphs& g);

}  // namespace tui
