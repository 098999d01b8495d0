// The lora/qlora part of `nightshift train`: its flags and the [lora] table of a run TOML, the base
// they name (a base file from `nightshift quantize`, or a full checkpoint), an optional PEFT adapter
// to continue from, and the steps that turn a freshly built trainer into a lora/qlora one (frozen
// base filled, adapter loaded). Flags override the TOML:
//   [lora] mode = "qlora", base = "base.safetensors", rank = 16, alpha = 32, targets = ["q", "v"],
//          rank_floor = 4, rank_ceiling = 64, adapter = "DIR", base_format = "nf4", double_quant = true,
//          compute_dtype = "bf16"
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "app/train/run_config.h"
#include "common/status.h"
#include "trainer/formats/checkpoint.h"
#include "trainer/formats/peft.h"
#include "trainer/model.h"
#include "trainer/quant/base_file.h"

namespace app {

struct LoraFlags {
  std::optional<std::string> mode, base, targets, adapter, base_format;
  std::optional<std::string> compute_dtype;  // --compute-dtype fp32 | bf16 | auto
  std::optional<int> rank, rank_floor, rank_ceiling;
  std::optional<double> alpha;
  bool no_double_quant = false;
  bool stream_base = false;  // --stream-base: a mapped base larger than the budget, read through the page cache
};

void add_lora_flags(CLI::App* cmd, LoraFlags* flags);

// A resolved lora/qlora setup (mode kFull: nothing to do).
struct LoraRun {
  trainer::TrainMode mode = trainer::TrainMode::kFull;
  std::string base_path;
  std::string adapter_dir;
  std::shared_ptr<trainer::BaseSource> base;
  std::shared_ptr<trainer::PeftAdapter> adapter;
  // --compute-dtype as asked ("fp32", "bf16", "auto"; kept in the run's settings, so that a resumed
  // run asks the same) and as resolved for this CPU (RunShape::lora.compute_dtype).
  std::string compute_dtype_request = "fp32";
};

// --compute-dtype: "fp32", "bf16" (refused where the CPU has no AVX512_BF16), or "auto" (bf16 where
// the CPU has it, else fp32). InvalidArgument naming the flag.
common::Result<trainer::quant::ComputeDtype> resolve_compute_dtype(const std::string& value);

// Reads [lora] from `config_file` (when not empty) and the flags, opens the base and the adapter,
// and rewrites `config`: the model and tokenizer become the base's, the shape gets the mode, rank and
// LoRA settings, and an unset run directory defaults to runs/<model>-<mode>. `model_flag_given` /
// `out_flag_given` say whether --preset/--model and --out were on the command line. InvalidArgument
// naming the flag or file for contradictions (a model flag with a base, an adapter whose rank
// differs from --rank, an adapter of another base, ...).
common::Result<LoraRun> resolve_lora(const std::string& config_file, const LoraFlags& flags, bool model_flag_given,
                                     bool out_flag_given, RunConfig* config);

// A run directory being resumed must hold the same kind of run. InvalidArgument naming the directory.
common::Status check_lora_resume(const trainer::CheckpointInfo& info, const RunConfig& config);

// For a new run, after Trainer::create: fills the frozen base (or, full mode from a base, every
// weight) and loads the adapter, if any. `resumed`: the weights came from a checkpoint; only a
// mapped base (LoraSettings::mapped_base) is bound to its file again.
common::Status prepare_lora_model(const LoraRun& run, trainer::Model& model, bool resumed = false);

// The run config JSON with a "lora" object (mode, base, adapter) added, for checkpoints.
std::string add_lora_to_run_json(const std::string& run_json, const LoraRun& run);

}  // namespace app
