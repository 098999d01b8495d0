// SVG chart rendering: data ranges, nice ticks, coordinate mapping and the markup. Each chart is a
// <g class="chart"> with its title, grid, axes, one <g class="series" data-name=...> per series
// (polylines, optional dots), threshold lines and a legend.
#include "app/runlog/svg_plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace app {
namespace {

constexpr double kMarginLeft = 72;
constexpr double kMarginRight = 24;
constexpr double kMarginTop = 36;
constexpr double kMarginBottom = 48;
constexpr double kTitleHeight = 40;

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return lo > hi; }
  // Never zero-width; a little room above and below for y.
  void finish(double pad_fraction) {
    if (empty()) { lo = 0; hi = 1; return; }
    if (hi - lo < 1e-12 * std::max(1.0, std::fabs(hi))) { lo -= 0.5; hi += 0.5; }
    double pad = (hi - lo) * pad_fraction;
    lo -= pad;
    hi += pad;
  }
};

std::string num(double v) { return fmt::format("{:.1f}", v); }

std::string tick_label(double v, double step) {
  if (v != 0 && (std::fabs(v) >= 1e6 || std::fabs(v) < 1e-3)) return fmt::format("{:.3g}", v);
  int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  return fmt::format("{:.{}f}", v, std::clamp(decimals, 0, 6));
}

// Reduce a series to min and max per bucket, in x order, when it is too long.
void decimate(const SvgSeries& in, size_t max_points, std::vector<double>& xs, std::vector<double>& ys) {
  size_t n = std::min(in.x.size(), in.y.size());
  if (n <= max_points || max_points < 4) {
    xs.assign(in.x.begin(), in.x.begin() + n);
    ys.assign(in.y.begin(), in.y.begin() + n);
    return;
  }
  size_t buckets = max_points / 2;
  for (size_t b = 0; b < buckets; ++b) {
    size_t begin = b * n / buckets, end = (b + 1) * n / buckets;
    size_t lo = begin, hi = begin;
    for (size_t i = begin; i < end; ++i) {
      if (!(in.y[i] >= in.y[lo])) lo = i;
      if (!(in.y[i] <= in.y[hi])) hi = i;
    }
    for (size_t i : {std::min(lo, hi), std::max(lo, hi)}) {
      xs.push_back(in.x[i]);
      ys.push_back(in.y[i]);
      if (lo == hi) break;
    }
  }
}

