// Rendering of each dashboard panel into the canvas, plus footer and help overlay. Layout comes
// from layout.cpp, plots from plot.cpp, numbers from format.cpp; this file decides what is shown.
#include "tui/screen.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "common/units.h"
#include "tui/format.h"
#include "tui/layout.h"
#include "tui/plot.h"

namespace tui {
namespace {

struct Item {
  std::string text;
  Style style = Style::kNormal;
};

Rect inner(const Rect& r) { return {r.x + 1, r.y + 1, r.w - 2, r.h - 2}; }

// Items left to right separated by two spaces; an item that does not fit whole is left out.
void put_items(Canvas& c, int x, int y, int width, const std::vector<Item>& items) {
  int used = 0;
  for (const Item& item : items) {
    int w = display_width(item.text);
    int gap = used ? 2 : 0;
    if (used + gap + w > width) continue;
    c.put(x + used + gap, y, item.text, item.style);
    used += gap + w;
  }
}

std::string upper(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

Style status_style(const DashboardModel& m) {
  if (m.paused) return Style::kInverse;
  if (m.status == "failed" || m.status == "interrupted") return Style::kAlert;
  if (m.finished) return Style::kGood;
  return Style::kBold;
}

Style event_style(const std::string& kind) {
  if (kind == "error") return Style::kAlert;
  if (kind == "warning" || kind == "pause" || kind == "governor") return Style::kWarn;
  if (kind == "checkpoint") return Style::kGood;
  return Style::kNormal;
}

std::string hh_mm(double wall_s) { return format_clock(wall_s).substr(0, 5); }

void draw_run(Canvas& c, const Rect& r, const DashboardModel& m, const Glyphs& g) {
  c.box(r, "Run", g);
  Rect in = inner(r);
  std::string status = m.paused ? "PAUSED" : upper(m.status);
  std::vector<Item> first = {{m.run_name.empty() ? "(unnamed run)" : m.run_name, Style::kBold}, {status, status_style(m)}};
  std::string steps = "step " + std::to_string(m.step) + (m.total_steps > 0 ? "/" + std::to_string(m.total_steps) : "");
  first.push_back({steps});
  put_items(c, in.x, in.y, in.w, first);
  // The progress bar takes what is left of the first line.
  int used = 0;
  for (const Item& item : first) used += display_width(item.text) + 2;
  if (m.total_steps > 0) {
    double fraction = static_cast<double>(m.step) / static_cast<double>(m.total_steps);
    std::string pct = format_percent(fraction);
    int bar_w = in.w - used - 1 - display_width(pct);
    if (bar_w >= 5) {
      c.put(in.x + used, in.y, bar(fraction, bar_w, g), Style::kGood);
      c.put(in.x + used + bar_w + 1, in.y, pct);
    }
  }
  std::vector<Item> second = {
      {"tokens " + format_rate(static_cast<double>(m.tokens))},
      {"elapsed " + common::format_duration(m.elapsed_s)},
      {"ETA " + (m.finished ? std::string(m.status == "finished" ? "done" : "--") : common::format_duration(m.eta_s)),
       Style::kBold},
      {"loss " + format_loss(m.loss), Style::kBold},
      {"val " + format_loss(m.val_loss)},
      {"lr " + format_lr(m.lr)},
      {"tok/s " + format_rate(m.tokens_per_s)},
  };
  if (std::isfinite(m.trained_tokens_per_s)) second.push_back({"trained/s " + format_rate(m.trained_tokens_per_s)});
  if (!m.model.empty()) second.push_back({"model " + m.model, Style::kDim});
  if (!m.profile.empty()) second.push_back({"on " + m.profile, Style::kDim});
  put_items(c, in.x, in.y + 1, in.w, second);
}

void draw_loss(Canvas& c, const Rect& r, const DashboardModel& m, const ViewState& v, const Glyphs& g) {
  std::string title = std::string("Loss") + (v.log_scale ? " (log)" : "") + "  train " + format_loss(m.loss) +
                      "  " + g.marker + "val " + format_loss(m.val_loss);
  c.box(r, fit(title, r.w - 4, g), g);
  PlotOptions options;
  options.log_y = v.log_scale;
  options.x_unit = "step";
  options.x_format = [](double x) { return std::to_string(static_cast<int64_t>(std::llround(x))); };
  options.y_format = [](double y) { return format_loss(y); };
  std::vector<PlotSeries> series = {{&m.loss_steps, &m.loss_values, false, Style::kNormal},
                                    {&m.val_steps, &m.val_values, true, Style::kBold}};
  draw_plot(c, inner(r), series, {}, options, g);
}

void draw_temperature(Canvas& c, const Rect& r, const DashboardModel& m, const Glyphs& g) {
  c.box(r, fit("Temperature " + format_temp(m.temp_c, g), r.w - 4, g), g);
  PlotOptions options;
  options.label_width = 5;
  options.x_unit = "time";
  options.x_format = [](double s) { return common::format_duration(s); };
  options.y_format = [](double y) { return format_number(y, 0); };
  std::vector<PlotThreshold> thresholds;
  if (!std::isnan(m.temp_warn_c)) thresholds.push_back({m.temp_warn_c, Style::kWarn});
  if (!std::isnan(m.temp_hot_c)) thresholds.push_back({m.temp_hot_c, Style::kAlert});
  if (!std::isnan(m.temp_crit_c)) thresholds.push_back({m.temp_crit_c, Style::kAlert});
  draw_plot(c, inner(r), {{&m.temp_time_s, &m.temp_values_c, false, Style::kNormal}}, thresholds, options, g);
}

void draw_governor(Canvas& c, const Rect& r, const DashboardModel& m, const Glyphs& g) {
  c.box(r, "Governor", g);
  Rect in = inner(r);
  std::string state = m.governor_state.empty() ? "--" : m.governor_state;
  Style style = (state == "normal" || state == "--") ? Style::kGood : Style::kWarn;
  c.put(in.x, in.y, "state ", Style::kDim);
  c.put(in.x + 6, in.y, fit(state, in.w - 6, g), style);
  // Newest decision first, as many as fit.
  int row = 1;
  for (auto it = m.governor_decisions.rbegin(); it != m.governor_decisions.rend() && row < in.h; ++it, ++row) {
    c.put(in.x, in.y + row, hh_mm(it->time_s) + " ", Style::kDim);
    c.put(in.x + 6, in.y + row, fit(it->text, in.w - 6, g));
  }
  if (m.governor_decisions.empty() && in.h > 1) c.put(in.x, in.y + 1, fit("no decisions yet", in.w, g), Style::kDim);
}

// "read 12.0 MiB/s, 40 faults/s" from the last step's disk reads, the faults left out when that
// is wider than `width`; "" when unknown.
std::string disk_reads_text(const DashboardModel& m, int width) {
  std::string read, faults;
  if (std::isfinite(m.disk_read_bytes_per_s))
    read = "read " + common::format_bytes(static_cast<uint64_t>(m.disk_read_bytes_per_s)) + "/s";
  if (std::isfinite(m.major_faults_per_s)) faults = format_number(m.major_faults_per_s, 0) + " faults/s";
  if (read.empty() || faults.empty()) return read + faults;
  const std::string both = read + ", " + faults;
  return static_cast<int>(both.size()) <= width ? both : read;
}

void draw_memory(Canvas& c, const Rect& r, const DashboardModel& m, const Glyphs& g) {
  c.box(r, "Memory", g);
  Rect in = inner(r);
  uint64_t scale = std::max({m.budget_bytes, m.rss_bytes, m.planned_bytes, uint64_t{1}});
  struct Row { const char* label; uint64_t bytes; Style style; } rows[] = {
      {"rss", m.rss_bytes, Style::kBold}, {"plan", m.planned_bytes, Style::kNormal}, {"budget", m.budget_bytes, Style::kDim}};
  const int label_w = 7, value_w = 10;
  int bar_w = std::max(0, in.w - label_w - value_w);
  int row = 0;
  for (const Row& rw : rows) {
    if (row >= in.h) break;
    std::string value = rw.bytes ? common::format_bytes(rw.bytes) : "--";
    c.put(in.x, in.y + row, rw.label, Style::kDim);
    if (bar_w > 0) c.put(in.x + label_w, in.y + row, bar(static_cast<double>(rw.bytes) / scale, bar_w, g), rw.style);
    c.put(in.x + label_w + bar_w, in.y + row, pad_left(value, value_w, g), rw.style);
    ++row;
  }
  if (row < in.h) {
    std::string verdict;
    Style style = Style::kGood;
    if (m.budget_bytes && m.rss_bytes > m.budget_bytes) {
      verdict = "OVER BUDGET";
      style = Style::kAlert;
    } else if (m.planned_bytes && m.rss_bytes) {
      double ratio = static_cast<double>(m.rss_bytes) / static_cast<double>(m.planned_bytes);
      verdict = "rss/plan " + format_percent(ratio);
      if (ratio > 1.05) style = Style::kWarn;
    }
    // A base streamed from disk: its reads matter more than the ratio when only one line is left.
    const std::string disk = disk_reads_text(m, in.w);
    const bool reading = !disk.empty() && (m.disk_read_bytes_per_s >= 1e6 || m.major_faults_per_s >= 10);
    if (reading && row + 1 >= in.h && style != Style::kAlert) {  // OVER BUDGET keeps its line
      verdict = disk;
      style = Style::kWarn;
    }
    c.put(in.x, in.y + row, fit(verdict, in.w, g), style);
    ++row;
    if (row < in.h && !disk.empty()) c.put(in.x, in.y + row, fit(disk, in.w, g), reading ? Style::kWarn : Style::kDim);
  }
}

void draw_knobs(Canvas& c, const Rect& r, const DashboardModel& m, const Glyphs& g) {
  c.box(r, "Knobs", g);
  Rect in = inner(r);
  struct Row { const char* label; std::string value; const std::vector<double>* series; } rows[] = {
      {"rank", m.lora_rank > 0 ? std::to_string(m.lora_rank) : "--", &m.rank_series},
      {"threads", m.threads > 0 ? std::to_string(m.threads) : "--", &m.threads_series},
      {"duty", std::isnan(m.duty) ? "--" : format_number(m.duty * 100.0, 0) + "%", &m.duty_series},
  };
  const int label_w = 8, value_w = 6;
  int row = 0;
  for (const Row& rw : rows) {
    if (row >= in.h) break;
    c.put(in.x, in.y + row, rw.label, Style::kDim);
    c.put(in.x + label_w, in.y + row, pad_left(rw.value, value_w - 1, g), Style::kBold);
    c.put(in.x + label_w + value_w, in.y + row, sparkline(*rw.series, in.w - label_w - value_w, g));
    ++row;
  }
}

void draw_throughput(Canvas& c, const Rect& r, const DashboardModel& m, const Glyphs& g) {
  c.box(r, "Tokens/s", g);
  Rect in = inner(r);
  std::string rate = format_rate(m.tokens_per_s) + " tok/s";
  if (std::isfinite(m.trained_tokens_per_s)) rate += ", " + format_rate(m.trained_tokens_per_s) + " trained";
  c.put(in.x, in.y, fit(rate, in.w, g), Style::kBold);
  const std::vector<double>& s = m.tokens_per_s_series;
  double lo = INFINITY, hi = -INFINITY;
  for (double v : s) {
    if (std::isfinite(v)) { lo = std::min(lo, v); hi = std::max(hi, v); }
  }
  if (in.h >= 5) {
    // Room for a real plot (larger terminals): tokens/s over the recent steps.
    std::vector<double> index(s.size());
    for (size_t i = 0; i < s.size(); ++i) index[i] = static_cast<double>(i);
    PlotOptions options;
    options.label_width = 6;
    options.y_format = [](double v) { return format_rate(v); };
    options.x_format = [](double) { return std::string(); };
    draw_plot(c, {in.x, in.y + 1, in.w, in.h - 2}, {{&index, &s, false, Style::kGood}}, {}, options, g);
  } else if (in.h >= 2) {
    c.put(in.x, in.y + 1, sparkline(s, in.w, g), Style::kGood);
  }
  if (in.h >= 3 && lo <= hi) {
    c.put(in.x, in.y + in.h - 1, fit("min " + format_rate(lo) + "  max " + format_rate(hi), in.w, g), Style::kDim);
  }
}

void draw_events(Canvas& c, const Rect& r, const DashboardModel& m, const Glyphs& g) {
  c.box(r, "Events", g);
  Rect in = inner(r);
  // The newest at the bottom, like a log.
  int n = std::min<int>(in.h, static_cast<int>(m.events.size()));
  for (int i = 0; i < n; ++i) {
    const TimedText& e = m.events[m.events.size() - n + i];
    std::string head = format_clock(e.time_s) + " ";
    c.put(in.x, in.y + i, head, Style::kDim);
    int x = in.x + display_width(head);
    int kw = c.put(x, in.y + i, fit(e.kind, 11, g), event_style(e.kind));
    x += kw + 1;
    c.put(x, in.y + i, fit(e.text, in.right() - x, g));
  }
  if (m.events.empty() && in.h > 0) c.put(in.x, in.y, "no events yet", Style::kDim);
}

void draw_footer(Canvas& c, const Rect& r, const DashboardModel& m, const ViewState& v, const Glyphs& g) {
  if (v.confirm_stop) {
    // The question replaces the key list until it is answered.
    c.put(r.x, r.y, fit("stop the run (checkpoint, then quit)? y/n", r.w, g), Style::kAlert);
    return;
  }
  std::vector<Item> keys = {{m.paused ? "p resume" : "p pause"}, {"c checkpoint"}, {"s stop"}};
  if (v.attached) keys.push_back({"q leave"});
  if (v.attached) keys.push_back({"d detach"});
  keys.push_back({"l log"});
  keys.push_back({"? help"});
  put_items(c, r.x, r.y, r.w, keys);
  c.set_style({r.x, r.y, r.w, 1}, Style::kInverse);
  std::string right = !m.notice.empty() ? m.notice : v.message;
  if (m.pending_commands > 0 && m.notice.empty()) right += (right.empty() ? "" : "  ") + std::string("pending ") + std::to_string(m.pending_commands);
  if (!right.empty()) {
    right = fit(right, r.w / 2, g);
    c.put(r.right() - display_width(right), r.y, right, m.notice.empty() ? Style::kInverse : Style::kAlert);
  }
}

void draw_help(Canvas& c, const ViewState& v, const Glyphs& g) {
  std::vector<std::string> lines = {
      "p   pause / resume training",
      "c   write a checkpoint now",
      "s   checkpoint and stop the run (y/n)",
  };
  if (v.attached) {
    lines.push_back("q   leave this view, the run goes on");
    lines.push_back("d   the same as q");
  } else {
    lines.push_back("q   the same as s in this dashboard");
  }
  lines.push_back("l   log scale for the loss plot");
  lines.push_back("?   show / hide this help");
  lines.push_back("");
  lines.push_back("any key closes this help");
  int w = 44, h = static_cast<int>(lines.size()) + 2;
  Rect box{(c.width() - w) / 2, (c.height() - h) / 2, w, h};
  c.fill(box, " ");
  c.box(box, "Help", g);
  for (size_t i = 0; i < lines.size(); ++i) c.put(box.x + 2, box.y + 1 + static_cast<int>(i), lines[i]);
}

}  // namespace

Canvas render_screen(const DashboardModel& model, const ViewState& view, int width, int height) {
  Canvas c(width, height);
  const Glyphs& g = view.ascii ? ascii_glyphs() : unicode_glyphs();
  Layout l = compute_layout(width, height);
  if (l.too_small) {
    std::string msg = "terminal " + std::to_string(width) + "x" + std::to_string(height) + " is too small: need " +
                      std::to_string(kMinWidth) + "x" + std::to_string(kMinHeight);
    c.put(0, height / 2, fit(msg, width, g), Style::kAlert);
    c.put(0, height / 2 + 1, fit("q quit", width, g), Style::kDim);
    return c;
  }
  draw_run(c, l.run, model, g);
  draw_loss(c, l.loss, model, view, g);
  draw_temperature(c, l.temperature, model, g);
  draw_governor(c, l.governor, model, g);
  draw_memory(c, l.memory, model, g);
  draw_knobs(c, l.knobs, model, g);
  draw_throughput(c, l.throughput, model, g);
  draw_events(c, l.events, model, g);
  draw_footer(c, l.footer, model, view, g);
  if (view.show_help) draw_help(c, view, g);
  return c;
}

}  // namespace tui
