// resolve_train_run: everything `nightshift train` decides before it touches the run directory — the
// run TOML and flags, the lora/qlora setup, the tokenizer and the model's vocabulary — ending in the
// one RunShape that both the memory planner and the model are built from.
#pragma once

#include <memory>

#include "app/train/lora_run.h"
#include "app/train/run_config.h"
#include "app/train/train_flags.h"
#include "common/status.h"
#include "trainer/tokenizers/tokenizer.h"

namespace app {

struct ResolvedRun {
  RunConfig config;  // config.shape: the run's RunShape (max_threads = --threads, 0 = all cores)
  LoraRun lora;
  std::unique_ptr<trainer::Tokenizer> tokenizer;
};

// InvalidArgument / NotFound naming the flag or file, as the pieces it calls.
common::Result<ResolvedRun> resolve_train_run(const TrainFlags& flags);

}  // namespace app
