// SVG line charts for `nightshift plot`: stacked charts, each with axes, "nice" ticks, axis labels,
// a legend, series as polylines (gaps at NaN) and horizontal threshold lines. Pure string
// building with no database or file access; the command assembles the series from the run log.
#pragma once

#include <string>
#include <vector>

namespace app {

struct SvgSeries {
  std::string name;           // legend text, also the group's data-name attribute
  std::vector<double> x, y;   // same length; NaN y leaves a gap
  std::string color = "#1f77b4";
  bool dashed = false;
  bool markers = false;       // a dot at every point (sparse series such as validation loss)
};

struct SvgHLine {
  double y = 0;
  std::string label;          // drawn at the right end of the line
  std::string color = "#d62728";
};

struct SvgChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<SvgSeries> series;
  std::vector<SvgHLine> hlines;
  bool log_y = false;         // log10 y axis (non-positive values are skipped)
};

struct SvgOptions {
  int width_px = 960;
  int chart_height_px = 340;
  // Series longer than this are reduced to the min and max of each bucket (shape kept, file small).
  size_t max_points_per_series = 4000;
};

// A complete standalone SVG document (UTF-8, with XML declaration) of the charts stacked top to
// bottom under `title`.
std::string render_svg(const std::string& title, const std::vector<SvgChart>& charts, const SvgOptions& options = {});

// Tick positions between lo and hi: steps of 1, 2 or 5 times a power of ten, at most about
// `max_ticks` of them. Exposed for tests.
std::vector<double> nice_ticks(double lo, double hi, int max_ticks);

// "&amp;" etc. for text and attribute values.
std::string xml_escape(const std::string& text);

}  // namespace app
