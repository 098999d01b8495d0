// RunConfig: everything `nightshift train` needs to start or resume a run — the resolved model, the
// data and tokenizer, the run shape, the optimizer and schedule, evaluation and checkpoint cadence,
// the run directory — read from a run TOML file and then overridden by command-line flags. Also its
// JSON form, stored in every checkpoint so `eval` and `sample` find the data and tokenizer again.
//
// Run TOML (every table and key optional; flags override):
//   [model]   preset = "gpt-tiny" plus any model keys (trainer/model_config.h), or file = "m.toml"
//   [data]    path = "corpus.txt", tokenizer = "byte" | "gpt2:DIR", val_fraction = 0.1, val_path = "val.jsonl",
//             chat_template = "chatml", train_on = "auto" | "assistant" | "all" | "completion" | "last",
//             packing = true, long_examples = "truncate" | "split"
//   [train]   steps, batch, seq_len (or seq, like --seq), accum, lr, min_lr, warmup, weight_decay, grad_clip, beta1, beta2,
//             seed, threads, grad_checkpoint, eval_every, eval_batches, checkpoint_every, log_every, out
//   [lora]    read by app/train/lora_run.h
// Any other top-level table or key is refused, naming it and the nearest valid table.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "trainer/layout.h"
#include "trainer/model_config.h"
#include "trainer/trainer.h"

namespace app {

struct RunConfig {
  trainer::ModelConfig model;       // resolved (vocab_size follows the tokenizer at run time)
  std::string model_source = "preset:gpt-tiny";  // where the model came from, for messages
  std::string data_path;            // text file, directory or .jsonl (required to train)
  std::string tokenizer = "byte";   // "byte" or "gpt2:DIR"
  double val_fraction = 0.1;        // held-out tail of the corpus
  std::string val_data_path;        // a separate validation set ("" = the held-out tail)
  std::string chat_template;        // --chat-template NAME ("" = the tokenizer's template)
  std::string train_on = "auto";    // --train-on: auto | assistant | all | completion | last
  bool packing = true;              // example data packed into rows (--no-packing: padded)
  std::string long_examples = "truncate";  // --long-examples: truncate | split
  trainer::RunShape shape;          // batch (12), seq_len (64), grad_checkpoint
  trainer::TrainOptions train;      // steps, lr, schedule, AdamW, clipping, seed, threads
  int eval_every = 0;               // evaluate every N steps; 0 = only at the end
  int eval_batches = 20;            // validation batches per evaluation
  int checkpoint_every = 0;         // checkpoint every N steps; 0 = only at the end (and on stop)
  int log_every = 10;               // progress line every N steps (and the first and last)
  std::string out_dir;              // run directory; "" = runs/<model name>
  std::string config_file;          // the TOML file it was read from ("" = flags only)
};

// True when two paths name the same file: equal, or equal once made absolute (from the current
// directory) and canonical (symlinks, ".", ".." resolved as far as the path exists).
bool same_file_path(const std::string& a, const std::string& b);

// The default run directory of a model, "runs/<name>", with the name made a plain folder name:
// anything but letters, digits, '.', '_', '+' and '-' becomes '_', and a leading '.' too, so a
// model name such as "../../x" cannot put the run outside runs/.
std::string default_run_dir(const std::string& model_name);

// Defaults: gpt-tiny, byte tokenizer, B 12, T 64, 1000 steps, lr 1e-3 → 1e-4, warmup 100, wd 0.1,
// clip 1.0.
RunConfig default_run_config();

// Applies a run TOML document onto `config`. Errors name `source` (the file) and line:column.
common::Status apply_run_config_toml(std::string_view text, const std::string& source, RunConfig* config);
common::Status load_run_config_file(const std::string& path, RunConfig* config);

// Range checks of the run's own numbers (the model is validated by the trainer). InvalidArgument
// naming the option.
common::Status validate_run_config(const RunConfig& config);

// JSON object text (data, tokenizer, shape, schedule, cadence, out) and back. The model is stored
// separately in checkpoints (as TOML). Corruption naming `source` for malformed JSON.
std::string run_config_to_json(const RunConfig& config);

// The training settings that differ between a run directory's config (`old_json`) and a new one,
// one "train.lr: 0.001 -> 0.0003" line each. Settings that may change on resume are not compared:
// steps (train further) and the warmup derived from them, threads, cadence (eval/checkpoint/log),
// the run directory. The data path is compared as a file (same_file_path), not as text.
std::vector<std::string> run_config_differences(const std::string& old_json, const std::string& new_json);
common::Result<RunConfig> run_config_from_json(const std::string& json_text, const std::string& source);

}  // namespace app
