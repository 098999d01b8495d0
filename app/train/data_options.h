// The dataset and batch-source options of a run (RunConfig's data settings), shared by `train` and
// `eval` so that both see the same tokens, masks and rows.
#pragma once

#include "app/train/run_config.h"
#include "trainer/data/dataset.h"
#include "trainer/data/packing.h"
#include "trainer/tokenizers/tokenizer.h"

namespace app {

// Data path, validation set or fraction, chat template and --train-on.
trainer::DatasetOptions dataset_options(const RunConfig& config);

// Packing on/off, long examples, and the padding id (the tokenizer's pad, else EOS, else 0).
trainer::PackingOptions packing_options(const RunConfig& config, const trainer::Tokenizer& tokenizer);

// For example data: one log line with the examples, the rows they pack into, and how many were
// longer than --seq (truncated or split): a warning then (the run log keeps warnings), else info.
void log_packing(const trainer::TokenDataset& data, const RunConfig& config, const trainer::PackingOptions& packing);

}  // namespace app
