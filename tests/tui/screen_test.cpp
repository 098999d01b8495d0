// Tests for the rendered dashboard without a terminal: at 80x24 and larger every panel is there
// with the snapshot's values, every row fits the width, the help overlay and the too-small
// message, ASCII mode uses no multi-byte glyphs, and the layout tiles the screen.
#include <gtest/gtest.h>

#include <cmath>

#include "tui/layout.h"
#include "tui/screen.h"

namespace {

tui::DashboardModel sample_model() {
  tui::DashboardModel m;
  m.run_name = "shakespeare";
  m.status = "running";
  m.model = "tiny-attn";
  m.step = 1234;
  m.total_steps = 5000;
  m.tokens = 1234 * 1024;
  m.elapsed_s = 725;
  m.eta_s = 2200;
  m.loss = 2.345;
  m.val_loss = 2.401;
  m.lr = 3e-4;
  m.tokens_per_s = 1730;
  m.temp_c = 71.3;
  for (int i = 0; i <= 1234; i += 10) {
    m.loss_steps.push_back(i);
    m.loss_values.push_back(2.3 + 2.0 * std::exp(-i / 300.0));
    if (i % 200 == 0) {
      m.val_steps.push_back(i);
      m.val_values.push_back(2.4 + 2.0 * std::exp(-i / 300.0));
    }
    m.temp_time_s.push_back(i * 0.6);
    m.temp_values_c.push_back(55 + 16.0 * i / 1234);
    m.tokens_per_s_series.push_back(1700 + (i % 50));
    m.rank_series.push_back(i < 800 ? 16 : 8);
    m.threads_series.push_back(2);
    m.duty_series.push_back(1.0);
  }
  m.temp_warn_c = 75;
  m.temp_hot_c = 85;
  m.temp_crit_c = 95;
  m.governor_state = "throttle";
  m.governor_decisions.push_back({1.7e9, "governor", "rank 16->8 at 76.1C"});
  m.rss_bytes = 812ull << 20;
  m.planned_bytes = 900ull << 20;
  m.budget_bytes = 8ull << 30;
  m.lora_rank = 8;
  m.threads = 2;
  m.duty = 1.0;
  m.events.push_back({1.7e9, "checkpoint", "step 1000: ckpt/step_1000"});
  m.events.push_back({1.7e9 + 5, "governor", "rank 16->8 at 76.1C"});
  return m;
}

bool contains(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

TEST(Layout, TilesTheScreenAt80x24AndLarger) {
  for (auto [w, h] : {std::pair{80, 24}, {120, 40}, {100, 30}, {200, 60}}) {
    tui::Layout l = tui::compute_layout(w, h);
    ASSERT_FALSE(l.too_small);
    std::vector<int> covered(static_cast<size_t>(w) * h, 0);
    for (const tui::Rect& r : {l.run, l.loss, l.temperature, l.governor, l.memory, l.knobs, l.throughput, l.events,
                               l.footer}) {
      EXPECT_GE(r.w, 20) << w << "x" << h;
      EXPECT_GE(r.h, 1);
      for (int y = r.y; y < r.bottom(); ++y)
        for (int x = r.x; x < r.right(); ++x) covered[static_cast<size_t>(y) * w + x]++;
    }
    for (int c : covered) ASSERT_EQ(c, 1) << "panels overlap or leave holes at " << w << "x" << h;
    EXPECT_GE(l.loss.h, 8);
    EXPECT_GE(l.events.h, 5);
  }
  EXPECT_TRUE(tui::compute_layout(79, 24).too_small);
  EXPECT_TRUE(tui::compute_layout(80, 23).too_small);
}

TEST(Screen, EveryPanelAndValueAt80x24) {
  tui::Canvas c = tui::render_screen(sample_model(), {}, 80, 24);
  std::string text = c.to_text();
  for (const char* title : tui::kPanelTitles) EXPECT_TRUE(contains(text, title)) << title << "\n" << text;
  for (const char* value : {"shakespeare", "RUNNING", "step 1234/5000", "24.7%", "2.345", "2.401", "71.3°C",
                            "throttle", "812.0 MiB", "900.0 MiB", "8.00 GiB", "1.73K", "checkpoint",
                            "rank 16->8", "ETA 36m40s", "p pause"}) {
    EXPECT_TRUE(contains(text, value)) << value << "\n" << text;
  }
  for (int y = 0; y < 24; ++y) EXPECT_EQ(tui::display_width(c.row_text(y)), 80);
  // Thresholds are labelled on the temperature axis.
  EXPECT_TRUE(contains(text, "75"));
  EXPECT_TRUE(contains(text, "85"));
}

TEST(Screen, PausedAndFinishedStates) {
  tui::DashboardModel m = sample_model();
  m.paused = true;
  m.status = "paused";
  std::string text = tui::render_screen(m, {}, 80, 24).to_text();
  EXPECT_TRUE(contains(text, "PAUSED"));
  EXPECT_TRUE(contains(text, "p resume"));
  m.paused = false;
  m.finished = true;
  m.status = "stopped";
  text = tui::render_screen(m, {}, 80, 24).to_text();
  EXPECT_TRUE(contains(text, "STOPPED"));
  EXPECT_TRUE(contains(text, "ETA --"));  // stopped before the end: nothing is "done"
  m.status = "finished";
  text = tui::render_screen(m, {}, 80, 24).to_text();
  EXPECT_TRUE(contains(text, "ETA done"));
}

TEST(Screen, LargerTerminalShowsMoreEvents) {
  tui::DashboardModel m = sample_model();
  m.events.clear();
  for (int i = 0; i < 20; ++i) m.events.push_back({1.7e9 + i, "eval", "event number " + std::to_string(i)});
  std::string small = tui::render_screen(m, {}, 80, 24).to_text();
  std::string large = tui::render_screen(m, {}, 120, 40).to_text();
  EXPECT_TRUE(contains(small, "event number 19"));  // the newest is always shown
  EXPECT_FALSE(contains(small, "event number 10"));
  EXPECT_TRUE(contains(large, "event number 10"));
  for (const char* title : tui::kPanelTitles) EXPECT_TRUE(contains(large, title)) << title;
}

TEST(Screen, MemoryPanelShowsDiskReadsOfAStreamedBase) {
  tui::DashboardModel m = sample_model();
  std::string text = tui::render_screen(m, {}, 80, 24).to_text();
  EXPECT_FALSE(contains(text, "faults/s"));  // unknown: nothing drawn
  EXPECT_TRUE(contains(text, "rss/plan"));
  // Reading from disk on a 24-row terminal: the one line left shows the reads, not the ratio.
  m.disk_read_bytes_per_s = 48.0 * (1 << 20);
  m.major_faults_per_s = 310;
  text = tui::render_screen(m, {}, 80, 24).to_text();
  EXPECT_TRUE(contains(text, "read 48.0 MiB/s")) << text;
  EXPECT_FALSE(contains(text, "rss/plan")) << text;
  // With room for both (a taller terminal), the ratio stays and the reads get their own line.
  text = tui::render_screen(m, {}, 120, 40).to_text();
  EXPECT_TRUE(contains(text, "rss/plan")) << text;
  EXPECT_TRUE(contains(text, "read 48.0 MiB/s, 310 faults/s")) << text;
  // A base the page cache holds: nothing read, the ratio keeps the line at 80x24.
  m.disk_read_bytes_per_s = 0;
  m.major_faults_per_s = 0;
  text = tui::render_screen(m, {}, 80, 24).to_text();
  EXPECT_TRUE(contains(text, "rss/plan")) << text;
}

TEST(Screen, TooSmallSaysSo) {
  std::string text = tui::render_screen(sample_model(), {}, 60, 20).to_text();
  EXPECT_TRUE(contains(text, "too small")) << text;
  EXPECT_TRUE(contains(text, "80x24"));
}

TEST(Screen, HelpOverlayListsTheKeys) {
  tui::ViewState view;
  view.show_help = true;
  view.attached = true;
  std::string text = tui::render_screen(sample_model(), view, 80, 24).to_text();
  EXPECT_TRUE(contains(text, "Help"));
  EXPECT_TRUE(contains(text, "pause / resume"));
  EXPECT_TRUE(contains(text, "checkpoint and stop"));
  EXPECT_TRUE(contains(text, "run goes on"));
}

TEST(Screen, AsciiModeIsPlainAscii) {
  tui::ViewState view;
  view.ascii = true;
  std::string text = tui::render_screen(sample_model(), view, 80, 24).to_text();
  for (unsigned char ch : text) ASSERT_LT(ch, 0x80) << "non-ASCII byte in ASCII mode";
  EXPECT_TRUE(contains(text, "71.3C"));
  EXPECT_TRUE(contains(text, "Loss"));
}

TEST(Screen, NoticeAndEmptyModel) {
  tui::DashboardModel empty;
  empty.notice = "run log: disk full";
  std::string text = tui::render_screen(empty, {}, 80, 24).to_text();
  EXPECT_TRUE(contains(text, "no data"));
  EXPECT_TRUE(contains(text, "disk full"));
  EXPECT_TRUE(contains(text, "no events yet"));
}

}  // namespace
