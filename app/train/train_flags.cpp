// `nightshift train` flags and their resolution into a RunConfig.
#include "app/train/train_flags.h"

#include <cctype>
#include <cmath>

#include "app/commands/cli_validators.h"
#include "app/train/memory_fit.h"
#include "app/train/run_paths.h"
#include "common/float_text.h"
#include "trainer/model_config_toml.h"

namespace app {

using common::Result;
using common::Status;

void add_train_flags(CLI::App* cmd, TrainFlags* f) {
  // --help shows the defaults, read from default_run_config() (the values train starts from) and
  // from the flag structs' own initial values.
  const RunConfig d = default_run_config();
  const std::string preset_default =
      d.model_source.rfind("preset:", 0) == 0 ? d.model_source.substr(7) : d.model_source;
  cmd->add_option("config", f->config, "run config TOML ([model], [data], [train]); flags override it");
  cmd->add_option("--preset", f->preset, "model preset (gpt-tiny, gpt-small, hybrid-tiny, ...)")
      ->default_str(preset_default);
  cmd->add_option("--model", f->model, "model TOML file");
  cmd->add_option("--data", f->data,
                  "text file, directory, or JSONL: {text}, {prompt, completion}, {messages}, ShareGPT "
                  "{conversations}, Alpaca {instruction, input, output}");
  cmd->add_option("--val-data", f->val_data, "a separate validation set (default: the last tenth of --data)");
  cmd->add_option("--chat-template", f->chat_template,
                  "chat template family (chatml, llama3, gemma, phi3, mistral-v3, granite, ...; default: the model's)");
  cmd->add_option("--train-on", f->train_on,
                  "tokens that carry loss: assistant | all | completion | last (default: assistant turns for chat, "
                  "the completion for prompt/completion, all for text)");
  cmd->add_flag("--no-packing", f->no_packing, "one example per row, padded (default: examples packed into rows)");
  cmd->add_option("--long-examples", f->long_examples, "examples longer than --seq: truncate | split (default truncate)");
  cmd->add_option("--tokenizer", f->tokenizer, "byte | gpt2:DIR (encoder.json + vocab.bpe)")
      ->default_str(d.tokenizer);
  cmd->add_option("--steps", f->steps, "optimizer steps of the whole run")
      ->default_str(std::to_string(d.train.steps));
  cmd->add_option("--batch", f->batch, "micro-batch size B")
      ->default_str(std::to_string(d.shape.batch));
  cmd->add_option("--seq,--seq-len", f->seq, "sequence length T")
      ->default_str(std::to_string(d.shape.seq_len));
  cmd->add_option("--accum", f->accum, "micro-batches per optimizer step")
      ->default_str(std::to_string(d.train.accum));
  cmd->add_option("--lr", f->lr, "peak learning rate")
      ->default_str(common::float_to_shortest(d.train.lr))
      ->check(finite_number);
  cmd->add_option("--min-lr", f->min_lr, "floor of the cosine decay")
      ->default_str(common::float_to_shortest(d.train.min_lr))
      ->check(finite_number);
  cmd->add_option("--warmup", f->warmup, "linear warmup steps")
      ->default_str(std::to_string(d.train.warmup));
  cmd->add_option("--weight-decay", f->weight_decay, "AdamW decoupled weight decay")
      ->default_str(common::float_to_shortest(d.train.weight_decay))
      ->check(finite_number);
  cmd->add_option("--grad-clip", f->grad_clip, "max global gradient norm (0 = off)")
      ->default_str(common::float_to_shortest(d.train.grad_clip))
      ->check(finite_number);
  cmd->add_option("--seed", f->seed, "seed for init and data sampling")
      ->default_str(std::to_string(d.train.seed));
  cmd->add_option("--threads", f->threads, "compute threads (0 = all cores)")
      ->default_str(std::to_string(d.train.threads));
  cmd->add_option("--eval-every", f->eval_every, "evaluate every N steps (0 = at the end)")
      ->default_str(std::to_string(d.eval_every));
  cmd->add_option("--eval-batches", f->eval_batches, "validation batches per evaluation")
      ->default_str(std::to_string(d.eval_batches));
  cmd->add_option("--checkpoint-every", f->checkpoint_every, "checkpoint every N steps (0 = at the end)")
      ->default_str(std::to_string(d.checkpoint_every));
  cmd->add_option("--log-every", f->log_every, "progress line every N steps")
      ->default_str(std::to_string(d.log_every));
  cmd->add_option("--grad-checkpoint", f->grad_checkpoint,
                  "auto | on | off: recompute each block in backward to save memory (auto: only when the "
                  "plan needs it, after splitting the micro-batch; bare flag: on)")
      ->expected(0, 1)
      ->default_str("on")  // the value of a bare --grad-checkpoint; not given, it stays auto
      ->option_text("[auto|on|off]=auto");
  cmd->add_option("--out", f->out, "run directory (default runs/<model name>, runs/<model>-<mode> for lora/qlora)");
  add_lora_flags(cmd, &f->lora);

  SupervisionFlags* w = &f->watch;
  cmd->add_flag("--headless", w->headless, "unattended: timestamped progress lines on stderr, all in the run log");
  cmd->add_flag("--tui", w->tui, "show the dashboard in this terminal (keys: p pause, c checkpoint, s stop, ? help)");
  cmd->add_option("--name", w->name, "run name for the log and dashboard (default: the run directory's)");
  cmd->add_option("--profile", w->profile, "hardware profile: name, .toml file or host (default host)");
  cmd->add_option("--thermal", w->thermal, "temperature source: auto | libsensors | sim | replay:FILE | none")
      ->capture_default_str();
  cmd->add_option("--thermal-policy", w->thermal_policy, "threshold | setpoint | none (default threshold)");
  cmd->add_option("--sensor", w->sensors, "sensor pattern (chip or chip/label, globs), in order of preference");
  cmd->add_option("--fail-safe", w->fail_safe, "on sensor faults: pause | min-duty")
      ->capture_default_str();
  cmd->add_option("--sim-speed", w->sim_speed, "--thermal sim or replay: thermal seconds per real second (default 1)")
      ->check(finite_number)
      ->check(CLI::Range(0.001, 100000.0));
  cmd->add_option("--shrink-c", w->shrink_c, "shrink LoRA rank and threads at or above this °C");
  cmd->add_option("--pause-c", w->pause_c, "pause after every step at or above this °C");
  cmd->add_option("--stop-c", w->stop_c, "checkpoint and wait at or above this °C");
  cmd->add_option("--resume-c", w->resume_c, "after a wait, train again below this °C");
  cmd->add_option("--setpoint-c", w->setpoint_c, "temperature the setpoint policy holds");
  cmd->add_option("--checkpoint-minutes", w->checkpoint_minutes, "also checkpoint every M minutes (default 15; 0 = off)")
      ->capture_default_str()
      ->check(finite_number)
      ->check(CLI::Range(0.0, 1e6));
  cmd->add_option("--keep", w->keep, "checkpoints kept in the run directory (default 3)")->check(CLI::Range(1, 100000));
  cmd->add_option("--resume", w->resume, "auto (resume a run directory) | never (refuse an existing run)")
      ->capture_default_str();
  cmd->add_flag("--force", w->force, "resume although the training settings differ from the run directory's");
  cmd->add_option("--until", w->until, "checkpoint and stop at this local time (HH:MM)");
  cmd->add_option("--max-hours", w->max_hours, "checkpoint and stop after this many hours")->capture_default_str()
      ->check(finite_number)
      ->check(CLI::Range(0.0, 1e6));
  cmd->add_option("--window", w->window, "train only inside this daily window (HH:MM-HH:MM, may wrap midnight)");
  cmd->add_option("--at-window-end", w->at_window_end, "wait (for the next window) | stop")
      ->capture_default_str();
  cmd->add_option("--on-battery", w->on_battery, "ignore | pause | stop (default pause)");
  cmd->add_option("--power-supply", w->power_supply_root, "power-supply tree to read (default /sys/class/power_supply)");
  cmd->add_option("--memory-limit", w->memory_limit, "memory budget (e.g. 4G; default: the profile's available memory)");
  cmd->add_flag("--no-memory-check", w->no_memory_check, "do not refuse a run whose plan exceeds the budget");
  cmd->add_option("--memory-low-water", w->memory_low_water,
                  "pause while the system's available memory is below this (default 5% of RAM, 256M..1G)");
}

Result<uint64_t> parse_byte_size(const std::string& text, const std::string& what) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  std::string unit = text.substr(i);
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  double value = 0;
  try {
    if (i == 0) throw std::invalid_argument("no number");
    value = std::stod(text.substr(0, i));
  } catch (...) {
    return Status::InvalidArgument(what + ": '" + text + "' is not a size (e.g. 4G, 512M, 1073741824)");
  }
  double scale = 0;
  if (unit.empty() || unit == "B") scale = 1;
  else if (unit == "K" || unit == "KB" || unit == "KIB") scale = 1024.0;
  else if (unit == "M" || unit == "MB" || unit == "MIB") scale = 1024.0 * 1024;
  else if (unit == "G" || unit == "GB" || unit == "GIB") scale = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "TB" || unit == "TIB") scale = 1024.0 * 1024 * 1024 * 1024;
  if (scale == 0 || !(value > 0) || value * scale > 1e18) {
    return Status::InvalidArgument(what + ": '" + text + "' is not a size (e.g. 4G, 512M, 1073741824)");
  }
  return static_cast<uint64_t>(value * scale);
}

