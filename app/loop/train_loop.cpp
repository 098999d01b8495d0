// run_train_loop and the stderr progress printer.
#include "app/loop/train_loop.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "common/units.h"
#include "trainer/kernels/simd_level.h"

namespace app {

using common::Result;
using common::Status;

const char* loop_end_name(LoopEnd end) {
  switch (end) {
    case LoopEnd::kCompleted: return "completed";
    case LoopEnd::kStopRequested: return "stopped";
    case LoopEnd::kGovernorStop: return "governor stop";
  }
  return "?";
}

namespace {

// Progress goes to stderr. A closed or broken stderr (the ssh session or the pipe went away) must
// not end the run, so write errors are ignored (SIGPIPE is ignored while training: cmd_train.cpp).
template <typename... Args>
void emit(fmt::format_string<Args...> format, Args&&... args) {
  const std::string line = fmt::format(format, std::forward<Args>(args)...);
  (void)std::fwrite(line.data(), 1, line.size(), stderr);
  std::clearerr(stderr);
}

bool stop_flag(const LoopOptions& o) { return o.stop_requested && o.stop_requested->load(); }

// Sleeps in slices so a stop request is seen within ~100 ms.
void sleep_interruptible(common::Clock& clock, double ms, const LoopOptions& o) {
  while (ms > 0 && !stop_flag(o)) {
    const double slice = std::min(ms, 100.0);
    clock.sleep_ms(slice);
    ms -= slice;
  }
}

class LoopState {
 public:
  LoopState(trainer::Trainer& t, const LoopOptions& o, const std::vector<LoopObserver*>& obs, common::Clock& clock)
      : last_checkpoint_s_(clock.now_s()), trainer_(&t), options_(o), observers_(obs), clock_(clock) {}

  void set_trainer(trainer::Trainer* t) { trainer_ = t; }

  Status checkpoint() {
    if (trainer_->steps_done() == 0 || trainer_->steps_done() == last_checkpoint_step_) return Status::Ok();
    trainer::CheckpointInfo info = options_.checkpoint_base;
    info.step = trainer_->steps_done();
    info.train_position = trainer_->train_source()->position();
    info.options = trainer_->options();
    info.train_loss = outcome.last_loss;
    info.val_loss = outcome.val_loss;
    for (LoopObserver* o : observers_) o->on_checkpoint_begin(info.step);
    NS_RETURN_IF_ERROR(trainer::save_checkpoint(options_.run_dir, trainer_->model(), info, options_.keep_checkpoints));
    last_checkpoint_step_ = info.step;
    last_checkpoint_s_ = clock_.now_s();
    char name[32];
    std::snprintf(name, sizeof name, "step-%08lld", static_cast<long long>(info.step));
    outcome.checkpoint_dir = options_.run_dir + "/checkpoints/" + name;
    for (LoopObserver* o : observers_) o->on_checkpoint(info.step, outcome.checkpoint_dir);
    return Status::Ok();
  }

  Status evaluate() {
    auto e = trainer_->evaluate(options_.eval_batches);
    if (!e.ok()) return e.status();
    outcome.val_loss = e->val_loss;
    last_eval_step_ = trainer_->steps_done();
    for (LoopObserver* o : observers_) o->on_eval(trainer_->steps_done(), *e);
    return Status::Ok();
  }

  LoopOutcome outcome;
  int64_t last_eval_step_ = -1;
  double last_checkpoint_s_ = 0;  // clock time of the last checkpoint (or the start)

