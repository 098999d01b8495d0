// `nightshift train [RUN.toml] [flags]`: trains a model on a text corpus, printing progress on
// stderr and writing checkpoints to the run directory; resumes when the directory already holds a
// checkpoint of the same run. Flags override the run TOML (app/run_config.h). Bad input (missing or
// empty data, bad config, corrupt checkpoint, a run directory of a different run): one line naming
// the file and the problem, exit 2, nothing overwritten.
#include <csignal>
#include <filesystem>
#include <memory>
#include <optional>

#include "app/command_registry.h"
#include "app/lora_run.h"
#include "app/run_config.h"
#include "app/train_loop.h"
#include "common/atomic_file.h"
#include "common/log.h"
#include "trainer/batch_source.h"
#include "trainer/checkpoint.h"
#include "trainer/config_io.h"
#include "trainer/dataset.h"
#include "trainer/tokenizer.h"

namespace app {
namespace {

namespace fs = std::filesystem;
using common::Status;

struct TrainFlags {
  std::string config;
  std::optional<std::string> preset, model, data, tokenizer, out;
  std::optional<int64_t> steps, warmup;
  std::optional<int> batch, seq, accum, threads, eval_every, eval_batches, checkpoint_every, log_every;
  std::optional<float> lr, min_lr, weight_decay, grad_clip;
  std::optional<uint64_t> seed;
  bool grad_checkpoint = false;
  LoraFlags lora;  // --mode, --base, --rank, ... (app/lora_run.h)
};

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop.store(true); }

// RAII: SIGINT/SIGTERM set g_stop while a run is in progress; the previous handlers come back after.
class StopSignals {
 public:
  StopSignals() {
    struct sigaction sa = {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ = {}, old_term_ = {};
};

common::Result<RunConfig> resolve_config(const TrainFlags& f) {
  RunConfig c = default_run_config();
  if (!f.config.empty()) NS_RETURN_IF_ERROR(load_run_config_file(f.config, &c));
  if (f.preset && f.model) return Status::InvalidArgument("give either --preset or --model, not both");
  if (f.preset) {
    auto m = trainer::model_preset(*f.preset);
    if (!m.ok()) return m.status();
    c.model = *m;
    c.model_source = "preset:" + *f.preset;
  }
  if (f.model) {
    auto m = trainer::load_model_config_file(*f.model);
    if (!m.ok()) return m.status();
    c.model = *m;
    c.model_source = *f.model;
  }
  if (f.data) c.data_path = *f.data;
  if (f.tokenizer) c.tokenizer = *f.tokenizer;
  if (f.out) c.out_dir = *f.out;
  if (f.steps) c.train.steps = *f.steps;
  if (f.warmup) c.train.warmup = *f.warmup;
  if (f.batch) c.shape.batch = *f.batch;
  if (f.seq) c.shape.seq_len = *f.seq;
  if (f.accum) c.train.accum = *f.accum;
  if (f.threads) c.train.threads = *f.threads;
  if (f.eval_every) c.eval_every = *f.eval_every;
  if (f.eval_batches) c.eval_batches = *f.eval_batches;
  if (f.checkpoint_every) c.checkpoint_every = *f.checkpoint_every;
  if (f.log_every) c.log_every = *f.log_every;
  if (f.lr) c.train.lr = *f.lr;
  if (f.min_lr) c.train.min_lr = *f.min_lr;
  if (f.weight_decay) c.train.weight_decay = *f.weight_decay;
  if (f.grad_clip) c.train.grad_clip = *f.grad_clip;
  if (f.seed) c.train.seed = *f.seed;
  if (f.grad_checkpoint) c.shape.grad_checkpoint = true;
  if (f.lr && !f.min_lr && c.train.min_lr > c.train.lr) c.train.min_lr = c.train.lr / 10;
  if (c.train.warmup >= c.train.steps) c.train.warmup = c.train.steps / 10;
  if (c.out_dir.empty()) c.out_dir = "runs/" + c.model.name;
  NS_RETURN_IF_ERROR(validate_run_config(c));
  if (c.data_path.empty()) {
    return Status::InvalidArgument("no training data: give --data FILE|DIR|FILE.jsonl or [data] path in the run config");
  }
  return c;
}

// A run directory that already holds a checkpoint must hold this very run (same model and shape).
common::Result<std::optional<trainer::CheckpointInfo>> resume_point(const RunConfig& c, const std::string& model_toml) {
  if (!trainer::has_checkpoint(c.out_dir)) return std::optional<trainer::CheckpointInfo>();
  NS_ASSIGN_OR_RETURN(trainer::CheckpointInfo info, trainer::read_latest_checkpoint(c.out_dir));
  if (info.model_toml != model_toml) {
    return Status::InvalidArgument(c.out_dir + ": holds a checkpoint of a different model; choose another --out");
  }
  if (info.shape.batch != c.shape.batch || info.shape.seq_len != c.shape.seq_len) {
    return Status::InvalidArgument(c.out_dir + ": holds a run with batch " + std::to_string(info.shape.batch) +
                                   " x seq " + std::to_string(info.shape.seq_len) +
                                   "; resume with the same --batch and --seq or choose another --out");
  }
  if (info.tokenizer_spec != c.tokenizer) {
    return Status::InvalidArgument(c.out_dir + ": holds a run with tokenizer " + info.tokenizer_spec +
                                   "; choose another --out");
  }
  return std::optional<trainer::CheckpointInfo>(info);
}

int train_main(const TrainFlags& flags) {
  auto cfg = resolve_config(flags);
  if (!cfg.ok()) return report_error(cfg.status());
  RunConfig c = *cfg;
  auto lora = resolve_lora(flags.config, flags.lora, flags.preset || flags.model, flags.out.has_value(), &c);
  if (!lora.ok()) return report_error(lora.status());

  auto tok = trainer::make_tokenizer(c.tokenizer);
  if (!tok.ok()) return report_error(tok.status());
  if (c.model.vocab_size != (*tok)->vocab_size()) c.model.vocab_size = (*tok)->vocab_size();
  Status valid = trainer::validate_model_config(c.model, c.model_source);
  if (!valid.ok()) return report_error(valid);
  const std::string model_toml = trainer::model_config_to_toml(c.model);

  auto resume = resume_point(c, model_toml);
  if (!resume.ok()) return report_error(resume.status());
  if (*resume) {
    Status same = check_lora_resume(**resume, c);
    if (!same.ok()) return report_error(same);
  }

  trainer::DatasetOptions dopt;
  dopt.data_path = c.data_path;
  dopt.val_fraction = c.val_fraction;
  auto data = trainer::TokenDataset::open(dopt, **tok);
  if (!data.ok()) return report_error(data.status());
  Status fits = trainer::BatchSampler::check_fits(**data, trainer::Split::kTrain, c.shape.batch, c.shape.seq_len);
  if (!fits.ok()) return report_error(fits.with_context(c.data_path));
  const bool have_val =
      trainer::BatchSampler::check_fits(**data, trainer::Split::kVal, c.shape.batch, c.shape.seq_len).ok();
  if (!have_val) common::log_warning(c.data_path + ": the validation split is shorter than one sequence; no evaluation");

  trainer::SamplerBatchSource train_src(**data, trainer::Split::kTrain, c.shape.batch, c.shape.seq_len, c.train.seed);
  std::unique_ptr<trainer::SamplerBatchSource> val_src;
  if (have_val) {
    val_src = std::make_unique<trainer::SamplerBatchSource>(**data, trainer::Split::kVal, c.shape.batch,
                                                            c.shape.seq_len, c.train.seed);
  }
  auto trainer = trainer::Trainer::create(c.model, c.shape, c.train, &train_src, val_src.get());
  if (!trainer.ok()) return report_error(trainer.status().with_context(c.model_source));
  trainer::Trainer& t = **trainer;
  if (*resume) {
    const trainer::CheckpointInfo& info = **resume;
    Status s = trainer::load_checkpoint_tensors(info, t.model(), true);
    if (!s.ok()) return report_error(s);
    t.restore_progress(info.step, info.train_position);
    common::log_info("resuming " + c.out_dir + " from step " + std::to_string(info.step));
    if (t.done()) {
      std::fprintf(stderr, "nightshift: %s is complete (%lld of %lld steps); raise --steps to train further\n",
                   c.out_dir.c_str(), static_cast<long long>(info.step), static_cast<long long>(c.train.steps));
      return kExitOk;
    }
  }

  if (!*resume) {
    Status prepared = prepare_lora_model(*lora, t.model());
    if (!prepared.ok()) return report_error(prepared);
  }

  std::error_code ec;
  fs::create_directories(c.out_dir, ec);
  if (ec) return report_error(Status::IOError(c.out_dir + ": cannot create the run directory: " + ec.message()));
  Status st = common::write_file_atomic(c.out_dir + "/model.toml", model_toml);
  if (!st.ok()) return report_error(st);

  LoopOptions lo;
  lo.run_dir = c.out_dir;
  lo.checkpoint_base.shape = c.shape;
  lo.checkpoint_base.model_toml = model_toml;
  lo.checkpoint_base.tokenizer_spec = c.tokenizer;
  lo.checkpoint_base.run_json = add_lora_to_run_json(run_config_to_json(c), *lora);
  lo.eval_every = have_val ? c.eval_every : 0;
  lo.eval_batches = c.eval_batches;
  lo.eval_at_end = have_val;
  lo.checkpoint_every = c.checkpoint_every;
  lo.stop_requested = &g_stop;

  // Observers and governor: the progress printer here; a run log, dashboard or thermal governor
  // plug in the same way (app/train_loop.h).
  StderrProgress progress(c.log_every);
  std::vector<LoopObserver*> observers{&progress};
  StepGovernor* governor = nullptr;

  common::SteadyClock clock;
  g_stop.store(false);
  StopSignals signals;
  auto outcome = run_train_loop(t, lo, governor, observers, clock);
  if (!outcome.ok()) return report_error(outcome.status());
  return kExitOk;
}

void register_train(CLI::App& root, Action& run) {
  auto f = std::make_shared<TrainFlags>();
  CLI::App* cmd = root.add_subcommand("train", "train a model on a text corpus (resumes a run directory)");
  cmd->add_option("config", f->config, "run config TOML ([model], [data], [train]); flags override it");
  cmd->add_option("--preset", f->preset, "model preset (gpt-tiny, gpt-small, ...)");
  cmd->add_option("--model", f->model, "model TOML file");
  cmd->add_option("--data", f->data, "text file, directory of text files, or JSONL with a \"text\" field");
  cmd->add_option("--tokenizer", f->tokenizer, "byte | gpt2:DIR (encoder.json + vocab.bpe)");
  cmd->add_option("--steps", f->steps, "optimizer steps of the whole run");
  cmd->add_option("--batch", f->batch, "micro-batch size B");
  cmd->add_option("--seq", f->seq, "sequence length T");
  cmd->add_option("--accum", f->accum, "micro-batches per optimizer step");
  cmd->add_option("--lr", f->lr, "peak learning rate");
  cmd->add_option("--min-lr", f->min_lr, "floor of the cosine decay");
  cmd->add_option("--warmup", f->warmup, "linear warmup steps");
  cmd->add_option("--weight-decay", f->weight_decay, "AdamW decoupled weight decay");
  cmd->add_option("--grad-clip", f->grad_clip, "max global gradient norm (0 = off)");
  cmd->add_option("--seed", f->seed, "seed for init and data sampling");
  cmd->add_option("--threads", f->threads, "compute threads (0 = all cores)");
  cmd->add_option("--eval-every", f->eval_every, "evaluate every N steps (0 = at the end)");
  cmd->add_option("--eval-batches", f->eval_batches, "validation batches per evaluation");
  cmd->add_option("--checkpoint-every", f->checkpoint_every, "checkpoint every N steps (0 = at the end)");
  cmd->add_option("--log-every", f->log_every, "progress line every N steps");
  cmd->add_flag("--grad-checkpoint", f->grad_checkpoint, "recompute each block in backward to save memory");
  cmd->add_option("--out", f->out, "run directory (default runs/<model name>, runs/<model>-<mode> for lora/qlora)");
  add_lora_flags(cmd, &f->lora);
  cmd->callback([&run, f] { run = [f] { return train_main(*f); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_train);
}  // namespace app
