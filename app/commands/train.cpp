// `nightshift train [RUN.toml] [flags]`: trains a model on a text corpus and writes checkpoints to
// the run directory; resumes when the directory already holds a checkpoint of the same run. Flags
// (app/train/train_flags.h) override the run TOML (app/train/run_config.h). Around the loop, the supervision
// (app/loop/train_supervision.h): memory plan (exit 3 when it does not fit), run log, thermal governor,
// windows/battery/disk, dashboard. SIGINT/SIGTERM/SIGHUP: finish the step (or abandon it between
// micro-batches), checkpoint, exit 0; SIGPIPE is ignored. Bad input
// (missing or empty data, bad config, corrupt checkpoint, a run directory of a different run): one
// line naming the file and the problem, exit 2, nothing overwritten.
#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include "app/commands/command_registry.h"
#include "app/governors/disk_space.h"
#include "app/train/stream_estimate.h"
#include "app/train/data_options.h"
#include "app/train/lora_run.h"
#include "app/train/memory_fit.h"
#include "app/train/resolve_run.h"
#include "app/train/run_config.h"
#include "app/train/train_flags.h"
#include "app/loop/train_supervision.h"
#include "app/loop/train_loop.h"
#include "app/train/trainer_holder.h"
#include "app/train/run_paths.h"
#include "common/atomic_file.h"
#include "common/log.h"
#include "trainer/data/batch_source.h"
#include "trainer/formats/checkpoint.h"
#include "trainer/model_config_toml.h"
#include "trainer/data/dataset.h"
#include "trainer/tokenizers/tokenizer.h"

