// Opening a finished or running run directory for inference: its latest checkpoint, the resolved
// model and run config stored in it, the tokenizer, and a forward-only model with the weights loaded.
// Shared by `eval` and `sample`. Errors name the run directory or the damaged file.
#pragma once

#include <memory>
#include <string>

#include "app/train/run_config.h"
#include "common/status.h"
#include "trainer/formats/checkpoint.h"
#include "trainer/model.h"
#include "trainer/quant/base_file.h"
#include "trainer/tokenizers/tokenizer.h"

namespace app {

struct LoadedRun {
  trainer::CheckpointInfo info;   // info.dir is the checkpoint directory
  RunConfig run;                  // data, tokenizer, shape, schedule of the run
  trainer::ModelConfig model;
  std::unique_ptr<trainer::Tokenizer> tokenizer;
  trainer::CheckpointPin pin;     // the checkpoint stays while this is alive (a run may be pruning)
  std::shared_ptr<trainer::BaseSource> base;  // a lora/qlora run's base when it stays mapped
};

// NotFound when run_dir has no checkpoint; Corruption naming the file for damage. A run whose base
// stays mapped (a GGUF or HF model) opens that base too: NotFound when it has moved, InvalidArgument
// when it is another model than the run trained on.
common::Result<LoadedRun> load_run(const std::string& run_dir);

// A forward-only model of shape (batch, seq_len) holding the checkpoint's weights (checksums verified).
common::Result<std::unique_ptr<trainer::Model>> load_inference_model(const LoadedRun& run, int batch, int seq_len);

}  // namespace app
