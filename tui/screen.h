// The whole dashboard as a function of (snapshot, view state, size): every panel, the footer and
// the help overlay rendered into a Canvas. Pure, so it is tested without a terminal and also
// powers `nightshift top --print`. The ncurses loop (dashboard.cpp) only copies the result.
#pragma once

#include <string>

#include "tui/canvas.h"
#include "tui/dashboard_model.h"

namespace tui {

// What belongs to the person looking, not to the run.
struct ViewState {
  bool log_scale = false;       // loss plot on a log10 axis ('l')
  bool show_help = false;       // help overlay ('?')
  bool ascii = false;           // no UTF-8: ASCII glyphs
  bool attached = false;        // `nightshift top`: offers 'd' (detach)
  bool confirm_stop = false;    // 's' pressed: the footer asks "stop the run? y/n"
  bool quit_requested = false;  // stop confirmed and sent, waiting for the run to end
  std::string message;          // the footer's last feedback ("sent: pause")
};

// Panel titles, in drawing order (tests look for them).
inline constexpr const char* kPanelTitles[] = {"Run", "Loss", "Temperature", "Governor",
                                               "Memory", "Knobs", "Tokens/s", "Events"};

Canvas render_screen(const DashboardModel& model, const ViewState& view, int width, int height);

}  // namespace tui
