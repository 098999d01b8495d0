// The run's tensor list for models the engine cannot lay out yet: the same assembly as
// trainer::list_run_tensors (same names, roles and order), asking the engine's registered layers
// for their tensors and, for a sub-layer kind with no engine implementation, listing it here —
// ssm from the engine's own buffer specs (trainer/layers/ssm_block.h), moe from the formulas of
// docs/model.md, with the projections marked `linear` so that lora/qlora are applied by the
// engine's own trainer::lora_adapt_layer_tensors. Never allocates. tests/budget/layout_fallback_test.cpp checks it equals the engine's list
// wherever the engine has every kind.
#pragma once

#include <vector>

#include "common/status.h"
#include "trainer/layout.h"
#include "trainer/model_config.h"

namespace budget {

// Same contract as trainer::list_run_tensors (InvalidArgument for a bad config, shape or LoRA
// settings), but never Unavailable for a missing kind.
common::Result<std::vector<trainer::TensorSpec>> list_run_tensors_fallback(const trainer::ModelConfig& config,
                                                                           const trainer::RunShape& shape);

// The tensors of one sub-layer with local names (as Layer::list_tensors): the engine's layer when
// registered, else this file's listing. `engine` is set to whether the engine's layer answered.
common::Status list_sublayer_tensors(trainer::LayerKind kind, const trainer::ModelConfig& config,
                                     const trainer::RunShape& shape, int max_threads,
                                     std::vector<trainer::TensorSpec>* out, bool* engine);

}  // namespace budget