void render_chart(const SvgChart& chart, double top, const SvgOptions& opt, std::string& out, int index) {
  const double left = kMarginLeft, right = opt.width_px - kMarginRight;
  const double plot_top = top + kMarginTop, plot_bottom = top + opt.chart_height_px - kMarginBottom;
  auto ty = [&](double y) { return chart.log_y ? (y > 0 ? std::log10(y) : NAN) : y; };

  std::vector<std::vector<double>> xs(chart.series.size()), ys(chart.series.size());
  Range rx, ry;
  for (size_t s = 0; s < chart.series.size(); ++s) {
    decimate(chart.series[s], opt.max_points_per_series, xs[s], ys[s]);
    for (size_t i = 0; i < xs[s].size(); ++i) {
      double y = ty(ys[s][i]);
      if (!std::isfinite(y) || !std::isfinite(xs[s][i])) continue;
      rx.add(xs[s][i]);
      ry.add(y);
    }
  }
  for (const SvgHLine& h : chart.hlines) ry.add(ty(h.y));
  rx.finish(0.0);
  ry.finish(0.05);
  auto px = [&](double x) { return left + (x - rx.lo) / (rx.hi - rx.lo) * (right - left); };
  auto py = [&](double y) { return plot_bottom - (ty(y) - ry.lo) / (ry.hi - ry.lo) * (plot_bottom - plot_top); };

  out += fmt::format("<g class=\"chart\" id=\"chart-{}\">\n", index);
  out += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"15\" font-weight=\"bold\">{}</text>\n", num(left),
                     num(top + 22), xml_escape(chart.title));
  // Grid and tick labels.
  std::vector<double> yticks = nice_ticks(ry.lo, ry.hi, 6);
  if (chart.log_y) {
    yticks.clear();
    for (double d = std::ceil(ry.lo); d <= ry.hi; d += 1) yticks.push_back(d);
    if (yticks.size() < 2) yticks = nice_ticks(ry.lo, ry.hi, 5);
  }
  for (double t : yticks) {
    double y = plot_bottom - (t - ry.lo) / (ry.hi - ry.lo) * (plot_bottom - plot_top);
    double step = yticks.size() > 1 ? yticks[1] - yticks[0] : 1;
    std::string label = chart.log_y ? fmt::format("{:.3g}", std::pow(10.0, t)) : tick_label(t, step);
    out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#e0e0e0\"/>\n", num(left), num(y),
                       num(right), num(y));
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", num(left - 6), num(y + 4),
                       xml_escape(label));
  }
  std::vector<double> xticks = nice_ticks(rx.lo, rx.hi, 8);
  for (double t : xticks) {
    double x = px(t);
    double step = xticks.size() > 1 ? xticks[1] - xticks[0] : 1;
    out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#e0e0e0\"/>\n", num(x), num(plot_top),
                       num(x), num(plot_bottom));
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", num(x), num(plot_bottom + 16),
                       xml_escape(tick_label(t, step)));
  }
  // Axes and their labels.
  out += fmt::format("<line class=\"axis\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"black\"/>\n", num(left),
                     num(plot_top), num(plot_bottom));
  out += fmt::format("<line class=\"axis\" x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"black\"/>\n", num(left),
                     num(plot_bottom), num(right));
  out += fmt::format("<text class=\"x-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                     num((left + right) / 2), num(plot_bottom + 36), xml_escape(chart.x_label));
  double mid_y = (plot_top + plot_bottom) / 2;
  out += fmt::format(
      "<text class=\"y-label\" x=\"{0}\" y=\"{1}\" text-anchor=\"middle\" transform=\"rotate(-90 {0} {1})\">{2}</text>\n",
      num(18), num(mid_y), xml_escape(chart.y_label + (chart.log_y ? " (log scale)" : "")));
  // Thresholds.
  for (const SvgHLine& h : chart.hlines) {
    double y = py(h.y);
    if (!std::isfinite(y)) continue;
    out += fmt::format(
        "<g class=\"threshold\" data-name=\"{4}\"><line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"{3}\" "
        "stroke-dasharray=\"6 4\"/><text x=\"{2}\" y=\"{5}\" text-anchor=\"end\" fill=\"{3}\">{4}</text></g>\n",
        num(left), num(y), num(right), h.color, xml_escape(h.label), num(y - 4));
  }
  // Series: a polyline per run of finite points.
  for (size_t s = 0; s < chart.series.size(); ++s) {
    const SvgSeries& series = chart.series[s];
    out += fmt::format("<g class=\"series\" data-name=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"{}>\n",
                       xml_escape(series.name), series.color, series.dashed ? " stroke-dasharray=\"5 3\"" : "");
    std::string points;
    auto close_line = [&] {
      if (!points.empty()) out += "<polyline points=\"" + points + "\"/>\n";
      points.clear();
    };
    for (size_t i = 0; i < xs[s].size(); ++i) {
      double x = px(xs[s][i]), y = py(ys[s][i]);
      if (!std::isfinite(x) || !std::isfinite(y)) { close_line(); continue; }
      if (!points.empty()) points += ' ';
      points += num(x) + "," + num(y);
      if (series.markers) {
        out += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"2.5\" fill=\"{}\"/>\n", num(x), num(y), series.color);
      }
    }
    close_line();
    out += "</g>\n";
  }
  // Legend, top right inside the plot.
  double lx = right - 170, ly = plot_top + 8;
  out += fmt::format("<g class=\"legend\"><rect x=\"{}\" y=\"{}\" width=\"164\" height=\"{}\" fill=\"white\" "
                     "fill-opacity=\"0.85\" stroke=\"#999\"/>\n",
                     num(lx), num(ly), num(8 + 18.0 * chart.series.size()));
  for (size_t s = 0; s < chart.series.size(); ++s) {
    double y = ly + 16 + 18.0 * s;
    out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2\"{}/>", num(lx + 8),
                       num(y - 4), num(lx + 32), num(y - 4), chart.series[s].color,
                       chart.series[s].dashed ? " stroke-dasharray=\"5 3\"" : "");
    out += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", num(lx + 38), num(y), xml_escape(chart.series[s].name));
  }
  out += "</g>\n</g>\n";
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int max_ticks) {
  std::vector<double> ticks;
  if (!(hi > lo) || max_ticks < 2 || !std::isfinite(lo) || !std::isfinite(hi)) return ticks;
  double raw = (hi - lo) / (max_ticks - 1);
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // Control characters are not allowed in XML 1.0.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') out += ' ';
        else out += c;
    }
  }
  return out;
}

std::string render_svg(const std::string& title, const std::vector<SvgChart>& charts, const SvgOptions& options) {
  double height = kTitleHeight + options.chart_height_px * std::max<size_t>(1, charts.size());
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n",
      options.width_px, height);
  out += "<title>" + xml_escape(title) + "</title>\n";
  out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  out += fmt::format("<text x=\"{}\" y=\"26\" font-size=\"18\" font-weight=\"bold\">{}</text>\n", num(kMarginLeft),
                     xml_escape(title));
  for (size_t i = 0; i < charts.size(); ++i) {
    render_chart(charts[i], kTitleHeight + options.chart_height_px * static_cast<double>(i), options, out,
                 static_cast<int>(i));
  }
  out += "</svg>\n";
  return out;
}

}  // namespace app
