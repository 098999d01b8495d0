// Adapters between the training loop (train_loop.h) and the run log / dashboard, ready for
// `nightshift train` to use:
//   RunLogObserver  a LoopObserver that writes steps, evaluations, directives, checkpoints and the
//                   end of the run to a RunLog (batched; never fails a step).
//   ControlGovernor a StepGovernor that obeys the control table (`nightshift top`) and an
//                   in-process dashboard's CommandQueue (pause/resume/checkpoint/stop), and
//                   otherwise defers to an inner governor (thermal), if any.
// Typical wiring (train --tui):
//   auto log = RunLog::open(run_dir);            log->begin_run(start);
//   RunLogObserver observer(*log);               observer.set_enricher([&](StepRecord& r) {...});
//   tui::CommandQueue commands;                  ControlGovernor control(*log, thermal_or_null, &commands);
//   std::thread ui([&] { RunLogReader + DashboardModelBuilder -> tui::run_dashboard(sample, commands, opts, &stop_ui); });
//   run_train_loop(trainer, options, &control, {&observer, ...}, clock);   stop_ui = true; ui.join();
#pragma once

#include <functional>
#include <string>

#include "app/runlog/run_log.h"
#include "app/loop/train_loop.h"
#include "tui/dashboard_model.h"

namespace app {

class RunLogObserver final : public LoopObserver {
 public:
  // `log` must outlive the observer and have a current run (begin_run or continue_run).
  explicit RunLogObserver(RunLog& log) : log_(log) {}

  // Fills what the loop does not know (temp_c, rss_bytes, planned_bytes, duty, governor) into
  // each step record just before it is written. Optional; called on the loop's thread.
  void set_enricher(std::function<void(StepRecord&)> enrich) { enrich_ = std::move(enrich); }

  // The first step of a process also continues the run's token count (RunLog::tokens_before) and
  // records the planned step count (a resume may raise --steps).
  void on_step(const trainer::StepStats& stats, const LoopProgress& progress) override;
  // The validation loss goes into that step's row (rewritten in the same batch) and an "eval" event.
  void on_eval(int64_t step, const trainer::EvalStats& eval) override;
  // Flushes the steps buffered so far: every step up to a checkpoint is in the log before it exists.
  void on_checkpoint_begin(int64_t step) override;
  void on_checkpoint(int64_t step, const std::string& dir) override;
  // A "lora_rank" event: old -> new and how much of the adapters' update was kept.
  void on_lora_rank(int64_t next_step, const trainer::LoraRankReport& change) override;
  // A "governor" event when the directive differs from the previous one (waits repeat quietly).
  void on_directive(const Directive& directive) override;
  // finished / stopped, and the final flush.
  void on_finish(const LoopOutcome& outcome) override;

 private:
  RunLog& log_;
  std::function<void(StepRecord&)> enrich_;
  StepRecord last_;
  uint64_t tokens_ = 0;       // cumulative over the run, across resumed processes
  bool started_ = false;      // the first step of this process was seen
  std::string last_directive_;
};

// Obeys pause/resume/checkpoint/stop from the control table and from `commands` (in-process
// dashboard). Paused: answers kCheckpointAndWait (the loop checkpoints once, then waits) and logs
// a sample every second through `sampler` if set. Acknowledges each control row with a result.
class ControlGovernor final : public StepGovernor {
 public:
  // `inner` (may be null) decides while not paused; `commands` may be null. All must outlive this.
  ControlGovernor(RunLog& log, StepGovernor* inner, tui::CommandQueue* commands, common::Clock& clock);

  // Optional: a temperature/rss sample while paused (e.g. from the thermal source).
  void set_sampler(std::function<void(double& temp_c, uint64_t& rss_bytes)> sampler) { sampler_ = std::move(sampler); }
  // How long each wait lasts while paused (the loop asks again after it).
  void set_pause_poll_ms(double ms) { pause_poll_ms_ = ms; }
  bool paused() const { return paused_; }

  Directive before_step(const StepContext& context) override;
  void after_step(const trainer::StepStats& stats) override;
  bool stop_now() override { return inner_ && inner_->stop_now(); }

 private:
  enum class Request { kPause, kResume, kCheckpoint, kStop };
  std::string obey(Request request, int64_t next_step);

  RunLog& log_;
  StepGovernor* inner_;
  tui::CommandQueue* commands_;
  common::Clock& clock_;
  std::function<void(double&, uint64_t&)> sampler_;
  double pause_poll_ms_ = 200;
  double last_sample_s_ = -1e9;
  bool paused_ = false;
  bool checkpoint_requested_ = false;
  bool stop_requested_ = false;
};

}  // namespace app
