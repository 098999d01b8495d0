// Tests for the dashboard key map: the commands each key sends, the reactions the loop gets, and
// the help overlay swallowing the key that closes it.
#include <gtest/gtest.h>

#include "tui/keys.h"

namespace {

using tui::Command;

std::vector<Command> drain(tui::CommandQueue& q) {
  std::vector<Command> out;
  while (auto c = q.try_pop()) out.push_back(*c);
  return out;
}

TEST(Keys, PauseTogglesByTheSnapshot) {
  tui::DashboardModel m;
  tui::ViewState v;
  tui::CommandQueue q;
  EXPECT_TRUE(tui::handle_key('p', m, v, q) & tui::kReactResample);
  m.paused = true;
  tui::handle_key('p', m, v, q);
  EXPECT_EQ(drain(q), (std::vector<Command>{Command::kPause, Command::kResume}));
  EXPECT_EQ(v.message, "sent: resume");
}

TEST(Keys, CheckpointAndNothingAfterTheRunEnded) {
  tui::DashboardModel m;
  tui::ViewState v;
  tui::CommandQueue q;
  tui::handle_key('c', m, v, q);
  EXPECT_EQ(drain(q), (std::vector<Command>{Command::kCheckpoint}));
  m.finished = true;
  tui::handle_key('c', m, v, q);
  tui::handle_key('p', m, v, q);
  EXPECT_TRUE(q.empty());
}

TEST(Keys, QuitAsksTheRunToStopThenLeaves) {
  tui::DashboardModel m;
  tui::ViewState v;
  tui::CommandQueue q;
  unsigned r = tui::handle_key('q', m, v, q);
  EXPECT_FALSE(r & tui::kReactQuit);  // waits for the run to end
  EXPECT_TRUE(v.quit_requested);
  EXPECT_EQ(drain(q), (std::vector<Command>{Command::kQuit}));
  EXPECT_TRUE(tui::handle_key('q', m, v, q) & tui::kReactQuit);  // second q: leave now
  EXPECT_TRUE(q.empty());

  tui::ViewState fresh;
  m.finished = true;  // nothing to stop: q just leaves
  EXPECT_TRUE(tui::handle_key('q', m, fresh, q) & tui::kReactQuit);
  EXPECT_TRUE(q.empty());
  m.finished = false;
  m.live = false;  // the trainer is gone: nobody would answer
  EXPECT_TRUE(tui::handle_key('q', m, fresh, q) & tui::kReactQuit);
}

TEST(Keys, DetachOnlyWhenAttached) {
  tui::DashboardModel m;
  tui::ViewState v;
  tui::CommandQueue q;
  EXPECT_EQ(tui::handle_key('d', m, v, q), tui::kReactNone);
  v.attached = true;
  EXPECT_TRUE(tui::handle_key('d', m, v, q) & tui::kReactDetach);
}

TEST(Keys, HelpSwallowsTheClosingKey) {
  tui::DashboardModel m;
  tui::ViewState v;
  tui::CommandQueue q;
  tui::handle_key('?', m, v, q);
  EXPECT_TRUE(v.show_help);
  EXPECT_EQ(tui::handle_key('p', m, v, q), tui::kReactRedraw);
  EXPECT_FALSE(v.show_help);
  EXPECT_TRUE(q.empty());
  tui::handle_key('l', m, v, q);
  EXPECT_TRUE(v.log_scale);
  EXPECT_EQ(tui::handle_key(tui::kKeyResize, m, v, q), tui::kReactRedraw);
  EXPECT_EQ(tui::handle_key('x', m, v, q), tui::kReactNone);
}

}  // namespace
