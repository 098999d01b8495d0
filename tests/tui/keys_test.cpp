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

TEST(Keys, StopAsksForConfirmation) {
  tui::DashboardModel m;
  tui::ViewState v;
  tui::CommandQueue q;
  unsigned r = tui::handle_key('s', m, v, q);
  EXPECT_FALSE(r & tui::kReactQuit);
  EXPECT_TRUE(v.confirm_stop);
  EXPECT_TRUE(q.empty()) << "s alone must not stop the run";
  tui::handle_key('n', m, v, q);  // anything but y cancels
  EXPECT_FALSE(v.confirm_stop);
  EXPECT_FALSE(v.quit_requested);
  EXPECT_TRUE(q.empty());
  tui::handle_key('S', m, v, q);
  r = tui::handle_key('y', m, v, q);
  EXPECT_FALSE(r & tui::kReactQuit);  // waits for the run to end
  EXPECT_TRUE(v.quit_requested);
  EXPECT_EQ(drain(q), (std::vector<Command>{Command::kQuit}));

  tui::ViewState fresh;
  m.finished = true;  // nothing to stop
  tui::handle_key('s', m, fresh, q);
  EXPECT_FALSE(fresh.confirm_stop);
  EXPECT_TRUE(q.empty());
}

TEST(Keys, QLeavesTheViewerAndNeverStopsTheRun) {
  tui::DashboardModel m;
  tui::ViewState v;
  v.attached = true;  // `nightshift top`
  tui::CommandQueue q;
  EXPECT_TRUE(tui::handle_key('q', m, v, q) & tui::kReactQuit);
  EXPECT_TRUE(q.empty()) << "q in top sent a command to the trainer";
  EXPECT_FALSE(v.quit_requested);
  EXPECT_TRUE(tui::handle_key('Q', m, v, q) & tui::kReactQuit);
  EXPECT_TRUE(q.empty());
}

TEST(Keys, QInTheTrainersOwnDashboardAsksLikeS) {
  tui::DashboardModel m;
  tui::ViewState v;  // train --tui: leaving the dashboard would end the run
  tui::CommandQueue q;
  EXPECT_FALSE(tui::handle_key('q', m, v, q) & tui::kReactQuit);
  EXPECT_TRUE(v.confirm_stop);
  EXPECT_TRUE(q.empty());
  tui::handle_key('y', m, v, q);
  EXPECT_EQ(drain(q), (std::vector<Command>{Command::kQuit}));
  tui::ViewState fresh;
  m.live = false;  // the trainer is gone: q just leaves
  EXPECT_TRUE(tui::handle_key('q', m, fresh, q) & tui::kReactQuit);
  EXPECT_TRUE(q.empty());
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
