// The dashboard's key map. Table-free on purpose: a few keys, each a few lines.
#include "tui/keys.h"

namespace tui {
namespace {

// 's' (and 'q' in the trainer's own dashboard): ask before stopping the run.
unsigned ask_to_stop(const DashboardModel& model, ViewState& view) {
  if (model.finished || !model.live) {
    view.message = "the run has ended";
    return kReactRedraw;
  }
  if (view.quit_requested) {
    view.message = "already stopping: checkpoint, then quit";
    return kReactRedraw;
  }
  view.confirm_stop = true;
  return kReactRedraw;
}

}  // namespace

unsigned handle_key(int key, const DashboardModel& model, ViewState& view, CommandQueue& out) {
  if (key == kKeyResize || key == kKeyRefresh) return kReactRedraw;
  if (view.show_help) {
    view.show_help = false;
    return kReactRedraw;
  }
  if (view.confirm_stop) {
    // Only y stops; any other key keeps the run going.
    view.confirm_stop = false;
    if (key != 'y' && key != 'Y') {
      view.message = "not stopped";
      return kReactRedraw;
    }
    if (model.finished) {
      view.message = "the run has ended";
      return kReactRedraw;
    }
    out.push(Command::kQuit);
    view.quit_requested = true;
    view.message = view.attached ? "stopping: checkpoint, then quit (q: leave now)" : "stopping: checkpoint, then quit";
    return kReactRedraw | kReactResample;
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
    case 's':
    case 'S':
      return ask_to_stop(model, view);
    case 'q':
    case 'Q':
      // A viewer (`top`) leaves and the run goes on; the trainer's own dashboard cannot leave
      // without ending the run, so there q asks like s. An ended run: q always leaves.
      if (view.attached || model.finished || !model.live) return kReactQuit;
      return ask_to_stop(model, view);
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
