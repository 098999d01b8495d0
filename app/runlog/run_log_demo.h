// DemoWriter: a stand-in trainer for demos and tests of the run log and the dashboard. It writes
// a plausible run (falling loss with evaluations, a temperature that a toy governor keeps under
// its threshold, memory, knobs, events, small checkpoint files) and obeys control requests
// exactly as the real training loop must: pause stops the steps and records it, resume goes on,
// checkpoint writes one, stop checkpoints and ends the run. It trains nothing.
#pragma once

#include <random>
#include <string>

#include "app/runlog/run_log.h"
#include "common/clock.h"
#include "tui/dashboard_model.h"

namespace app {

struct DemoOptions {
  int64_t steps = 300;
  int64_t checkpoint_every = 100;  // 0: only on request and at the end
  int64_t eval_every = 25;         // 0: no validation loss
  int64_t tokens_per_step = 1024;
  uint64_t seed = 1;
  std::string name = "demo";
};

class DemoWriter {
 public:
  // `log` and `clock` must outlive the writer. Checkpoints go to RUN_DIR/checkpoints/.
  DemoWriter(RunLog& log, std::string run_dir, DemoOptions options, common::Clock& clock);
  DemoWriter(const DemoWriter&) = delete;
  DemoWriter& operator=(const DemoWriter&) = delete;

  // Start the run (one runs row, a "start" event).
  common::Status begin();
  // One iteration: act on pending control requests (and on `commands` from an in-process
  // dashboard, if given), then do one step unless paused; while paused, log a temperature sample
  // about once a second. Returns false once the run has ended (all steps done, or stopped).
  bool tick(tui::CommandQueue* commands = nullptr);
  // Record the end: a final checkpoint unless one was just written, then the final status
  // (`status` overrides the writer's own, e.g. kInterrupted after a signal).
  common::Status end(std::optional<RunStatus> status = std::nullopt);

  int64_t step() const { return step_; }
  bool paused() const { return paused_; }
  RunStatus final_status() const { return final_status_; }

 private:
  enum class Request { kPause, kResume, kCheckpoint, kStop };
  std::string obey(Request request);
  void do_step();
  std::string write_checkpoint();

  RunLog& log_;
  std::string run_dir_;
  DemoOptions options_;
  common::Clock& clock_;
  std::mt19937_64 rng_;
  int64_t step_ = 0;
  int64_t last_checkpoint_step_ = -1;
  bool paused_ = false;
  bool done_ = false;
  RunStatus final_status_ = RunStatus::kFinished;
  double temp_c_ = 45.0;
  int rank_ = 16;
  int threads_ = 2;
  bool throttled_ = false;
  double last_sample_s_ = -1e9;
};

}  // namespace app
