// CommandQueue and SnapshotMailbox: the two hand-over points between the dashboard thread and the
// rest of the program.
#include "tui/dashboard_model.h"

namespace tui {

const char* command_name(Command command) {
  switch (command) {
    case Command::kPause: return "pause";
    case Command::kResume: return "resume";
    case Command::kCheckpoint: return "checkpoint";
    case Command::kQuit: return "quit";
    case Command::kDetach: return "detach";
  }
  return "unknown";
}

void CommandQueue::push(Command command) {
  std::lock_guard<std::mutex> lock(mutex_);
  queue_.push_back(command);
}

std::optional<Command> CommandQueue::try_pop() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (queue_.empty()) return std::nullopt;
  Command c = queue_.front();
  queue_.pop_front();
  return c;
}

bool CommandQueue::empty() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.empty();
}

void SnapshotMailbox::publish(DashboardModel model) {
  auto next = std::make_shared<const DashboardModel>(std::move(model));
  std::lock_guard<std::mutex> lock(mutex_);
  latest_ = std::move(next);
}

std::shared_ptr<const DashboardModel> SnapshotMailbox::latest() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return latest_;
}

}  // namespace tui
