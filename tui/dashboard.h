// The interactive dashboard: an ncurses loop that samples a snapshot a few times a second, draws
// it (render_screen), and turns keys into Commands on a queue. It never calls into the trainer
// and never samples while drawing.
//
// Threading: run_dashboard() owns the terminal and runs on the calling thread until it returns.
// In-process (`train --tui`), run it on its own thread: the training loop publishes snapshots to
// a SnapshotMailbox (sample = [&]{ return mailbox.latest(); }) and drains the CommandQueue between
// steps; set `stop` to end the dashboard when training ends. Attached (`top`), `sample` reads the
// run log and forwards queued commands to its control table.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "common/status.h"
#include "tui/dashboard_model.h"

namespace tui {

// Returns the newest snapshot, or nullptr to keep showing the previous one. Called on the
// dashboard's thread once per refresh period, before drawing.
using SnapshotFn = std::function<std::shared_ptr<const DashboardModel>()>;

struct DashboardOptions {
  int refresh_ms = 250;        // sampling and redraw period (4 per second)
  bool attached = false;       // `nightshift top`: offers 'd' (detach)
  // SIGINT/SIGTERM/SIGHUP end the dashboard (kInterrupted). Turn off in-process when the app has
  // its own handlers for these; fatal signals (SEGV, ABRT, BUS, FPE, ILL) always restore the
  // terminal before the process dies.
  bool handle_interrupt_signals = true;
  bool ascii = false;          // force ASCII glyphs (otherwise chosen by the locale's codeset)
  bool color = true;           // colours when the terminal has them and NO_COLOR is unset
  bool log_scale = false;      // start with the loss plot on a log scale
};

enum class DashboardExit {
  kQuit,         // 'q' and the run ended (or 'q' twice, or the run was already over)
  kDetached,     // 'd': the run goes on
  kInterrupted,  // SIGINT/SIGTERM/SIGHUP
  kStopped,      // the caller set `stop`
};

// Run until one of the exits above. Restores the terminal on every path out, including signals.
// Errors: Unavailable when stdin/stdout is not a terminal or the terminal cannot be initialised.
// One dashboard per process at a time.
common::Result<DashboardExit> run_dashboard(const SnapshotFn& sample, CommandQueue& commands,
                                            const DashboardOptions& options = {},
                                            const std::atomic<bool>* stop = nullptr);

}  // namespace tui
