// What the dashboard draws and what it sends back. DashboardModel is a plain, immutable snapshot
// built by app/ (from the run log, or from the training loop in-process); Command goes out
// through a CommandQueue. No ncurses, no SQLite, no trainer types here.
#pragma once

#include <cmath>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace tui {

inline constexpr double kUnknown = std::numeric_limits<double>::quiet_NaN();

// A timestamped line: an event of the run or a governor decision.
struct TimedText {
  double time_s = 0;   // wall-clock seconds since the epoch
  std::string kind;    // "governor", "checkpoint", "pause", "eval", "warning", ...
  std::string text;
};

// One snapshot of a run. Series are parallel vectors (x[i], y[i]) already reduced to a few
// thousand points by the producer; NaN means unknown and is drawn as such ("--").
struct DashboardModel {
  // Run and progress.
  std::string run_name;
  std::string status = "running";   // running, paused, finished, stopped, failed, interrupted
  std::string model;
  std::string profile;
  bool paused = false;
  bool finished = false;            // the run is over (any final status)
  bool live = true;                 // the trainer is still updating (false: stale or gone)
  double seconds_since_update = 0;  // attached view: age of the trainer's last write
  int64_t step = 0;
  int64_t total_steps = 0;          // 0: unknown (no progress bar, no ETA)
  uint64_t tokens = 0;              // tokens trained so far
  double elapsed_s = 0;
  double eta_s = kUnknown;

  // Latest values.
  double loss = kUnknown;
  double val_loss = kUnknown;       // the most recent evaluation
  double lr = kUnknown;
  double tokens_per_s = kUnknown;
  double trained_tokens_per_s = kUnknown;  // tokens with a trained target (loss masking); unknown in old logs
  double temp_c = kUnknown;

  // Loss over steps (train and validation).
  std::vector<double> loss_steps, loss_values;
  std::vector<double> val_steps, val_values;
  // Temperature over time (x: seconds since the run started) and the governor's thresholds.
  std::vector<double> temp_time_s, temp_values_c;
  double temp_warn_c = kUnknown;
  double temp_hot_c = kUnknown;
  double temp_crit_c = kUnknown;

  // Governor: its current state and its last decisions (oldest first).
  std::string governor_state;
  std::vector<TimedText> governor_decisions;

  // Memory: measured resident, the planner's total, the device budget (0: unknown).
  uint64_t rss_bytes = 0;
  uint64_t planned_bytes = 0;
  uint64_t budget_bytes = 0;
  // What the process read from disk per second over the last step (a streamed base's page-ins).
  double disk_read_bytes_per_s = kUnknown;
  double major_faults_per_s = kUnknown;

  // Knobs now and over recent steps (oldest first), and throughput over recent steps.
  int lora_rank = 0;
  int threads = 0;
  double duty = kUnknown;
  std::vector<double> rank_series, threads_series, duty_series, tokens_per_s_series;

  // Recent events (oldest first).
  std::vector<TimedText> events;
  // One line worth shouting about: a run log write failure, a trainer that stopped answering.
  std::string notice;
  int pending_commands = 0;         // control requests the trainer has not acknowledged yet
};

// What the person at the dashboard asked for.
enum class Command {
  kPause,
  kResume,
  kCheckpoint,
  kQuit,    // checkpoint and stop the run
  kDetach,  // leave the dashboard, the run goes on (attached view only)
};
const char* command_name(Command command);  // "pause", "resume", "checkpoint", "quit", "detach"

// Commands from the dashboard thread to whoever acts on them. Thread-safe.
class CommandQueue {
 public:
  void push(Command command);
  std::optional<Command> try_pop();
  bool empty() const;

 private:
  mutable std::mutex mutex_;
  std::deque<Command> queue_;
};

// The latest snapshot, handed from a producer thread (the training loop) to the dashboard thread.
// publish() and latest() are thread-safe and O(1) (a shared_ptr swap under a mutex).
class SnapshotMailbox {
 public:
  void publish(DashboardModel model);
  std::shared_ptr<const DashboardModel> latest() const;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const DashboardModel> latest_;
};

}  // namespace tui