namespace app {
namespace {

namespace fs = std::filesystem;
using common::Status;

std::atomic<bool> g_stop{false};       // signals, the dashboard: checkpoint and end the run
std::atomic<bool> g_signalled{false};  // the stop came from SIGINT/SIGTERM/SIGHUP
extern "C" void on_stop_signal(int) {
  g_signalled.store(true);
  g_stop.store(true);
}

// RAII while a run is in progress: SIGINT, SIGTERM and SIGHUP (the ssh session dropped) set g_stop,
// so the run checkpoints and ends; SIGPIPE is ignored, so a closed stdout/stderr (`train | tee` or
// `| head` ended) does not kill it: the writes fail and are ignored. The previous handlers come back after.
class StopSignals {
 public:
  StopSignals() {
    struct sigaction sa = {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
    sigaction(SIGHUP, &sa, &old_hup_);
    struct sigaction ignore = {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGPIPE, &ignore, &old_pipe_);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
    sigaction(SIGHUP, &old_hup_, nullptr);
    sigaction(SIGPIPE, &old_pipe_, nullptr);
  }

 private:
  struct sigaction old_int_ = {}, old_term_ = {}, old_hup_ = {}, old_pipe_ = {};
};

// A run directory that already holds a checkpoint must hold this very run: the same model, shape
// and tokenizer (the weights could not load otherwise), and the same training settings unless
// --force (the differences are listed).
common::Result<std::optional<trainer::CheckpointInfo>> resume_point(const RunConfig& c, const std::string& model_toml,
                                                                    const std::string& run_json,
                                                                    const SupervisionFlags& watch) {
  const bool has_log = fs::exists(fs::path(c.out_dir) / "run.db");
  if (!trainer::has_checkpoint(c.out_dir)) {
    if (watch.resume == "never" && has_log) {
      return Status::InvalidArgument(c.out_dir + ": holds a run already (--resume never); choose another --out");
    }
    return std::optional<trainer::CheckpointInfo>();
  }
  if (watch.resume == "never") {
    return Status::InvalidArgument(c.out_dir + ": holds a run already (--resume never); choose another --out");
  }
  NS_ASSIGN_OR_RETURN(trainer::CheckpointInfo info, trainer::read_latest_checkpoint(c.out_dir));
  // Compared as written by this version: older ones wrote float noise (0.019999999552965164).
  auto stored_model = trainer::parse_model_config_toml(info.model_toml, c.out_dir);
  const std::string stored_toml = stored_model.ok() ? trainer::model_config_to_toml(*stored_model) : info.model_toml;
  if (stored_toml != model_toml) {
    return Status::InvalidArgument(c.out_dir + ": holds a checkpoint of a different model; choose another --out");
  }
  if (info.shape.batch != c.shape.batch || info.shape.seq_len != c.shape.seq_len) {
    return Status::InvalidArgument(c.out_dir + ": holds a run with batch " + std::to_string(info.shape.batch) +
                                   " x seq " + std::to_string(info.shape.seq_len) +
                                   "; resume with the same --batch and --seq or choose another --out");
  }
  const bool same_tokenizer =
      absolute_tokenizer_spec(info.tokenizer_spec) == c.tokenizer ||
      (info.tokenizer_spec.starts_with("gpt2:") && c.tokenizer.starts_with("gpt2:") &&
       same_file_path(info.tokenizer_spec.substr(5), c.tokenizer.substr(5)));
  if (!same_tokenizer) {
    return Status::InvalidArgument(c.out_dir + ": holds a run with tokenizer " + info.tokenizer_spec +
                                   "; choose another --out");
  }
  std::vector<std::string> diff = run_config_differences(info.run_json, run_json);
  if (!diff.empty()) {
    std::string text;
    for (const std::string& d : diff) text += (text.empty() ? "" : "; ") + d;
    if (!watch.force) {
      return Status::InvalidArgument(c.out_dir + ": holds a run with other training settings (" + text +
                                     "); use the same settings, --force to resume anyway, or another --out");
    }
    common::log_warning(c.out_dir + ": resuming with changed settings (--force): " + text);
  }
  return std::optional<trainer::CheckpointInfo>(info);
}

// Bytes of one checkpoint of this model: the weights and the two AdamW moments of every trainable
// tensor, plus a little for the state file.
uint64_t checkpoint_bytes(const trainer::Model& model) {
  uint64_t bytes = 1 << 20;
  for (const trainer::ParamRef& p : model.params()) bytes += 3ull * static_cast<uint64_t>(p.numel) * sizeof(float);
  return bytes;
}

// One line after the dashboard closed: how far the run got, its loss and its last checkpoint.
void print_final_line(const LoopOutcome& outcome, int64_t step, int64_t total_steps) {
  std::string line = outcome.end == LoopEnd::kCompleted ? "run finished" : "run stopped";
  line += " at step " + std::to_string(step) + " of " + std::to_string(total_steps);
  char loss[64];
  std::snprintf(loss, sizeof loss, ": loss %.4f", static_cast<double>(outcome.last_loss));
  line += loss;
  if (outcome.val_loss >= 0) {
    std::snprintf(loss, sizeof loss, ", val_loss %.4f", static_cast<double>(outcome.val_loss));
    line += loss;
  }
  line += outcome.checkpoint_dir.empty() ? ", no checkpoint" : ", checkpoint " + outcome.checkpoint_dir;
  std::printf("nightshift: %s\n", line.c_str());
  std::fflush(stdout);
}

// The run directory, or its nearest ancestor that exists (where its files will be written).
std::string existing_ancestor(const std::string& dir) {
  std::error_code ec;
  fs::path p = fs::absolute(dir, ec);
  while (!p.empty() && !fs::exists(p, ec) && p.has_parent_path() && p.parent_path() != p) p = p.parent_path();
  return p.string();
}

int train_main(const TrainFlags& flags) {
  auto resolved = resolve_train_run(flags);
  if (!resolved.ok()) return report_error(resolved.status());
  RunConfig& c = resolved->config;
  auto* lora = &resolved->lora;
  auto* tok = &resolved->tokenizer;
  const std::string model_toml = trainer::model_config_to_toml(c.model);

  // --grad-checkpoint auto (the default): checkpointing and the micro-batch split are the planner's
  // choice, unless a run config asks for checkpointing; a resumed run keeps the split it began with.
  auto checkpoint = parse_grad_checkpoint(flags.grad_checkpoint);
  if (!checkpoint.ok()) return report_error(checkpoint.status());
  if (*checkpoint == GradCheckpoint::kAuto && c.shape.grad_checkpoint) *checkpoint = GradCheckpoint::kOn;
  std::optional<GradCheckpoint> fit = *checkpoint;
  if (flags.watch.resume != "never" && keep_stored_split(&c, *checkpoint)) {
    common::log_info(fmt::format("resuming with the micro-batch {} x accumulation {}{} the run began with", c.shape.batch,
                                 c.train.accum, c.shape.grad_checkpoint ? " and gradient checkpointing" : ""));
    fit.reset();
  }
  auto plan = plan_supervision(flags.watch, &c, fit);
  if (!plan.ok()) return report_error(plan.status());
  if (!plan->memory_fit.empty()) common::log_info(plan->memory_fit);
  const std::string run_json = add_lora_to_run_json(run_config_to_json(c), *lora);
  if (!plan->refusal.empty()) {
    const char* what = plan->planned_bytes == 0 ? "the memory this run needs is unknown" : "the run does not fit in memory";
    std::fprintf(stderr, "nightshift: %s: %s\n%s\n", c.out_dir.c_str(), what, plan->refusal.c_str());
    return kExitDoesNotFit;
  }
  if (plan->streamed_base_bytes > 0) {
    // The disk's read speed, measured on the base itself (up to 256 MiB), sets the expected slow-down.
    auto speed = measure_read_speed(stream_probe_file(lora->base_path), 256ull << 20);
    if (!speed.ok()) return report_error(speed.status());
    common::log_info(describe(estimate_streaming(plan->streamed_base_bytes, plan->budget_bytes, plan->planned_bytes,
                                                 c.train.accum, c.shape.grad_checkpoint, *speed)));
  }

  auto resume = resume_point(c, model_toml, run_json, flags.watch);
  if (!resume.ok()) return report_error(resume.status());
  if (*resume) {
    Status same = check_lora_resume(**resume, c);
    if (!same.ok()) return report_error(same);
  }

  auto data = trainer::TokenDataset::open(dataset_options(c), **tok);
  if (!data.ok()) return report_error(data.status());
  Status fits = trainer::SamplerBatchSource::check_fits(**data, trainer::Split::kTrain, c.shape.batch, c.shape.seq_len);
  if (!fits.ok()) return report_error(fits.with_context(c.data_path));
  const bool have_val =
      trainer::SamplerBatchSource::check_fits(**data, trainer::Split::kVal, c.shape.batch, c.shape.seq_len).ok();
  if (!have_val) common::log_warning(c.data_path + ": the validation split is shorter than one sequence; no evaluation");

  TrainerHolder holder(c.model, c.shape, c.train, **data, have_val);
  holder.set_packing(packing_options(c, **tok));
  Status built = holder.build();
  if (!built.ok()) return report_error(built.with_context(c.model_source));
  trainer::Trainer& t = holder.trainer();
  if (*resume) {
    const trainer::CheckpointInfo& info = **resume;
    Status s = trainer::load_checkpoint_tensors(info, t.model(), true);
    if (!s.ok()) return report_error(s);
    s = prepare_lora_model(*lora, t.model(), /*resumed=*/true);
    if (!s.ok()) return report_error(s);
    t.restore_progress(info.step, info.train_position);
    common::log_info("resuming " + c.out_dir + " from step " + std::to_string(info.step));
    if (t.done()) {
      // Nothing to train, but --keep holds for a finished run too (it may have kept more so far).
      Status pruned = trainer::prune_checkpoints(c.out_dir, flags.watch.keep);
      if (!pruned.ok()) common::log_warning(pruned.message());
      std::fprintf(stderr, "nightshift: %s is complete (%lld of %lld steps); raise --steps to train further\n",
                   c.out_dir.c_str(), static_cast<long long>(info.step), static_cast<long long>(c.train.steps));
      return kExitOk;
    }
  }

  if (!*resume) {
    Status prepared = prepare_lora_model(*lora, t.model());
    if (!prepared.ok()) return report_error(prepared);
  }

  // No room for the checkpoints (a restart after the disk filled up): exit with a status of its own
  // instead of 1, so a service restarting on failure does not loop (RestartPreventExitStatus=4).
  Status room = check_disk_room(existing_ancestor(c.out_dir), 2 * checkpoint_bytes(t.model()));
  if (!room.ok()) {
    std::fprintf(stderr, "nightshift: %s: cannot make progress: %s\n", c.out_dir.c_str(), room.message().c_str());
    return kExitCannotProgress;
  }

  std::error_code ec;
  fs::create_directories(c.out_dir, ec);
  if (ec) return report_error(Status::IOError(c.out_dir + ": cannot create the run directory: " + ec.message()));
  Status st = common::write_file_atomic(c.out_dir + "/model.toml", model_toml);
  if (!st.ok()) return report_error(st);
  st = copy_tokenizer_into_run(c.tokenizer, c.out_dir);  // the run decodes even after the folder moved
  if (!st.ok()) return report_error(st);

  LoopOptions lo;
  lo.run_dir = c.out_dir;
  lo.checkpoint_base.shape = c.shape;
  lo.checkpoint_base.model_toml = model_toml;
  lo.checkpoint_base.tokenizer_spec = c.tokenizer;
  lo.checkpoint_base.run_json = run_json;
  lo.eval_every = have_val ? c.eval_every : 0;
  lo.eval_batches = c.eval_batches;
  lo.eval_at_end = have_val;
  lo.checkpoint_every = c.checkpoint_every;
  lo.checkpoint_minutes = flags.watch.checkpoint_minutes;
  lo.keep_checkpoints = flags.watch.keep;
  lo.stop_requested = &g_stop;
  const LoraRun& lora_run = *lora;
  lo.rebatch = [&holder, &lora_run](int micro_batch, const std::string& checkpoint_dir) -> common::Result<trainer::Trainer*> {
    NS_ASSIGN_OR_RETURN(trainer::Trainer* rebuilt, holder.rebuild(micro_batch, checkpoint_dir));
    NS_RETURN_IF_ERROR(prepare_lora_model(lora_run, rebuilt->model(), /*resumed=*/!checkpoint_dir.empty()));
    return rebuilt;
  };

  common::SteadyClock clock;
  auto supervision = Supervision::start(*plan, c, run_json, t.lora_rank(), checkpoint_bytes(t.model()),
                                        resume->has_value(), clock);
  if (!supervision.ok()) return report_error(supervision.status());
  log_packing(**data, c, packing_options(c, **tok));  // after the run log opened: a warning lands in it
  g_stop.store(false);
  StopSignals signals;
  Status dash = (*supervision)->start_dashboard(&g_stop);
  if (!dash.ok()) return report_error(dash);
  auto outcome = run_train_loop(t, lo, (*supervision)->governor(), (*supervision)->observers(), clock);
  const bool interrupted = outcome.ok() && outcome->end == LoopEnd::kStopRequested && g_signalled.load();
  Status finished = (*supervision)->finish(outcome.ok() ? Status::Ok() : outcome.status(), interrupted);
  if (!outcome.ok()) return report_error(outcome.status());
  if (!finished.ok()) return report_error(finished);
  // The dashboard took the screen away: say on the terminal where the run ended.
  if (flags.watch.tui) print_final_line(*outcome, holder.trainer().steps_done(), c.train.steps);
  return kExitOk;
}

void register_train(CLI::App& root, Action& run) {
  auto f = std::make_shared<TrainFlags>();
  CLI::App* cmd = root.add_subcommand("train", "train a model on a text corpus (resumes a run directory)");
  add_train_flags(cmd, f.get());
  cmd->footer(
      "Exit status: 0 finished, or stopped cleanly (signal, deadline, low disk); 1 internal failure; 2 bad input;\n"
      "3 the run does not fit in memory; 4 cannot make progress (no disk room for a checkpoint: restarting\n"
      "will not help, see docs/overnight.md).");
  cmd->callback([&run, f] { run = [f] { return train_main(*f); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_train);
}  // namespace app
