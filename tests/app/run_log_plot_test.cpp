// Tests for the run log's export formats (CSV, JSON) and the SVG chart renderer: escaping, ticks,
// series as polylines with gaps, and a well-formed document (checked by a small tag-balance parser;
// the integration test also parses it with Python's xml.etree).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <regex>

#include "app/runlog/run_log_export.h"
#include "app/runlog/svg_plot.h"

namespace {

// Tag balance and attribute quoting: enough to catch broken markup, not a full XML parser.
bool well_formed(const std::string& doc, std::string* why) {
  std::vector<std::string> stack;
  size_t i = 0;
  int roots = 0;
  while ((i = doc.find('<', i)) != std::string::npos) {
    size_t end = doc.find('>', i);
    if (end == std::string::npos) { *why = "unterminated tag"; return false; }
    std::string tag = doc.substr(i + 1, end - i - 1);
    if (std::count(tag.begin(), tag.end(), '"') % 2 != 0) { *why = "odd quotes in <" + tag + ">"; return false; }
    if (tag.rfind("?", 0) == 0 || tag.rfind("!", 0) == 0) {
    } else if (tag[0] == '/') {
      if (stack.empty() || stack.back() != tag.substr(1)) { *why = "mismatched </" + tag.substr(1) + ">"; return false; }
      stack.pop_back();
    } else {
      std::string name = tag.substr(0, tag.find_first_of(" \n/"));
      if (stack.empty()) ++roots;
      if (tag.back() != '/') stack.push_back(name);
    }
    i = end + 1;
  }
  for (size_t p = 0; (p = doc.find('&', p)) != std::string::npos; ++p) {
    static const char* kEntities[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    bool ok = false;
    for (const char* e : kEntities) ok |= doc.compare(p, std::strlen(e), e) == 0;
    if (!ok) { *why = "bare &"; return false; }
  }
  if (!stack.empty()) { *why = "unclosed <" + stack.back() + ">"; return false; }
  if (roots != 1) { *why = "not one root element"; return false; }
  return true;
}

TEST(RunLogExport, CsvQuotesAndNulls) {
  app::TableData t;
  t.columns = {"id", "loss", "detail", "val_loss"};
  t.rows.push_back({int64_t{1}, 0.1, std::string("plain"), std::monostate{}});
  t.rows.push_back({int64_t{2}, 2.5, std::string("a, \"quoted\"\nline"), 3.0});
  EXPECT_EQ(app::table_to_csv(t),
            "id,loss,detail,val_loss\n"
            "1,0.1,plain,\n"
            "2,2.5,\"a, \"\"quoted\"\"\nline\",3\n");
}

TEST(RunLogExport, JsonKeepsColumnOrderAndTypes) {
  app::TableData t;
  t.columns = {"step", "loss", "governor", "val_loss"};
  t.rows.push_back({int64_t{7}, 1.25, std::string("throttle \"hot\""), std::monostate{}});
  auto parsed = nlohmann::json::parse(app::table_to_json(t));
  ASSERT_TRUE(parsed.is_array());
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0]["step"], 7);
  EXPECT_DOUBLE_EQ(parsed[0]["loss"].get<double>(), 1.25);
  EXPECT_EQ(parsed[0]["governor"], "throttle \"hot\"");
  EXPECT_TRUE(parsed[0]["val_loss"].is_null());
  EXPECT_LT(app::table_to_json(t).find("step"), app::table_to_json(t).find("loss"));
  EXPECT_EQ(nlohmann::json::parse(app::table_to_json(app::TableData{})).size(), 0u);
}

TEST(SvgPlot, NiceTicks) {
  EXPECT_EQ(app::nice_ticks(0, 10, 6), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(app::nice_ticks(0.3, 1.05, 4), (std::vector<double>{0.5, 1.0}));
  auto t = app::nice_ticks(61.2, 88.9, 6);
  ASSERT_FALSE(t.empty());
  EXPECT_GE(t.front(), 61.2);
  EXPECT_LE(t.back(), 88.9);
  EXPECT_TRUE(app::nice_ticks(5, 5, 6).empty());
}

TEST(SvgPlot, EscapesText) {
  EXPECT_EQ(app::xml_escape("a<b & \"c\" 'd'>"), "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;");
}

TEST(SvgPlot, SeriesBecomePolylinesWithGapsAndLegend) {
  app::SvgChart chart;
  chart.title = "Loss <train & val>";
  chart.x_label = "step";
  chart.y_label = "loss";
  app::SvgSeries train;
  train.name = "train loss";
  for (int i = 0; i < 10; ++i) {
    train.x.push_back(i);
    train.y.push_back(i == 5 ? NAN : 4.0 - 0.3 * i);
  }
  chart.series.push_back(train);
  chart.hlines.push_back({3.0, "target", "#000"});
  std::string svg = app::render_svg("run \"demo\"", {chart});

  std::string why;
  EXPECT_TRUE(well_formed(svg, &why)) << why;
  EXPECT_NE(svg.find("Loss &lt;train &amp; val&gt;"), std::string::npos);
  EXPECT_NE(svg.find("data-name=\"train loss\""), std::string::npos);
  EXPECT_NE(svg.find("class=\"legend\""), std::string::npos);
  EXPECT_NE(svg.find(">target<"), std::string::npos);
  // The NaN splits the series: points 0-4 and 6-9.
  std::regex poly("<polyline points=\"([^\"]*)\"");
  std::vector<int> counts;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), poly); it != std::sregex_iterator(); ++it) {
    std::string pts = (*it)[1];
    counts.push_back(static_cast<int>(std::count(pts.begin(), pts.end(), ',')));
  }
  EXPECT_EQ(counts, (std::vector<int>{5, 4}));
}

TEST(SvgPlot, HigherValuesAreHigherOnThePage) {
  app::SvgChart chart;
  app::SvgSeries s;
  s.name = "s";
  s.x = {0, 1, 2};
  s.y = {1.0, 3.0, 2.0};
  chart.series.push_back(s);
  std::string svg = app::render_svg("t", {chart});
  std::smatch m;
  ASSERT_TRUE(std::regex_search(svg, m, std::regex("<polyline points=\"([^\"]*)\"")));
  std::vector<double> ys;
  std::string pts = m[1];
  std::regex pt("([0-9.]+),([0-9.]+)");
  for (auto it = std::sregex_iterator(pts.begin(), pts.end(), pt); it != std::sregex_iterator(); ++it) {
    ys.push_back(std::stod((*it)[2]));
  }
  ASSERT_EQ(ys.size(), 3u);
  EXPECT_LT(ys[1], ys[2]);  // SVG y grows downwards
  EXPECT_LT(ys[2], ys[0]);
}

TEST(SvgPlot, LongSeriesAreDecimatedKeepingExtremes) {
  app::SvgChart chart;
  app::SvgSeries s;
  s.name = "long";
  for (int i = 0; i < 100000; ++i) {
    s.x.push_back(i);
    s.y.push_back(i == 77777 ? 100.0 : 1.0);
  }
  chart.series.push_back(s);
  app::SvgOptions options;
  options.max_points_per_series = 1000;
  std::string svg = app::render_svg("t", {chart}, options);
  EXPECT_LT(svg.size(), 100000u);
  std::string why;
  EXPECT_TRUE(well_formed(svg, &why)) << why;
  // The spike survives: its y is the top of the data range, which sits at the top of the plot.
  EXPECT_NE(svg.find(">100<"), std::string::npos);
}

}  // namespace
