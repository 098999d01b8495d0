// The dashboard's key map. Table-free on purpose: six keys, each a few lines.
#include "tui/keys.h"

namespace tui {

unsigned handle_key(int key, const DashboardModel& model, ViewState& view, CommandQueue& out) {
  if (key == kKeyResize || key == kKeyRefresh) return kReactRedraw;
  if (view.show_help) {
    view.show_help = false;
    return kReactRedraw;
  }
  switch (key) {
    case 'p':
    case 'P': {
      if (model.finished) {
        view.message = "the run has ended";
        return kReactRedraw;
      }
      Command c = model.paused ? Command::kResume : Command::kPause;
      out.push(c);
      view.message = std::string("sent: ") + command_name(c);
      return kReactRedraw | kReactResample;
    }
    case 'c':
    case 'C':
      if (model.finished) {
        view.message = "the run has ended";
        return kReactRedraw;
      }
      out.push(Command::kCheckpoint);
      view.message = "sent: checkpoint";
      return kReactRedraw | kReactResample;
    case 'q':
    case 'Q':
      if (view.quit_requested || model.finished || !model.live) return kReactQuit;
      out.push(Command::kQuit);
      view.quit_requested = true;
      view.message = "stopping: checkpoint, then quit (q again: leave now)";
      return kReactRedraw | kReactResample;
    case 'd':
    case 'D':
      if (!view.attached) return kReactNone;
      out.push(Command::kDetach);
      return kReactDetach;
    case 'l':
    case 'L':
      view.log_scale = !view.log_scale;
      return kReactRedraw;
    case '?':
    case 'h':
    case 'H':
      view.show_help = true;
      return kReactRedraw;
    default:
      return kReactNone;
  }
}

}  // namespace tui
