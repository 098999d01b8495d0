// What the exports read from a run: its newest valid checkpoint (pinned against pruning) as a
// model of plain fp32 weights — a full run's model, or a lora/qlora run's merged model (the frozen
// base as the run used it, decoded to fp32, plus scale · B·A, accumulated in double as
// trainer/lora/merge.cpp does) — and the lora/qlora model itself for adapter exports, with the
// base the run started from (a GGUF file, a Hugging Face directory, a base file, a checkpoint) when
// it names one. Shared by `export` and `export-adapter`.
#pragma once

#include <memory>
#include <string>

#include "app/train/run_loader.h"
#include "common/status.h"
#include "trainer/arch/hf_layout.h"
#include "trainer/model.h"

namespace app {

struct ExportSource {
  LoadedRun run;                               // checkpoint, model and run config, tokenizer, mapped base
  std::unique_ptr<trainer::Model> checkpoint;  // the checkpoint's model (lora/qlora: with its adapters)
  std::string base_path;                       // the base the run named ("" for a model trained from scratch)
  // The architecture of the pretrained model the run descends from (through its base, the base's
  // own base, ...), null for nightshift's own models or a base that cannot be opened any more, and
  // that model's config.json model_type ("" for a GGUF).
  const trainer::Architecture* arch = nullptr;
  std::string model_type;
  bool full() const { return run.info.shape.mode == trainer::TrainMode::kFull; }
  // How the model is written for Hugging Face (trainer/arch/hf_layout.h).
  trainer::HfLayout hf_layout() const { return trainer::hf_layout_of(run.model, arch, model_type); }
};

// Opens the run's newest valid checkpoint and loads its model (forward-only, batch 1, sequence 1).
common::Result<ExportSource> open_export_source(const std::string& run_dir);

// The run's model as plain fp32 weights: the checkpoint's model itself for a full run, else a new
// full-mode model holding the merge.
common::Result<std::unique_ptr<trainer::Model>> merged_model(const ExportSource& src);
// Fills `merged` (full mode, the same config) from a lora/qlora model.
common::Status merge_into(const trainer::Model& lora_model, trainer::Model& merged);

// The id of a run's base for Hugging Face: config.json's "_name_or_path" when the base is an HF
// directory that has one, else the base's directory name (a GGUF file's or base file's name
// without its extension), else the model's name.
std::string base_model_name(const ExportSource& src);

}  // namespace app