Result<RunConfig> resolve_train_config(const TrainFlags& f) {
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
  if (f.val_data) c.val_data_path = *f.val_data;
  if (f.chat_template) c.chat_template = *f.chat_template;
  if (f.train_on) c.train_on = *f.train_on;
  if (f.long_examples) c.long_examples = *f.long_examples;
  if (f.no_packing) c.packing = false;
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
  NS_ASSIGN_OR_RETURN(GradCheckpoint checkpoint, parse_grad_checkpoint(f.grad_checkpoint));
  if (checkpoint != GradCheckpoint::kAuto) c.shape.grad_checkpoint = checkpoint == GradCheckpoint::kOn;
  // The LM head fused with its loss in chunks (trainer/lm_head.h): no (B, T, V) logits, as planned.
  c.shape.head_chunk = trainer::kHeadChunkAuto;
  if (f.lr && !f.min_lr && c.train.min_lr > c.train.lr) c.train.min_lr = c.train.lr / 10;
  if (c.train.warmup >= c.train.steps) c.train.warmup = c.train.steps / 10;
  if (c.out_dir.empty()) c.out_dir = default_run_dir(c.model.name);
  // Stored in the run as absolute paths: `eval` and `sample` work from any directory.
  c.data_path = absolute_path(c.data_path);
  if (!c.val_data_path.empty()) c.val_data_path = absolute_path(c.val_data_path);
  c.tokenizer = absolute_tokenizer_spec(c.tokenizer);
  NS_RETURN_IF_ERROR(validate_run_config(c));
  if (c.data_path.empty()) {
    return Status::InvalidArgument("no training data: give --data FILE|DIR|FILE.jsonl or [data] path in the run config");
  }
  return c;
}

}  // namespace app
