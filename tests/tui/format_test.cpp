// Tests for the dashboard's pure formatting: numbers, bars, sparklines, truncation, the canvas
// and the braille/ASCII plots (thresholds, log scale, markers).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "tui/canvas.h"
#include "tui/dashboard_model.h"
#include "tui/format.h"
#include "tui/plot.h"
#include "tui/series.h"

namespace {

const tui::Glyphs& U = tui::unicode_glyphs();
const tui::Glyphs& A = tui::ascii_glyphs();

TEST(Format, Numbers) {
  EXPECT_EQ(tui::format_loss(2.34567), "2.346");
  EXPECT_EQ(tui::format_loss(0.012345), "0.01235");
  EXPECT_EQ(tui::format_loss(12.5), "12.50");
  EXPECT_EQ(tui::format_loss(NAN), "--");
  EXPECT_EQ(tui::format_temp(71.34, U), "71.3°C");
  EXPECT_EQ(tui::format_temp(71.34, A), "71.3C");
  EXPECT_EQ(tui::format_rate(1730), "1.73K");
  EXPECT_EQ(tui::format_rate(25300), "25.3K");
  EXPECT_EQ(tui::format_rate(950), "950");
  EXPECT_EQ(tui::format_rate(2.5e6), "2.50M");
  EXPECT_EQ(tui::format_lr(3e-4), "3.0e-04");
  EXPECT_EQ(tui::format_percent(0.2468), "24.7%");
  EXPECT_EQ(tui::format_percent(NAN), "--");
}

TEST(Format, FitAndPad) {
  EXPECT_EQ(tui::fit("hello world", 5, U), "hell…");
  EXPECT_EQ(tui::fit("hello world", 5, A), "hell~");
  EXPECT_EQ(tui::fit("hi", 5, U), "hi");
  EXPECT_EQ(tui::pad_right("ab", 4, U), "ab  ");
  EXPECT_EQ(tui::pad_left("ab", 4, U), "  ab");
  EXPECT_EQ(tui::display_width("71.3°C"), 6);
}

TEST(Format, Bars) {
  EXPECT_EQ(tui::bar(0.5, 4, A), "##..");
  EXPECT_EQ(tui::bar(1.5, 4, A), "####");
  EXPECT_EQ(tui::bar(-1, 4, A), "....");
  EXPECT_EQ(tui::bar(NAN, 3, A), "...");
  EXPECT_EQ(tui::bar(0.5, 4, U), "██░░");
  EXPECT_EQ(tui::bar(0.5625, 4, U), "██▎░");  // 2.25 cells: a quarter block
  EXPECT_EQ(tui::display_width(tui::bar(0.37, 17, U)), 17);
}

TEST(Format, Sparklines) {
  EXPECT_EQ(tui::sparkline({0, 1, 2, 3, 4, 5, 6, 7}, 8, U), "▁▂▃▄▅▆▇█");
  EXPECT_EQ(tui::sparkline({0, 7}, 4, A), "  _#");  // right-aligned when short
  EXPECT_EQ(tui::sparkline({5, 5, 5}, 3, U), "▄▄▄");  // flat: mid height
  // Buckets average: 8 values into 4 cells.
  EXPECT_EQ(tui::sparkline({0, 0, 1, 1, 2, 2, 3, 3}, 4, A), "_:+#");
  EXPECT_EQ(tui::display_width(tui::sparkline(std::vector<double>(1000, 1.0), 10, U)), 10);
}

TEST(Canvas, PutClipsAndBoxes) {
  tui::Canvas c(10, 3);
  EXPECT_EQ(c.put(7, 0, "abcdef"), 3);
  EXPECT_EQ(c.row_text(0), "       abc");
  c.put(0, 1, "a\tb°");
  EXPECT_EQ(c.glyph(1, 1), " ");
  EXPECT_EQ(c.glyph(3, 1), "°");
  tui::Canvas b(8, 3);
  b.box({0, 0, 8, 3}, "Mem", A);
  EXPECT_EQ(b.to_text(), "+ Mem -+\n|      |\n+------+");
}

TEST(Plot, RisingLineGoesUpAndThresholdsAreLabelled) {
  std::vector<double> x, y;
  for (int i = 0; i < 40; ++i) {
    x.push_back(i);
    y.push_back(50 + i);
  }
  tui::Canvas c(30, 8);
  tui::PlotOptions o;
  o.label_width = 4;
  o.y_format = [](double v) { return std::to_string(static_cast<int>(std::lround(v))); };
  tui::PlotRange range = tui::draw_plot(c, {0, 0, 30, 8}, {{&x, &y}}, {{95.0, tui::Style::kAlert}}, o, A);
  EXPECT_FALSE(range.empty);
  EXPECT_DOUBLE_EQ(range.y_hi, 95.0);  // the threshold widens the range
  // Data starts bottom-left and rises to the right.
  EXPECT_EQ(c.glyph(4, 6), "*");
  EXPECT_NE(c.row_text(0).find("95"), std::string::npos);
  EXPECT_NE(c.row_text(0).find("-"), std::string::npos);  // the threshold line on the top row
  EXPECT_NE(c.row_text(6).find("50"), std::string::npos);
  // Bottom row: x labels.
  EXPECT_EQ(c.row_text(7).substr(4, 1), "0");
  EXPECT_NE(c.row_text(7).find("39"), std::string::npos);
}

TEST(Plot, BrailleDotsAndMarkers) {
  std::vector<double> x = {0, 1}, y = {0, 1}, mx = {1}, my = {1};
  tui::Canvas c(12, 3);
  tui::PlotOptions o;
  o.label_width = 0;
  tui::draw_plot(c, {0, 0, 12, 3}, {{&x, &y}, {&mx, &my, true}}, {}, o, U);
  // The bottom-left cell holds the line's first two dots, both on the lowest braille row
  // (bits 0x40 and 0x80): U+28C0.
  EXPECT_EQ(c.glyph(0, 1), "\u28C0");
  EXPECT_EQ(c.glyph(11, 0), "•");  // the marker sits on the last point
}

TEST(Plot, LogScaleSpreadsDecades) {
  std::vector<double> x = {0, 1, 2}, y = {100, 10, 1};
  tui::Canvas c(20, 6);
  tui::PlotOptions o;
  o.log_y = true;
  o.label_width = 5;
  tui::PlotRange r = tui::draw_plot(c, {0, 0, 20, 6}, {{&x, &y}}, {}, o, A);
  EXPECT_DOUBLE_EQ(r.y_hi, 2.0);
  EXPECT_DOUBLE_EQ(r.y_lo, 0.0);
  EXPECT_NE(c.row_text(0).find("100"), std::string::npos);
  // The middle point (10) lands in the middle row of five.
  EXPECT_EQ(c.glyph(5 + 7, 2), "*");
}

TEST(Plot, EmptySeriesSaysNoData) {
  std::vector<double> none;
  tui::Canvas c(20, 4);
  tui::PlotRange r = tui::draw_plot(c, {0, 0, 20, 4}, {{&none, &none}}, {}, {}, U);
  EXPECT_TRUE(r.empty);
  EXPECT_NE(c.to_text().find("no data"), std::string::npos);
}

TEST(Queue, CommandsAndSnapshotsHandOver) {
  tui::CommandQueue q;
  EXPECT_TRUE(q.empty());
  q.push(tui::Command::kPause);
  q.push(tui::Command::kQuit);
  EXPECT_EQ(q.try_pop(), tui::Command::kPause);
  EXPECT_EQ(q.try_pop(), tui::Command::kQuit);
  EXPECT_FALSE(q.try_pop().has_value());
  tui::SnapshotMailbox box;
  EXPECT_EQ(box.latest(), nullptr);
  tui::DashboardModel m;
  m.step = 7;
  box.publish(m);
  auto snap = box.latest();
  m.step = 8;
  box.publish(m);
  EXPECT_EQ(snap->step, 7);  // a taken snapshot never changes
  EXPECT_EQ(box.latest()->step, 8);
  EXPECT_STREQ(tui::command_name(tui::Command::kCheckpoint), "checkpoint");
}

}  // namespace

namespace {

TEST(Series, DecimateKeepsExtremesInOrder) {
  std::vector<double> x, y;
  for (int i = 0; i < 10000; ++i) {
    x.push_back(i);
    y.push_back(i == 4321 ? 50.0 : (i == 777 ? -5.0 : 1.0));
  }
  std::vector<double> ox, oy;
  tui::decimate_minmax(x, y, 100, ox, oy);
  EXPECT_LE(ox.size(), 100u);
  EXPECT_TRUE(std::is_sorted(ox.begin(), ox.end()));
  EXPECT_NE(std::find(oy.begin(), oy.end(), 50.0), oy.end());
  EXPECT_NE(std::find(oy.begin(), oy.end(), -5.0), oy.end());
  tui::decimate_minmax({1, 2}, {3, 4}, 100, ox, oy);
  EXPECT_EQ(oy, (std::vector<double>{3, 4}));
  EXPECT_EQ(tui::tail({1, 2, 3, 4}, 2), (std::vector<double>{3, 4}));
  EXPECT_EQ(tui::tail({1}, 5), (std::vector<double>{1}));
}

}  // namespace
