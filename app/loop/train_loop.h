// The app-level training loop: asks an optional StepGovernor before every step (proceed, pause,
// change threads or LoRA rank, checkpoint and wait, stop), runs Trainer::step(), evaluates and
// checkpoints on schedule, honours a stop flag (signals, dashboard; also between the micro-batches of
// a step, which is then abandoned), and reports everything to
// LoopObservers (progress lines on stderr, the run log, the dashboard). The loop owns no threads and
// reads time only from the injected Clock, so it runs deterministically under a FakeClock.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "trainer/formats/checkpoint.h"
#include "trainer/trainer.h"

namespace app {

// What the governor sees before a step.
struct StepContext {
  int64_t next_step = 1;                      // 1-based number of the step about to run
  int64_t steps_total = 0;
  int threads = 1;                            // current thread count
  int max_threads = 1;
  const trainer::StepStats* last = nullptr;   // the previous step, if any
};

// The governor's answer. Defaults mean "run the step as things are".
struct Directive {
  enum class Action {
    kProceed,            // run the step (after pause_ms, with the knobs below)
    kCheckpointAndWait,  // do not step: checkpoint if asked, sleep pause_ms, ask again
    kStop,               // checkpoint, then end the run
  };
  Action action = Action::kProceed;
  int threads = 0;          // > 0: run from now on with this many threads
  int lora_rank = 0;        // > 0: set the LoRA rank (lora/qlora runs only)
  int micro_batch = 0;      // > 0: checkpoint, then continue with this micro-batch (LoopOptions::rebatch)
  double pause_ms = 0;      // kProceed: sleep before the step (duty cycle); kCheckpointAndWait: wait
  bool checkpoint = false;  // write a checkpoint before anything else
  std::string reason;       // for logs: "86 °C >= 85 °C"
};

class StepGovernor {
 public:
  virtual ~StepGovernor() = default;
  virtual Directive before_step(const StepContext& context) = 0;
  virtual void after_step(const trainer::StepStats& stats) {}
  // Asked between the micro-batches of a step: true abandons the step and ends the run (a deadline
  // passed while a long step ran).
  virtual bool stop_now() { return false; }
};

// Smoothed progress, for progress lines and dashboards.
struct LoopProgress {
  int64_t step = 0;
  int64_t steps_total = 0;
  double tokens_per_s = 0;  // exponential moving average over recent steps
  double trained_tokens_per_s = 0;  // same, tokens with a trained target (all of them unless masked)
  double gflops = 0;        // same, model FLOPs per second / 1e9
  double eta_s = 0;         // remaining steps at the current pace (pauses excluded)
  double elapsed_s = 0;     // since the loop started (pauses included)
};

enum class LoopEnd { kCompleted, kStopRequested, kGovernorStop };
const char* loop_end_name(LoopEnd end);  // "completed", "stopped", "governor stop"

struct LoopOutcome {
  LoopEnd end = LoopEnd::kCompleted;
  int64_t steps_done = 0;
  float last_loss = 0.0f;
  float val_loss = -1.0f;        // last evaluation, -1 when none
  std::string checkpoint_dir;    // the final checkpoint
};

class LoopObserver {
 public:
  virtual ~LoopObserver() = default;
  virtual void on_start(const trainer::Trainer& trainer) {}
  virtual void on_step(const trainer::StepStats& stats, const LoopProgress& progress) {}
  virtual void on_eval(int64_t step, const trainer::EvalStats& eval) {}
  // Just before a checkpoint of `step` is written (e.g. to make the log of every step up to it
  // durable first, so a kill after the checkpoint loses no logged step).
  virtual void on_checkpoint_begin(int64_t step) {}
  virtual void on_checkpoint(int64_t step, const std::string& dir) {}
  virtual void on_directive(const Directive& directive) {}   // every directive other than a plain proceed
  // The adapters' rank changed before step `next_step` (per adapter in change.adapters).
  virtual void on_lora_rank(int64_t next_step, const trainer::LoraRankReport& change) {}
  virtual void on_finish(const LoopOutcome& outcome) {}
};

struct LoopOptions {
  std::string run_dir;                     // checkpoints go to run_dir/checkpoints
  trainer::CheckpointInfo checkpoint_base; // model_toml, tokenizer, run_json, shape; the loop fills the rest
  int eval_every = 0;                      // 0 = only at the end
  int eval_batches = 20;
  bool eval_at_end = true;                 // needs a validation source in the trainer
  int checkpoint_every = 0;                // 0 = only at the end
  int keep_checkpoints = 2;
  double checkpoint_minutes = 0;           // > 0: also checkpoint when this much time has passed since the last
  const std::atomic<bool>* stop_requested = nullptr;  // polled before each step and while waiting
  // Rebuilds the trainer with another micro-batch from the checkpoint just written (an empty
  // directory: no step yet) and returns it; the loop goes on with it. Null: micro-batch changes
  // are ignored.
  std::function<common::Result<trainer::Trainer*>(int micro_batch, const std::string& checkpoint_dir)> rebatch;
};

// Runs until the trainer is done, the stop flag is set, or the governor says stop; always ends with
// a checkpoint of the last completed step (unless no step ran). Errors: a failed step or checkpoint.
// `trainer` may be replaced during the run (LoopOptions::rebatch); the caller's owner keeps it.
common::Result<LoopOutcome> run_train_loop(trainer::Trainer& trainer, const LoopOptions& options,
                                           StepGovernor* governor, const std::vector<LoopObserver*>& observers,
                                           common::Clock& clock);

// Prints progress lines on stderr:
//   step   100/2000 | loss 2.1234 | lr 1.00e-03 | 52.3k tok/s (31.0k trained) | 14.2 GFLOP/s | ETA 3m02s
// every `every` steps (and the first and the last), evaluations and checkpoints.
class StderrProgress final : public LoopObserver {
 public:
  // `timestamps`: prefix every line with the local date and time (--headless).
  explicit StderrProgress(int every, bool timestamps = false) : every_(every), timestamps_(timestamps) {}
  void on_start(const trainer::Trainer& trainer) override;
  void on_step(const trainer::StepStats& stats, const LoopProgress& progress) override;
  void on_eval(int64_t step, const trainer::EvalStats& eval) override;
  void on_checkpoint(int64_t step, const std::string& dir) override;
  void on_directive(const Directive& directive) override;
  void on_lora_rank(int64_t next_step, const trainer::LoraRankReport& change) override;
  void on_finish(const LoopOutcome& outcome) override;

 private:
  std::string stamp() const;
  int every_;
  bool timestamps_;
  std::string last_directive_;
};

}  // namespace app
