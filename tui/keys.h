// Key handling of the dashboard as a pure function: a key plus the current snapshot and view
// state give commands (pushed to the queue) and a set of reactions for the loop (htop style bit
// flags). No ncurses: the loop maps terminal keys to these plain codes first.
#pragma once

#include "tui/dashboard_model.h"
#include "tui/screen.h"

namespace tui {

// Reactions, combined with |. The loop redraws, samples again soon or leaves.
enum Reaction : unsigned {
  kReactNone = 0,
  kReactRedraw = 1u << 0,    // the view changed
  kReactResample = 1u << 1,  // a command went out: look at the run again soon
  kReactQuit = 1u << 2,      // leave: 'q' in a viewer, or the run is over
  kReactDetach = 1u << 3,    // leave: the run goes on (attached view)
};

// Plain key codes besides printable ASCII.
inline constexpr int kKeyResize = -2;
inline constexpr int kKeyRefresh = 12;  // Ctrl-L

// Keys: p pause/resume (by the snapshot's paused flag), c checkpoint, s stop the run (checkpoint
// and quit) after a y/n confirmation (y stops, any other key cancels; the dashboard leaves once
// the run has ended), q leave (`top`: the run goes on; the trainer's own dashboard asks like s),
// d detach (attached only), l log scale, ? help. While the help is shown any key just closes it.
unsigned handle_key(int key, const DashboardModel& model, ViewState& view, CommandQueue& out);

}  // namespace tui