 private:
  trainer::Trainer* trainer_;
  const LoopOptions& options_;
  const std::vector<LoopObserver*>& observers_;
  common::Clock& clock_;
  int64_t last_checkpoint_step_ = -1;
};

}  // namespace

Result<LoopOutcome> run_train_loop(trainer::Trainer& first, const LoopOptions& options, StepGovernor* governor,
                                   const std::vector<LoopObserver*>& observers, common::Clock& clock) {
  trainer::Trainer* current = &first;
  LoopState state(first, options, observers, clock);
  for (LoopObserver* o : observers) o->on_start(*current);
  const double t_start = clock.now_s();
  const int64_t first_step = current->steps_done();
  double ema_tok_s = 0, ema_trained_s = 0, ema_flop_s = 0, ema_step_s = 0;
  trainer::StepStats last;
  bool have_last = false;
  state.outcome.end = LoopEnd::kCompleted;

  while (!current->done()) {
    if (stop_flag(options)) {
      state.outcome.end = LoopEnd::kStopRequested;
      break;
    }
    if (governor) {
      StepContext ctx{current->steps_done() + 1, current->options().steps, current->threads(),
                      current->model().shape().max_threads, have_last ? &last : nullptr};
      Directive d = governor->before_step(ctx);
      const bool plain = d.action == Directive::Action::kProceed && d.threads <= 0 && d.lora_rank <= 0 &&
                         d.micro_batch <= 0 && d.pause_ms <= 0 && !d.checkpoint;
      if (!plain) {
        for (LoopObserver* o : observers) o->on_directive(d);
      }
      if (d.checkpoint || d.action != Directive::Action::kProceed) NS_RETURN_IF_ERROR(state.checkpoint());
      if (d.action == Directive::Action::kStop) {
        state.outcome.end = LoopEnd::kGovernorStop;
        break;
      }
      if (d.action == Directive::Action::kCheckpointAndWait) {
        sleep_interruptible(clock, std::max(d.pause_ms, 1.0), options);
        have_last = false;
        continue;
      }
      if (d.micro_batch > 0 && d.micro_batch != current->model().batch() && options.rebatch) {
        NS_RETURN_IF_ERROR(state.checkpoint());
        auto rebuilt = options.rebatch(d.micro_batch, current->steps_done() > 0 ? state.outcome.checkpoint_dir : "");
        if (!rebuilt.ok()) return rebuilt.status();
        current = *rebuilt;
        state.set_trainer(current);
        have_last = false;
      }
      if (d.threads > 0 && d.threads != current->threads()) current->set_threads(d.threads);
      if (d.lora_rank > 0 && current->lora_rank() > 0) {  // full-mode runs have no rank to change
        auto change = current->set_lora_rank(d.lora_rank);
        if (!change.ok()) return change.status();
        if (change->new_rank != change->old_rank) {
          for (LoopObserver* o : observers) o->on_lora_rank(current->steps_done() + 1, *change);
        }
      }
      if (d.pause_ms > 0) sleep_interruptible(clock, d.pause_ms, options);
      if (stop_flag(options)) continue;
    }
    // A step of many micro-batches is abandoned when a stop is asked for in the middle of it.
    current->set_interrupt([&options, governor] { return stop_flag(options) || (governor && governor->stop_now()); });
    auto s = current->step();
    current->set_interrupt(nullptr);
    if (!s.ok()) {
      (void)state.checkpoint();  // keep what was done before the failure
      return s.status();
    }
    if (s->interrupted) {  // the top of the loop (stop flag) or the governor (deadline) ends the run
      have_last = false;
      continue;
    }
    last = *s;
    have_last = true;
    state.outcome.last_loss = s->loss;
    if (governor) governor->after_step(*s);

    const double step_s = std::max(s->step_s, 1e-9);
    const double a = current->steps_done() - first_step <= 1 ? 1.0 : 0.1;
    ema_tok_s = (1 - a) * ema_tok_s + a * s->tokens / step_s;
    ema_trained_s = (1 - a) * ema_trained_s + a * s->trained_tokens / step_s;
    ema_flop_s = (1 - a) * ema_flop_s + a * s->flops / step_s;
    ema_step_s = (1 - a) * ema_step_s + a * step_s;
    LoopProgress p;
    p.step = current->steps_done();
    p.steps_total = current->options().steps;
    p.tokens_per_s = ema_tok_s;
    p.trained_tokens_per_s = ema_trained_s;
    p.gflops = ema_flop_s / 1e9;
    p.eta_s = ema_step_s * static_cast<double>(p.steps_total - p.step);
    p.elapsed_s = clock.now_s() - t_start;
    for (LoopObserver* o : observers) o->on_step(*s, p);

    if (options.eval_every > 0 && current->steps_done() % options.eval_every == 0) NS_RETURN_IF_ERROR(state.evaluate());
    const bool by_time = options.checkpoint_minutes > 0 &&
                         clock.now_s() - state.last_checkpoint_s_ >= 60.0 * options.checkpoint_minutes;
    if (by_time || (options.checkpoint_every > 0 && current->steps_done() % options.checkpoint_every == 0)) {
      NS_RETURN_IF_ERROR(state.checkpoint());
    }
  }
  if (state.outcome.end == LoopEnd::kCompleted && options.eval_at_end && state.last_eval_step_ != current->steps_done()) {
    NS_RETURN_IF_ERROR(state.evaluate());
  }
  NS_RETURN_IF_ERROR(state.checkpoint());
  state.outcome.steps_done = current->steps_done();
  for (LoopObserver* o : observers) o->on_finish(state.outcome);
  return state.outcome;
}

// ---------------------------------------------------------------------------------------------
// StderrProgress

void StderrProgress::on_start(const trainer::Trainer& t) {
  const trainer::Model& m = t.model();
  // lora/qlora: the arithmetic of the frozen base's products (--compute-dtype).
  const std::string compute = m.shape().mode == trainer::TrainMode::kFull
                                  ? ""
                                  : fmt::format(" | base compute {}", trainer::quant::compute_dtype_name(m.shape().lora.compute_dtype));
  // The instruction set of the engine's own loops (NIGHTSHIFT_SIMD may cap it).
  emit("{}model {}: {} parameters, {} blocks | batch {} x seq {} x accum {} | {} threads, {} kernels{} | from step {}\n",
       stamp(), m.config().name, common::format_count(static_cast<double>(m.num_params())), m.config().blocks.size(),
       m.batch(), m.seq_len(), t.options().accum, t.threads(), trainer::simd_level_name(trainer::simd_level()), compute,
       t.steps_done());
}

void StderrProgress::on_step(const trainer::StepStats& s, const LoopProgress& p) {
  if (s.step % every_ != 0 && s.step != p.steps_total && p.step > 1 && s.step != 1) return;
  emit("{}step {:>6}/{} | loss {:.4f} | lr {:.2e} | {} tok/s ({} trained) | {:.1f} GFLOP/s | ETA {}\n", stamp(),
       s.step, p.steps_total, s.loss, s.lr, common::format_count(p.tokens_per_s),
       common::format_count(p.trained_tokens_per_s), p.gflops, common::format_duration(p.eta_s));
}

void StderrProgress::on_eval(int64_t step, const trainer::EvalStats& e) {
  emit("{}eval  step {} | val_loss {:.4f} ({} batches)\n", stamp(), step, e.val_loss, e.batches);
}

void StderrProgress::on_checkpoint(int64_t step, const std::string& dir) {
  emit("{}checkpoint step {} -> {}\n", stamp(), step, dir);
}

std::string StderrProgress::stamp() const {
  if (!timestamps_) return "";
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S ", &tm);
  return buf;
}

void StderrProgress::on_directive(const Directive& d) {
  // Only changes: a duty cycle repeats the same directive before every step.
  std::string text = d.action == Directive::Action::kStop               ? "stop"
                     : d.action == Directive::Action::kCheckpointAndWait ? "checkpoint and wait"
                                                                          : "adjust";
  if (d.threads > 0) text += fmt::format(", threads {}", d.threads);
  if (d.lora_rank > 0) text += fmt::format(", rank {}", d.lora_rank);
  if (d.pause_ms > 0 && d.action == Directive::Action::kProceed) text += fmt::format(", pause {:.0f} ms", d.pause_ms);
  if (!d.reason.empty()) text += ": " + d.reason;
  const std::string key = std::to_string(static_cast<int>(d.action)) + d.reason;
  if (key == last_directive_) return;
  last_directive_ = key;
  emit("{}governor: {}\n", stamp(), text);
}

void StderrProgress::on_lora_rank(int64_t next_step, const trainer::LoraRankReport& c) {
  const double kept = c.update_norm_sq > 0 ? 100.0 * (1.0 - c.discarded_sq / c.update_norm_sq) : 100.0;
  emit("{}lora rank {} -> {} before step {} ({} adapters, {:.2f}% of the update's energy kept)\n", stamp(),
             c.old_rank, c.new_rank, next_step, c.adapters.size(), kept);
}

void StderrProgress::on_finish(const LoopOutcome& o) {
  emit("{}done: {} after {} steps | loss {:.4f}{}\n", stamp(), loop_end_name(o.end), o.steps_done, o.last_loss,
             o.val_loss >= 0 ? fmt::format(" | val_loss {:.4f}", o.val_loss) : std::string());
}

}  // namespace app
