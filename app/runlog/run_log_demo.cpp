// The demo writer's simulation (loss curve, first-order thermal model, threshold governor with
// hysteresis) and its handling of control requests. Numbers are made up to look like a small
// run; nothing here is measured.
#include "app/runlog/run_log_demo.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "common/atomic_file.h"
#include "trainer/formats/checksum.h"

namespace app {
namespace {

constexpr double kAmbientC = 40;
constexpr double kWarnC = 75, kHotC = 85, kCritC = 95;
constexpr double kResumeNormalC = 70;  // hysteresis: back to full speed below this
constexpr uint64_t kMiB = 1024 * 1024;


std::string fmt(const char* format, double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}
std::string fmt1(double v) { return fmt("%.1f", v); }

}  // namespace

DemoWriter::DemoWriter(RunLog& log, std::string run_dir, DemoOptions options, common::Clock& clock)
    : log_(log), run_dir_(std::move(run_dir)), options_(std::move(options)), clock_(clock), rng_(options_.seed) {}

common::Status DemoWriter::begin() {
  RunStart start;
  start.name = options_.name;
  start.model = "demo (simulated, no training)";
  start.profile = "demo";
  start.total_steps = options_.steps;
  start.budget_bytes = 1024 * kMiB;
  start.temp_warn_c = kWarnC;
  start.temp_hot_c = kHotC;
  start.temp_crit_c = kCritC;
  start.config_json = "{\"demo\": true, \"steps\": " + std::to_string(options_.steps) + "}";
  NS_RETURN_IF_ERROR(log_.begin_run(start).status());
  log_.append_event("start", "demo run of " + std::to_string(options_.steps) + " simulated steps");
  return common::Status::Ok();
}

std::string DemoWriter::obey(Request request) {
  switch (request) {
    case Request::kPause:
      if (paused_) return "already paused";
      paused_ = true;
      log_.set_status(RunStatus::kPaused);
      log_.append_event("pause", "paused at step " + std::to_string(step_) + " on request");
      return "ok";
    case Request::kResume:
      if (!paused_) return "not paused";
      paused_ = false;
      log_.set_status(RunStatus::kRunning);
      log_.append_event("resume", "resumed at step " + std::to_string(step_) + " on request");
      return "ok";
    case Request::kCheckpoint:
      return write_checkpoint();
    case Request::kStop:
      if (last_checkpoint_step_ != step_) (void)write_checkpoint();
      log_.append_event("stop", "stopping at step " + std::to_string(step_) + " on request");
      done_ = true;
      final_status_ = RunStatus::kStopped;
      return "ok";
  }
  return "ignored";
}

bool DemoWriter::tick(tui::CommandQueue* commands) {
  for (const ControlRequest& r : log_.poll_control()) {
    Request req = r.kind == ControlKind::kPause    ? Request::kPause
                  : r.kind == ControlKind::kResume ? Request::kResume
                  : r.kind == ControlKind::kStop   ? Request::kStop
                                                   : Request::kCheckpoint;
    log_.complete_control(r.id, done_ ? "ignored: the run has ended" : obey(req));
  }
  while (commands && !done_) {
    std::optional<tui::Command> c = commands->try_pop();
    if (!c) break;
    switch (*c) {
      case tui::Command::kPause: obey(Request::kPause); break;
      case tui::Command::kResume: obey(Request::kResume); break;
      case tui::Command::kCheckpoint: obey(Request::kCheckpoint); break;
      case tui::Command::kQuit: obey(Request::kStop); break;
      case tui::Command::kDetach: break;
    }
  }
  if (done_) return false;
  if (paused_) {
    // Cooling while paused, sampled about once a second so the dashboard's plot keeps moving.
    if (clock_.now_s() - last_sample_s_ >= 1.0) {
      temp_c_ += (kAmbientC - temp_c_) * 0.05;
      log_.append_sample(temp_c_, (90 + 2 * rank_) * kMiB);
      last_sample_s_ = clock_.now_s();
    }
    log_.tick();
    return true;
  }
  do_step();
  return !done_;
}

void DemoWriter::do_step() {
  std::normal_distribution<double> noise(0.0, 1.0);
  ++step_;
  const double progress = static_cast<double>(step_) / std::max<int64_t>(1, options_.steps);
  // Load heats the device toward a target; the toy governor halves rank and threads when hot.
  double load = threads_ / 2.0 * (0.5 + 0.5 * rank_ / 16.0);
  temp_c_ += (kAmbientC + 45.0 * load - temp_c_) * 0.04 + 0.3 * noise(rng_);
  if (!throttled_ && temp_c_ > kWarnC) {
    throttled_ = true;
    log_.append_event("governor", "throttle: " + fmt1(temp_c_) + "C above " + fmt1(kWarnC) +
                                      "C: LoRA rank 16->8, threads 2->1");
    rank_ = 8;
    threads_ = 1;
  } else if (throttled_ && temp_c_ < kResumeNormalC) {
    throttled_ = false;
    log_.append_event("governor", "normal: " + fmt1(temp_c_) + "C below " + fmt1(kResumeNormalC) +
                                      "C: LoRA rank 8->16, threads 1->2");
    rank_ = 16;
    threads_ = 2;
  }
  double clean_loss = 1.6 + 3.0 * std::exp(-5.0 * progress);
  StepRecord s;
  s.step = step_;
  s.loss = clean_loss + 0.05 * noise(rng_);
  s.lr = 3e-4 * (step_ < 10 ? step_ / 10.0 : 0.5 * (1 + std::cos(M_PI * progress)));
  s.tokens_per_s = 2048.0 * threads_ / 2.0 * (0.8 + 0.2 * rank_ / 16.0) * (1 + 0.03 * noise(rng_));
  s.temp_c = temp_c_;
  s.lora_rank = rank_;
  s.threads = threads_;
  s.duty = 1.0;
  s.rss_bytes = static_cast<uint64_t>((96 + 2 * rank_) * kMiB + 512 * 1024 * noise(rng_));
  s.planned_bytes = 140 * kMiB;
  s.tokens = static_cast<uint64_t>(step_ * options_.tokens_per_step);
  s.governor = throttled_ ? "throttle" : "normal";
  if (options_.eval_every > 0 && step_ % options_.eval_every == 0) {
    s.val_loss = clean_loss + 0.08 + 0.02 * noise(rng_);
    log_.append_step(s);
    log_.append_event("eval", "step " + std::to_string(step_) + ": val_loss " + fmt("%.4f", s.val_loss));
  } else {
    log_.append_step(s);
  }
  if (options_.checkpoint_every > 0 && step_ % options_.checkpoint_every == 0) (void)write_checkpoint();
  if (step_ >= options_.steps) {
    done_ = true;
    final_status_ = RunStatus::kFinished;
  }
}

std::string DemoWriter::write_checkpoint() {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(run_dir_) / "checkpoints";
  std::error_code ec;
  fs::create_directories(dir, ec);
  char name[64];
  std::snprintf(name, sizeof name, "demo_step_%06lld.json", static_cast<long long>(step_));
  std::string path = (dir / name).string();
  std::string content = "{\"demo\": true, \"step\": " + std::to_string(step_) + "}\n";
  common::Status s = common::write_file_atomic(path, content);
  if (!s.ok()) {
    log_.append_event("error", "checkpoint failed: " + s.message());
    return "failed: " + s.message();
  }
  log_.record_checkpoint({step_, path, content.size(), trainer::hex64(trainer::fnv1a64(content))});
  last_checkpoint_step_ = step_;
  return "ok: step " + std::to_string(step_);
}

common::Status DemoWriter::end(std::optional<RunStatus> status) {
  if (last_checkpoint_step_ != step_) (void)write_checkpoint();
  RunStatus final = status.value_or(final_status_);
  log_.append_event("end", std::string("run ") + run_status_name(final) + " at step " + std::to_string(step_));
  return log_.finish_run(final);
}

}  // namespace app
