// RunLogObserver (loop -> run log) and ControlGovernor (control table / dashboard -> loop).
#include "app/runlog/run_log_observer.h"

#include <cstdio>
#include <filesystem>

namespace app {
namespace {

std::string directive_text(const Directive& d) {
  std::string text = d.action == Directive::Action::kStop                ? "stop"
                     : d.action == Directive::Action::kCheckpointAndWait ? "checkpoint and wait"
                                                                         : "proceed";
  if (d.threads > 0) text += " threads " + std::to_string(d.threads);
  if (d.lora_rank > 0) text += " rank " + std::to_string(d.lora_rank);
  if (d.pause_ms > 0 && d.action == Directive::Action::kProceed) {
    text += " pause " + std::to_string(static_cast<int>(d.pause_ms)) + " ms";
  }
  if (d.checkpoint) text += " +checkpoint";
  if (!d.reason.empty()) text += ": " + d.reason;
  return text;
}

uint64_t directory_bytes(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  uint64_t total = 0;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
}

}  // namespace

void RunLogObserver::on_step(const trainer::StepStats& stats, const LoopProgress& progress) {
  if (!started_) {
    // A resumed process continues the run: its tokens count on from the steps before the
    // checkpoint, and the plan follows a raised (or lowered) --steps.
    started_ = true;
    tokens_ = log_.tokens_before(stats.step);
    if (progress.steps_total > 0) log_.set_total_steps(progress.steps_total);
  }
  tokens_ += static_cast<uint64_t>(stats.tokens);
  StepRecord r;
  r.step = stats.step;
  r.loss = stats.loss;
  r.lr = stats.lr;
  r.tokens_per_s = stats.step_s > 0 ? static_cast<double>(stats.tokens) / stats.step_s : kNullReal;
  r.trained_tokens_per_s = stats.step_s > 0 ? static_cast<double>(stats.trained_tokens) / stats.step_s : kNullReal;
  r.threads = stats.threads;
  r.tokens = tokens_;
  if (enrich_) enrich_(r);
  log_.append_step(r);
  last_ = r;
}

void RunLogObserver::on_eval(int64_t step, const trainer::EvalStats& eval) {
  if (last_.step == step) {
    last_.val_loss = eval.val_loss;
    log_.append_step(last_);  // replaces the row of that step
  }
  char text[96];
  std::snprintf(text, sizeof text, "step %lld: val_loss %.4f (%d batches)", static_cast<long long>(step),
                static_cast<double>(eval.val_loss), eval.batches);
  log_.append_event("eval", text);
}

void RunLogObserver::on_lora_rank(int64_t next_step, const trainer::LoraRankReport& change) {
  const double kept = change.update_norm_sq > 0 ? 100.0 * (1.0 - change.discarded_sq / change.update_norm_sq) : 100.0;
  char text[160];
  std::snprintf(text, sizeof text, "rank %d -> %d before step %lld (%zu adapters, %.2f%% of the update kept)",
                change.old_rank, change.new_rank, static_cast<long long>(next_step), change.adapters.size(), kept);
  log_.append_event("lora_rank", text);
}

void RunLogObserver::on_checkpoint_begin(int64_t) { (void)log_.flush(true); }

void RunLogObserver::on_checkpoint(int64_t step, const std::string& dir) {
  log_.record_checkpoint({step, dir, directory_bytes(dir), ""});
}

void RunLogObserver::on_directive(const Directive& directive) {
  std::string text = directive_text(directive);
  if (text == last_directive_) return;
  last_directive_ = text;
  log_.append_event("governor", text);
}

void RunLogObserver::on_finish(const LoopOutcome& outcome) {
  RunStatus status = outcome.end == LoopEnd::kCompleted ? RunStatus::kFinished : RunStatus::kStopped;
  log_.append_event("end", std::string(loop_end_name(outcome.end)) + " after " + std::to_string(outcome.steps_done) +
                               " steps");
  (void)log_.finish_run(status);
}

ControlGovernor::ControlGovernor(RunLog& log, StepGovernor* inner, tui::CommandQueue* commands, common::Clock& clock)
    : log_(log), inner_(inner), commands_(commands), clock_(clock) {}

std::string ControlGovernor::obey(Request request, int64_t next_step) {
  std::string at = " before step " + std::to_string(next_step);
  switch (request) {
    case Request::kPause:
      if (paused_) return "already paused";
      paused_ = true;
      log_.set_status(RunStatus::kPaused);
      log_.append_event("pause", "paused" + at + " on request");
      return "ok";
    case Request::kResume:
      if (!paused_) return "not paused";
      paused_ = false;
      log_.set_status(RunStatus::kRunning);
      log_.append_event("resume", "resumed" + at + " on request");
      return "ok";
    case Request::kCheckpoint:
      checkpoint_requested_ = true;
      return "ok";
    case Request::kStop:
      stop_requested_ = true;
      log_.append_event("stop", "stopping" + at + " on request");
      return "ok";
  }
  return "ignored";
}

Directive ControlGovernor::before_step(const StepContext& context) {
  for (const ControlRequest& r : log_.poll_control()) {
    Request req = r.kind == ControlKind::kPause    ? Request::kPause
                  : r.kind == ControlKind::kResume ? Request::kResume
                  : r.kind == ControlKind::kStop   ? Request::kStop
                                                   : Request::kCheckpoint;
    log_.complete_control(r.id, obey(req, context.next_step));
  }
  while (commands_) {
    std::optional<tui::Command> c = commands_->try_pop();
    if (!c) break;
    if (*c == tui::Command::kPause) obey(Request::kPause, context.next_step);
    if (*c == tui::Command::kResume) obey(Request::kResume, context.next_step);
    if (*c == tui::Command::kCheckpoint) obey(Request::kCheckpoint, context.next_step);
    if (*c == tui::Command::kQuit) obey(Request::kStop, context.next_step);
  }
  Directive d;
  if (stop_requested_) {
    d.action = Directive::Action::kStop;
    d.reason = "stop requested from a dashboard";
    return d;
  }
  if (paused_) {
    if (sampler_ && clock_.now_s() - last_sample_s_ >= 1.0) {
      double temp_c = kNullReal;
      uint64_t rss = 0;
      sampler_(temp_c, rss);
      log_.append_sample(temp_c, rss);
      last_sample_s_ = clock_.now_s();
    }
    log_.tick();
    d.action = Directive::Action::kCheckpointAndWait;
    d.pause_ms = pause_poll_ms_;
    d.checkpoint = checkpoint_requested_;
    checkpoint_requested_ = false;
    d.reason = "paused from a dashboard";
    return d;
  }
  if (inner_) d = inner_->before_step(context);
  if (d.action == Directive::Action::kCheckpointAndWait && sampler_ && clock_.now_s() - last_sample_s_ >= 1.0) {
    double temp_c = kNullReal;  // a cool-down or a wait of the inner governor: keep the plots moving
    uint64_t rss = 0;
    sampler_(temp_c, rss);
    log_.append_sample(temp_c, rss);
    last_sample_s_ = clock_.now_s();
  }
  if (checkpoint_requested_) {
    d.checkpoint = true;
    if (d.reason.empty()) d.reason = "checkpoint requested from a dashboard";
    checkpoint_requested_ = false;
  }
  log_.tick();
  return d;
}

void ControlGovernor::after_step(const trainer::StepStats& stats) {
  if (inner_) inner_->after_step(stats);
}

}  // namespace app
